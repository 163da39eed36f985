"""Writes through datasources_app.rows as the design has them: access, lock, compare-and-set,
audit (pending, then done or failed), event. On the demo SQLite file, and the compare-and-set
and version paths on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from core import audit, events
from core.models import Change, RowLock, TableMeta
from datasources_app import changes, rows
from datasources_app.builtin.sqlite import SQLiteDatasource
from datasources_app.errors import InvalidValue, RowLocked, RowNotFound, WriteConflict
from datasources_app.values import encode_key
from tests.conftest import grant
from tests.factories import DatasourceFactory, UserFactory

pytestmark = pytest.mark.integration

NEW_ORDER = {
    "customer_id": 1, "product_id": 1, "quantity": "4", "unit_price": "2.5", "status": "paid",
    "ordered_at": "2024-01-01 00:00:00", "gift": False, "comment": "new",
}  # fmt: skip
KEY_1 = encode_key([1])


@pytest.fixture
def ann(db):
    user = UserFactory(username="ann")
    grant(user, "read_rows", "write_rows", "delete_rows")
    return user


@pytest.fixture
def bob(db):
    user = UserFactory(username="bob")
    grant(user, "read_rows", "write_rows", "delete_rows")
    return user


@pytest.fixture
def heard():
    """Every event published, on a fresh in-process bus."""
    previous = events.set_bus(events.EventBus())
    got: list[dict] = []
    original = events.EventBus.publish

    def record(bus, channel, event):
        got.append(event)
        original(bus, channel, event)

    events.get_bus().publish = record.__get__(events.get_bus())
    yield got
    events.set_bus(previous)


def path_of(table: TableMeta) -> str:
    return table.datasource.connection_string.removeprefix("sqlite:///")


def stored(table: TableMeta, order_id: int) -> dict | None:
    """The row as the database has it, read with plain sqlite3."""
    import sqlite3

    conn = sqlite3.connect(path_of(table))
    conn.row_factory = sqlite3.Row
    try:
        row = conn.execute("SELECT * FROM orders WHERE id = ?", (order_id,)).fetchone()
    finally:
        conn.close()
    return dict(row) if row else None


def execute(table: TableMeta, sql: str) -> None:
    """Change the file behind Nocoflo's back (another program, or a write a crash cut short)."""
    import sqlite3

    conn = sqlite3.connect(path_of(table))
    try:
        conn.execute(sql)
        conn.commit()
    finally:
        conn.close()


def entries(**filters) -> list[tuple]:
    return list(
        Change.objects.filter(**filters)
        .order_by("id")
        .values_list("action", "row_key", "column", "old_value", "new_value", "state")
    )


# --- every write is audited -------------------------------------------------------------------


def test_an_update_is_audited_with_exact_old_and_new_values(ann, orders_table, heard):
    before = stored(orders_table, 1)
    opened = rows.open_table(ann, orders_table.pk)
    after = rows.update_row(opened, KEY_1, {"quantity": "7", "comment": "rush"}, holder="page-1")
    assert after["quantity"] == 7
    assert stored(orders_table, 1) == {**before, "quantity": 7, "comment": "rush"}
    assert entries() == [
        ("update", KEY_1, "quantity", before["quantity"], 7, "done"),
        ("update", KEY_1, "comment", before["comment"], "rush", "done"),
    ]
    (event,) = heard
    assert event["type"] == "row_updated"
    assert (event["key"], event["user"], event["holder"]) == (KEY_1, "ann", "page-1")
    assert event["values"]["quantity"] == 7
    assert event["table"] == orders_table.pk


def test_an_insert_is_audited_with_its_key_and_stored_values(ann, orders_table, heard):
    opened = rows.open_table(ann, orders_table.pk)
    added = rows.insert_row(opened, NEW_ORDER, holder="page-1")
    key = encode_key([2001])
    assert added["key"] == key
    ((action, row_key, column, old, new, state),) = entries()
    assert (action, row_key, column, old, state) == ("insert", key, "", None, "done")
    assert new == {**NEW_ORDER, "id": 2001, "quantity": 4, "unit_price": 2.5, "shipped_on": None}
    assert heard == [{"type": "row_inserted", "key": key, "user": "ann", "holder": "page-1",
                      "table": orders_table.pk}]  # fmt: skip


def test_a_delete_records_the_whole_row_and_a_revert_restores_it(ann, orders_table, heard):
    before = stored(orders_table, 1)
    opened = rows.open_table(ann, orders_table.pk)
    assert rows.delete_rows(opened, [KEY_1], holder="page-1") == 1
    assert stored(orders_table, 1) is None
    (entry,) = Change.objects.all()
    assert (entry.action, entry.row_key, entry.state) == ("delete", KEY_1, "done")
    assert entry.old_value == {**before, "gift": bool(before["gift"])}
    assert entry.new_value is None
    assert heard[-1] == {"type": "row_deleted", "key": KEY_1, "user": "ann", "holder": "page-1",
                         "table": orders_table.pk}  # fmt: skip

    undone = changes.revert_change(ann, entry.pk, holder="page-1")
    assert undone["action"] == "insert" and undone["row_key"] == KEY_1
    assert stored(orders_table, 1) == before
    restore = Change.objects.get(reverts=entry)
    assert (restore.action, restore.row_key, restore.state) == ("insert", KEY_1, "done")
    assert heard[-1]["type"] == "row_inserted"
    with pytest.raises(WriteConflict, match="exists again"):
        changes.revert_change(ann, entry.pk)


def test_deleting_a_missing_row_records_nothing(ann, orders_table):
    opened = rows.open_table(ann, orders_table.pk)
    assert rows.delete_rows(opened, [encode_key([99999])]) == 0
    assert entries() == []


# --- refused writes write nothing and leave no done entry -------------------------------------


def refused_cleanly(table: TableMeta, before: dict) -> None:
    assert stored(table, 1) == before
    assert not Change.objects.filter(state__in=["done", "pending"]).exists()


def test_a_bad_value_leaves_a_failed_entry(ann, orders_table, heard):
    before = stored(orders_table, 1)
    opened = rows.open_table(ann, orders_table.pk)
    with pytest.raises(InvalidValue):
        rows.update_row(opened, KEY_1, {"quantity": "many"})
    with pytest.raises(InvalidValue):
        rows.update_row(opened, KEY_1, {"status": None})  # NOT NULL
    with pytest.raises(InvalidValue):
        rows.insert_row(opened, {**NEW_ORDER, "quantity": "many"})
    refused_cleanly(orders_table, before)
    assert Change.objects.filter(state="failed").count() == 3
    assert heard == []


def test_a_write_to_an_unknown_column_records_nothing(ann, orders_table):
    before = stored(orders_table, 1)
    opened = rows.open_table(ann, orders_table.pk)
    with pytest.raises(InvalidValue, match="no column"):
        rows.update_row(opened, KEY_1, {"nope": 1})
    refused_cleanly(orders_table, before)
    assert entries() == []


def test_a_conflict_leaves_a_failed_entry(ann, orders_table, heard):
    before = stored(orders_table, 1)
    opened = rows.open_table(ann, orders_table.pk)
    with pytest.raises(WriteConflict) as info:
        rows.update_row(opened, KEY_1, {"quantity": 5}, {"quantity": before["quantity"] + 1})
    assert info.value.status == 409
    assert info.value.current["quantity"] == before["quantity"]
    refused_cleanly(orders_table, before)
    assert [e[-1] for e in entries()] == ["failed"]
    assert heard == []


def test_a_stale_version_is_refused_and_nothing_changes(ann, orders_table):
    opened = rows.open_table(ann, orders_table.pk)
    _, version = rows.read_row(opened, KEY_1)
    rows.update_row(opened, KEY_1, {"comment": "first"}, version=version)
    after_first = stored(orders_table, 1)
    with pytest.raises(WriteConflict) as info:
        rows.update_row(opened, KEY_1, {"comment": "second"}, version=version)
    assert info.value.status == 409
    assert info.value.current["comment"] == "first"
    assert stored(orders_table, 1) == after_first
    with pytest.raises(WriteConflict):
        rows.delete_rows(opened, [KEY_1], version=version)
    assert stored(orders_table, 1) == after_first
    assert [e[-1] for e in entries()] == ["done"]


def test_a_locked_row_refuses_another_user_and_records_nothing(ann, bob, orders_table, heard):
    before = stored(orders_table, 1)
    rows.lock_row(rows.open_table(ann, orders_table.pk), KEY_1, "ann-page")
    opened = rows.open_table(bob, orders_table.pk)
    for write in (
        lambda: rows.update_row(opened, KEY_1, {"quantity": 9}),
        lambda: rows.delete_rows(opened, [KEY_1]),
        lambda: rows.lock_row(opened, KEY_1, "bob-page"),
    ):
        with pytest.raises(RowLocked) as info:
            write()
        assert info.value.status == 423
        assert info.value.locked_by == "ann"
    refused_cleanly(orders_table, before)
    assert entries() == []
    assert [e["type"] for e in heard] == ["lock"]


def test_without_permission_nothing_is_recorded(reader, orders_table):
    before = stored(orders_table, 1)
    opened = rows.open_table(reader, orders_table.pk)
    for write in (
        lambda: rows.update_row(opened, KEY_1, {"quantity": 9}),
        lambda: rows.insert_row(opened, NEW_ORDER),
        lambda: rows.delete_rows(opened, [KEY_1]),
        lambda: rows.lock_row(opened, KEY_1, "reader-page"),
    ):
        with pytest.raises(rows.NotAllowed):
            write()
    refused_cleanly(orders_table, before)
    assert entries() == []
    assert not RowLock.objects.exists()


def test_a_write_between_read_and_write_is_retried_with_exact_old_values(
    ann, orders_table, monkeypatch
):
    """Someone else's write lands after our read: the compare-and-set misses, and the write is
    tried again on the row as it is now."""
    original = SQLiteDatasource.get_row
    calls = []

    def read_then_someone_writes(self, table_config, key):
        row = original(self, table_config, key)
        if not calls:
            execute(orders_table, "UPDATE orders SET quantity = 55 WHERE id = 1")
        calls.append(row)
        return row

    monkeypatch.setattr(SQLiteDatasource, "get_row", read_then_someone_writes)
    first_quantity = stored(orders_table, 1)["quantity"]
    opened = rows.open_table(ann, orders_table.pk)
    rows.update_row(opened, KEY_1, {"quantity": 6})
    assert stored(orders_table, 1)["quantity"] == 6
    assert entries() == [
        ("update", KEY_1, "quantity", first_quantity, 6, "failed"),
        ("update", KEY_1, "quantity", 55, 6, "done"),
    ]


# --- two users on one row ---------------------------------------------------------------------


def test_two_users_on_one_row(ann, bob, orders_table, settings):
    as_ann = rows.open_table(ann, orders_table.pk)
    as_bob = rows.open_table(bob, orders_table.pk)
    _, bobs_version = rows.read_row(as_bob, KEY_1)

    rows.lock_row(as_ann, KEY_1, "ann-page")
    with pytest.raises(RowLocked):
        rows.update_row(as_bob, KEY_1, {"comment": "bob"}, version=bobs_version)
    rows.update_row(as_ann, KEY_1, {"comment": "ann"}, holder="ann-page")

    # Ann's page died without releasing: the lease lapses.
    RowLock.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    # Bob's version predates Ann's write: refused, and Ann's write is not lost.
    with pytest.raises(WriteConflict) as info:
        rows.update_row(as_bob, KEY_1, {"comment": "bob"}, version=bobs_version)
    assert info.value.current["comment"] == "ann"
    assert stored(orders_table, 1)["comment"] == "ann"

    _, fresh = rows.read_row(as_bob, KEY_1)
    rows.update_row(as_bob, KEY_1, {"comment": "bob"}, version=fresh)
    assert stored(orders_table, 1)["comment"] == "bob"
    history = [(c.username, c.old_value, c.new_value) for c in audit.history(orders_table)]
    assert history == [("bob", "ann", "bob"), ("ann", None, "ann")]


def test_the_lock_holder_may_write_from_any_of_their_pages(ann, orders_table):
    opened = rows.open_table(ann, orders_table.pk)
    rows.lock_row(opened, KEY_1, "ann-page")
    rows.update_row(opened, KEY_1, {"comment": "from the API"})
    assert stored(orders_table, 1)["comment"] == "from the API"


# --- reverts ----------------------------------------------------------------------------------


def test_a_revert_after_a_later_edit_is_refused_as_a_conflict(ann, bob, orders_table):
    original = stored(orders_table, 1)["quantity"]
    rows.update_row(rows.open_table(ann, orders_table.pk), KEY_1, {"quantity": 20})
    anns = Change.objects.get(state="done")
    rows.update_row(rows.open_table(bob, orders_table.pk), KEY_1, {"quantity": 30})
    with pytest.raises(WriteConflict) as info:
        changes.revert_change(ann, anns.pk)
    assert info.value.current["quantity"] == 30
    assert stored(orders_table, 1)["quantity"] == 30
    assert not Change.objects.filter(reverts=anns, state="done").exists()

    bobs = Change.objects.filter(username="bob").get()
    assert changes.revert_change(bob, bobs.pk)["values"]["quantity"] == 20
    assert changes.revert_change(ann, anns.pk)["values"]["quantity"] == original
    assert stored(orders_table, 1)["quantity"] == original


def test_reverting_an_insert_deletes_the_row_unless_it_changed_since(ann, orders_table):
    opened = rows.open_table(ann, orders_table.pk)
    first = rows.insert_row(opened, NEW_ORDER)
    second = rows.insert_row(opened, NEW_ORDER)
    inserts = {c.row_key: c for c in Change.objects.filter(action="insert")}
    rows.update_row(opened, second["key"], {"comment": "edited"})

    assert changes.revert_change(ann, inserts[first["key"]].pk)["action"] == "delete"
    assert stored(orders_table, 2001) is None
    with pytest.raises(WriteConflict, match="changed after it was added"):
        changes.revert_change(ann, inserts[second["key"]].pk)
    assert stored(orders_table, 2002)["comment"] == "edited"


def test_only_written_changes_are_reverted(ann, orders_table):
    opened = rows.open_table(ann, orders_table.pk)
    with pytest.raises(InvalidValue):
        rows.update_row(opened, KEY_1, {"quantity": "many"})
    failed = Change.objects.get()
    with pytest.raises(changes.NotRevertible):
        changes.revert_change(ann, failed.pk)


# --- settling what a crash left pending -------------------------------------------------------


def test_settle_decides_what_a_crash_left_pending(ann, orders_table):
    path = path_of(orders_table)
    old = stored(orders_table, 1)
    # Crashed after writing the data, before confirming.
    written = audit.begin(ann, orders_table, "update", KEY_1, [("quantity", old["quantity"], 77)])
    execute(orders_table, "UPDATE orders SET quantity = 77 WHERE id = 1")
    # Crashed before writing.
    lost = audit.begin(ann, orders_table, "update", KEY_1, [("comment", old["comment"], "lost")])
    deleted = audit.begin(ann, orders_table, "delete", encode_key([2]), [("", {"id": 2}, None)])
    execute(orders_table, "DELETE FROM orders WHERE id = 2")
    kept = audit.begin(ann, orders_table, "delete", encode_key([3]), [("", {"id": 3}, None)])
    # Inserts whose key was never learnt: found by their values, or not.
    inserted = audit.begin(ann, orders_table, "insert", "", [("", None, NEW_ORDER)])
    SQLiteDatasource(f"sqlite:///{path}").insert_row(orders_table.table_config(), NEW_ORDER)
    never = audit.begin(
        ann, orders_table, "insert", "", [("", None, {**NEW_ORDER, "quantity": 99})]
    )

    counts = changes.settle(written + lost + deleted + kept + inserted + never)
    assert counts == {"done": 3, "failed": 3, "unknown": 0}
    state = dict(Change.objects.values_list("pk", "state"))
    assert [state[e.pk] for e in written + deleted + inserted] == ["done"] * 3
    assert [state[e.pk] for e in lost + kept + never] == ["failed"] * 3
    assert Change.objects.get(pk=inserted[0].pk).row_key == encode_key([2001])
    assert Change.objects.get(pk=never[0].pk).row_key == ""


def test_settle_leaves_entries_of_an_unreachable_datasource_pending(ann, db):
    down = DatasourceFactory(
        name="Down",
        datasource_type="postgresql",
        connection_string="postgresql://nobody@127.0.0.1:1/nothing?connect_timeout=1",
    )
    table = TableMeta.objects.create(datasource=down, name="t", key_columns=["id"])
    pending = audit.begin(ann, table, "update", encode_key([1]), [("v", 1, 2)])
    assert changes.settle(pending) == {"done": 0, "failed": 0, "unknown": 1}
    assert Change.objects.get().state == "pending"


def test_settle_changes_command_settles_old_pending_entries(ann, orders_table, capsys):
    old = stored(orders_table, 1)
    audit.begin(ann, orders_table, "update", KEY_1, [("quantity", old["quantity"], 88)])
    execute(orders_table, "UPDATE orders SET quantity = 88 WHERE id = 1")
    audit.begin(ann, orders_table, "update", KEY_1, [("comment", old["comment"], "never")])
    recent = audit.begin(ann, orders_table, "update", KEY_1, [("comment", None, "in flight")])
    Change.objects.exclude(pk=recent[0].pk).update(at=timezone.now() - timedelta(minutes=5))

    call_command("settle_changes")
    out = capsys.readouterr().out
    assert "1 happened, 1 did not, 0 left pending" in out
    assert Change.objects.get(pk=recent[0].pk).state == "pending"  # a write still in flight


def test_an_entry_too_young_to_settle_says_when_it_may_be(ann, orders_table, settings):
    """A server restarted right after a crash settles its entries once they come of age, not a
    whole settling interval later."""
    settings.NOCOFLO_STATEMENT_TIMEOUT = 10  # settled when 30 s old
    assert changes.seconds_until_settleable() is None
    (entry,) = audit.begin(ann, orders_table, "update", KEY_1, [("comment", None, "x")])
    Change.objects.filter(pk=entry.pk).update(at=timezone.now() - timedelta(seconds=20))
    assert 9 < changes.seconds_until_settleable() <= 10
    Change.objects.filter(pk=entry.pk).update(at=timezone.now() - timedelta(seconds=40))
    assert changes.seconds_until_settleable() is None  # old enough: settle() takes it now
    assert [e.pk for e in audit.pending(older_than_seconds=30)] == [entry.pk]


# --- hidden columns ---------------------------------------------------------------------------


def test_a_conflict_never_shows_a_non_owner_hidden_columns(ann, orders_table):
    orders_table.columns.filter(name="comment").update(visible=False)
    execute(orders_table, "UPDATE orders SET comment = 'secret' WHERE id = 1")
    client = Client()
    client.force_login(ann)
    url = f"/api/tables/{orders_table.pk}/rows/{KEY_1}"
    got = client.get(url)
    assert "comment" not in got.json()
    for headers, body in (
        ({"HTTP_IF_MATCH": '"0123456789abcdef0123456789abcdef"'}, {"values": {"quantity": 5}}),
        ({}, {"values": {"quantity": 5}, "expected": {"quantity": -1}}),
        ({}, {"values": {"quantity": 5}, "version": "stale"}),
    ):
        response = client.patch(url, json.dumps(body), content_type="application/json", **headers)
        assert response.status_code == 409
        assert "comment" not in response.json()["current"]
        assert "secret" not in response.content.decode()
    response = client.delete(url, HTTP_IF_MATCH='"stale"')
    assert response.status_code == 409
    assert "secret" not in response.content.decode()


def test_events_never_carry_hidden_columns(admin_user, orders_table, heard):
    orders_table.columns.filter(name="comment").update(visible=False)
    opened = rows.open_table(admin_user, orders_table.pk)  # an owner: sees and writes it
    rows.update_row(opened, KEY_1, {"comment": "secret", "quantity": 3})
    assert heard[0]["values"]["quantity"] == 3
    assert "comment" not in heard[0]["values"]


def test_a_version_reveals_nothing_of_hidden_columns(ann, orders_table):
    """A reader who knows every shown value cannot test guesses of a hidden one against it."""
    import hashlib

    orders_table.columns.filter(name="gift").update(visible=False)
    opened = rows.open_table(ann, orders_table.pk)
    shown, version = rows.read_row(opened, KEY_1)
    for guess in (True, False):
        text = json.dumps({**shown, "gift": guess}, sort_keys=True, default=str)
        assert hashlib.sha256(text.encode()).hexdigest()[:32] != version


# --- compare-and-set and versions on every backend --------------------------------------------


@pytest.fixture
def typed(backend_source, ann):
    table = backend_source.tables.get(name="typed")
    return rows.open_table(ann, table.pk)


def test_versions_and_compare_and_set_on_each_backend(typed, backend, heard):
    key = encode_key([1])
    values, version = rows.read_row(typed, key)
    assert rows.read_row(typed, key)[1] == version  # stable while nothing changes

    rows.update_row(typed, key, {"qty": 4, "note": "changed"}, version=version)
    assert backend.query("SELECT qty, note FROM typed WHERE id = 1") == [(4, "changed")]
    new_values, new_version = rows.read_row(typed, key)
    assert new_version != version

    # A stale version: 409, nothing written.
    with pytest.raises(WriteConflict) as info:
        rows.update_row(typed, key, {"qty": 5}, version=version)
    assert info.value.current["qty"] == 4
    with pytest.raises(WriteConflict):
        rows.delete_rows(typed, [key], version=version)
    # Stale expected values: the same.
    with pytest.raises(WriteConflict):
        rows.update_row(typed, key, {"qty": 5}, {"qty": 3, "price": values["price"]})
    assert backend.query("SELECT qty, note FROM typed WHERE id = 1") == [(4, "changed")]
    # Writing the value a cell already holds is no conflict (MySQL counts matched rows).
    rows.update_row(typed, key, {"qty": 4}, {"qty": 4, "price": values["price"]})
    rows.update_row(typed, key, {"qty": 4}, version=rows.read_row(typed, key)[1])

    # A stale version is refused before anything is recorded; stale expected values fail.
    assert [(c[2], c[3], c[4], c[5]) for c in entries()] == [
        ("qty", 3, 4, "done"), ("note", "first note", "changed", "done"),
        ("qty", 4, 5, "failed"), ("qty", 4, 4, "done"), ("qty", 4, 4, "done"),
    ]  # fmt: skip
    assert [e["type"] for e in heard] == ["row_updated"] * 3

    assert rows.delete_rows(typed, [key], version=rows.read_row(typed, key)[1]) == 1
    assert backend.query("SELECT count(*) FROM typed WHERE id = 1") == [(0,)]
    with pytest.raises(RowNotFound):
        rows.read_row(typed, key)


def test_a_whole_row_compare_and_set_covers_every_comparable_kind(typed, backend):
    """With neither expected values nor a version, the values just read are compared: every
    kind of column must compare equal to itself on every backend, nulls included."""
    for row_id in (1, 2, 3, 4, 5):
        key = encode_key([row_id])
        rows.update_row(typed, key, {"note": f"n{row_id}"}, version=rows.read_row(typed, key)[1])
    assert backend.query("SELECT note FROM typed ORDER BY id") == [(f"n{i}",) for i in range(1, 6)]
    assert set(Change.objects.values_list("state", flat=True)) == {"done"}


def test_delete_and_revert_on_each_backend(typed, backend, ann):
    key = encode_key([3])
    before = rows.read_row(typed, key)[0]
    assert rows.delete_rows(typed, [key]) == 1
    entry = Change.objects.get(action="delete")
    changes.revert_change(ann, entry.pk)
    after = rows.read_row(typed, key)[0]
    restorable = {n for n, k in typed.all_kinds.items() if k not in ("binary", "array", "other")}
    assert {n: after[n] for n in restorable} == {n: before[n] for n in restorable}
