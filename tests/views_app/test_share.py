"""Per-table grants on the pages: who sees a table, and the Share dialog of its owners."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Group
from nicegui import ui
from nicegui.testing import User
from nicegui.testing.user_interaction import UserInteraction

from core import grants
from core.models import TableGrant
from tests.factories import UserFactory

from .conftest import in_dialog, open_dialog, page_db, settle, sign_in, the_grid

pytestmark = pytest.mark.integration


def _grant_to_user(table, username: str, **flags):
    user = UserFactory(username=username)
    TableGrant.objects.create(table=table, user=user, **flags)
    return user


def _grant_to_group(table, username: str, group_name: str, **flags):
    user = UserFactory(username=username)
    group = Group.objects.create(name=group_name)
    group.user_set.add(user)
    TableGrant.objects.create(table=table, group=group, **flags)
    return user


def remove_buttons(user: User) -> list[ui.button]:
    return [b for b in in_dialog(user, ui.button).elements if b.props.get("icon") == "delete"]


@pytest.fixture
def orders(demo_source):
    return demo_source.tables.get(name="orders")


@page_db
async def test_a_reader_through_a_group_opens_the_table_without_share(user: User, orders):
    reader = await sync_to_async(_grant_to_group)(orders, "rita", "analysts")
    await sign_in(user, reader)
    await user.open(f"/tables/{orders.pk}")
    assert the_grid(user).options["rowModelType"] == "infinite"
    await user.should_see(kind=ui.link, content="orders")  # in the navigation
    await user.should_not_see(kind=ui.link, content="customers")
    await user.should_not_see(kind=ui.button, content="Share")
    await user.should_not_see(kind=ui.button, content="Add row")


@page_db
async def test_a_user_without_grants_gets_no_such_table(user: User, orders):
    await sync_to_async(_grant_to_group)(orders, "rita", "analysts")
    stranger = await sync_to_async(UserFactory)(username="stranger")
    await sign_in(user, stranger)
    await user.open(f"/tables/{orders.pk}")
    await user.should_see("No such table")
    await user.should_not_see(ui.aggrid)


@page_db
async def test_an_owner_shares_the_table(user: User, orders):
    owner = await sync_to_async(_grant_to_user)(orders, "olga", is_owner=True)
    await sync_to_async(UserFactory)(username="bob")
    await sync_to_async(Group.objects.create)(name="sales")
    await sign_in(user, owner)
    await user.open(f"/tables/{orders.pk}")
    await user.should_see(kind=ui.button, content="Add row")
    user.find(kind=ui.button, content="Share").click()
    await user.should_see("Share orders")  # opens once the grants are read, however busy
    open_dialog(user)
    await user.should_see("Share orders")
    await user.should_see("user olga")

    # Add bob (read by default) and the group sales, then let sales write too.
    in_dialog(user, ui.input).type("bob")
    in_dialog(user, ui.button, "Add").click()
    in_dialog(user, ui.select).elements.pop().value = "group"
    in_dialog(user, ui.input).type("sales")
    in_dialog(user, ui.button, "Add").click()
    await user.should_see("group sales")
    boxes = list(in_dialog(user, ui.checkbox).elements)
    assert len(boxes) == 12  # three grants × read, write, delete, owner
    rows = sorted(boxes, key=lambda b: b.id)
    rows[9].value = True  # sales: write
    in_dialog(user, ui.button, "Save").click()
    await settle(0.2)
    saved = await sync_to_async(grants.list_grants)(orders)
    assert saved == [
        {"user": "bob", "group": None, "permissions": ["read"]},
        {"user": "olga", "group": None, "permissions": ["read", "owner"]},
        {"user": None, "group": "sales", "permissions": ["read", "write"]},
    ]


@page_db
async def test_the_share_dialog_removes_grants_and_refuses_unknown_names(user: User, orders):
    owner = await sync_to_async(_grant_to_user)(orders, "olga", is_owner=True)
    await sync_to_async(_grant_to_user)(orders, "bob")
    await sign_in(user, owner)
    await user.open(f"/tables/{orders.pk}")
    user.find(kind=ui.button, content="Share").click()
    await user.should_see("Share orders")  # opens once the grants are read, however busy
    # Typo'd names are refused on save, and nothing changes.
    in_dialog(user, ui.input).type("ghost")
    in_dialog(user, ui.button, "Add").click()
    in_dialog(user, ui.input).type("ghost")
    in_dialog(user, ui.button, "Add").click()
    await user.should_see("The user 'ghost' is listed already")
    in_dialog(user, ui.input).elements.pop().value = ""
    in_dialog(user, ui.button, "Add").click()
    await user.should_see("Type a user or group name first")
    in_dialog(user, ui.button, "Save").click()
    await user.should_see("No user named 'ghost'")
    assert await sync_to_async(TableGrant.objects.count)() == 2
    # Remove ghost (added last), then bob (listed before olga); keep olga.
    for position in (-1, 0):
        removes = sorted(remove_buttons(user), key=lambda b: b.id)
        UserInteraction(user, {removes[position]}, None).click()
    await user.should_not_see("user ghost")
    await user.should_not_see("user bob")
    in_dialog(user, ui.button, "Save").click()
    await settle(0.2)
    assert await sync_to_async(grants.list_grants)(orders) == [
        {"user": "olga", "group": None, "permissions": ["read", "owner"]}
    ]
    await user.should_see("Saved who may use this table")


@page_db
async def test_the_share_dialog_rechecks_ownership_when_saving(user: User, orders):
    owner = await sync_to_async(_grant_to_user)(orders, "olga", is_owner=True)
    await sign_in(user, owner)
    await user.open(f"/tables/{orders.pk}")
    user.find(kind=ui.button, content="Share").click()
    await user.should_see("Share orders")  # opens once the grants are read, however busy
    await sync_to_async(TableGrant.objects.filter(user=owner).update)(is_owner=False)
    in_dialog(user, ui.button, "Save").click()
    await user.should_see("Only owners may share orders")
    assert await sync_to_async(TableGrant.objects.count)() == 1
    user.find(kind=ui.button, content="Share").click()  # opening again is refused too
    await settle()
    await user.should_see("Only owners may share orders")


@page_db
async def test_a_superuser_shares_a_table_nobody_was_given(user: User, orders, admin_user):
    await sign_in(user, admin_user)
    await user.open(f"/tables/{orders.pk}")
    user.find(kind=ui.button, content="Share").click()
    await user.should_see("Share orders")  # opens once the grants are read, however busy
    await user.should_see("Nobody has been given this table yet.")
