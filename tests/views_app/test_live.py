"""Working together on one table: row locks between editors, live updates, who else is here.

Two simulated browsers (NiceGUI's `user` and one more from `create_user`) open the same table;
what one page does reaches the other through the event bus, as between two people.
"""

from __future__ import annotations

import re
import sys
from datetime import timedelta
from types import SimpleNamespace

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone
from nicegui import context, ui
from nicegui.events import GenericEventArguments, handle_event
from nicegui.helpers import event_type_to_camel_case
from nicegui.testing import User
from nicegui.testing.user_interaction import UserInteraction
from nicegui.testing.user_notify import UserNotify

from core import events
from core.models import ColumnMeta, RowLock, Viewer
from datasources_app import rows
from datasources_app.values import encode_key
from tests.conftest import grant
from tests.factories import UserFactory
from views_app.builtin.table import TableGrid

from .conftest import (
    dialog_texts,
    grid_state,
    in_dialog,
    page_db,
    read_cell,
    record_javascript,
    settle,
    sign_in,
    the_grid,
)
from .test_grid import order

pytestmark = pytest.mark.integration

ROW_ID = 42
KEY = encode_key([ROW_ID])
NEW_ORDER = {
    "customer_id": 1, "product_id": 1, "quantity": 1, "unit_price": 2.5, "status": "new",
    "ordered_at": "2024-05-01 10:00:00", "gift": False,
}  # fmt: skip


class PageNotify(UserNotify):
    """Notifications sorted by the page that showed them.

    NiceGUI's simulation points `ui.notify` at whichever simulated user was touched last; with
    two users on two pages, each message goes to the user whose page was the current one.
    """

    def __init__(self, users: list[User]) -> None:
        super().__init__()
        self.users = users

    def __call__(self, message: str, **kwargs) -> None:
        current = context.client
        for user in self.users:
            if object.__getattribute__(user, "client") is current:
                object.__getattribute__(user, "notify").messages.append(message)
                return
        self.messages.append(message)


@pytest.fixture(autouse=True)
def bus():
    """A fresh in-process event bus for each test."""
    previous = events.set_bus(events.EventBus())
    yield events.get_bus()
    events.set_bus(previous)


@pytest.fixture
def alice(db):
    account = UserFactory(username="alice")
    grant(account, "read_rows", "write_rows", "delete_rows")
    return account


@pytest.fixture
def bob(db):
    account = UserFactory(username="bob")
    grant(account, "read_rows", "write_rows")
    return account


@pytest.fixture
async def pages(user: User, create_user):
    """Two simulated browsers whose notifications are told apart."""
    other = create_user()
    both = [user, other]
    for each in both:
        each.notify = PageNotify(both)
    return user, other


async def open_orders(user: User, account, source) -> TableGrid:
    table = await sync_to_async(source.tables.get)(name="orders")
    await sign_in(user, account)
    await user.open(f"/tables/{table.pk}")
    await settle(0.2)  # the page's connect handler: locks shown, presence recorded
    return grid_state(user)


def trigger(user: User, event: str, args: dict) -> None:
    UserInteraction(user, {the_grid(user)}, None).trigger(event, args)


async def start_editing(user: User, data: dict, column: str = "quantity") -> None:
    trigger(user, "cellEditingStarted", {"colId": column, "rowIndex": ROW_ID - 1, "data": data})
    await settle(0.3)


async def stop_editing(user: User, data: dict, column: str = "quantity") -> None:
    trigger(user, "cellEditingStopped", {"colId": column, "rowIndex": ROW_ID - 1, "data": data})
    await settle(0.3)


def emit(user: User, event: str, args) -> None:
    """What the browser's `emitEvent(event, args)` delivers to the page."""
    layout = user.client.layout
    (listener,) = [
        listener
        for listener in layout._event_listeners.values()
        if listener.type == event_type_to_camel_case(event)
    ]
    with user:
        handle_event(
            listener.handler, GenericEventArguments(sender=layout, client=user.client, args=args)
        )


def lock_holders() -> list[tuple[str, str, str]]:
    return list(RowLock.objects.values_list("row_key", "user__username", "holder"))


STOP_EDITING = '"run_grid_method", ["stopEditing",true]'


def lock_marks(sent: list[str]) -> list[str]:
    return [code for code in sent if "window.nocofloLocks" in code and "redrawRows" in code]


def row_updates(sent: list[str]) -> list[str]:
    return [code for code in sent if "node.setData" in code]


def refreshes(sent: list[str]) -> list[str]:
    return [code for code in sent if "purgeInfiniteCache" in code]


# --- row locks ----------------------------------------------------------------------------------


@page_db
async def test_a_lock_stops_the_other_editor_until_it_is_released(
    pages, demo_source, demo_db, alice, bob
):
    user_a, user_b = pages
    grid_a = await open_orders(user_a, alice, demo_source)
    await open_orders(user_b, bob, demo_source)
    data = order(demo_db)
    sent_a, sent_b = record_javascript(user_a), record_javascript(user_b)

    await start_editing(user_a, data)
    assert await sync_to_async(lock_holders)() == [(KEY, "alice", grid_a.context.client_id)]
    assert not any(STOP_EDITING in code for code in sent_a)
    # Bob's grid marks the row as alice's.
    (mark,) = lock_marks(sent_b)
    assert f'{{"{KEY}": "alice"}}' in mark

    # Bob's editor on that row is closed again, and he is told why.
    await start_editing(user_b, data)
    assert any(STOP_EDITING in code for code in sent_b)
    assert "alice is editing this row" in user_b.notify.messages
    assert user_a.notify.messages == []
    assert dialog_texts(user_b) == []  # no "Break lock" for someone who may not break it
    # A write that slips through anyway is refused by the server.
    trigger(
        user_b,
        "cellValueChanged",
        {"colId": "quantity", "oldValue": data["quantity"], "newValue": 77, "data": data,
         "source": "edit"},
    )  # fmt: skip
    await settle(0.3)
    await user_b.should_see("alice is editing this row; try again when they are done")
    assert (
        read_cell(demo_db, "SELECT quantity FROM orders WHERE id = ?", ROW_ID) == data["quantity"]
    )

    # Alice closes her editor: the lock goes, Bob's grid shows the row free, and he may edit.
    await stop_editing(user_a, data)
    assert await sync_to_async(lock_holders)() == []
    assert f'{{"{KEY}": null}}' in lock_marks(sent_b)[-1]
    sent_b.clear()
    await start_editing(user_b, data)
    assert not any(STOP_EDITING in code for code in sent_b)
    assert await sync_to_async(lock_holders)() == [
        (KEY, "bob", grid_state(user_b).context.client_id)
    ]


@page_db
async def test_a_lapsed_lease_frees_the_row(pages, demo_source, demo_db, alice, bob):
    user_a, user_b = pages
    await open_orders(user_a, alice, demo_source)
    grid_b = await open_orders(user_b, bob, demo_source)
    data = order(demo_db)
    await start_editing(user_a, data)
    # Alice's page died without a word: her lease runs out.
    await sync_to_async(RowLock.objects.update)(expires_at=timezone.now() - timedelta(seconds=1))
    sent_b = record_javascript(user_b)
    await start_editing(user_b, data)
    assert not any(STOP_EDITING in code for code in sent_b)
    assert user_b.notify.messages == []
    assert await sync_to_async(lock_holders)() == [(KEY, "bob", grid_b.context.client_id)]


@page_db
async def test_an_open_editor_renews_its_lease(user: User, demo_source, demo_db, alice, settings):
    settings.NOCOFLO_LOCK_SECONDS = 3  # renewed every second
    await open_orders(user, alice, demo_source)
    data = order(demo_db)
    await start_editing(user, data)
    (first,) = await sync_to_async(list)(RowLock.objects.values_list("expires_at", flat=True))
    await settle(1.5)
    (later,) = await sync_to_async(list)(RowLock.objects.values_list("expires_at", flat=True))
    assert later > first
    await stop_editing(user, data)
    assert await sync_to_async(lock_holders)() == []
    assert not grid_state(user).renewal.active


@page_db
async def test_the_save_holds_the_lock_until_it_is_done(pages, demo_source, demo_db, alice, bob):
    """The browser sends the new value and the editor's close together: the lock is released
    only after the value is written."""
    user_a, user_b = pages
    await open_orders(user_a, alice, demo_source)
    await open_orders(user_b, bob, demo_source)
    data = order(demo_db)
    await start_editing(user_a, data)
    sent_b = record_javascript(user_b)
    changed = {**data, "quantity": 17}
    trigger(
        user_a,
        "cellValueChanged",
        {"colId": "quantity", "oldValue": data["quantity"], "newValue": 17, "data": changed,
         "source": "edit"},
    )  # fmt: skip
    trigger(user_a, "cellEditingStopped", {"colId": "quantity", "data": changed})
    await settle(0.5)
    assert "Saved quantity" in user_a.notify.messages
    assert read_cell(demo_db, "SELECT quantity FROM orders WHERE id = ?", ROW_ID) == 17
    assert await sync_to_async(lock_holders)() == []
    # Bob's page heard the change before the unlock.
    update, unlock = row_updates(sent_b)[0], lock_marks(sent_b)[-1]
    assert sent_b.index(update) < sent_b.index(unlock)


@page_db
async def test_leaving_the_page_releases_its_locks_and_presence(
    pages, demo_source, demo_db, alice, bob
):
    user_a, user_b = pages
    grid_a = await open_orders(user_a, alice, demo_source)
    await open_orders(user_b, bob, demo_source)
    await start_editing(user_a, order(demo_db))
    assert await sync_to_async(lock_holders)() != []
    sent_b = record_javascript(user_b)
    for socket_id in list(user_a.client._socket_to_document_id):
        user_a.client.handle_disconnect(socket_id)
    await settle(0.3)
    assert await sync_to_async(lock_holders)() == []
    assert not await sync_to_async(Viewer.objects.filter(client=grid_a.context.client_id).exists)()
    assert f'{{"{KEY}": null}}' in lock_marks(sent_b)[-1]
    assert presence_names(user_b) == []


@page_db
async def test_owners_may_break_a_lock(pages, demo_source, demo_db, alice, admin_user):
    user_a, user_b = pages
    await open_orders(user_a, alice, demo_source)
    grid_b = await open_orders(user_b, admin_user, demo_source)
    data = order(demo_db)
    await start_editing(user_a, data)
    await start_editing(user_b, data)
    assert "alice is editing this row" in dialog_texts(user_b)
    sent_a = record_javascript(user_a)
    in_dialog(user_b, ui.button, "Break lock").click()
    await settle(0.3)
    assert "Lock broken: the row can be edited" in user_b.notify.messages
    assert await sync_to_async(lock_holders)() == []
    # Alice's editor is closed: her lock is gone.
    assert any(STOP_EDITING in code for code in sent_a)
    assert "admin broke your lock on this row" in user_a.notify.messages
    await start_editing(user_b, data)
    assert await sync_to_async(lock_holders)() == [(KEY, "admin", grid_b.context.client_id)]


@page_db
async def test_the_page_shows_rows_locked_before_it_opened(pages, demo_source, demo_db, alice, bob):
    user_a, user_b = pages
    await open_orders(user_a, alice, demo_source)
    await start_editing(user_a, order(demo_db))
    grid_b = await open_orders(user_b, bob, demo_source)
    options = the_grid(user_b).options
    assert options["context"] == {"gridId": grid_b.grid.id}
    assert ":nocoflo-row-locked" in options["rowClassRules"]
    defs = {d["field"]: d for d in options["columnDefs"]}
    assert ":cellRenderer" in defs["id"]  # the pinned key shows the lock
    assert ":editable" in defs["quantity"] and ":editable" not in defs["id"]
    # What the page sends once the browser connected (here: once more, recorded).
    sent = record_javascript(user_b)
    with user_b:
        await grid_b.on_connect()
    (mark,) = lock_marks(sent)
    assert f'{{"{KEY}": "alice"}}' in mark and f"const gridId = {grid_b.grid.id}" in mark


# --- live updates -------------------------------------------------------------------------------


@pytest.fixture
def hidden_comment(demo_source):
    ColumnMeta.objects.filter(table__name="orders", name="comment").update(visible=False)
    return demo_source


@page_db
async def test_a_change_shows_on_the_other_page_without_hidden_columns(
    pages, hidden_comment, demo_db, admin_user, bob
):
    user_a, user_b = pages
    grid_a = await open_orders(user_a, admin_user, hidden_comment)
    grid_b = await open_orders(user_b, bob, hidden_comment)
    read_cell(demo_db, "UPDATE orders SET comment = 'secret note' WHERE id = ?", ROW_ID)
    data = order(demo_db)
    sent_a, sent_b = record_javascript(user_a), record_javascript(user_b)
    trigger(
        user_a,
        "cellValueChanged",
        {"colId": "quantity", "oldValue": data["quantity"], "newValue": 17,
         "data": {**data, "quantity": 17}, "source": "edit"},
    )  # fmt: skip
    await settle(0.4)
    assert "Saved quantity" in user_a.notify.messages
    # Alice's page does not hear its own change again.
    assert row_updates(sent_a) == []
    (update,) = row_updates(sent_b)
    assert f'const gridId = {grid_b.grid.id}, key = "{KEY}"' in update
    assert '"quantity": 17' in update
    assert "secret note" not in update and '"comment"' not in update
    assert "admin" in update  # who changed it

    # Bob's browser had the row and changed one cell of it: he is told who did.
    emit(user_b, f"nocoflo-grid-changed-{grid_b.grid.id}", {"user": "admin", "cells": 1})
    await settle(0.5)
    assert "admin changed 1 cell" in user_b.notify.messages
    assert grid_a.editing == set()


@page_db
async def test_added_and_deleted_rows_refresh_the_other_page(
    pages, demo_source, demo_db, alice, bob
):
    user_a, user_b = pages
    grid_a = await open_orders(user_a, alice, demo_source)
    await open_orders(user_b, bob, demo_source)
    sent_a, sent_b = record_javascript(user_a), record_javascript(user_b)

    def add_and_delete() -> None:
        opened = rows.open_table(alice, grid_a.context.table.pk)
        added = rows.insert_row(
            opened,
            NEW_ORDER,
            holder=grid_a.context.client_id,
        )
        rows.delete_rows(opened, [added["key"]], holder=grid_a.context.client_id)
        rows.delete_rows(opened, [encode_key([7])], holder=grid_a.context.client_id)

    await sync_to_async(add_and_delete)()
    await settle(0.6)
    assert len(refreshes(sent_b)) == 1  # told together, refreshed once
    assert "alice added a row" in user_b.notify.messages
    assert "alice deleted 2 rows" in user_b.notify.messages
    assert refreshes(sent_a) == []  # its own writes
    assert user_a.notify.messages == []


@page_db
async def test_a_refresh_waits_for_the_open_editor(pages, demo_source, demo_db, alice, bob):
    user_a, user_b = pages
    grid_a = await open_orders(user_a, alice, demo_source)
    await open_orders(user_b, bob, demo_source)
    data = order(demo_db)
    await start_editing(user_b, data)
    sent_b = record_javascript(user_b)
    await sync_to_async(
        lambda: rows.delete_rows(
            rows.open_table(alice, grid_a.context.table.pk), [encode_key([7])], holder="elsewhere"
        )
    )()
    await settle(0.6)
    assert refreshes(sent_b) == []
    assert "alice deleted a row" in user_b.notify.messages
    await stop_editing(user_b, data)
    assert len(refreshes(sent_b)) == 1


@page_db
async def test_a_revoked_reader_gets_no_more_rows(pages, demo_source, demo_db, alice, bob):
    user_a, user_b = pages
    await open_orders(user_a, alice, demo_source)
    grid_b = await open_orders(user_b, bob, demo_source)
    await sync_to_async(bob.user_permissions.clear)()
    grid_b._checked_at -= 60  # the last access check is old
    data = order(demo_db)
    sent_b = record_javascript(user_b)
    trigger(
        user_a,
        "cellValueChanged",
        {"colId": "quantity", "oldValue": data["quantity"], "newValue": 17,
         "data": {**data, "quantity": 17}, "source": "edit"},
    )  # fmt: skip
    await settle(0.5)
    assert "Saved quantity" in user_a.notify.messages
    assert row_updates(sent_b) == []
    assert "You may no longer open this table; reload the page" in user_b.notify.messages
    assert grid_b._unsubscribe is None


# --- presence -----------------------------------------------------------------------------------


def presence_names(user: User) -> list[str]:
    grid = grid_state(user)
    return [chip.text for chip in grid.presence_box.descendants() if isinstance(chip, ui.chip)]


@page_db
async def test_who_else_is_here(pages, demo_source, alice, bob):
    user_a, user_b = pages
    await open_orders(user_a, alice, demo_source)
    assert presence_names(user_a) == []
    await open_orders(user_b, bob, demo_source)
    await settle(0.2)
    assert presence_names(user_b) == ["alice"]
    assert presence_names(user_a) == ["bob"]  # told when bob arrived
    await user_b.should_see("Also here:")

    for socket_id in list(user_b.client._socket_to_document_id):
        user_b.client.handle_disconnect(socket_id)
    await settle(0.3)
    assert presence_names(user_a) == []


@page_db
async def test_the_heartbeat_keeps_the_page_among_the_viewers(user: User, demo_source, alice):
    grid = await open_orders(user, alice, demo_source)
    viewer = await sync_to_async(Viewer.objects.get)(client=grid.context.client_id)
    await sync_to_async(Viewer.objects.update)(seen_at=viewer.seen_at - timedelta(minutes=5))
    await grid.beat()
    fresh = await sync_to_async(Viewer.objects.get)(client=grid.context.client_id)
    assert fresh.seen_at > viewer.seen_at


# --- row history --------------------------------------------------------------------------------


@page_db
async def test_row_history_opens_for_the_chosen_row(user: User, demo_source, alice, monkeypatch):
    opened_for: list[str] = []

    async def fake_history(context, row_key: str) -> None:
        opened_for.append(row_key)

    # The dialog itself is views_app.history's; here only which row it is asked for.
    monkeypatch.setitem(
        sys.modules, "views_app.history", SimpleNamespace(open_row_history=fake_history)
    )
    await open_orders(user, alice, demo_source)
    rule = re.compile(r"(?s).*nocofloChosenRow.*")

    user.javascript_rules[rule] = lambda _: {"selected": [], "focused": None}
    user.find(kind=ui.button, content="Row history").click()
    await settle(0.2)
    await user.should_see("Select a row first")

    user.javascript_rules[rule] = lambda _: {"selected": ["a", "b"], "focused": None}
    user.find(kind=ui.button, content="Row history").click()
    await settle(0.2)
    await user.should_see("Select a single row to see its history")

    user.javascript_rules[rule] = lambda _: {"selected": [], "focused": KEY}
    user.find(kind=ui.button, content="Row history").click()
    await settle(0.2)
    user.javascript_rules[rule] = lambda _: {"selected": [encode_key([5])], "focused": KEY}
    user.find(kind=ui.button, content="Row history").click()
    await settle(0.2)
    assert opened_for == [KEY, encode_key([5])]
