"""Who may do what with which table: the one place every page, event handler and API asks.

Actions: read, write (edit and add rows), delete, owner (all of these plus managing the table).
Superusers may do everything; other users hold Django permissions granted in the admin.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from .models import TableMeta

ACTIONS = ("read", "write", "delete", "owner")
_PERMISSIONS = {
    "read": "core.read_rows",
    "write": "core.write_rows",
    "delete": "core.delete_rows",
}


def can(user: Any, action: str, table: TableMeta | None = None) -> bool:
    """True when `user` may do `action` on `table` (any table when None)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    if action == "owner":
        return False
    if action != "read" and not user.has_perm(_PERMISSIONS["read"]):
        return False
    return user.has_perm(_PERMISSIONS[action])


async def acan(user: Any, action: str, table: TableMeta | None = None) -> bool:
    """`can` for async code (page event handlers)."""
    from asgiref.sync import sync_to_async

    return await sync_to_async(can)(user, action, table)


def readable_tables(user: Any) -> QuerySet[TableMeta]:
    """The tables `user` may see, for navigation and listings."""
    tables = TableMeta.objects.filter(visible=True, datasource__enabled=True).select_related(
        "datasource"
    )
    return tables if can(user, "read") else tables.none()


def sees_hidden_columns(user: Any, table: TableMeta) -> bool:
    """Hidden columns are hidden from everyone but admins and owners."""
    return can(user, "owner", table)
