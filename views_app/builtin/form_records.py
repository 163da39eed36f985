"""The form view's records: one row with what the form shows beside it (its position, the
labels of the rows it references, who is editing it), and its neighbours in key order.

Row operations for ViewContext.run: each gets the table as the page's user may open it now.
"""

from __future__ import annotations

from typing import Any

from core import locks
from datasources_app import rows
from datasources_app.base import Filter, Query
from datasources_app.errors import DatasourceError
from datasources_app.values import decode_key, key_from_text

from .form_fields import reference_choices


def load_record(opened: rows.OpenTable, row_key: str, references: dict) -> dict:
    """A record as the form shows it: values, version, position, labels of referenced rows and
    who else is editing it."""
    values, version = rows.read_row(opened, row_key)
    record: dict[str, Any] = {"key": row_key, "values": values, "version": version}
    record.update(position_of(opened, row_key))
    record["choices"] = {}
    for name, reference in references.items():
        value = values.get(name)
        if value is not None:
            try:
                record["choices"][name] = reference_choices(
                    opened, reference, values=(value,), browse=False
                )
            except DatasourceError:  # the label is a nicety: the value itself is shown
                pass
    lock = locks.current(opened.table, row_key)
    if lock is not None and lock.user_id != opened.user.pk:
        record["locked_by"] = lock.user.get_username()
    return record


def position_of(opened: rows.OpenTable, row_key: str) -> dict:
    """Where the record is in key order (two counts: only for a single, visible key)."""
    keys = opened.table.key_columns
    if len(keys) != 1 or keys[0] not in opened.column_names:
        return {}
    (key,) = keys
    (value,) = decode_key(row_key, 1)
    before = rows.read_page(
        opened, Query(limit=1, columns=[key], filters=[Filter(key, "lt", value)])
    )
    total = rows.read_page(opened, Query(limit=1, columns=[key]))
    if before["count"] is None or total["count"] is None:
        return {}
    # Deep in a huge table the rows before a record are not counted (only capped), so its
    # position is left out rather than guessed.
    exact = before["count_accuracy"] == "exact"
    return {
        "position": before["count"] + 1 if exact else None,
        "total": total["count"],
        "total_accuracy": total["count_accuracy"],
    }


def neighbour(
    opened: rows.OpenTable, row_key: str | None, step: str, references: dict
) -> dict | None:
    """The first, last, next or previous record in key order; None when there is none."""
    keys = opened.table.key_columns
    # Ascending key order is every page's own order; descending needs the keys sorted on.
    sort = [(k, True) for k in keys] if step in ("last", "previous") else []
    shown = [k for k in keys if k in opened.column_names] or None
    query = Query(limit=1, sort=sort, columns=shown, with_count=False)
    if step in ("next", "previous") and row_key is not None:
        # Straight after the current row: no need to read the rows before it.
        query.cursor = rows.cursor_after_row(opened, row_key)
    found = rows.read_page(opened, query)["rows"]
    if not found:
        return None
    return load_record(opened, found[0]["key"], references)


def find_record(opened: rows.OpenTable, text: str, references: dict) -> dict:
    """The record whose key is `text` (its values, "42" or "7, A-12")."""
    kinds = [opened.all_kinds.get(k, "integer") for k in opened.table.key_columns]
    return load_record(opened, key_from_text(text, kinds), references)
