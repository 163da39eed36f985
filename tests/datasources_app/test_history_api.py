"""The history API: a table's recorded changes, filtered and paged, and undoing one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from core.models import Change, ColumnMeta, TableGrant
from datasources_app import rows
from datasources_app.values import encode_key
from tests.conftest import grant
from tests.factories import UserFactory

from .sqlite_files import query

pytestmark = pytest.mark.integration

NEW_ORDER = {
    "customer_id": 1, "product_id": 1, "quantity": 3, "unit_price": 2.5, "status": "new",
    "ordered_at": "2024-05-01 10:00:00", "gift": False, "comment": "secret note",
}  # fmt: skip


def key(order_id: int) -> str:
    return encode_key([order_id])


def history_url(table) -> str:
    return f"/api/tables/{table.pk}/history"


def revert_url(change_id) -> str:
    return f"/api/changes/{change_id}/revert"


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def demo_path(table) -> str:
    return table.datasource.connection_string.removeprefix("sqlite:///")


def status_of(table, order_id: int):
    found = query(demo_path(table), "SELECT status FROM orders WHERE id = ?", (order_id,))
    return found[0][0] if found else None


def update(user, table, order_id: int, **values) -> None:
    rows.update_row(rows.open_table(user, table.pk), key(order_id), values)


def last_change(**filters) -> Change:
    return Change.objects.filter(**filters).order_by("-id").first()


@pytest.fixture
def writer(db):
    user = UserFactory(username="writer")
    grant(user, "read_rows", "write_rows")
    return user


@pytest.fixture
def deleter(db):
    user = UserFactory(username="deleter")
    grant(user, "read_rows", "write_rows", "delete_rows")
    return user


@pytest.fixture
def edits(orders_table, admin_user, writer):
    """Five updates: by writer on rows 1 and 2, by admin on rows 1 and 3, spread over days."""
    update(writer, orders_table, 1, status="shipped")
    update(writer, orders_table, 2, quantity=42)
    update(admin_user, orders_table, 1, quantity=7)
    update(admin_user, orders_table, 3, status="cancelled")
    update(writer, orders_table, 1, status="delivered")
    days = {"2024-03-01T12:00:00+00:00": 0, "2024-03-02T12:00:00+00:00": 1}
    entries = list(Change.objects.filter(table=orders_table).order_by("id"))
    stamps = list(days) + ["2024-03-03T08:00:00+00:00", "2024-03-03T23:30:00+00:00",
                           "2024-03-05T12:00:00+00:00"]  # fmt: skip
    for entry, stamp in zip(entries, stamps, strict=True):
        Change.objects.filter(pk=entry.pk).update(at=datetime.fromisoformat(stamp))
    return entries


# --- reading the history ----------------------------------------------------------------------


def test_history_lists_changes_newest_first(admin_client, orders_table, edits):
    response = admin_client.get(history_url(orders_table))
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 5
    assert [c["id"] for c in body["changes"]] == [e.pk for e in reversed(edits)]
    newest = body["changes"][0]
    assert newest == {
        "id": edits[-1].pk,
        "at": "2024-03-05T12:00:00+00:00",
        "user": "writer",
        "action": "update",
        "row_key": key(1),
        "column": "status",
        "old_value": "shipped",
        "new_value": "delivered",
        "state": "done",
        "reverts": None,
    }


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"user": "writer"}, [4, 1, 0]),
        ({"user": "admin"}, [3, 2]),
        ({"column": "status"}, [4, 3, 0]),
        ({"row": key(1)}, [4, 2, 0]),
        ({"row": key(1), "user": "admin"}, [2]),
        ({"since": "2024-03-02"}, [4, 3, 2, 1]),
        ({"until": "2024-03-03"}, [3, 2, 1, 0]),  # a date: the whole day
        ({"since": "2024-03-02", "until": "2024-03-03"}, [3, 2, 1]),
        ({"since": "2024-03-03T09:00:00+00:00", "until": "2024-03-04T00:00"}, [3]),
        ({"user": "nobody-at-all"}, []),
    ],
)
def test_history_filters(admin_client, orders_table, edits, params, expected):
    body = admin_client.get(history_url(orders_table), params).json()
    assert [c["id"] for c in body["changes"]] == [edits[i].pk for i in expected]
    assert body["count"] == len(expected)


def test_history_pages_with_limit_and_offset(admin_client, orders_table, edits):
    first = admin_client.get(history_url(orders_table), {"limit": 2}).json()
    second = admin_client.get(history_url(orders_table), {"limit": 2, "offset": 2}).json()
    last = admin_client.get(history_url(orders_table), {"limit": 2, "offset": 4}).json()
    assert first["count"] == second["count"] == last["count"] == 5
    ids = [c["id"] for page in (first, second, last) for c in page["changes"]]
    assert ids == [e.pk for e in reversed(edits)]
    assert len(last["changes"]) == 1


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"since": "yesterday"}, "since: 'yesterday' is not a date"),
        ({"until": "2024-13-45"}, "until: '2024-13-45' is not a date"),
        ({"limit": 0}, "limit must be between 1 and 500"),
        ({"limit": 501}, "limit must be between 1 and 500"),
        ({"offset": -1}, "offset must not be negative"),
    ],
)
def test_bad_history_parameters_are_400(admin_client, orders_table, params, message):
    response = admin_client.get(history_url(orders_table), params)
    assert response.status_code == 400
    assert response.json()["message"].startswith(message)


def test_history_needs_read_access(orders_table, edits, plain_user, reader):
    response = client_for(plain_user).get(history_url(orders_table))
    assert response.status_code == 404
    assert response.json() == {"message": "No such table"}
    assert client_for(reader).get(history_url(orders_table)).json()["count"] == 5
    assert Client().get(history_url(orders_table)).status_code == 401


def test_hidden_columns_stay_hidden_from_who_may_not_see_them(
    orders_table, admin_user, deleter, reader
):
    ColumnMeta.objects.filter(table=orders_table, name="comment").update(visible=False)
    update(admin_user, orders_table, 5, comment="internal only")
    update(admin_user, orders_table, 5, status="held")
    rows.delete_rows(rows.open_table(admin_user, orders_table.pk), [key(6)])
    owner = UserFactory(username="owner")
    TableGrant.objects.create(table=orders_table, user=owner, is_owner=True)

    seen = client_for(reader).get(history_url(orders_table)).json()
    assert seen["count"] == 2
    assert [c["column"] for c in seen["changes"]] == [None, "status"]
    assert "comment" not in seen["changes"][0]["old_value"]
    assert seen["changes"][0]["old_value"]["id"] == 6
    hidden = client_for(reader).get(history_url(orders_table), {"column": "comment"}).json()
    assert hidden == {"count": 0, "changes": []}

    for who in (owner, admin_user):
        body = client_for(who).get(history_url(orders_table)).json()
        assert body["count"] == 3
        assert [c["column"] for c in body["changes"]] == [None, "status", "comment"]
        assert body["changes"][2]["new_value"] == "internal only"
        assert "comment" in body["changes"][0]["old_value"]

    # Nor can a hidden column's change be undone by guessing its id.
    comment_change = last_change(column="comment")
    response = client_for(deleter).post(revert_url(comment_change.pk))
    assert response.status_code == 404


def test_failed_writes_are_not_history(admin_client, orders_table, admin_user):
    update(admin_user, orders_table, 1, status="shipped")
    Change.objects.update(state=Change.State.FAILED)
    assert admin_client.get(history_url(orders_table)).json()["count"] == 0


# --- reverting --------------------------------------------------------------------------------


def test_revert_an_update_writes_the_old_value_back(orders_table, writer):
    before = status_of(orders_table, 1)
    update(writer, orders_table, 1, status="shipped")
    change = last_change(column="status")

    response = client_for(writer).post(revert_url(change.pk))
    assert response.status_code == 200
    body = response.json()
    assert status_of(orders_table, 1) == before
    assert body["action"] == "update"
    assert body["row_key"] == key(1)
    assert body["values"]["status"] == before
    undo = last_change()
    assert undo.pk != change.pk
    assert undo.reverts_id == change.pk
    assert (undo.old_value, undo.new_value, undo.state) == ("shipped", before, "done")
    assert body["change"]["id"] == undo.pk
    assert body["change"]["reverts"] == change.pk
    assert body["change"]["user"] == "writer"

    # The undo is history like any other change.
    listed = client_for(writer).get(history_url(orders_table)).json()["changes"]
    assert listed[0]["reverts"] == change.pk


def test_revert_refused_after_a_later_edit(orders_table, writer, admin_user):
    update(writer, orders_table, 1, status="shipped")
    change = last_change(column="status")
    update(admin_user, orders_table, 1, status="returned")
    entries = Change.objects.count()

    response = client_for(writer).post(revert_url(change.pk))
    assert response.status_code == 409
    assert "changed since" in response.json()["message"]
    assert response.json()["current"]["status"] == "returned"
    assert status_of(orders_table, 1) == "returned"
    assert not Change.objects.filter(reverts=change, state=Change.State.DONE).exists()
    # At most a failed attempt was recorded, and failed entries are not history.
    assert Change.objects.exclude(state=Change.State.FAILED).count() == entries


def test_reverting_the_same_update_twice_is_a_conflict(orders_table, writer):
    before = status_of(orders_table, 1)
    update(writer, orders_table, 1, status="shipped")
    change = last_change(column="status")
    client = client_for(writer)
    assert client.post(revert_url(change.pk)).status_code == 200

    again = client.post(revert_url(change.pk))
    assert again.status_code == 409
    assert status_of(orders_table, 1) == before
    assert Change.objects.filter(reverts=change, state=Change.State.DONE).count() == 1


def test_revert_an_insert_deletes_the_row(orders_table, deleter):
    added = rows.insert_row(rows.open_table(deleter, orders_table.pk), NEW_ORDER)
    change = last_change(action="insert")
    assert change.row_key == added["key"]

    response = client_for(deleter).post(revert_url(change.pk))
    assert response.status_code == 200
    assert response.json()["action"] == "delete"
    assert response.json()["values"] is None
    assert status_of(orders_table, added["values"]["id"]) is None
    undo = last_change()
    assert (undo.action, undo.reverts_id, undo.row_key) == ("delete", change.pk, added["key"])
    assert response.json()["change"]["action"] == "delete"


def test_revert_a_delete_restores_the_whole_row(orders_table, admin_user, deleter):
    ColumnMeta.objects.filter(table=orders_table, name="comment").update(visible=False)
    path = demo_path(orders_table)
    query_row = "SELECT * FROM orders WHERE id = 9"
    (original,) = query(path, query_row)
    rows.delete_rows(rows.open_table(admin_user, orders_table.pk), [key(9)])
    assert query(path, query_row) == []
    change = last_change(action="delete")

    # A writer who does not see the hidden comment still gets the row back whole.
    response = client_for(deleter).post(revert_url(change.pk))
    assert response.status_code == 200
    body = response.json()
    assert body["action"] == "insert"
    assert body["row_key"] == key(9)
    assert body["values"]["id"] == 9
    assert "comment" not in body["values"]
    assert query(path, query_row) == [original]
    undo = last_change()
    assert (undo.action, undo.reverts_id, undo.row_key) == ("insert", change.pk, key(9))
    assert "comment" not in body["change"]["new_value"]

    # Restoring it again is refused: the row is back.
    again = client_for(deleter).post(revert_url(change.pk))
    assert again.status_code == 409
    assert query(path, query_row) == [original]


@pytest.mark.parametrize(
    ("action", "permissions", "refused"),
    [
        ("update", ("read_rows",), "You may not edit rows in orders"),
        ("insert", ("read_rows", "write_rows"), "You may not delete rows in orders"),
        ("delete", ("read_rows", "delete_rows"), "You may not add rows in orders"),
    ],
)
def test_revert_needs_the_permission_of_the_undo(
    orders_table, admin_user, action, permissions, refused
):
    opened = rows.open_table(admin_user, orders_table.pk)
    if action == "update":
        rows.update_row(opened, key(1), {"status": "shipped"})
    elif action == "insert":
        rows.insert_row(opened, NEW_ORDER)
    else:
        rows.delete_rows(opened, [key(1)])
    change = last_change(action=action)
    someone = UserFactory(username="someone")
    grant(someone, *permissions)
    entries = Change.objects.count()
    rows_before = query(demo_path(orders_table), "SELECT count(*) FROM orders")

    response = client_for(someone).post(revert_url(change.pk))
    assert response.status_code == 403
    assert response.json()["message"] == refused
    assert Change.objects.count() == entries
    assert query(demo_path(orders_table), "SELECT count(*) FROM orders") == rows_before


def test_revert_of_what_cannot_be_reverted(orders_table, writer, plain_user):
    update(writer, orders_table, 1, status="shipped")
    change = last_change(column="status")
    client = client_for(writer)

    assert client.post(revert_url(10**9)).status_code == 404
    # Someone who may not read the table learns nothing about its changes.
    hidden = client_for(plain_user).post(revert_url(change.pk))
    assert hidden.status_code == 404
    assert hidden.json() == {"message": "No such change"}
    assert status_of(orders_table, 1) == "shipped"

    Change.objects.filter(pk=change.pk).update(state=Change.State.FAILED)
    failed = client.post(revert_url(change.pk))
    assert failed.status_code == 409
    assert failed.json()["message"] == "Only changes that were written can be reverted"
    assert status_of(orders_table, 1) == "shipped"


def test_revert_of_a_locked_row_is_423(orders_table, writer, admin_user):
    update(writer, orders_table, 1, status="shipped")
    change = last_change(column="status")
    rows.lock_row(rows.open_table(admin_user, orders_table.pk), key(1), "admin-page")

    response = client_for(writer).post(revert_url(change.pk))
    assert response.status_code == 423
    assert response.json()["locked_by"] == "admin"
    assert status_of(orders_table, 1) == "shipped"


def test_until_a_date_includes_the_whole_day_in_the_server_time_zone(
    admin_client, orders_table, admin_user, settings
):
    update(admin_user, orders_table, 1, status="shipped")
    late = datetime(2024, 6, 1, 23, 59, tzinfo=UTC)
    Change.objects.update(at=late)
    body = admin_client.get(history_url(orders_table), {"until": "2024-06-01"}).json()
    assert body["count"] == 1
    early = admin_client.get(history_url(orders_table), {"until": "2024-05-31"}).json()
    assert early["count"] == 0
    next_day = str((late + timedelta(days=1)).date())
    assert admin_client.get(history_url(orders_table), {"since": next_day}).json()["count"] == 0
