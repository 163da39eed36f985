"""Who may do what with which table: the one place every page, event handler and API asks.

Actions: read, write (edit and add rows), delete, owner (all of these plus managing the table).
Superusers may do everything. Other users get rights on one table from its grants (`TableGrant`,
to them or to one of their groups), or on every table from the Django permissions granted in the
admin (core.read_rows, core.write_rows, core.delete_rows). Owner comes only from a grant.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from . import metadata_cache
from .models import TableGrant, TableMeta

ACTIONS = ("read", "write", "delete", "owner")
_PERMISSIONS = {
    "read": "core.read_rows",
    "write": "core.write_rows",
    "delete": "core.delete_rows",
}
# Per user object, like Django's permission cache: the actions its grants allow, by table pk.
# Pages ask `OpenTable.may()` on the event loop after `open_table` filled it in a thread.
_CACHE = "_nocoflo_grant_cache"


def _active(user: Any) -> bool:
    return user is not None and user.is_authenticated and user.is_active


def _grants_of(user: Any) -> QuerySet[TableGrant]:
    """The grants that apply to `user`: their own and their groups'."""
    return TableGrant.objects.filter(Q(user=user) | Q(group__user=user))


def granted_actions(user: Any, table: TableMeta) -> frozenset[str]:
    """The actions the table's grants allow `user` (owner implies all; write, delete imply read)."""
    cache = getattr(user, _CACHE, None)
    if cache is None:
        cache = {}
        setattr(user, _CACHE, cache)
    if table.pk not in cache:
        cache[table.pk] = metadata_cache.remember(
            ("grants", user.pk, table.pk), lambda: _granted(user, table)
        )
    return cache[table.pk]


def _granted(user: Any, table: TableMeta) -> frozenset[str]:
    allowed: set[str] = set()
    flags = (
        _grants_of(user)
        .filter(table=table)
        .values_list("can_read", "can_write", "can_delete", "is_owner")
    )
    for read, write, delete, owner in flags:
        if owner:
            allowed.update(ACTIONS)
        if write:
            allowed.update(("read", "write"))
        if delete:
            allowed.update(("read", "delete"))
        if read:
            allowed.add("read")
    return frozenset(allowed)


def can(user: Any, action: str, table: TableMeta | None = None) -> bool:
    """True when `user` may do `action` on `table` (on every table when None)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    if not _active(user):
        return False
    if user.is_superuser:
        return True
    if table is not None and action in granted_actions(user, table):
        return True
    if action == "owner":
        return False
    # A global permission means "every table"; changing rows requires reading them too.
    if action != "read" and not can(user, "read", table):
        return False
    return user.has_perm(_PERMISSIONS[action])


async def acan(user: Any, action: str, table: TableMeta | None = None) -> bool:
    """`can` for async code (page event handlers)."""
    from asgiref.sync import sync_to_async

    return await sync_to_async(can)(user, action, table)


def readable_tables(user: Any) -> QuerySet[TableMeta]:
    """The tables `user` may see, for navigation and listings (one query)."""
    tables = TableMeta.objects.filter(visible=True, datasource__enabled=True).select_related(
        "datasource"
    )
    if can(user, "read"):
        return tables
    if not _active(user):
        return tables.none()
    readable = _grants_of(user).filter(
        Q(can_read=True) | Q(can_write=True) | Q(can_delete=True) | Q(is_owner=True)
    )
    return tables.filter(pk__in=readable.values("table"))


def sees_hidden_columns(user: Any, table: TableMeta) -> bool:
    """Hidden columns are hidden from everyone but admins and owners."""
    return can(user, "owner", table)
