"""Row locks: a lease on a row while someone edits it.

A lock lives in the metadata database with one row per locked row (a unique constraint), so it
holds across several server processes. It is taken when an editor opens, renewed while they edit,
released on save, cancel or disconnect, and lapses after `NOCOFLO_LOCK_SECONDS` when a page died
without saying so. Writes by anyone but the lock's user are refused while it holds.
"""

from __future__ import annotations

import random
import time
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, OperationalError, connection, transaction
from django.utils import timezone

from . import events
from .models import RowLock, TableMeta


class RowLocked(Exception):
    """Someone else is editing the row."""

    def __init__(self, lock: RowLock) -> None:
        self.username = lock.user.get_username()
        self.expires_at: datetime = lock.expires_at
        super().__init__(f"{self.username} is editing this row")


def lease() -> timedelta:
    return timedelta(seconds=settings.NOCOFLO_LOCK_SECONDS)


def _live(table: TableMeta, row_key: str):
    return RowLock.objects.select_related("user").filter(
        table=table, row_key=row_key, expires_at__gt=timezone.now()
    )


def current(table: TableMeta, row_key: str) -> RowLock | None:
    """The lock on a row, if one holds."""
    return _live(table, row_key).first()


def acquire(table: TableMeta, row_key: str, user: Any, holder: str) -> RowLock:
    """Take (or renew) the lease on a row for `holder`; RowLocked when another user holds it.

    The same user may take over their own lock from another page of theirs.
    """
    now = timezone.now()
    for attempt in range(5):
        try:
            RowLock.objects.filter(table=table, row_key=row_key, expires_at__lte=now).delete()
            with transaction.atomic():
                lock = RowLock.objects.create(
                    table=table, row_key=row_key, user=user, holder=holder,
                    acquired_at=now, expires_at=now + lease(),
                )  # fmt: skip
        except OperationalError as exc:
            # InnoDB may pick one of several editors racing for the same row as a deadlock
            # victim; the race is decided by then, so the next attempt sees the winner.
            if not _is_deadlock(exc) or connection.in_atomic_block:
                raise
            time.sleep(random.uniform(0.005, 0.02) * (attempt + 1))
            continue
        except IntegrityError:
            lock = (
                RowLock.objects.select_related("user").filter(table=table, row_key=row_key).first()
            )
            if lock is None:
                continue  # released in between: try again
            if lock.expires_at <= now:
                continue
            if lock.user_id != user.pk:
                raise RowLocked(lock) from None
            RowLock.objects.filter(pk=lock.pk).update(holder=holder, expires_at=now + lease())
            lock.holder, lock.expires_at = holder, now + lease()
            return lock
        _announce(table, row_key, "lock", user=user.get_username(), holder=holder)
        return lock
    holding = current(table, row_key)
    if holding is not None:
        raise RowLocked(holding)
    raise RuntimeError("the row lock could not be taken")


def _is_deadlock(exc: OperationalError) -> bool:
    """Whether the database rolled back this statement to break a deadlock (MySQL, PostgreSQL)."""
    cause = exc.__cause__
    if getattr(cause, "sqlstate", None) in ("40P01", "40001"):  # psycopg
        return True
    args = getattr(cause, "args", ())
    return bool(args) and args[0] in (1213, 1205)  # MySQL: deadlock, lock wait timeout


def renew(holder: str) -> int:
    """Extend every lease `holder` has (pages call this while an editor is open)."""
    return RowLock.objects.filter(holder=holder, expires_at__gt=timezone.now()).update(
        expires_at=timezone.now() + lease()
    )


def release(table: TableMeta, row_key: str, holder: str) -> bool:
    """Give up `holder`'s lock on a row."""
    deleted, _ = RowLock.objects.filter(table=table, row_key=row_key, holder=holder).delete()
    if deleted:
        _announce(table, row_key, "unlock", holder=holder)
    return bool(deleted)


def release_holder(holder: str) -> int:
    """Give up every lock of `holder` (its page closed or disconnected)."""
    released = list(RowLock.objects.filter(holder=holder).values_list("table_id", "row_key"))
    RowLock.objects.filter(holder=holder).delete()
    for table_id, row_key in released:
        events.publish(table_id, {"type": "unlock", "key": row_key, "holder": holder})
    return len(released)


def break_lock(table: TableMeta, row_key: str, by: Any) -> bool:
    """Remove whoever's lock is on a row (admins and the table's owners)."""
    deleted, _ = RowLock.objects.filter(table=table, row_key=row_key).delete()
    if deleted:
        _announce(table, row_key, "unlock", user=by.get_username(), broken=True)
    return bool(deleted)


def ensure_free(table: TableMeta, row_key: str, user: Any) -> None:
    """Refuse a write when another user holds the row's lock."""
    lock = current(table, row_key)
    if lock is not None and lock.user_id != user.pk:
        raise RowLocked(lock)


def live_locks(table: TableMeta):
    """The locks on a table's rows that hold now, with their users."""
    return (
        RowLock.objects.select_related("user")
        .filter(table=table, expires_at__gt=timezone.now())
        .order_by("row_key")
    )


def locked_rows(table: TableMeta) -> dict[str, str]:
    """The rows of a table being edited now, and by whom (for a page that opens)."""
    return {lock.row_key: lock.user.get_username() for lock in live_locks(table)}


def _announce(table: TableMeta, row_key: str, kind: str, **details: Any) -> None:
    events.publish(table.pk, {"type": kind, "key": row_key, **details})
