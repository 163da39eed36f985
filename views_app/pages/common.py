"""What every page does first: find the signed-in user, or send them to sign in."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from asgiref.sync import sync_to_async
from django.conf import settings
from fastapi import Request
from fastapi.responses import RedirectResponse

from core import access
from core.auth import session_key_of, user_for_session


async def signed_in_user(request: Request) -> tuple[Any, RedirectResponse | None]:
    """(user, None) when signed in, else (None, a redirect to the login page with `next`)."""
    user = await user_for_session(session_key_of(request))
    if not user.is_authenticated:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return None, RedirectResponse(f"{settings.LOGIN_URL}?next={quote(target)}", 302)
    return user, None


async def navigation_tables(user: Any) -> list[Any]:
    return await sync_to_async(lambda: list(access.readable_tables(user)))()
