"""core.audit: entries recorded pending, then confirmed or failed; the history and its filters."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from core import audit
from core.models import Change

pytestmark = pytest.mark.integration


def test_begin_records_one_pending_entry_per_cell_in_one_batch(ann, orders):
    entries = audit.begin(ann, orders, "update", "1", [("qty", 1, 2), ("note", "a", "b")])
    assert [(e.column, e.old_value, e.new_value) for e in entries] == [
        ("qty", 1, 2),
        ("note", "a", "b"),
    ]
    stored = list(Change.objects.order_by("id"))
    assert [e.state for e in stored] == ["pending", "pending"]
    assert {e.batch for e in stored} == {entries[0].batch}
    assert stored[0].username == "ann"
    assert stored[0].table_label == orders.label
    assert stored[0].row_key == "1"
    assert audit.pending() == stored


def test_confirm_marks_done_and_keeps_the_stored_value(ann, orders):
    entries = audit.begin(ann, orders, "update", "1", [("qty", 1, "5"), ("note", "a", "b")])
    audit.confirm(entries, stored={"qty": 5, "note": "b", "other": 9})
    stored = {e.column: e for e in Change.objects.all()}
    assert stored["qty"].state == stored["note"].state == "done"
    assert stored["qty"].new_value == 5  # as the database keeps it, not as it was typed
    assert stored["note"].new_value == "b"
    assert audit.pending() == []


def test_confirm_records_an_inserts_key_and_stored_row(ann, orders):
    typed = {"qty": "3", "note": "x"}
    entries = audit.begin(ann, orders, "insert", "", [("", None, typed)])
    audit.confirm(entries, row_key="42", stored={"": {"id": 42, "qty": 3, "note": "x"}})
    entry = Change.objects.get()
    assert entry.state == "done"
    assert entry.row_key == "42"
    assert entry.new_value == {"id": 42, "qty": 3, "note": "x"}
    assert entry.old_value is None


def test_fail_marks_failed(ann, orders):
    entries = audit.begin(ann, orders, "delete", "7", [("", {"id": 7}, None)])
    audit.fail(entries)
    assert entries[0].state == "failed"
    assert Change.objects.get().state == "failed"
    assert audit.pending() == []


def test_pending_leaves_recent_entries_alone(ann, orders):
    entries = audit.begin(ann, orders, "update", "1", [("qty", 1, 2)])
    assert audit.pending(older_than_seconds=60) == []
    Change.objects.update(at=timezone.now() - timedelta(seconds=120))
    assert [e.pk for e in audit.pending(older_than_seconds=60)] == [entries[0].pk]


@pytest.fixture
def log(ann, bob, orders, tables):
    """A small history: four updates of ann and bob, a failed one, a delete, another table."""
    now = timezone.now()

    def write(user, key, column, old, new, days_ago, state="done", action="update", table=orders):
        (entry,) = audit.begin(user, table, action, key, [(column, old, new)])
        Change.objects.filter(pk=entry.pk).update(at=now - timedelta(days=days_ago), state=state)
        return entry.pk

    return {
        "ann_qty": write(ann, "1", "qty", 1, 2, days_ago=3),
        "bob_qty": write(bob, "1", "qty", 2, 3, days_ago=2),
        "bob_note": write(bob, "2", "note", "a", "b", days_ago=1),
        "ann_secret": write(ann, "2", "secret", "s1", "s2", days_ago=1),
        "failed": write(ann, "1", "qty", 3, 4, days_ago=0, state="failed"),
        "delete": write(ann, "3", "", {"id": 3, "secret": "s"}, None, 0, action="delete"),
        "elsewhere": write(ann, "1", "qty", 0, 1, 0, table=tables["customers"]),
        "now": now,
    }


def ids(changes) -> list[int]:
    return [c.pk for c in changes]


def test_history_is_newest_first_without_failed_writes(orders, log):
    assert ids(audit.history(orders)) == [
        log["delete"], log["ann_secret"], log["bob_note"], log["bob_qty"], log["ann_qty"]
    ]  # fmt: skip


def test_history_filters(orders, log):
    now = log["now"]
    assert ids(audit.history(orders, username="bob")) == [log["bob_note"], log["bob_qty"]]
    assert ids(audit.history(orders, column="qty")) == [log["bob_qty"], log["ann_qty"]]
    assert ids(audit.history(orders, row_key="1")) == [log["bob_qty"], log["ann_qty"]]
    assert ids(audit.history(orders, row_key="")) == ids(audit.history(orders))
    assert ids(audit.history(orders, since=now - timedelta(days=2, hours=1))) == [
        log["delete"], log["ann_secret"], log["bob_note"], log["bob_qty"]
    ]  # fmt: skip
    assert ids(audit.history(orders, until=now - timedelta(days=1, hours=12))) == [
        log["bob_qty"], log["ann_qty"]
    ]  # fmt: skip
    assert ids(audit.history(orders, username="ann", since=now - timedelta(days=4), until=now)) == [
        log["delete"],
        log["ann_secret"],
        log["ann_qty"],
    ]


def test_history_leaves_hidden_columns_out(orders, log):
    assert log["ann_secret"] not in ids(audit.history(orders, hidden_columns=["secret"]))
    # Whole-row entries stay; describe() strips the hidden column from them.
    assert log["delete"] in ids(audit.history(orders, hidden_columns=["secret"]))


def test_describe_strips_hidden_columns_from_whole_rows(orders, log):
    entry = Change.objects.get(pk=log["delete"])
    shown = audit.describe(entry, hidden_columns=["secret"])
    assert shown["old_value"] == {"id": 3}
    assert shown["new_value"] is None
    assert shown["column"] is None
    assert shown["action"] == "delete"
    assert shown["user"] == "ann"
    assert shown["state"] == "done"
    assert shown["reverts"] is None
    assert audit.describe(entry)["old_value"] == {"id": 3, "secret": "s"}
    cell = audit.describe(Change.objects.get(pk=log["bob_note"]), hidden_columns=["secret"])
    assert (cell["column"], cell["old_value"], cell["new_value"]) == ("note", "a", "b")


def test_a_revert_points_at_what_it_reverts(ann, orders):
    (original,) = audit.begin(ann, orders, "update", "1", [("qty", 1, 2)])
    (undo,) = audit.begin(ann, orders, "update", "1", [("qty", 2, 1)], reverts=original)
    assert audit.describe(undo)["reverts"] == original.pk
    assert list(original.reverted_by.all()) == [undo]
