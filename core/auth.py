"""The bridge from a Django session to a NiceGUI page: one sign-in serves admin, API and pages."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from django.conf import settings
from django.contrib.auth import aget_user
from django.contrib.auth.models import AnonymousUser
from django.utils.module_loading import import_string


async def user_for_session(session_key: str | None) -> Any:
    """The signed-in user of a Django session key, or AnonymousUser.

    Asked again on every page event, so signing out (or being deactivated) takes effect at once.
    """
    if not session_key:
        return AnonymousUser()
    store = import_string(f"{settings.SESSION_ENGINE}.SessionStore")(session_key)
    user = await aget_user(SimpleNamespace(session=store))
    return user if user.is_active else AnonymousUser()


def session_key_of(request: Any) -> str | None:
    """The Django session key in a Starlette request's cookies."""
    return request.cookies.get(settings.SESSION_COOKIE_NAME)
