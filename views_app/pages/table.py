"""`/tables/<id>`: a table in the view chosen for it (see `selection`), a switcher of the views
that can show it, and the table's menu on the right."""

from __future__ import annotations

import asyncio
import logging

from asgiref.sync import sync_to_async
from fastapi import Request
from nicegui import Client, background_tasks, ui

from core.auth import session_key_of, user_for_session
from datasources_app import rows
from datasources_app.errors import DatasourceError
from plugins_app.manager import PluginError, get_manager

from .. import preferences, selection
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
    strategy = selection.strategy()
    saved = ""
    if strategy != "priority":
        saved = await sync_to_async(preferences.preferred_view)(user, opened.table)
    chosen = selection.choose_view(views, view, saved, strategy)
    if chosen is not None:
        context.view_config = await sync_to_async(preferences.view_config)(
            user, opened.table, chosen.plugin_name
        )

    view_name = chosen.view_label if chosen is not None else None
    with frame(user, tables, opened.table.label, current=opened.table, view=view_name) as right:
        with right:
            table_menu(opened, views, chosen)
        switcher = None
        if chosen is not None:
            switcher = view_switcher(context, views, chosen, strategy)
            if view and selection.find_view(views, view) is None:
                # A view that went away (a disabled plugin, an old bookmark) is not an error.
                ui.label(
                    f"The view {view!r} cannot show this table; showing {chosen.view_label}."
                ).classes("text-caption text-grey-8 view-unavailable")
        area = ui.element("div").classes("w-full view-area")
        with area:
            problem = await sync_to_async(datasource_problem)(opened)
            if problem:
                datasource_problem_card(opened, problem)
            elif chosen is None:
                ui.label("No enabled view can show this table.").classes("text-h6")
            else:
                render_view(manager, chosen, opened, context)
    if not problem and chosen is not None:
        follow_plugin_changes(manager, context, meta, chosen, switcher, area)
    return None


def render_view(manager, chosen, opened: rows.OpenTable, context: ViewContext) -> None:
    """The chosen view in the page; a plugin that fails shows an error card in its place."""
    chosen.datasource = opened.datasource
    chosen.context = context
    try:
        manager.call(chosen.plugin_name, chosen.render)
    except PluginError as exc:
        with ui.card().classes("w-full bg-red-1 text-red-10 plugin-error"):
            ui.label(f"The view {chosen.view_label} cannot be shown").classes("text-h6")
            ui.label(str(exc))
            ui.label("The error is logged and shown to administrators.").classes("text-caption")


def datasource_problem_card(opened: rows.OpenTable, problem: str) -> None:
    with ui.card().classes("w-full bg-red-1 text-red-10 datasource-problem"):
        ui.label(f"The datasource {opened.table.datasource.name} cannot be used").classes("text-h6")
        ui.label(problem)


def follow_plugin_changes(manager, context: ViewContext, meta: dict, chosen, switcher, area):
    """Keep an open page in step with plugins an administrator enables or disables: the switcher
    offers the views that can show the table now; a view or datasource type turned off is
    replaced by a notice saying so (the page's row locks are given up)."""
    client = ui.context.client
    loop = asyncio.get_running_loop()
    gone = False

    def refresh() -> None:
        nonlocal gone
        if gone or client.id not in Client.instances:
            return
        views = manager.get_available_views(meta)
        if switcher is not None:
            options = {v.plugin_name: v.view_label for v in views}
            if chosen.plugin_name not in options:
                options[chosen.plugin_name] = f"{chosen.view_label} (turned off)"
            switcher.set_options(options, value=chosen.plugin_name)
        problem = ""
        try:
            manager.get_datasource(context.table.datasource.datasource_type)
        except PluginError as exc:
            problem = str(exc)
        view_off = selection.find_view(views, chosen.plugin_name) is None
        if not (problem or view_off):
            return
        gone = True
        background_tasks.create(context.release_locks(), name="release locks")
        area.clear()
        with area:
            if problem:
                datasource_problem_card(context.opened, problem)
                return
            with ui.card().classes("w-full bg-amber-1 text-amber-10 view-turned-off"):
                ui.label(f"The {chosen.view_label} view was turned off by an administrator.")
                if views:
                    best = views[0]
                    ui.link(
                        f"Open this table in {best.view_label}",
                        f"/tables/{context.table.pk}?view={best.plugin_name}",
                    )

    def heard(name: str) -> None:  # any thread: the admin's request, the plugin watcher
        try:
            loop.call_soon_threadsafe(refresh)
        except RuntimeError:  # the page's event loop has ended: stop listening
            unsubscribe()

    unsubscribe = manager.subscribe(heard)
    client.on_delete(unsubscribe)


def view_switcher(context: ViewContext, views: list, chosen, strategy: str) -> ui.toggle:
    """The views that can show this table, the open one selected; choosing one opens it and
    (unless the strategy always picks by priority) remembers it for this user and table."""
    table_id = context.table.pk

    async def switch(event) -> None:
        name = event.value
        if not name or name == chosen.plugin_name:
            return
        if selection.saves_choices(strategy):
            # Asked again from the session: the page may outlive the sign-in it was opened with.
            user = await user_for_session(context.session_key)
            if user.is_authenticated:
                await sync_to_async(remember_view)(user, table_id, name)
        ui.navigate.to(f"/tables/{table_id}?view={name}")

    options = {view.plugin_name: view.view_label for view in views}
    return (
        ui.toggle(options, value=chosen.plugin_name, on_change=switch)
        .props("dense no-caps unelevated toggle-color=primary aria-label='Views'")
        .classes("view-switcher q-mb-sm")
    )


def remember_view(user, table_id: int, name: str) -> None:
    """Save the user's choice, if they may still read the table."""
    try:
        opened = rows.open_table(user, table_id)
    except rows.TableNotFound:
        return
    preferences.set_preferred_view(user, opened.table, name)


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
        link = ui.link(view.view_label, f"/tables/{table.pk}?view={view.plugin_name}")
        link.classes("block no-underline q-py-xs")
        if view is chosen:
            link.classes("text-weight-bold")
    ui.link("History", f"/tables/{table.pk}/history").classes(
        "block no-underline q-py-xs table-history"
    )
    if not table.read_only:
        ui.link("Import CSV", f"/tables/{table.pk}/import").classes(
            "block no-underline q-py-xs table-import"
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
