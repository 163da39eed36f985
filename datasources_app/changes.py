"""Undoing and settling recorded changes (core.audit keeps them; this reads and writes rows).

A revert is itself a change: audited, announced, and compare-and-set against what the change
wrote, so a revert never silently undoes a later edit by someone else.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from core import audit
from core.models import Change

from . import rows
from .base import Filter, Query
from .errors import DatasourceError, WriteConflict

log = logging.getLogger("nocoflo.audit")

# Kinds Nocoflo cannot write back: a restored row leaves them to the column's default.
_NOT_WRITABLE = {"binary", "array", "other"}


class ChangeNotFound(DatasourceError):
    status = 404


class NotRevertible(DatasourceError):
    status = 409


def find_change(user: Any, change_id: Any) -> tuple[Change, rows.OpenTable]:
    """A change of a table the user may read, and the table as they may use it."""
    try:
        change = Change.objects.get(pk=int(change_id))
    except (Change.DoesNotExist, TypeError, ValueError):
        raise ChangeNotFound("No such change") from None
    if change.table_id is None:
        raise ChangeNotFound("No such change")
    try:
        opened = rows.open_table(user, change.table_id)
    except rows.TableNotFound:
        raise ChangeNotFound("No such change") from None
    if change.column and change.column in opened.hidden_columns:
        raise ChangeNotFound("No such change")
    return change, opened


def revert_change(user: Any, change_id: Any, holder: str | None = None) -> dict:
    """Undo one change: an update writes the old value back, an insert deletes the row, a
    delete restores it. Answers `{"action", "row_key", "values"}` of the undo."""
    change, opened = find_change(user, change_id)
    if change.state != Change.State.DONE:
        raise NotRevertible("Only changes that were written can be reverted")
    if change.action == Change.Action.UPDATE:
        try:
            values = rows.update_row(
                opened, change.row_key, {change.column: change.old_value},
                {change.column: change.new_value}, holder=holder, reverts=change,
            )  # fmt: skip
        except WriteConflict as exc:
            raise WriteConflict(
                "The value was changed since; nothing was reverted", exc.current
            ) from None
        return {"action": "update", "row_key": change.row_key, "values": values}
    if change.action == Change.Action.INSERT:
        inserted = rows._comparable(opened, change.new_value or {})
        try:
            deleted = rows.delete_rows(
                opened, [change.row_key], expected=inserted, holder=holder, reverts=change
            )
        except WriteConflict as exc:
            raise WriteConflict(
                "The row was changed after it was added; revert those changes first",
                exc.current,
            ) from None
        if not deleted:
            raise NotRevertible("The row was deleted already")
        return {"action": "delete", "row_key": change.row_key, "values": None}
    return restore_row(opened, change, holder)


def restore_row(opened: rows.OpenTable, change: Change, holder: str | None = None) -> dict:
    """Put a deleted row back, with the key and values it had."""
    old = change.old_value or {}
    kinds = opened.all_kinds
    values = {n: v for n, v in old.items() if n in kinds and kinds[n] not in _NOT_WRITABLE}
    # Hidden columns are restored too: the row comes back whole, whoever restores it.
    restorer = rows.OpenTable(user=opened.user, table=opened.table, columns=_all_columns(opened))
    try:
        current = rows.read_row(restorer, change.row_key)[0]
    except rows.RowNotFound:
        current = None
    if current is not None:
        raise WriteConflict(
            "A row with this key exists again; nothing was restored", rows._visible(opened, current)
        )
    added = rows.insert_row(restorer, values, holder=holder, reverts=change)
    return {
        "action": "insert",
        "row_key": added["key"],
        "values": rows._visible(opened, added["values"]),
    }


def _all_columns(opened: rows.OpenTable) -> list:
    return list(opened.table.columns.all())


def _settle_age() -> float:
    """How old a pending entry must be to be settled: a write still in flight (in this or
    another server process) is not."""
    return 3 * settings.NOCOFLO_STATEMENT_TIMEOUT


def seconds_until_settleable() -> float | None:
    """Seconds until the oldest pending entry too young to settle now may be settled (a crash
    just before a restart leaves such entries); None when there is none."""
    age = _settle_age()
    now = timezone.now()
    first = (
        Change.objects.filter(state=Change.State.PENDING, at__gt=now - timedelta(seconds=age))
        .order_by("at")
        .values_list("at", flat=True)
        .first()
    )
    if first is None:
        return None
    return max((first + timedelta(seconds=age) - now).total_seconds(), 0.0)


def settle(entries: list[Change] | None = None) -> dict[str, int]:
    """Decide what pending entries (a crash between writing data and confirming) mean, by
    reading their rows: done when the row shows the change, failed when it does not, left
    pending while the datasource cannot be reached. Answers counts by outcome."""
    counts = {"done": 0, "failed": 0, "unknown": 0}
    if entries is None:
        entries = audit.pending(older_than_seconds=_settle_age())
    for entry in entries:
        try:
            happened = _happened(entry)
        except DatasourceError as exc:
            log.warning("cannot settle change %s yet: %s", entry.pk, exc)
            counts["unknown"] += 1
            continue
        if happened is None:
            counts["unknown"] += 1
            continue
        if happened:
            # An insert whose key was never recorded gets the key of the row found for it.
            audit.confirm([entry], row_key=happened if isinstance(happened, str) else None)
            counts["done"] += 1
        else:
            audit.fail([entry])
            counts["failed"] += 1
    return counts


def _happened(entry: Change) -> bool | str | None:
    """Whether the entry's write happened (None: cannot tell); for an insert found by its
    values, the row's key."""
    table = entry.table
    if table is None:
        return None
    from .connections import datasource_for

    source, config = datasource_for(table.datasource), table.table_config()
    keys = table.key_columns
    if entry.action == Change.Action.INSERT and not entry.row_key:
        return _inserted_row_key(source, config, keys, entry.new_value or {})
    if not keys:
        return None
    from .values import decode_key

    key = dict(zip(keys, decode_key(entry.row_key, len(keys)), strict=True))
    row = source.get_row(config, key)
    if entry.action == Change.Action.DELETE:
        return row is None
    if entry.action == Change.Action.INSERT:
        return row is not None
    if row is None:
        return False
    # The entry holds the value as the writer gave it ("5"), the row as stored (5).
    stored = row.get(entry.column)
    return stored == entry.new_value or str(stored) == str(entry.new_value)


def _inserted_row_key(source: Any, config: dict, keys: list[str], values: dict) -> str | bool:
    """An insert whose key was never learnt: the key of a row with exactly its values (True
    when the table has no key), False when there is none."""
    from .values import encode_key

    filters = [
        Filter(name, "isnull") if value is None else Filter(name, "eq", value)
        for name, value in values.items()
    ]
    if not filters:
        return False
    page = source.get_page(config, Query(limit=1, filters=filters, with_count=False))
    if not page.rows:
        return False
    found = page.rows[0][0]
    return encode_key([found[k] for k in keys]) if keys else True
