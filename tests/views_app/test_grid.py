"""The table view's server side: cell edits, conflicts, adding and deleting rows, search, counts.

Events are simulated the way NiceGUI delivers them from the browser: as a GenericEventArguments on
the aggrid element (or the page layout for global events), so the handlers run as in production.
"""

from __future__ import annotations

import re
import sqlite3

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Permission
from django.contrib.sessions.models import Session
from nicegui import ui
from nicegui.events import GenericEventArguments, handle_event
from nicegui.helpers import event_type_to_camel_case
from nicegui.testing import User
from nicegui.testing.user_interaction import UserInteraction

from datasources_app import rows
from datasources_app.errors import InvalidValue, WriteConflict
from datasources_app.values import encode_key
from tests.conftest import grant
from tests.factories import UserFactory
from views_app.builtin.grid_js import KEY_FIELD, recount_js
from views_app.builtin.table import TableGrid

from .conftest import (
    dialog_texts,
    grid_state,
    in_dialog,
    open_dialog,
    page_db,
    read_cell,
    record_javascript,
    settle,
    sign_in,
    the_grid,
)

pytestmark = pytest.mark.integration

ROW_ID = 42


def order(path, row_id: int = ROW_ID) -> dict:
    """A row of the demo's orders table as the grid holds it (with its row key)."""
    with sqlite3.connect(path) as conn:
        conn.row_factory = sqlite3.Row
        row = dict(conn.execute("SELECT * FROM orders WHERE id = ?", (row_id,)).fetchone())
    row["gift"] = bool(row["gift"])
    return {**row, KEY_FIELD: encode_key([row_id])}


async def open_orders(user: User, account, source) -> None:
    table = await sync_to_async(source.tables.get)(name="orders")
    await sign_in(user, account)
    await user.open(f"/tables/{table.pk}")


async def edit(user: User, column: str, old, new, data: dict, source: str | None = "edit") -> None:
    """The browser's cellValueChanged event after the user edited a cell, and its handling."""
    args = {"colId": column, "oldValue": old, "newValue": new, "data": {**data, column: new}}
    if source is not None:
        args["source"] = source
    UserInteraction(user, {the_grid(user)}, None).trigger("cellValueChanged", args)
    await settle(0.3)


def row_data_updates(sent: list[str]) -> list[str]:
    return [code for code in sent if '"setData"' in code]


STORED = {
    column: f"SELECT {column}, typeof({column}) FROM orders WHERE id = ?"  # noqa: S608 - fixed names
    for column in ("quantity", "unit_price", "comment")
}


def stored(path, column: str, row_id: int = ROW_ID):
    """A cell of the orders table in the SQLite file, with the type SQLite stored it as."""
    return read_cell(path, STORED[column], row_id)


# --- editing cells ------------------------------------------------------------------------------


@page_db
async def test_valid_edit_is_written_typed(user: User, demo_source, demo_db, admin_user):
    await open_orders(user, admin_user, demo_source)
    data = order(demo_db)
    sent = record_javascript(user)
    await edit(user, "quantity", data["quantity"], "17", data)
    await user.should_see("Saved quantity")
    assert stored(demo_db, "quantity") == (17, "integer")
    # The grid's row is replaced by the row as stored.
    (update,) = row_data_updates(sent)
    assert data[KEY_FIELD] in update
    assert '"quantity":17' in update

    await edit(user, "comment", data["comment"], "leave at the door", order(demo_db))
    await user.should_see("Saved comment")
    assert stored(demo_db, "comment") == ("leave at the door", "text")


@pytest.mark.parametrize("source", ["paste", "undo", None])
@page_db
async def test_other_user_edit_sources_are_written(
    user: User, demo_source, demo_db, admin_user, source
):
    await open_orders(user, admin_user, demo_source)
    data = order(demo_db)
    await edit(user, "unit_price", data["unit_price"], 12.5, data, source=source)
    await user.should_see("Saved unit_price")
    assert stored(demo_db, "unit_price") == (12.5, "real")


@page_db
async def test_wrong_type_is_refused_and_nothing_written(
    user: User, demo_source, demo_db, admin_user
):
    await open_orders(user, admin_user, demo_source)
    data = order(demo_db)
    before = stored(demo_db, "quantity")
    sent = record_javascript(user)
    await edit(user, "quantity", data["quantity"], "abc", data)
    await user.should_see("quantity needs a whole number, not 'abc'")
    await user.should_not_see("Saved quantity")
    assert stored(demo_db, "quantity") == before
    # The cell shows the stored value again.
    (update,) = row_data_updates(sent)
    assert f'"quantity":{data["quantity"]}' in update


@page_db
async def test_ignored_events_write_nothing(user: User, demo_source, demo_db, admin_user):
    await open_orders(user, admin_user, demo_source)
    data = order(demo_db)
    before = stored(demo_db, "quantity")
    await edit(user, "quantity", data["quantity"], 99, data, source="api")  # the grid's own update
    await edit(user, "quantity", data["quantity"], data["quantity"], data)  # nothing changed
    await edit(
        user, "quantity", data["quantity"], 99, {k: v for k, v in data.items() if k != KEY_FIELD}
    )
    UserInteraction(user, {the_grid(user)}, None).trigger(
        "cellValueChanged", {"oldValue": 1, "newValue": 2, "data": data, "source": "edit"}
    )
    await settle(0.2)
    assert stored(demo_db, "quantity") == before
    assert user.notify.messages == []


@page_db
async def test_stale_value_opens_conflict_dialog_use_mine(
    user: User, demo_source, demo_db, admin_user
):
    await open_orders(user, admin_user, demo_source)
    data = order(demo_db)
    read_cell(demo_db, "UPDATE orders SET quantity = 55 WHERE id = ?", ROW_ID)  # someone else
    sent = record_javascript(user)
    await edit(user, "quantity", data["quantity"], 66, data)
    await user.should_see("Someone else changed this row")
    await user.should_see("quantity changed since you read it. Nothing was written.")
    await user.should_see("Your value")
    await user.should_see(kind=ui.label, content="66")
    await user.should_see(kind=ui.label, content="55")
    assert stored(demo_db, "quantity") == (55, "integer")
    # The grid shows the current row behind the dialog.
    assert any('"quantity":55' in code for code in row_data_updates(sent))

    in_dialog(user, ui.button, "Use mine").click()
    await settle(0.3)
    await user.should_see("Saved quantity")
    assert dialog_texts(user) == []
    assert stored(demo_db, "quantity") == (66, "integer")


@page_db
async def test_conflict_dialog_keep_current(user: User, demo_source, demo_db, admin_user):
    await open_orders(user, admin_user, demo_source)
    data = order(demo_db)
    read_cell(demo_db, "UPDATE orders SET comment = 'theirs' WHERE id = ?", ROW_ID)
    await edit(user, "comment", data["comment"], "mine", data)
    await user.should_see("Someone else changed this row")
    await user.should_see(kind=ui.label, content="'theirs'")
    in_dialog(user, ui.button, "Keep current").click()
    await settle()
    assert dialog_texts(user) == []
    assert stored(demo_db, "comment") == ("theirs", "text")


@page_db
async def test_forged_edit_by_reader_is_refused(user: User, demo_source, demo_db, reader):
    """The websocket never skips the permission check, whatever the page showed."""
    await open_orders(user, reader, demo_source)
    data = order(demo_db)
    before = stored(demo_db, "quantity")
    await edit(user, "quantity", data["quantity"], 3, data)
    await user.should_see("You may not edit rows in orders")
    assert stored(demo_db, "quantity") == before


@page_db
async def test_signing_out_takes_effect_on_the_open_page(
    user: User, demo_source, demo_db, admin_user
):
    await open_orders(user, admin_user, demo_source)
    await sync_to_async(lambda: Session.objects.all().delete())()
    data = order(demo_db)
    before = stored(demo_db, "quantity")
    await edit(user, "quantity", data["quantity"], 3, data)
    await user.should_see("No such table")
    assert stored(demo_db, "quantity") == before


@page_db
async def test_unexpected_error_is_logged_not_shown(
    user: User, demo_source, demo_db, admin_user, monkeypatch, caplog
):
    def explode(*args, **kwargs):
        raise ZeroDivisionError("secret internals")

    monkeypatch.setattr(rows, "update_row", explode)
    await open_orders(user, admin_user, demo_source)
    data = order(demo_db)
    await edit(user, "quantity", data["quantity"], 3, data)
    await user.should_see("Something went wrong on the server; it has been logged")
    assert not any("secret internals" in m for m in user.notify.messages)
    assert any(r.getMessage() == "page operation failed" for r in caplog.records)
    caplog.clear()  # logged on purpose


# --- adding rows --------------------------------------------------------------------------------


def field(user: User, kind, label: str) -> UserInteraction:
    return in_dialog(user, kind, label)


@page_db
async def test_add_row_dialog_inserts_a_row(user: User, demo_source, demo_db, admin_user):
    await open_orders(user, admin_user, demo_source)
    sent = record_javascript(user)
    user.find(kind=ui.button, content="Add row").click()
    await user.should_see("Add a row to orders")
    dialog = open_dialog(user)
    labels = [
        e.props.get("label") or e.text
        for e in dialog.descendants()
        if isinstance(e, (ui.number, ui.input, ui.switch, ui.select))
    ]
    assert sorted(labels) == sorted(
        [
            "id *", "customer_id *", "product_id *", "quantity *", "unit_price *", "status *",
            "ordered_at *", "shipped_on", "gift *", "comment",
        ]
    )  # fmt: skip
    field(user, ui.number, "customer_id").type("7")
    field(user, ui.number, "product_id").type("3")
    field(user, ui.number, "quantity").type("2")
    field(user, ui.number, "unit_price").type("9.75")
    field(user, ui.input, "status").type("pending")
    field(user, ui.input, "ordered_at").type("2024-05-06 07:08:09")
    field(user, ui.input, "shipped_on").type("2024-05-07")
    field(user, ui.switch, "gift").click()
    field(user, ui.input, "comment").type("from the dialog")
    in_dialog(user, ui.button, "Add").click()
    await settle(0.3)
    await user.should_see("Row added")
    assert dialog_texts(user) == []
    row = read_cell(
        demo_db,
        "SELECT customer_id, typeof(customer_id), quantity, unit_price, status, ordered_at, "
        "shipped_on, gift, comment FROM orders WHERE id = 2001",
    )
    assert row == (7, "integer", 2, 9.75, "pending", "2024-05-06 07:08:09", "2024-05-07", 1,
                   "from the dialog")  # fmt: skip
    assert any("purgeInfiniteCache" in code for code in sent)


@page_db
async def test_add_row_refuses_missing_values_and_cancel_closes(
    user: User, demo_source, demo_db, admin_user
):
    await open_orders(user, admin_user, demo_source)
    user.find(kind=ui.button, content="Add row").click()
    field(user, ui.input, "comment").type("incomplete")
    in_dialog(user, ui.button, "Add").click()
    await settle(0.3)
    (message,) = user.notify.messages
    assert message == (
        "customer_id, product_id, quantity, unit_price, status, ordered_at cannot be empty"
    )
    assert "Add a row to orders" in dialog_texts(user)  # still open, to fix the values
    assert read_cell(demo_db, "SELECT count(*) FROM orders") == 2000
    in_dialog(user, ui.button, "Cancel").click()
    assert dialog_texts(user) == []


# --- deleting rows ------------------------------------------------------------------------------


def select_rows(user: User, selected: list[dict]) -> None:
    user.javascript_rules[re.compile(r'(?s).*"getSelectedRows".*')] = lambda _: selected


@page_db
async def test_delete_selected_rows(user: User, demo_source, demo_db, admin_user):
    await open_orders(user, admin_user, demo_source)
    select_rows(user, [{KEY_FIELD: encode_key([5])}, {KEY_FIELD: encode_key([6])}, {"id": 7}])
    sent = record_javascript(user)
    user.find(kind=ui.button, content="Delete selected").click()
    await settle(0.2)
    assert dialog_texts(user) == ["Delete 2 rows?", "This cannot be undone from here."]
    in_dialog(user, ui.button, "Delete").click()
    await settle(0.3)
    await user.should_see("Deleted 2 rows")
    assert dialog_texts(user) == []
    assert read_cell(demo_db, "SELECT count(*) FROM orders WHERE id IN (5, 6, 7)") == 1
    assert any('"deselectAll"' in code for code in sent)
    assert any('"purgeInfiniteCache"' in code for code in sent)


@page_db
async def test_delete_one_row_and_cancel(user: User, demo_source, demo_db, admin_user):
    await open_orders(user, admin_user, demo_source)
    select_rows(user, [{KEY_FIELD: encode_key([9])}])
    user.find(kind=ui.button, content="Delete selected").click()
    await settle(0.2)
    assert "Delete 1 row?" in dialog_texts(user)
    in_dialog(user, ui.button, "Cancel").click()
    await settle()
    assert dialog_texts(user) == []
    assert read_cell(demo_db, "SELECT count(*) FROM orders WHERE id = 9") == 1

    user.find(kind=ui.button, content="Delete selected").click()
    await settle(0.2)
    in_dialog(user, ui.button, "Delete").click()
    await settle(0.3)
    await user.should_see("Deleted 1 row")
    assert read_cell(demo_db, "SELECT count(*) FROM orders WHERE id = 9") == 0


@page_db
async def test_delete_without_selection_warns(user: User, demo_source, admin_user):
    await open_orders(user, admin_user, demo_source)
    select_rows(user, [])
    user.find(kind=ui.button, content="Delete selected").click()
    await settle(0.2)
    await user.should_see("Select rows first (the checkboxes on the left)")
    assert dialog_texts(user) == []


def revoke(account, codename: str) -> None:
    account.user_permissions.remove(Permission.objects.get(codename=codename))


@page_db
async def test_delete_refused_after_permission_is_withdrawn(user: User, demo_source, demo_db):
    editor = await sync_to_async(UserFactory)(username="editor")
    await sync_to_async(grant)(editor, "read_rows", "delete_rows")
    await open_orders(user, editor, demo_source)
    select_rows(user, [{KEY_FIELD: encode_key([11])}])
    user.find(kind=ui.button, content="Delete selected").click()
    await settle(0.2)
    await sync_to_async(revoke)(editor, "delete_rows")
    in_dialog(user, ui.button, "Delete").click()
    await settle(0.3)
    await user.should_see("You may not delete rows in orders")
    assert dialog_texts(user) == []  # closed either way
    assert read_cell(demo_db, "SELECT count(*) FROM orders WHERE id = 11") == 1


# --- search, refresh, counts and errors from the browser ----------------------------------------


@page_db
async def test_search_sets_the_text_and_reloads(user: User, demo_source, admin_user):
    await open_orders(user, admin_user, demo_source)
    grid = the_grid(user)
    sent = record_javascript(user)
    user.find(kind=ui.input, content="Search text columns").type("gift")
    await settle()
    # Set the text, go back to the first row, ask for the new count and reload the rows.
    assert [c for c in sent if "nocoflo" in c or f"runMethod({grid.id}," in c] == [
        f'(window.nocofloSearch = window.nocofloSearch || {{}})[{grid.id}] = "gift";',
        f'return runMethod({grid.id}, "run_grid_method", ["ensureIndexVisible",0,"top"])',
        recount_js(grid.id),
        f'return runMethod({grid.id}, "run_grid_method", ["purgeInfiniteCache"])',
    ]

    sent.clear()
    user.find(kind=ui.input, content="Search text columns").clear()
    await settle()
    assert f'(window.nocofloSearch = window.nocofloSearch || {{}})[{grid.id}] = "";' in sent


@page_db
async def test_refresh_button_purges_the_cache(user: User, demo_source, admin_user):
    await open_orders(user, admin_user, demo_source)
    grid = the_grid(user)
    sent = record_javascript(user)
    user.find(kind=ui.button, content="Refresh").click()
    await settle()
    # The reloaded rows come with their count again, wherever the grid is scrolled. (The
    # layout asks the browser whether its drawers are open: not the grid's business.)
    sent = [code for code in sent if "__IS_DRAWER_OPEN__" not in code]
    assert sent == [
        recount_js(grid.id),
        f'return runMethod({grid.id}, "run_grid_method", ["purgeInfiniteCache"])',
    ]


@page_db
async def test_row_count_and_errors_from_the_browser(user: User, demo_source, admin_user):
    await open_orders(user, admin_user, demo_source)
    grid = the_grid(user)
    layout = user.client.layout

    def emit(event: str, args) -> None:
        """What the datasource's `emitEvent(event, args)` delivers (NiceGUI camel-cases names)."""
        (listener,) = [
            listener
            for listener in layout._event_listeners.values()
            if listener.type == event_type_to_camel_case(event)
        ]
        with user:
            arguments = GenericEventArguments(sender=layout, client=user.client, args=args)
            handle_event(listener.handler, arguments)

    emit(f"nocoflo-grid-count-{grid.id}", {"count": 1234567, "accuracy": "exact"})
    await user.should_see("1,234,567 rows")
    state = grid_state(user)
    assert not state.exact_button.visible
    emit(f"nocoflo-grid-count-{grid.id}", {"count": 10_234_567, "accuracy": "estimate"})
    await user.should_see("about 10.2 million rows")
    assert state.exact_button.visible
    emit(f"nocoflo-grid-count-{grid.id}", {"count": 10_000, "accuracy": "at_least"})
    await user.should_see("more than 10,000 rows")
    emit(f"nocoflo-grid-count-{grid.id}", {"count": None, "accuracy": None})
    assert state.count_label.text == ""
    emit(f"nocoflo-grid-error-{grid.id}", {"message": "Cannot sort by unknown column 'x'"})
    await user.should_see("Cannot sort by unknown column 'x'")
    # A time limit that cut a query is said where the rows are, with a way to retry.
    emit(
        f"nocoflo-grid-error-{grid.id}",
        {"message": "The query ran longer than 10 seconds and was stopped", "status": 504},
    )
    await user.should_see("The query ran longer than 10 seconds and was stopped. Narrow")
    assert state.timeout_notice.visible
    user.find("Retry").click()
    assert not state.timeout_notice.visible


# --- other column kinds -------------------------------------------------------------------------


@page_db
async def test_gadgets_grid_and_add_dialog(user: User, gadgets_source, admin_user):
    table = await sync_to_async(gadgets_source.tables.get)(name="gadgets")
    await sign_in(user, admin_user)
    await user.open(f"/tables/{table.pk}")
    defs = {d["field"]: d for d in the_grid(user).options["columnDefs"]}
    assert {name: d["headerName"] for name, d in defs.items()} == {
        "id": "id · integer",
        "name": "name · text",
        "price": "price · decimal",
        "spec": "spec · json",
        "photo": "photo · binary",
        "made": "made · time",
        "active": "active · boolean",
    }
    assert defs["photo"]["editable"] is False  # binary columns are shown, never edited
    assert defs["spec"]["editable"] is True
    assert ":valueFormatter" in defs["spec"] and ":valueFormatter" in defs["photo"]

    user.find(kind=ui.button, content="Add row").click()
    dialog = open_dialog(user)
    labels = {
        e.props.get("label") or e.text
        for e in dialog.descendants()
        if isinstance(e, (ui.number, ui.input, ui.switch, ui.select))
    }
    assert labels == {"id *", "name *", "price", "spec", "made", "active"}  # no photo
    field(user, ui.input, "name").type("fan")
    field(user, ui.input, "price").type("12.25")
    field(user, ui.input, "spec").type('{"watts": 60}')
    field(user, ui.input, "made").type("09:15:00")
    with user:
        in_dialog(user, ui.select, "active").elements.pop().value = True
    in_dialog(user, ui.button, "Add").click()
    await settle(0.3)
    await user.should_see("Row added")
    assert read_cell(
        gadgets_source.path,
        "SELECT name, price, spec, photo, made, active FROM gadgets WHERE id = 2",
    ) == ("fan", 12.25, '{"watts": 60}', None, "09:15:00", 1)


# --- how a save ends, with the datasource's answer stubbed ----------------------------------------


class StubContext:
    """A ViewContext whose row operation answers `outcome` without raising."""

    def __init__(self, opened, outcome):
        self.opened = opened
        self.outcome = outcome
        self.table = opened.table
        self.client_id = "stub-page"

    async def attempt(self, operation, *args, **kwargs):
        return self.outcome


@page_db
@pytest.mark.parametrize("outcome", ["conflict", "refused"])
async def test_save_outcomes(user: User, demo_source, demo_db, admin_user, outcome):
    await open_orders(user, admin_user, demo_source)
    real = grid_state(user)
    data = order(demo_db)
    current = {**data, "quantity": 55}
    result = (
        WriteConflict("changed", current)
        if outcome == "conflict"
        else InvalidValue("bad", "quantity")
    )
    grid = TableGrid.__new__(TableGrid)
    grid.__dict__.update(real.__dict__)
    grid.context = StubContext(real.context.opened, (False, result))
    sent = record_javascript(user)
    with user:
        await grid.save(data[KEY_FIELD], "quantity", 66, data["quantity"], data)
    await settle()
    (update,) = row_data_updates(sent)
    if outcome == "conflict":
        assert '"quantity":55' in update
        assert "Someone else changed this row" in dialog_texts(user)
    else:
        assert f'"quantity":{data["quantity"]}' in update
        assert dialog_texts(user) == []
