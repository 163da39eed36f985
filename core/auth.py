"""The bridge from a Django session to a NiceGUI page: one sign-in serves admin, API and pages."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import get_user
from django.contrib.auth.models import AnonymousUser
from django.db import connections
from django.utils.module_loading import import_string


async def user_for_session(session_key: str | None) -> Any:
    """The signed-in user of a Django session key, or AnonymousUser.

    Asked again on every page event, so signing out (or being deactivated) takes effect at once.
    """
    if not session_key:
        return AnonymousUser()
    store = import_string(f"{settings.SESSION_ENGINE}.SessionStore")(session_key)
    return await sync_to_async(_active_user)(store)


def _active_user(store: Any) -> Any:
    retire_old_connections()
    user = get_user(SimpleNamespace(session=store))
    return user if user.is_active else AnonymousUser()


def retire_old_connections() -> None:
    """What Django does at each request, for page events, which run outside any request.

    Their ORM calls share one worker thread whose connection nothing else would ever close: once
    PostgreSQL restarted or MySQL's wait_timeout dropped it, every page would fail until Nocoflo
    restarted. Close it when broken or older than CONN_MAX_AGE; the next query reconnects.
    """
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:  # never under a transaction (tests run in one)
            connection.close_if_unusable_or_obsolete()


def session_key_of(request: Any) -> str | None:
    """The Django session key in a Starlette request's cookies."""
    return request.cookies.get(settings.SESSION_COOKIE_NAME)
