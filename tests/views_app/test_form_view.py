"""The form view: one record at a time, with inputs by column type, checks by field, key-order
navigation, and edits that go through the same locks, compare-and-set and audit as the grid."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from nicegui import ui
from nicegui.testing import User

from core import events, locks
from core.models import Change, RowLock, TableGrant
from datasources_app import rows
from datasources_app.values import encode_key
from tests.factories import UserFactory
from views_app.builtin.form import FormView, FormViewPlugin, RecordForm
from views_app.builtin.form_fields import FormField

from .conftest import (
    dialog_texts,
    in_dialog,
    page_db,
    read_cell,
    record_javascript,
    settle,
    sign_in,
    until,
)

pytestmark = pytest.mark.integration

ROW_ID = 42
KEY = encode_key([ROW_ID])


@pytest.fixture(autouse=True)
def bus():
    """A fresh in-process event bus for each test."""
    previous = events.set_bus(events.EventBus())
    yield events.get_bus()
    events.set_bus(previous)


async def open_form(user: User, account, source, table: str = "orders", row: Any = ROW_ID):
    meta = await sync_to_async(source.tables.get)(name=table)
    await sign_in(user, account)
    query = f"?view=form_view&row={encode_key([row])}" if row is not None else "?view=form_view"
    await user.open(f"/tables/{meta.pk}{query}")
    # A busy machine loads the record later, never differently.
    await until(lambda: (form := loaded_form(user)) is not None and form.key is not None, 10)
    return form_state(user)


def loaded_form(user: User) -> RecordForm | None:
    try:
        return form_state(user)
    except ValueError:  # the page has not drawn the form yet
        return None


def form_state(user: User) -> RecordForm:
    """The server-side RecordForm behind the page (owner of the "Go to key" input's handler)."""
    (jump,) = user.find(kind=ui.input, content="Go to key").elements
    (listener,) = [lsn for lsn in jump._event_listeners.values() if lsn.type.startswith("keydown")]
    return listener.handler.__self__


async def click(user: User, label: str, seconds: float = 0.3) -> None:
    user.find(kind=ui.button, content=label).click()
    await settle(seconds)


def changes_of(key: str) -> list[tuple]:
    return list(
        Change.objects.filter(row_key=key).values_list("action", "column", "new_value", "state")
    )


def field(form: RecordForm, name: str) -> FormField:
    return form.fields[name]


def stored(path, sql: str, *params):
    return read_cell(path, sql, *params)


def order_row(path, row_id: int = ROW_ID) -> dict:
    with sqlite3.connect(path) as conn:
        conn.row_factory = sqlite3.Row
        return dict(conn.execute("SELECT * FROM orders WHERE id = ?", (row_id,)).fetchone())


# --- inputs by kind ------------------------------------------------------------------------------


@page_db
async def test_inputs_by_kind_on_orders(user: User, demo_source, demo_db, admin_user):
    form = await open_form(user, admin_user, demo_source)
    row = order_row(demo_db)
    assert form.key == KEY
    assert isinstance(field(form, "quantity").widget, ui.number)
    assert field(form, "quantity").widget.value == row["quantity"]
    assert isinstance(field(form, "unit_price").widget, ui.number)
    assert isinstance(field(form, "gift").widget, ui.switch)  # not nullable
    assert isinstance(field(form, "comment").widget, ui.textarea)  # text without a limit
    ordered_at = field(form, "ordered_at").widget
    assert isinstance(ordered_at, ui.input) and ordered_at.value == row["ordered_at"]
    assert field(form, "ordered_at").widget.props["placeholder"] == "YYYY-MM-DD HH:MM:SS"
    assert field(form, "shipped_on").widget.props["placeholder"] == "YYYY-MM-DD"
    # The primary key is shown, never editable; nothing is editable before "Edit".
    assert "readonly" in field(form, "id").widget.props
    assert not any(f.editable for f in form.fields.values())
    await user.should_see(f"Record {ROW_ID:,} of 2,000")


@page_db
async def test_foreign_keys_are_selects_with_readable_labels(
    user: User, demo_source, demo_db, admin_user
):
    form = await open_form(user, admin_user, demo_source)
    row = order_row(demo_db)
    with sqlite3.connect(demo_db) as conn:
        (name,) = conn.execute(
            "SELECT name FROM customers WHERE id = ?", (row["customer_id"],)
        ).fetchone()
    customer = field(form, "customer_id").widget
    assert isinstance(customer, ui.select)
    assert customer.value == row["customer_id"]
    assert customer.options[row["customer_id"]] == f"{name} · {row['customer_id']}"

    # Editing: typing searches the customers on the server.
    await click(user, "Edit")
    with user:
        await form.search_references(field(form, "customer_id"), name.split()[0])
    assert row["customer_id"] in customer.options
    assert all(name.split()[0] in label for key, label in customer.options.items()
               if key != row["customer_id"])  # fmt: skip
    assert len(customer.options) > 1


@page_db
async def test_kinds_the_demo_lacks(user: User, gadgets_source, admin_user):
    form = await open_form(user, admin_user, gadgets_source, table="gadgets", row=1)
    assert isinstance(field(form, "price").widget, ui.number)
    assert field(form, "price").widget.value == 9.5
    assert isinstance(field(form, "spec").widget, ui.textarea)
    assert '"watts": 40' in field(form, "spec").widget.value
    assert field(form, "photo").read_only and "readonly" in field(form, "photo").widget.props
    assert field(form, "made").widget.props["placeholder"] == "HH:MM:SS"
    active = field(form, "active").widget
    assert isinstance(active, ui.select) and active.value is True  # nullable boolean
    name = field(form, "name").widget
    assert isinstance(name, ui.input) and not isinstance(name, ui.textarea)
    assert str(name.props["maxlength"]) == "8"

    await click(user, "Edit")
    field(form, "spec").widget.value = "{not json"
    await click(user, "Save")
    assert field(form, "spec").widget.error.startswith("spec needs valid JSON")


# --- checks before writing ------------------------------------------------------------------------


@page_db
async def test_wrong_values_get_messages_by_field_and_nothing_is_written(
    user: User, demo_source, demo_db, admin_user
):
    form = await open_form(user, admin_user, demo_source)
    before = order_row(demo_db)
    await click(user, "Edit")
    assert field(form, "quantity").editable and not field(form, "id").editable
    field(form, "quantity").widget.value = 2.5
    field(form, "status").widget.value = ""
    field(form, "ordered_at").widget.value = "yesterday"
    await click(user, "Save")
    assert field(form, "quantity").widget.error == "quantity needs a whole number, not '2.5'"
    assert field(form, "status").widget.error == "status is required"
    assert field(form, "ordered_at").widget.error.startswith("ordered_at needs a date and time")
    assert field(form, "comment").widget.error is None
    await user.should_see("Some fields need a correction")
    assert order_row(demo_db) == before
    assert await sync_to_async(changes_of)(KEY) == []
    assert form.mode == "edit"  # still editing: the user corrects and saves again


# --- moving between records -----------------------------------------------------------------------


@page_db
async def test_first_previous_next_last_and_go_to_key(user: User, demo_source, demo_db, admin_user):
    form = await open_form(user, admin_user, demo_source)
    sent = record_javascript(user)

    async def step(marker: str, to: int | None = None) -> None:
        user.find(marker=f"form-{marker}").click()
        if to is None:
            await settle(0.3)
        else:
            await until(lambda: form.key == encode_key([to]), 10)

    await step("next", 43)
    assert form.key == encode_key([43]) and field(form, "id").widget.value == 43
    await user.should_see("Record 43 of 2,000")
    await step("previous", ROW_ID)
    assert form.key == KEY
    await step("first", 1)
    assert form.key == encode_key([1])
    await step("previous")
    await user.should_see("This is the first record")
    assert form.key == encode_key([1])
    await step("last", 2000)
    assert form.key == encode_key([2000])
    await user.should_see("Record 2,000 of 2,000")
    await step("next")
    await user.should_see("This is the last record")

    user.find(kind=ui.input, content="Go to key").type("7")
    await click(user, "Go")
    await until(lambda: form.key == encode_key([7]), 10)
    assert form.key == encode_key([7])
    user.find(kind=ui.input, content="Go to key").type("999999")
    await click(user, "Go")
    await user.should_see("No record with key 999999")
    assert form.key == encode_key([7])

    # The shown record is in the page's address, so a reload or a link opens it again.
    replaced = [code for code in sent if "replaceState" in code]
    assert replaced and f"row={encode_key([7])}" in replaced[-1]
    assert "view=form_view" in replaced[-1]


@page_db
async def test_without_a_row_the_form_opens_the_first_record(user: User, demo_source, admin_user):
    form = await open_form(user, admin_user, demo_source, row=None)
    assert form.key == encode_key([1])


# --- editing --------------------------------------------------------------------------------


@page_db
async def test_edit_and_save_is_locked_written_and_audited(
    user: User, demo_source, demo_db, admin_user
):
    form = await open_form(user, admin_user, demo_source)
    await click(user, "Edit")
    assert await sync_to_async(
        RowLock.objects.filter(row_key=KEY, holder=form.context.client_id).exists
    )()
    field(form, "quantity").widget.value = 17
    field(form, "comment").widget.value = "leave at the door"
    await click(user, "Save")
    await user.should_see("Saved")
    row = order_row(demo_db)
    assert (row["quantity"], row["comment"]) == (17, "leave at the door")
    assert stored(demo_db, "SELECT typeof(quantity) FROM orders WHERE id = ?", ROW_ID) == "integer"
    audited = await sync_to_async(changes_of)(KEY)
    assert sorted(audited) == [
        ("update", "comment", "leave at the door", "done"),
        ("update", "quantity", 17, "done"),
    ]  # only the changed fields
    # Back to reading: the lock is gone.
    await until(lambda: form.mode == "view", 10)
    assert form.mode == "view"
    assert not await sync_to_async(RowLock.objects.filter(row_key=KEY).exists)()


@page_db
async def test_cancel_releases_the_lock_and_shows_the_stored_values(
    user: User, demo_source, demo_db, admin_user
):
    form = await open_form(user, admin_user, demo_source)
    before = order_row(demo_db)
    await click(user, "Edit")
    field(form, "quantity").widget.value = 99
    await click(user, "Cancel")
    assert form.mode == "view"
    assert field(form, "quantity").widget.value == before["quantity"]
    assert not await sync_to_async(RowLock.objects.filter(row_key=KEY).exists)()
    assert order_row(demo_db) == before


@page_db
async def test_conflict_dialog_use_mine(user: User, demo_source, demo_db, admin_user):
    form = await open_form(user, admin_user, demo_source)
    await click(user, "Edit")
    field(form, "quantity").widget.value = 66
    read_cell(demo_db, "UPDATE orders SET quantity = 55 WHERE id = ?", ROW_ID)  # someone else
    await click(user, "Save")
    await user.should_see("Someone else changed this record")
    assert order_row(demo_db)["quantity"] == 55
    texts = dialog_texts(user)
    assert "66" in texts and "55" in texts
    in_dialog(user, ui.button, "Use mine").click()
    await settle(0.4)
    assert dialog_texts(user) == []
    assert order_row(demo_db)["quantity"] == 66
    assert field(form, "quantity").widget.value == 66


@page_db
async def test_conflict_dialog_keep_current(user: User, demo_source, demo_db, admin_user):
    form = await open_form(user, admin_user, demo_source)
    await click(user, "Edit")
    field(form, "comment").widget.value = "mine"
    read_cell(demo_db, "UPDATE orders SET comment = 'theirs' WHERE id = ?", ROW_ID)
    await click(user, "Save")
    await user.should_see("Someone else changed this record")
    in_dialog(user, ui.button, "Keep current").click()
    await settle(0.4)
    assert order_row(demo_db)["comment"] == "theirs"
    assert field(form, "comment").widget.value == "theirs"
    assert form.mode == "view"


@page_db
async def test_someone_elses_lock_keeps_the_form_read_only(
    user: User, demo_source, demo_db, admin_user
):
    bob = await sync_to_async(UserFactory)(username="bob")
    form = await open_form(user, admin_user, demo_source)
    await sync_to_async(locks.acquire)(form.table, KEY, bob, "bobs-page")
    await click(user, "Edit")
    await user.should_see("bob is editing this record")
    assert form.mode == "view"
    assert not any(f.editable for f in form.fields.values())


@page_db
async def test_another_users_change_refreshes_the_record(
    user: User, demo_source, demo_db, admin_user
):
    bob = await sync_to_async(UserFactory)(username="bob", is_superuser=True)
    form = await open_form(user, admin_user, demo_source)

    def bob_writes(quantity: int) -> None:
        opened = rows.open_table(bob, form.table.pk)
        rows.update_row(opened, KEY, {"quantity": quantity}, holder="bobs-page")

    await sync_to_async(bob_writes)(31)
    await settle(0.4)
    assert field(form, "quantity").widget.value == 31
    await user.should_see("bob changed this record")

    # While editing, the form keeps what is typed and says the record changed underneath.
    await click(user, "Edit")
    field(form, "quantity").widget.value = 32
    await sync_to_async(locks.release)(form.table, KEY, form.context.client_id)
    await sync_to_async(bob_writes)(33)
    await settle(0.4)
    assert field(form, "quantity").widget.value == 32
    await user.should_see("bob changed this record while you are editing it")


# --- new and deleted records ----------------------------------------------------------------------


@page_db
async def test_new_record_checks_required_fields_then_inserts(
    user: User, demo_source, demo_db, admin_user
):
    form = await open_form(user, admin_user, demo_source)
    await click(user, "New record")
    assert form.mode == "new" and not field(form, "id").editable  # the database numbers it
    await click(user, "Save")
    assert field(form, "quantity").widget.error == "quantity is required"
    assert field(form, "comment").widget.error is None  # nullable
    assert stored(demo_db, "SELECT count(*) FROM orders") == 2000

    values = {
        "customer_id": 1, "product_id": 1, "quantity": 3, "unit_price": 2.5, "status": "new",
        "ordered_at": "2024-05-01 10:00:00",
    }  # fmt: skip
    for name, value in values.items():
        widget = field(form, name).widget
        if isinstance(widget, ui.select):
            widget.set_options({value: str(value)}, value=value)
        else:
            widget.value = value
    await click(user, "Save")
    await user.should_see("Record added")
    assert stored(demo_db, "SELECT count(*) FROM orders") == 2001
    assert form.key == encode_key([2001])
    assert order_row(demo_db, 2001)["status"] == "new"
    assert await sync_to_async(changes_of)(encode_key([2001])) != []


@page_db
async def test_delete_asks_first_then_shows_the_next_record(
    user: User, demo_source, demo_db, admin_user
):
    form = await open_form(user, admin_user, demo_source)
    await click(user, "Delete")
    await user.should_see(f"Delete record {ROW_ID}?")
    in_dialog(user, ui.button, "Cancel").click()
    await settle()
    assert stored(demo_db, "SELECT count(*) FROM orders WHERE id = ?", ROW_ID) == 1

    await click(user, "Delete")
    in_dialog(user, ui.button, "Delete").click()
    await settle(0.4)
    await user.should_see("Record deleted")
    assert stored(demo_db, "SELECT count(*) FROM orders WHERE id = ?", ROW_ID) == 0
    assert form.key == encode_key([ROW_ID + 1])
    assert await sync_to_async(changes_of)(KEY) == [("delete", "", None, "done")]


# --- who may do what ------------------------------------------------------------------------


@page_db
async def test_a_reader_sees_no_edit_and_a_forged_save_is_refused(
    user: User, demo_source, demo_db, reader
):
    form = await open_form(user, reader, demo_source)
    for label in ("Edit", "New record", "Delete"):
        await user.should_not_see(kind=ui.button, content=label)
    before = order_row(demo_db)
    # A forged request: the page never offered editing, the row operation still says no.
    with user:
        form.set_mode("edit")
        field(form, "quantity").editable = True
        field(form, "quantity").widget.value = 3
        await form.save()
    await user.should_see("You may not edit rows in orders")
    assert order_row(demo_db) == before


@pytest.mark.unit
def test_the_form_is_preferred_for_wide_tables_only():
    view = FormView(table_id=1, datasource=None)
    narrow = {"columns": [{"name": f"c{i}", "type": "text"} for i in range(10)]}
    wide = {"columns": [{"name": f"c{i}", "type": "text"} for i in range(11)]}
    assert view.can_handle_table(narrow) and view.can_handle_table(wide)
    assert view.priority_for(narrow) < 1 < view.priority_for(wide)  # the table view's is 1
    assert FormViewPlugin().get_view_class() is FormView


@page_db
async def test_the_grid_opens_a_row_in_the_form(user: User, demo_source, admin_user):
    import re

    table = await sync_to_async(demo_source.tables.get)(name="orders")
    await sign_in(user, admin_user)
    await user.open(f"/tables/{table.pk}?view=table_view")
    rule = re.compile(r"(?s).*nocofloChosenRow.*")
    user.javascript_rules[rule] = lambda _: {"selected": [], "focused": None}
    await click(user, "Open in form", 0.2)
    await user.should_see("Select a row first")

    user.javascript_rules[rule] = lambda _: {"selected": [], "focused": KEY}
    await click(user, "Open in form")
    await until(lambda: (form := loaded_form(user)) is not None and form.key == KEY, 10)
    form = form_state(user)
    assert form.key == KEY


@page_db
async def test_a_foreign_key_to_a_table_the_user_may_not_read_is_typed(
    user: User, demo_source, demo_db
):
    def orders_only():
        account = UserFactory(username="clerk")
        orders = demo_source.tables.get(name="orders")
        TableGrant.objects.create(table=orders, user=account, can_read=True, can_write=True)
        return account

    clerk = await sync_to_async(orders_only)()
    form = await open_form(user, clerk, demo_source)
    customer = field(form, "customer_id").widget
    assert isinstance(customer, ui.number)  # no names of customers the clerk may not read
    assert customer.value == order_row(demo_db)["customer_id"]
