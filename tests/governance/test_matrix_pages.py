"""The permission matrix on the page and over its websocket: each role times each action.

The page shows only what the role may do (navigation, the table, its buttons); events sent over
the websocket are checked again, so a forged event or one from a page opened before the rights
were taken away changes nothing.
"""

from __future__ import annotations

import re

import pytest
from asgiref.sync import sync_to_async
from nicegui import ui
from nicegui.testing import User

from core.models import TableGrant, TableMeta
from datasources_app.values import encode_key
from tests.views_app.conftest import (
    dialog_texts,
    in_dialog,
    page_db,
    read_cell,
    settle,
    sign_in,
)
from tests.views_app.test_grid import edit, order
from views_app.builtin.grid_js import KEY_FIELD

from .roles import ALLOWED, ROLES, make_role

pytestmark = pytest.mark.integration

BUTTONS = {"add": "Add row", "delete": "Delete selected", "manage": "Share", "export": "Export"}


def _orders(source) -> TableMeta:
    return TableMeta.objects.get(datasource=source, name="orders")


def _buttons(user: User) -> set[str]:
    return {b.text for b in user.find(kind=ui.button).elements}


@page_db
@pytest.mark.parametrize("role", sorted(ROLES))
async def test_each_role_sees_and_does_only_what_it_may(role, user: User, demo_source, demo_db):
    table = await sync_to_async(_orders)(demo_source)
    account = await sync_to_async(make_role)(role, table)
    allowed = ALLOWED[role]
    await sign_in(user, account)

    await user.open("/")
    in_navigation = any(
        link.props.get("href") == f"/tables/{table.pk}" for link in user.find(ui.link).elements
    )
    assert in_navigation == ("see" in allowed)

    await user.open(f"/tables/{table.pk}")
    if "open" not in allowed:
        await user.should_see("No such table")
        await user.should_not_see(kind=ui.aggrid)
        return
    shown = _buttons(user)
    for action, label in BUTTONS.items():
        assert (label in shown) == (action in allowed), (role, label, shown)

    # An edit event reaches the server whatever the grid allowed: it is checked there.
    data = order(demo_db, 9)
    await edit(user, "comment", data["comment"], f"by {role}", data)
    stored = read_cell(demo_db, "SELECT comment FROM orders WHERE id = 9")
    assert (stored == f"by {role}") == ("edit" in allowed)
    if "edit" not in allowed:
        await user.should_see("You may not edit rows in orders")


def _take_away(table: TableMeta, account) -> None:
    TableGrant.objects.filter(table=table, user=account).update(
        can_write=False, can_delete=False, is_owner=False, can_read=True
    )


@page_db
async def test_rights_taken_away_while_the_page_is_open(user: User, demo_source, demo_db):
    """Every handler asks again: the page still shows the owner's buttons, the server refuses."""
    table = await sync_to_async(_orders)(demo_source)
    account = await sync_to_async(make_role)("owner", table)
    await sign_in(user, account)
    await user.open(f"/tables/{table.pk}")
    assert {"Add row", "Delete selected", "Share"} <= _buttons(user)
    await sync_to_async(_take_away)(table, account)

    data = order(demo_db, 9)
    await edit(user, "comment", data["comment"], "too late", data)
    await user.should_see("You may not edit rows in orders")
    assert read_cell(demo_db, "SELECT comment FROM orders WHERE id = 9") == data["comment"]

    user.find(kind=ui.button, content="Add row").click()
    await user.should_see("Add a row to orders")
    in_dialog(user, ui.button, "Add").click()
    await settle(0.3)
    await user.should_see("You may not add rows in orders")
    assert read_cell(demo_db, "SELECT count(*) FROM orders") == 2000
    in_dialog(user, ui.button, "Cancel").click()
    await settle()

    user.javascript_rules[re.compile(r'(?s).*"getSelectedRows".*')] = lambda _: [
        {KEY_FIELD: encode_key([9])}
    ]
    user.find(kind=ui.button, content="Delete selected").click()
    await settle(0.2)
    in_dialog(user, ui.button, "Delete").click()
    await settle(0.3)
    await user.should_see("You may not delete rows in orders")
    assert read_cell(demo_db, "SELECT count(*) FROM orders WHERE id = 9") == 1

    user.find(kind=ui.button, content="Share").click()
    await settle(0.3)
    await user.should_see("Only owners may share orders")
    assert "Share orders" not in dialog_texts(user)
