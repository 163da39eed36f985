"""The frame every page shares: header with the user's menu, tables on the left, a table's menu
on the right."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from itertools import groupby
from typing import Any

from nicegui import ui

BRAND = "#4f46e5"

# Sign-out is a POST with Django's CSRF token, as Django requires.
SIGN_OUT_JS = """
const m = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
const f = document.createElement('form');
f.method = 'post'; f.action = '/accounts/logout/';
const i = document.createElement('input');
i.type = 'hidden'; i.name = 'csrfmiddlewaretoken'; i.value = m ? decodeURIComponent(m[1]) : '';
f.appendChild(i); document.body.appendChild(f); f.submit();
"""


@contextmanager
def frame(user: Any, tables: list[Any], title: str, current: Any = None) -> Iterator[Any]:
    """Header and left drawer with the user's tables; yields the right drawer (None off table
    pages)."""
    ui.page_title(f"{title} · Nocoflo")
    ui.colors(primary=BRAND)
    with ui.header(elevated=True).classes("items-center justify-between px-4 py-2"):
        with ui.row().classes("items-center gap-2"):
            ui.button(icon="menu", on_click=lambda: left.toggle()).props(
                "flat round color=white aria-label='Tables'"
            )
            ui.link("Nocoflo", "/").classes("text-white text-h6 no-underline font-bold")
            if current is not None:
                ui.label("/").classes("opacity-60")
                ui.label(current.label).classes("text-subtitle1")
        with ui.row().classes("items-center gap-1"):
            right_button = ui.button(icon="tune").props("flat round color=white")
            right_button.set_visibility(current is not None)
            with (
                ui.button(user.get_username(), icon="account_circle")
                .props("flat no-caps color=white")
                .classes("user-menu")
            ):
                with ui.menu():
                    if user.is_staff:
                        ui.menu_item("Admin", lambda: ui.navigate.to("/admin/"))
                    ui.menu_item("Sign out", lambda: ui.run_javascript(SIGN_OUT_JS))

    with ui.left_drawer(value=True, bordered=True).classes("bg-grey-1") as left:
        ui.label("Tables").classes("text-overline text-grey-7")
        if not tables:
            ui.label("No tables you can open yet.").classes("text-grey-7")
        for datasource, group in groupby(tables, key=lambda t: t.datasource.name):
            ui.label(datasource).classes("text-caption text-weight-bold q-mt-sm")
            for table in group:
                link = ui.link(table.label, f"/tables/{table.pk}").classes(
                    "block no-underline text-body2 q-py-xs q-pl-sm"
                )
                if current is not None and table.pk == current.pk:
                    link.classes("text-primary text-weight-bold")
                else:
                    link.classes("text-grey-9")

    right = None
    if current is not None:
        right = ui.right_drawer(value=False, bordered=True).classes("bg-grey-1")
        right_button.on("click", right.toggle)
    yield right
