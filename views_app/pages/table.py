"""`/tables/<id>`: a table in the best view for it, with the table's menu on the right."""

from __future__ import annotations

import logging

from asgiref.sync import sync_to_async
from fastapi import Request
from nicegui import ui

from core.auth import session_key_of
from datasources_app import rows
from datasources_app.errors import DatasourceError
from plugins_app.manager import PluginError, get_manager

from ..base import table_meta_dict
from ..context import ViewContext
from ..layout import frame
from .common import open_table_page

log = logging.getLogger("nocoflo.pages")


async def table_page(request: Request, table_id: str, view: str | None = None):
    user, tables, opened, redirect = await open_table_page(request, table_id)
    if opened is None:
        return redirect

    context = ViewContext(
        session_key=session_key_of(request), opened=opened, params=dict(request.query_params)
    )
    # Leaving the page (or losing its connection) frees its row locks and its place among the
    # table's viewers, whichever view it showed.
    client = ui.context.client

    async def left() -> None:
        if not client.has_socket_connection:  # not an old socket of a page that reconnected
            await context.leave()

    client.on_disconnect(left)
    manager = get_manager()
    meta = table_meta_dict(opened.table, opened.columns)
    views = manager.get_available_views(meta)
    chosen = next((v for v in views if v.plugin_name == view), views[0] if views else None)

    with frame(user, tables, opened.table.label, current=opened.table) as right:
        with right:
            table_menu(opened, views, chosen)
        problem = await sync_to_async(datasource_problem)(opened)
        if problem:
            with ui.card().classes("w-full bg-red-1 text-red-10 datasource-problem"):
                ui.label(f"The datasource {opened.table.datasource.name} cannot be used").classes(
                    "text-h6"
                )
                ui.label(problem)
            return None
        if chosen is None:
            ui.label("No enabled view can show this table.").classes("text-h6")
            return None
        chosen.datasource = opened.datasource
        chosen.context = context
        try:
            manager.call(chosen.plugin_name, chosen.render)
        except PluginError as exc:
            with ui.card().classes("w-full bg-red-1 text-red-10 plugin-error"):
                ui.label(str(exc))
    return None


def datasource_problem(opened: rows.OpenTable) -> str:
    """Why the table's datasource cannot be used right now, or empty when it can."""
    try:
        opened.datasource.test_connection()
    except DatasourceError as exc:
        return str(exc)
    return ""


def table_menu(opened: rows.OpenTable, views: list, chosen) -> None:
    """The right drawer: the table's views, columns with types, and its datasource."""
    table = opened.table
    ui.label("Views").classes("text-overline text-grey-7")
    for view in views:
        link = ui.link(view.get_view_name(), f"/tables/{table.pk}?view={view.plugin_name}")
        link.classes("block no-underline q-py-xs")
        if view is chosen:
            link.classes("text-weight-bold")
    ui.link("History", f"/tables/{table.pk}/history").classes(
        "block no-underline q-py-xs table-history"
    )
    ui.separator().classes("q-my-sm")
    ui.label("Columns").classes("text-overline text-grey-7")
    with ui.column().classes("gap-0 table-columns"):
        for column in opened.columns:
            with ui.row().classes("items-center gap-1 no-wrap"):
                if column.primary_key:
                    ui.icon("key", size="xs").classes("text-amber-8")
                ui.label(column.label).classes("text-body2")
                ui.label(column.db_type or column.kind).classes("text-caption text-grey-7")
                if not column.nullable:
                    ui.label("required").classes("text-caption text-red-8")
    ui.separator().classes("q-my-sm")
    ui.label("Datasource").classes("text-overline text-grey-7")
    source = table.datasource
    ui.label(source.name).classes("text-body2 text-weight-bold")
    ui.label(f"type: {source.datasource_type}").classes("text-caption")
    ui.label(source.safe_connection_string()).classes("text-caption text-grey-7 break-all")
    if table.read_only:
        ui.label(f"Read-only: {table.read_only_message}").classes("text-caption text-amber-10")
