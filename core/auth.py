"""The signed-in user of a Django session, for Django's requests and NiceGUI's pages alike: one
sign-in serves admin, API and pages."""

from __future__ import annotations

import copy
from types import SimpleNamespace
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import get_user
from django.contrib.auth import middleware as auth_middleware
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.models import Session
from django.db import connections
from django.utils import timezone
from django.utils.functional import SimpleLazyObject
from django.utils.module_loading import import_string

from . import metadata_cache

DB_SESSIONS = "django.contrib.sessions.backends.db"


class AuthenticationMiddleware(auth_middleware.AuthenticationMiddleware):
    """Django's, with the user of each session remembered while the metadata is unchanged."""

    def process_request(self, request: Any) -> None:
        super().process_request(request)
        request.user = SimpleLazyObject(lambda: session_user(request.session))


def session_user(session: Any) -> Any:
    """The active user signed in to a session (a SessionStore), or AnonymousUser.

    Checked as Django checks it (the session exists and has not expired, the user is active and
    their password unchanged), then remembered per session key until the session expires or the
    metadata changes (signing out deletes the session; deactivating saves the user).
    """
    key = session.session_key
    if not key or settings.SESSION_ENGINE != DB_SESSIONS:
        return _active_user(session)
    user, _ = metadata_cache.remember(
        ("session", key), lambda: _signed_in(session, key), keep=_unexpired
    )
    # A copy per request: what one request caches on its user (permissions) stays its own.
    return copy.copy(user)


def _signed_in(session: Any, key: str) -> tuple[Any, Any]:
    user = _active_user(session)
    if not user.is_authenticated:
        return user, None
    expires = Session.objects.filter(session_key=key).values_list("expire_date", flat=True)
    return user, expires.first()


def _unexpired(entry: tuple[Any, Any]) -> bool:
    return entry[1] is not None and entry[1] > timezone.now()


async def user_for_session(session_key: str | None) -> Any:
    """The signed-in user of a Django session key, or AnonymousUser.

    Asked again on every page event, so signing out (or being deactivated) takes effect at once.
    """
    if not session_key:
        return AnonymousUser()
    store = import_string(f"{settings.SESSION_ENGINE}.SessionStore")(session_key)
    return await sync_to_async(_page_user)(store)


def _page_user(store: Any) -> Any:
    retire_old_connections()
    return session_user(store)


def _active_user(store: Any) -> Any:
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
