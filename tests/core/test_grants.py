"""Per-table grants: core.access through TableGrant, and core.grants (list and replace)."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction

from core import grants
from core.access import ACTIONS, acan, can, readable_tables, sees_hidden_columns
from core.models import TableGrant, TableMeta
from tests.conftest import grant
from tests.factories import AdminFactory, UserFactory

pytestmark = pytest.mark.unit

ROLES = {
    "owner": {"is_owner": True, "can_read": False},
    "write": {"can_write": True, "can_read": False},
    "delete": {"can_delete": True, "can_read": False},
    "read": {"can_read": True},
    "none": None,
}
EXPECTED = {
    "owner": {"read", "write", "delete", "owner"},
    "write": {"read", "write"},
    "delete": {"read", "delete"},
    "read": {"read"},
    "none": set(),
}


def fresh(user):
    return type(user).objects.get(pk=user.pk)  # no stale permission or grant cache


def user_with_role(role: str, table: TableMeta, via: str):
    user = UserFactory()
    if ROLES[role] is not None:
        if via == "user":
            TableGrant.objects.create(table=table, user=user, **ROLES[role])
        else:
            group = Group.objects.create(name=f"{role} team")
            group.user_set.add(user)
            TableGrant.objects.create(table=table, group=group, **ROLES[role])
    return fresh(user)


@pytest.mark.django_db
@pytest.mark.parametrize("via", ["user", "group"])
@pytest.mark.parametrize("role", list(ROLES))
def test_access_matrix(tables, role, via):
    orders, customers = tables["orders"], tables["customers"]
    user = user_with_role(role, orders, via)
    allowed = {action for action in ACTIONS if can(user, action, orders)}
    assert allowed == EXPECTED[role]
    # A grant is for its table only, and says nothing about "every table".
    assert not any(can(user, action, customers) for action in ACTIONS)
    assert not any(can(user, action) for action in ACTIONS)
    assert sees_hidden_columns(user, orders) is (role == "owner")
    names = [t.name for t in readable_tables(user)]
    assert names == ([] if role == "none" else ["orders"])


@pytest.mark.django_db
@pytest.mark.parametrize("action", ACTIONS)
def test_a_superuser_needs_no_grant(tables, action):
    admin = AdminFactory()
    assert can(admin, action, tables["orders"])
    assert sees_hidden_columns(admin, tables["orders"])


@pytest.mark.django_db
def test_user_and_group_grants_add_up(tables):
    orders = tables["orders"]
    user = UserFactory()
    group = Group.objects.create(name="deleters")
    group.user_set.add(user)
    TableGrant.objects.create(table=orders, user=user, can_write=True)
    TableGrant.objects.create(table=orders, group=group, can_read=False, can_delete=True)
    user = fresh(user)
    assert {a for a in ACTIONS if can(user, a, orders)} == {"read", "write", "delete"}
    assert [t.name for t in readable_tables(user)] == ["orders"]  # once, not twice


@pytest.mark.django_db
def test_global_permissions_still_mean_every_table(tables):
    user = UserFactory()
    grant(user, "read_rows")
    TableGrant.objects.create(table=tables["orders"], user=user, can_write=True)
    user = fresh(user)
    assert can(user, "write", tables["orders"])
    assert can(user, "read", tables["customers"])
    assert not can(user, "write", tables["customers"])
    assert sorted(t.name for t in readable_tables(user)) == ["customers", "orders"]


@pytest.mark.django_db
def test_a_global_write_permission_counts_where_a_grant_allows_reading(tables):
    user = UserFactory()
    grant(user, "write_rows")
    TableGrant.objects.create(table=tables["orders"], user=user)
    user = fresh(user)
    assert can(user, "write", tables["orders"])
    assert not can(user, "write", tables["customers"])
    assert not can(user, "write")


@pytest.mark.django_db
def test_inactive_users_grants_count_for_nothing(tables):
    user = UserFactory(is_active=False)
    TableGrant.objects.create(table=tables["orders"], user=user, is_owner=True)
    user = fresh(user)
    assert not any(can(user, action, tables["orders"]) for action in ACTIONS)
    assert list(readable_tables(user)) == []


@pytest.mark.django_db
def test_readable_tables_skip_hidden_disabled_and_empty_grants(tables):
    user = UserFactory()
    for name in ("secret", "archived", "orders"):
        TableGrant.objects.create(table=tables[name], user=user)
    TableGrant.objects.create(table=tables["customers"], user=user, can_read=False)
    assert [t.name for t in readable_tables(fresh(user))] == ["orders"]


@pytest.mark.django_db
def test_readable_tables_through_grants_take_one_query(tables, django_assert_num_queries):
    user = UserFactory()
    group = Group.objects.create(name="readers")
    group.user_set.add(user)
    TableGrant.objects.create(table=tables["orders"], user=user)
    TableGrant.objects.create(table=tables["customers"], group=group)
    found = readable_tables(fresh(user))
    with django_assert_num_queries(1):
        labels = sorted(f"{t.datasource.name}/{t.name}" for t in found)
    assert labels == ["Live/customers", "Live/orders"]


@pytest.mark.django_db
def test_grants_are_asked_once_per_user_object(tables, django_assert_num_queries):
    user = user_with_role("write", tables["orders"], "user")
    assert can(user, "read", tables["orders"])
    with django_assert_num_queries(0):
        assert can(user, "write", tables["orders"])
        assert not can(user, "owner", tables["orders"])


@pytest.mark.django_db
def test_a_grant_goes_to_a_user_or_a_group_once(tables):
    user, group = UserFactory(), Group.objects.create(name="team")
    orders = tables["orders"]
    for holder in ({}, {"user": user, "group": group}):
        with pytest.raises(IntegrityError), transaction.atomic():
            TableGrant.objects.create(table=orders, **holder)
    TableGrant.objects.create(table=orders, user=user)
    TableGrant.objects.create(table=orders, group=group)
    for holder in ({"user": user}, {"group": group}):
        with pytest.raises(IntegrityError), transaction.atomic():
            TableGrant.objects.create(table=orders, **holder)
    assert str(TableGrant.objects.get(user=user)) == f"user {user} on orders: read"
    assert str(TableGrant(table=orders, group=group, can_read=False)).endswith("nothing")


@pytest.mark.django_db(transaction=True)
async def test_acan_answers_from_grants(tables):
    user = await sync_to_async(user_with_role)("delete", tables["orders"], "group")
    assert await acan(user, "delete", tables["orders"]) is True
    assert await acan(user, "write", tables["orders"]) is False


# --- core.grants --------------------------------------------------------------------------------


@pytest.fixture
def owner(tables):
    return user_with_role("owner", tables["orders"], "user")


@pytest.mark.django_db
def test_replace_grants_sets_the_whole_list(tables, owner):
    orders = tables["orders"]
    UserFactory(username="bob")
    Group.objects.create(name="sales")
    saved = grants.replace_grants(
        owner,
        orders,
        [
            {"group": "sales", "permissions": ["read", "write"]},
            {"user": "bob", "permissions": ["delete"]},
            {"user": owner.username, "group": None, "permissions": ["owner"]},
        ],
    )
    assert saved == [
        {"user": "bob", "group": None, "permissions": ["delete"]},
        {"user": owner.username, "group": None, "permissions": ["owner"]},
        {"user": None, "group": "sales", "permissions": ["read", "write"]},
    ]
    assert grants.list_grants(orders) == saved
    assert grants.replace_grants(AdminFactory(), orders, []) == []
    assert not TableGrant.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("grant_list", "message"),
    [
        ([{"user": "ghost", "permissions": ["read"]}], "No user named 'ghost'"),
        ([{"group": "ghosts", "permissions": ["read"]}], "No group named 'ghosts'"),
        ([{"user": "bob", "group": "sales", "permissions": ["read"]}], "either a user or a group"),
        ([{"permissions": ["read"]}], "Grant 1 must name either a user or a group"),
        ([{"user": "bob", "permissions": ["drop"]}], "Unknown permission 'drop'"),
        ([{"user": "bob", "permissions": []}], "needs at least one permission"),
        (
            [{"user": "bob", "permissions": ["read"]}, {"user": "bob", "permissions": ["write"]}],
            "The user 'bob' is listed twice",
        ),
    ],
)
def test_invalid_grants_change_nothing(tables, owner, grant_list, message):
    UserFactory(username="bob")
    Group.objects.create(name="sales")
    before = grants.list_grants(tables["orders"])
    with pytest.raises(grants.InvalidGrants, match=message):
        grants.replace_grants(owner, tables["orders"], grant_list)
    assert grants.list_grants(tables["orders"]) == before


@pytest.mark.django_db
def test_only_owners_may_replace_grants(tables):
    writer = user_with_role("write", tables["orders"], "user")
    with pytest.raises(grants.NotOwner, match="Only owners may share orders"):
        grants.replace_grants(writer, tables["orders"], [])
    assert TableGrant.objects.count() == 1
