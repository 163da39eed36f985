"""The roles of the permission matrix: each a user who got their rights one way."""

from __future__ import annotations

from django.contrib.auth.models import Group

from core.models import TableGrant, TableMeta
from tests.factories import AdminFactory, UserFactory

# role -> what the grant gives, and whether it goes to the user or to a group of theirs
ROLES = {
    "superuser": None,
    "owner": ("user", {"is_owner": True}),
    "owner_by_group": ("group", {"is_owner": True}),
    "writer": ("user", {"can_write": True}),
    "writer_by_group": ("group", {"can_write": True}),
    "deleter": ("user", {"can_delete": True}),
    "reader": ("user", {"can_read": True}),
    "reader_by_group": ("group", {"can_read": True}),
    "nobody": ("user", {}),
}

# role -> the actions it may take on the table
ALLOWED = {
    "superuser": {"see", "open", "edit", "add", "delete", "export", "manage"},
    "owner": {"see", "open", "edit", "add", "delete", "export", "manage"},
    "owner_by_group": {"see", "open", "edit", "add", "delete", "export", "manage"},
    "writer": {"see", "open", "edit", "add", "export"},
    "writer_by_group": {"see", "open", "edit", "add", "export"},
    "deleter": {"see", "open", "delete", "export"},
    "reader": {"see", "open", "export"},
    "reader_by_group": {"see", "open", "export"},
    "nobody": set(),
}
ACTIONS = ("see", "open", "edit", "add", "delete", "export", "manage")


def make_role(role: str, table: TableMeta):
    """A user in `role` on `table` (and nothing on any other table)."""
    how = ROLES[role]
    if how is None:
        return AdminFactory(username=role)
    user = UserFactory(username=role)
    target, flags = how
    if not flags:
        return user
    flags = {"can_read": False, **flags}
    if target == "user":
        TableGrant.objects.create(table=table, user=user, **flags)
    else:
        group = Group.objects.create(name=f"{role} team")
        user.groups.add(group)
        TableGrant.objects.create(table=table, group=group, **flags)
    return user
