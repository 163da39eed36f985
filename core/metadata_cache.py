"""What requests read of Nocoflo's metadata, remembered in each process while it is unchanged.

Every API request and page event needs the signed-in user (the session and the user rows) and
the table with its columns and grants: a handful of ORM queries whose building costs more than the
rows API's own query. That metadata changes rarely, so each process remembers it, keyed by the
metadata's revision: one row (`MetadataRevision`) that every change through the ORM, in any
process (a server, the admin, `manage.py`), gives a new random token in the same transaction.
Each use reads that one row with a plain query; a new token empties the process's memory.

Nocoflo's own watched models (`RevisedQuerySet`) give a new revision on bulk writes as well,
which send no signals. Changes written around the ORM (SQL typed into the metadata database, a
bulk update of Django's users) are seen once the entries are older than MAX_AGE_SECONDS.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, TypeVar

from django.db import DEFAULT_DB_ALIAS, connections, models

T = TypeVar("T")

MAX_AGE_SECONDS = 60.0
MAX_ENTRIES = 10_000  # sessions and tables of one process; past it, start again
# A constant statement: no identifier or value is ever formatted into it.
_READ = "SELECT token FROM core_metadatarevision WHERE id = 1"

_lock = threading.Lock()
_token: str | None = None
_entries: dict[Any, tuple[float, Any]] = {}


# The token a Django request read first: one read serves all it remembers (see per_request).
_UNREAD = object()
_request_token: ContextVar[Any] = ContextVar("nocoflo_metadata_revision", default=_UNREAD)


def revision(using: str = DEFAULT_DB_ALIAS) -> str | None:
    """The metadata's current token; None when there is none (a database just flushed)."""
    with connections[using].cursor() as cursor:
        cursor.execute(_READ)
        row = cursor.fetchone()
    return row[0] if row else None


def per_request(get_response: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Middleware: a request reads the revision once, for everything it remembers, as of its
    start; a change it makes itself is read again (`changed`)."""

    def middleware(request: Any) -> Any:
        reset = _request_token.set(None)  # None: not read yet in this request
        try:
            return get_response(request)
        finally:
            _request_token.reset(reset)

    return middleware


def _current() -> str | None:
    scoped = _request_token.get()
    if scoped is _UNREAD:  # outside a request (page events, commands): read each time
        return revision()
    if scoped is None:
        scoped = revision()
        _request_token.set(scoped)
    return scoped


def remember(key: Any, load: Callable[[], T], keep: Callable[[T], bool] | None = None) -> T:
    """`load()`, or what it answered before under the same revision.

    `keep(value)` says whether a value may be remembered and, when one is found, whether it still
    holds (a session that has expired since). Exceptions of `load` are never remembered.
    """
    token = _current()
    if token is None:
        return load()
    now = time.monotonic()
    with _lock:
        _start_over_unless(token)
        found = _entries.get(key)
    if found is not None and now - found[0] < MAX_AGE_SECONDS:
        if keep is None or keep(found[1]):
            return found[1]
    value = load()
    # Remembered only when nothing changed while it was read: what was read then may be the new
    # state under the old token.
    if (keep is None or keep(value)) and revision() == token:
        with _lock:
            _start_over_unless(token)
            if len(_entries) >= MAX_ENTRIES:
                _entries.clear()
            _entries[key] = (now, value)
    return value


def _start_over_unless(token: str) -> None:
    global _token
    if _token != token:
        _entries.clear()
        _token = token


def changed(using: str = DEFAULT_DB_ALIAS) -> None:
    """Give the metadata a new revision, in the caller's transaction."""
    from .models import MetadataRevision

    token = secrets.token_hex(16)
    if not MetadataRevision.objects.using(using).filter(pk=1).update(token=token):
        MetadataRevision.objects.using(using).get_or_create(pk=1, defaults={"token": token})
    if _request_token.get() is not _UNREAD:
        _request_token.set(None)  # the rest of this request reads the new revision
    forget()


def forget() -> None:
    """Empty this process's memory (the next use reads everything again)."""
    global _token
    with _lock:
        _entries.clear()
        _token = None


def watch() -> None:
    """Connect `changed` to every change of the metadata that `remember` callers read."""
    from django.apps import apps
    from django.contrib.auth import get_user_model
    from django.db.models.signals import m2m_changed, post_delete, post_save

    user = get_user_model()
    watched = [
        user,
        apps.get_model("auth", "Group"),
        apps.get_model("auth", "Permission"),
        apps.get_model("sessions", "Session"),
        apps.get_model("datasources_app", "DatasourceConfig"),
        apps.get_model("core", "TableMeta"),
        apps.get_model("core", "ColumnMeta"),
        apps.get_model("core", "TableGrant"),
    ]
    for model in watched:
        uid = f"nocoflo-metadata-{model._meta.label}"
        post_save.connect(_saved, sender=model, weak=False, dispatch_uid=uid)
        post_delete.connect(_saved, sender=model, weak=False, dispatch_uid=uid)
    for relation in (
        user.groups.through,
        user.user_permissions.through,
        apps.get_model("auth", "Group").permissions.through,
    ):
        m2m_changed.connect(
            _related, sender=relation, weak=False, dispatch_uid=f"nocoflo-m2m-{relation}"
        )


def _saved(sender: Any, using: str = DEFAULT_DB_ALIAS, **_: Any) -> None:
    changed(using)


def _related(sender: Any, action: str, using: str = DEFAULT_DB_ALIAS, **_: Any) -> None:
    if action.startswith("post_"):
        changed(using)


class RevisedQuerySet(models.QuerySet):
    """The queryset of watched models: bulk writes, which send no signals, change the revision."""

    def update(self, **kwargs: Any) -> int:
        rows = super().update(**kwargs)
        if rows:
            changed(self.db)
        return rows

    def bulk_create(self, objs: Any, *args: Any, **kwargs: Any) -> list:
        created = super().bulk_create(objs, *args, **kwargs)
        if created:
            changed(self.db)
        return created

    def bulk_update(self, objs: Any, fields: Any, *args: Any, **kwargs: Any) -> int:
        rows = super().bulk_update(objs, fields, *args, **kwargs)
        if rows:
            changed(self.db)
        return rows
