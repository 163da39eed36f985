"""What every page does first: find the signed-in user, or send them to sign in."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from asgiref.sync import sync_to_async
from django.conf import settings
from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import ui

from core import access
from core.auth import session_key_of, user_for_session
from datasources_app import rows

from ..layout import frame, load_look


async def signed_in_user(request: Request) -> tuple[Any, RedirectResponse | None]:
    """(user, None) when signed in, else (None, a redirect to the login page with `next`)."""
    user = await user_for_session(session_key_of(request))
    if not user.is_authenticated:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return None, RedirectResponse(f"{settings.LOGIN_URL}?next={quote(target)}", 302)
    await load_look(user)
    return user, None


async def navigation_tables(user: Any) -> list[Any]:
    return await sync_to_async(lambda: list(access.readable_tables(user)))()


async def open_table_page(
    request: Request, table_id: str
) -> tuple[Any, list[Any], rows.OpenTable | None, RedirectResponse | None]:
    """What a page of one table starts with: (user, navigation tables, the open table, None).

    Not signed in: the redirect to sign in is the last item. A table the user may not read
    (or that does not exist) gets the same "No such table" page, and None for the table.
    """
    user, redirect = await signed_in_user(request)
    if redirect:
        return None, [], None, redirect
    tables = await navigation_tables(user)
    try:
        opened = await sync_to_async(rows.open_table)(user, table_id)
    except rows.TableNotFound:
        with frame(user, tables, "Not found"):
            ui.label("No such table").classes("text-h5")
            ui.label("It does not exist, or you may not open it.").classes("text-grey-8")
            ui.link("Back to your tables", "/")
        return user, tables, None, None
    return user, tables, opened, None
