"""The history page and a row's history dialog, in the simulated browser."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone
from nicegui import ElementFilter, ui
from nicegui.testing import User

from core.models import Change, TableGrant
from datasources_app import rows
from datasources_app.values import encode_key
from tests.conftest import grant
from tests.factories import UserFactory
from views_app.context import ViewContext
from views_app.history import open_row_history

from .conftest import in_dialog, open_dialog, page_db, read_cell, settle, sign_in, until

pytestmark = pytest.mark.integration


def key(order_id: int) -> str:
    return encode_key([order_id])


@sync_to_async
def orders_of(source):
    return source.tables.get(name="orders")


@sync_to_async
def update(account, table, order_id: int, **values) -> None:
    rows.update_row(rows.open_table(account, table.pk), key(order_id), values)


@sync_to_async
def change_ids(**filters) -> list[int]:
    return list(Change.objects.filter(**filters).values_list("pk", flat=True))


@sync_to_async
def make_user(name: str, *permissions: str):
    account = UserFactory(username=name)
    grant(account, *permissions)
    return account


def demo_path(table) -> str:
    return table.datasource.connection_string.removeprefix("sqlite:///")


def status_of(table, order_id: int):
    return read_cell(demo_path(table), "SELECT status FROM orders WHERE id = ?", order_id)


def the_list(user: User) -> ui.table:
    """The history page's list of changes (not a dialog's)."""
    with user:
        (found,) = [t for t in ElementFilter(kind=ui.table, local_scope=False)]
    return found


def listed(table: ui.table, field: str = "id") -> list:
    return [row[field] for row in table.rows]


def choose(user: User, label: str, value: str) -> None:
    (select,) = [s for s in user.find(ui.select).elements if s.props.get("label") == label]
    select.value = value


def field(user: User, label: str) -> ui.input:
    (found,) = [
        i
        for i in user.find(ui.input).elements
        if i.props.get("label") == label and not isinstance(i, ui.select)
    ]
    return found


@pytest.fixture
def edits(demo_source, admin_user):
    """Changes by two people: writer on rows 1 and 2, admin on row 1."""
    orders = demo_source.tables.get(name="orders")
    writer = UserFactory(username="writer")
    grant(writer, "read_rows", "write_rows")
    # What row 1's status was before: what reverting its change brings back.
    orders.first_status = status_of(orders, 1)
    for account, order_id, values in (
        (writer, 1, {"status": "shipped"}),
        (writer, 2, {"quantity": 42}),
        (admin_user, 1, {"quantity": 7}),
    ):
        rows.update_row(rows.open_table(account, orders.pk), key(order_id), values)
    return orders


@page_db
async def test_page_lists_the_tables_changes(user: User, edits, admin_user):
    await sign_in(user, admin_user)
    await user.open(f"/tables/{edits.pk}/history")
    await user.should_see("orders · History")
    await user.should_see(kind=ui.link, content="Back to orders")
    table = the_list(user)
    assert listed(table, "user") == ["admin", "writer", "writer"]
    assert listed(table, "column") == ["quantity", "quantity", "status"]
    # Rows are named by their key values, as people know them.
    assert listed(table, "row_key") == ["1", "2", "1"]
    newest = table.rows[0]
    assert newest["action"] == "update"
    assert newest["state"] == "done"
    assert newest["change"].endswith("→ 7")
    assert table.rows[2]["change"].endswith("→ shipped")
    assert all(listed(table, "can_revert"))
    assert table.pagination["rowsNumber"] == 3
    assert table.pagination["rowsPerPage"] == 50


@page_db
async def test_filters_narrow_the_list(user: User, edits, admin_user):
    await sign_in(user, admin_user)
    await user.open(f"/tables/{edits.pk}/history")
    table = the_list(user)

    choose(user, "User", "writer")
    await until(lambda: listed(table, "user") == ["writer", "writer"])
    assert listed(table, "user") == ["writer", "writer"]

    choose(user, "Column", "status")
    await until(lambda: listed(table, "column") == ["status"])
    assert listed(table, "column") == ["status"]

    choose(user, "User", "")
    choose(user, "Column", "")
    field(user, "Row key").value = "1"  # typed as the key's value
    await until(lambda: listed(table, "row_key") == ["1", "1"])
    assert listed(table, "row_key") == ["1", "1"]
    field(user, "Row key").value = key(1)  # an opaque key, as links and the API give it
    await until(lambda: listed(table, "row_key") == ["1", "1"])
    assert listed(table, "row_key") == ["1", "1"]
    field(user, "Row key").value = "not a key"
    await until(lambda: table.rows == [])
    assert table.rows == []

    field(user, "Row key").value = ""
    field(user, "From").value = str(timezone.localdate() + timezone.timedelta(days=1))
    await until(lambda: table.rows == [])
    assert table.rows == []
    assert table.pagination["rowsNumber"] == 0
    field(user, "From").value = ""
    field(user, "To").value = str(timezone.localdate())
    await until(lambda: len(table.rows) == 3)
    assert len(table.rows) == 3


@page_db
async def test_url_prefills_the_filters(user: User, edits, admin_user):
    await sign_in(user, admin_user)
    await user.open(f"/tables/{edits.pk}/history?row={key(1)}&user=writer")
    assert listed(the_list(user), "column") == ["status"]
    assert field(user, "Row key").value == key(1)
    (select,) = [s for s in user.find(ui.select).elements if s.props.get("label") == "User"]
    assert select.value == "writer"


@page_db
async def test_the_list_is_paged_on_the_server(user: User, demo_source, admin_user):
    orders = await orders_of(demo_source)

    @sync_to_async
    def record_many() -> None:
        start = datetime(2024, 1, 1, tzinfo=UTC)
        same = {
            "table": orders,
            "table_label": "orders",
            "user": admin_user,
            "username": "admin",
            "action": "update",
            "row_key": key(1),
            "column": "quantity",
            "state": "done",
        }
        Change.objects.bulk_create(
            Change(
                at=start + timezone.timedelta(minutes=n),
                old_value=n,
                new_value=n + 1,
                batch=uuid.uuid4(),
                **same,
            )
            for n in range(120)
        )

    await record_many()
    await sign_in(user, admin_user)
    await user.open(f"/tables/{orders.pk}/history")
    table = the_list(user)
    assert len(table.rows) == 50
    assert table.rows[0]["change"] == "119 → 120"
    assert table.pagination == {"rowsPerPage": 50, "page": 1, "rowsNumber": 120}

    user.find(ui.table).trigger("request", {"pagination": {"page": 3, "rowsPerPage": 50}})
    await until(lambda: len(table.rows) == 20)
    assert len(table.rows) == 20
    assert table.rows[-1]["change"] == "0 → 1"
    assert table.pagination["page"] == 3


@page_db
async def test_revert_button_undoes_a_change(user: User, edits, admin_user):
    await sign_in(user, admin_user)
    await user.open(f"/tables/{edits.pk}/history")
    table = the_list(user)
    (status_change,) = [row["id"] for row in table.rows if row["column"] == "status"]
    assert status_of(edits, 1) == "shipped"

    user.find(ui.table).trigger("revert", status_change)
    await settle(0.2)
    assert status_of(edits, 1) == edits.first_status
    assert user.notify.contains(f"Reverted change #{status_change}")
    # The list shows the undo on top, as a change of its own.
    assert len(table.rows) == 4
    assert table.rows[0]["action"] == f"update (reverts #{status_change})"
    assert table.rows[0]["change"] == f"shipped → {edits.first_status}"
    assert await change_ids(reverts_id=status_change, state="done")


@page_db
async def test_a_refused_revert_says_why(user: User, edits, admin_user):
    await update(admin_user, edits, 1, status="returned")
    await sign_in(user, admin_user)
    await user.open(f"/tables/{edits.pk}/history")
    table = the_list(user)
    (shipped,) = [row["id"] for row in table.rows if row["change"].endswith("→ shipped")]

    user.find(ui.table).trigger("revert", shipped)
    await settle(0.2)
    assert user.notify.contains("changed since")
    assert status_of(edits, 1) == "returned"
    assert not await change_ids(reverts_id=shipped, state="done")
    assert len(table.rows) == 4  # nothing new listed

    # An id from another table (or none at all) is refused the same way, without a traceback.
    user.find(ui.table).trigger("revert", 10**9)
    await settle(0.2)
    assert user.notify.contains("No such change")


@page_db
async def test_readers_get_no_revert_buttons(user: User, edits):
    reader = await make_user("reader", "read_rows")
    await sign_in(user, reader)
    await user.open(f"/tables/{edits.pk}/history")
    table = the_list(user)
    assert len(table.rows) == 3
    assert not any(listed(table, "can_revert"))
    # A revert sent anyway (the websocket is not the button) is refused.
    user.find(ui.table).trigger("revert", table.rows[-1]["id"])
    await settle(0.2)
    assert user.notify.contains("You may not edit rows in orders")
    assert status_of(edits, 1) == "shipped"


@page_db
async def test_revert_buttons_follow_the_permission_each_undo_needs(user: User, edits, admin_user):
    @sync_to_async
    def insert_and_delete() -> None:
        opened = rows.open_table(admin_user, edits.pk)
        rows.insert_row(opened, {"customer_id": 1, "product_id": 1, "quantity": 1,
                                 "unit_price": 1.0, "status": "new",
                                 "ordered_at": "2024-05-01 10:00:00", "gift": False})  # fmt: skip
        rows.delete_rows(opened, [key(5)])

    await insert_and_delete()
    writer = await make_user("editor", "read_rows", "write_rows")
    await sign_in(user, writer)
    await user.open(f"/tables/{edits.pk}/history")
    table = the_list(user)
    # Undoing an insert deletes a row: a writer without delete may undo the rest only.
    assert {row["action"]: row["can_revert"] for row in table.rows} == {
        "delete": True, "insert": False, "update": True,
    }  # fmt: skip
    deleted = table.rows[0]
    assert deleted["row_key"] == "5"
    assert deleted["change"].startswith('{"id": 5,')
    user.find(ui.table).trigger("revert", deleted["id"])
    await settle(0.2)
    assert read_cell(demo_path(edits), "SELECT id FROM orders WHERE id = 5") == 5


@page_db
async def test_no_read_access_is_no_such_table(user: User, edits, plain_user):
    await sign_in(user, plain_user)
    await user.open(f"/tables/{edits.pk}/history")
    await user.should_see("No such table")
    await user.should_not_see(ui.table)
    await user.open("/tables/999999/history")
    await user.should_see("No such table")


@page_db
async def test_hidden_columns_changes_are_not_listed_for_readers(user: User, edits, admin_user):
    @sync_to_async
    def hide_and_edit():
        edits.columns.filter(name="comment").update(visible=False)
        rows.update_row(rows.open_table(admin_user, edits.pk), key(3), {"comment": "internal"})
        owner = UserFactory(username="owner")
        TableGrant.objects.create(table=edits, user=owner, is_owner=True)
        return owner

    owner = await hide_and_edit()
    reader = await make_user("reader", "read_rows")
    await sign_in(user, reader)
    await user.open(f"/tables/{edits.pk}/history")
    assert "comment" not in listed(the_list(user), "column")
    (select,) = [s for s in user.find(ui.select).elements if s.props.get("label") == "Column"]
    assert "comment" not in select.options

    await sign_in(user, owner)
    await user.open(f"/tables/{edits.pk}/history")
    assert listed(the_list(user), "column")[0] == "comment"


@page_db
async def test_table_menu_links_to_the_history(user: User, edits, admin_user):
    await sign_in(user, admin_user)
    await user.open(f"/tables/{edits.pk}")
    links = {link.text: link.props["href"] for link in user.find(ui.link).elements}
    assert links["History"] == f"/tables/{edits.pk}/history"


@page_db
async def test_row_history_dialog(user: User, edits, admin_user):
    session = await sign_in(user, admin_user)
    await user.open(f"/tables/{edits.pk}/history")
    opened = await sync_to_async(rows.open_table)(admin_user, edits.pk)
    context = ViewContext(session_key=session, opened=opened)
    with user:
        await open_row_history(context, key(1))

    dialog = open_dialog(user)
    (table,) = in_dialog(user, ui.table).elements
    assert listed(table, "column") == ["quantity", "status"]
    assert set(listed(table, "row_key")) == {"1"}
    (link,) = in_dialog(user, ui.link, "Full history").elements
    assert link.props["href"] == f"/tables/{edits.pk}/history?row={key(1)}"
    with user:
        assert "2 changes" in [e.text for e in dialog.descendants() if isinstance(e, ui.label)]

    # Reverting from the dialog undoes the change and shows the undo.
    table_interaction = in_dialog(user, ui.table)
    table_interaction.trigger("revert", table.rows[1]["id"])
    await settle(0.2)
    assert status_of(edits, 1) == edits.first_status
    assert len(table.rows) == 3
    assert table.rows[0]["column"] == "status"

    in_dialog(user, ui.button, "Close").click()
    assert not dialog.value
