"""The frame every page shares: header with breadcrumbs and the user's menu, tables on the left,
a table's menu on the right. On a narrow screen both drawers fold away behind their buttons."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from itertools import groupby
from typing import Any

from asgiref.sync import sync_to_async
from nicegui import ui

from core.auth import session_key_of, user_for_session

from . import preferences

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


async def load_look(user: Any) -> None:
    """Read the user's look (dark mode) before a page is built: the frame cannot ask the
    database itself, it runs on the event loop."""
    user.nocoflo_dark = await sync_to_async(preferences.dark_mode)(user)


async def _set_dark(on: bool) -> None:
    # Asks who is signed in again: the websocket passes no Django middleware.
    user = await user_for_session(session_key_of(ui.context.client.request))
    if user.is_authenticated:
        await sync_to_async(preferences.set_dark_mode)(user, on)


def _crumbs(current: Any, view: str | None) -> None:
    """Datasource / table / view, each a step back."""
    with ui.row().classes("items-center gap-2 no-wrap breadcrumbs gt-xs"):
        ui.label("/").classes("opacity-60")
        ui.label(current.datasource.name).classes("text-subtitle2 opacity-80")
        ui.label("/").classes("opacity-60")
        ui.link(current.label, f"/tables/{current.pk}").classes(
            "text-white text-subtitle1 no-underline"
        )
        if view:
            ui.label("/").classes("opacity-60")
            ui.label(view).classes("text-subtitle2 opacity-80")


@contextmanager
def frame(
    user: Any, tables: list[Any], title: str, current: Any = None, view: str | None = None
) -> Iterator[Any]:
    """Header and left drawer with the user's tables; yields the right drawer (None off table
    pages). `view` names the view shown, for the breadcrumbs."""
    ui.page_title(f"{title} · Nocoflo")
    ui.colors(primary=BRAND)
    ui.add_css(".body--light .nocoflo-drawer { background: #fafafa; }")
    dark = ui.dark_mode(getattr(user, "nocoflo_dark", False))
    with ui.header(elevated=True).classes("items-center justify-between px-4 py-2 no-wrap"):
        with ui.row().classes("items-center gap-2 no-wrap"):
            ui.button(icon="menu", on_click=lambda: left.toggle()).props(
                "flat round color=white aria-label='Tables'"
            )
            ui.link("Nocoflo", "/").classes("text-white text-h6 no-underline font-bold")
            if current is not None:
                _crumbs(current, view)
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
                    ui.menu_item("API tokens", lambda: ui.navigate.to("/account/tokens"))
                    with ui.item().classes("dark-mode-item"):

                        async def switch_look(event: Any) -> None:
                            dark.set_value(event.value)
                            await _set_dark(event.value)

                        ui.switch("Dark mode", value=dark.value, on_change=switch_look)
                    ui.menu_item("Sign out", lambda: ui.run_javascript(SIGN_OUT_JS))

    # value=None: open on wide screens, folded away (opened by the menu button) on narrow ones.
    with ui.left_drawer(value=None, bordered=True).classes("nocoflo-drawer") as left:
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
        right = ui.right_drawer(value=False, bordered=True).classes("nocoflo-drawer")
        right_button.on("click", right.toggle)
    yield right
