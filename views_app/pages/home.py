"""The home page: the datasources and tables the user can open."""

from __future__ import annotations

from itertools import groupby

from fastapi import Request
from nicegui import ui

from ..layout import frame
from .common import navigation_tables, signed_in_user


async def home_page(request: Request):
    user, redirect = await signed_in_user(request)
    if redirect:
        return redirect
    tables = await navigation_tables(user)
    with frame(user, tables, "Home"):
        ui.label("Your data").classes("text-h5 q-mb-sm")
        if not tables:
            ui.label(
                "There are no tables you can open yet. An admin adds datasources and grants "
                "access in the admin."
            ).classes("text-grey-8")
        for datasource, group in groupby(tables, key=lambda t: t.datasource):
            group = list(group)
            with ui.card().classes("w-full q-mb-md datasource-card"):
                with ui.row().classes("items-center gap-2"):
                    ui.icon("storage", color="primary")
                    ui.label(datasource.name).classes("text-h6")
                    ui.badge(datasource.datasource_type).props("outline")
                    ui.label(f"{len(group)} tables").classes("text-grey-7")
                with ui.row().classes("gap-2 flex-wrap"):
                    for table in group:
                        ui.button(
                            table.label,
                            icon="visibility" if table.read_only else "table_chart",
                            on_click=lambda t=table: ui.navigate.to(f"/tables/{t.pk}"),
                        ).props("outline no-caps")
