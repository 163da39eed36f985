"""Reading and replacing a table's grants: what the permissions API and the Share dialog call.

A grant is `{"user": username or None, "group": group name or None, "permissions": [...]}`, with
exactly one of user and group, and permissions among read, write, delete and owner.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from . import access, metadata_cache
from .models import TableGrant, TableMeta

_FLAGS = {"read": "can_read", "write": "can_write", "delete": "can_delete", "owner": "is_owner"}


class NotOwner(Exception):
    """The user may not manage this table's grants."""


class InvalidGrants(ValueError):
    """A grant names nobody, somebody unknown, or an unknown permission."""


def list_grants(table: TableMeta) -> list[dict[str, Any]]:
    """The table's grants: users first, then groups, each by name."""
    found = TableGrant.objects.filter(table=table).select_related("user", "group")
    listed = [
        {
            "user": g.user.get_username() if g.user_id else None,
            "group": g.group.name if g.group_id else None,
            "permissions": g.permissions,
        }
        for g in found
    ]
    return sorted(listed, key=lambda g: (g["user"] is None, g["user"] or g["group"]))


def _parse(grants: list[dict[str, Any]]) -> list[TableGrant]:
    """The grants as unsaved TableGrant objects (without their table), or InvalidGrants."""
    users = get_user_model()
    parsed: list[TableGrant] = []
    seen: set[tuple[str, str]] = set()
    for number, grant in enumerate(grants, start=1):
        user_name, group_name = grant.get("user") or None, grant.get("group") or None
        if (user_name is None) == (group_name is None):
            raise InvalidGrants(f"Grant {number} must name either a user or a group")
        holder = ("user", user_name) if user_name else ("group", group_name)
        if holder in seen:
            raise InvalidGrants(f"The {holder[0]} {holder[1]!r} is listed twice")
        seen.add(holder)
        permissions = list(grant.get("permissions") or [])
        unknown = [p for p in permissions if p not in _FLAGS]
        if unknown:
            raise InvalidGrants(
                f"Unknown permission {unknown[0]!r}: use {', '.join(access.ACTIONS)}"
            )
        if not permissions:
            raise InvalidGrants(f"The {holder[0]} {holder[1]!r} needs at least one permission")
        flags = {field: name in permissions for name, field in _FLAGS.items()}
        if user_name:
            user = users.objects.filter(**{users.USERNAME_FIELD: user_name}).first()
            if user is None:
                raise InvalidGrants(f"No user named {user_name!r}")
            parsed.append(TableGrant(user=user, **flags))
        else:
            group = Group.objects.filter(name=group_name).first()
            if group is None:
                raise InvalidGrants(f"No group named {group_name!r}")
            parsed.append(TableGrant(group=group, **flags))
    return parsed


def replace_grants(user: Any, table: TableMeta, grants: list[dict[str, Any]]) -> list[dict]:
    """Replace all the table's grants, as `user` (who must own it); answers the new list.

    Nothing changes when any grant is invalid (InvalidGrants) or `user` is no owner (NotOwner).
    """
    if not access.can(user, "owner", table):
        raise NotOwner(f"Only owners may share {table.label}")
    parsed = _parse(grants)
    with transaction.atomic():
        TableGrant.objects.filter(table=table).delete()
        for grant in parsed:
            grant.table = table
        TableGrant.objects.bulk_create(parsed)
        metadata_cache.changed()  # bulk_create sends no signals
    return list_grants(table)
