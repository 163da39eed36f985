"""core.access: who may do what with which table."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser

from core.access import ACTIONS, acan, can, readable_tables, sees_hidden_columns
from tests.conftest import grant
from tests.factories import AdminFactory, UserFactory

pytestmark = pytest.mark.unit


def user_with(*codenames, **fields):
    user = UserFactory(**fields)
    grant(user, *codenames)
    return type(user).objects.get(pk=user.pk)  # a fresh object: no stale permission cache


@pytest.mark.django_db
@pytest.mark.parametrize("action", ACTIONS)
def test_a_superuser_may_do_everything(tables, action):
    admin = AdminFactory()
    assert can(admin, action, tables["orders"])
    assert can(admin, action)


@pytest.mark.django_db
def test_a_reader_may_read_but_not_change(reader, tables):
    table = tables["orders"]
    assert can(reader, "read", table)
    assert can(reader, "read")
    assert not can(reader, "write", table)
    assert not can(reader, "delete", table)
    assert not can(reader, "owner", table)


@pytest.mark.django_db
@pytest.mark.parametrize("action", ["write", "delete"])
def test_changing_rows_requires_reading_them_too(tables, action):
    table = tables["orders"]
    without_read = user_with(f"{action}_rows")
    assert not can(without_read, action, table)
    with_read = user_with("read_rows", f"{action}_rows")
    assert can(with_read, action, table)
    other = "delete" if action == "write" else "write"
    assert not can(with_read, other, table)


@pytest.mark.django_db
def test_owner_is_for_superusers_only(tables):
    staff = user_with("read_rows", "write_rows", "delete_rows", is_staff=True)
    assert can(staff, "delete", tables["orders"])
    assert not can(staff, "owner", tables["orders"])
    assert not sees_hidden_columns(staff, tables["orders"])
    assert sees_hidden_columns(AdminFactory(), tables["orders"])


@pytest.mark.django_db
def test_inactive_and_anonymous_users_may_do_nothing(tables):
    inactive_admin = AdminFactory(username="gone", is_active=False)
    inactive_reader = user_with("read_rows", is_active=False)
    for user in (inactive_admin, inactive_reader, AnonymousUser(), None):
        for action in ACTIONS:
            assert not can(user, action, tables["orders"]), (user, action)


@pytest.mark.django_db
def test_unknown_actions_are_a_programming_error(reader):
    with pytest.raises(ValueError, match=r"unknown action 'drop'"):
        can(reader, "drop")
    with pytest.raises(ValueError):
        can(None, "Read")


@pytest.mark.django_db
def test_readable_tables_follow_permission_visibility_and_enabled_sources(reader, tables):
    names = sorted(t.name for t in readable_tables(reader))
    assert names == ["customers", "orders"]
    assert sorted(t.name for t in readable_tables(AdminFactory())) == ["customers", "orders"]
    assert list(readable_tables(UserFactory(username="nobody"))) == []
    assert list(readable_tables(AnonymousUser())) == []


@pytest.mark.django_db
def test_readable_tables_load_their_datasource_in_one_query(
    reader, tables, django_assert_num_queries
):
    tables_of_reader = readable_tables(reader)  # asks about permissions at once
    with django_assert_num_queries(1):  # the tables with their datasources
        labels = [f"{t.datasource.name}/{t.name}" for t in tables_of_reader]
    assert sorted(labels) == ["Live/customers", "Live/orders"]


@pytest.mark.django_db(transaction=True)
async def test_acan_answers_from_async_code(tables):
    from asgiref.sync import sync_to_async

    reader = await sync_to_async(user_with)("read_rows")
    table = tables["orders"]
    assert await acan(reader, "read", table) is True
    assert await acan(reader, "write", table) is False
    assert await acan(AnonymousUser(), "read") is False
    with pytest.raises(ValueError):
        await acan(reader, "truncate")
