"""The audit log: every insert, update and delete done through Nocoflo, with old and new values.

The user's data and this log live in two databases, so no transaction covers both. A write
records its entries as pending first, then writes the data, then confirms them (or marks them
failed). A pending entry left by a crash is settled later by reading the row
(`datasources_app.settle`): no edit without its entry, no entry for an edit that never happened.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from django.utils import timezone

from .models import Change, TableMeta

Action = Change.Action
State = Change.State


def begin(
    user: Any,
    table: TableMeta,
    action: str,
    row_key: str,
    cells: Iterable[tuple[str, Any, Any]],
    reverts: Change | None = None,
) -> list[Change]:
    """Record a write about to happen: one entry per (column, old, new), all pending."""
    batch, now = uuid.uuid4(), timezone.now()
    entries = [
        Change(
            table=table,
            table_label=table.label,
            user=user,
            username=user.get_username(),
            at=now,
            action=action,
            row_key=row_key,
            column=column,
            old_value=old,
            new_value=new,
            state=State.PENDING,
            batch=batch,
            reverts=reverts,
        )  # fmt: skip
        for column, old, new in cells
    ]
    return Change.objects.bulk_create(entries)


def confirm(entries: list[Change], row_key: str | None = None, stored: dict | None = None) -> None:
    """The write happened. `row_key`: an insert's new key; `stored`: the values as the database
    keeps them (after coercion), by column ("" for a whole row)."""
    plain = []
    for entry in entries:
        entry.state = State.DONE
        fields = ["state"]
        if row_key is not None and entry.row_key != row_key:
            entry.row_key = row_key
            fields.append("row_key")
        value = (stored or {}).get(entry.column, entry.new_value)
        if value != entry.new_value:
            entry.new_value = value
            fields.append("new_value")
        if len(fields) == 1:
            plain.append(entry.pk)
        else:
            entry.save(update_fields=fields)
    if plain:
        Change.objects.filter(pk__in=plain).update(state=State.DONE)


def fail(entries: list[Change]) -> None:
    """The write did not happen."""
    Change.objects.filter(pk__in=[e.pk for e in entries]).update(state=State.FAILED)
    for entry in entries:
        entry.state = State.FAILED


def pending(older_than_seconds: float = 0) -> list[Change]:
    """Entries whose write was never confirmed nor failed (a crash between the two)."""
    cutoff = timezone.now() - timezone.timedelta(seconds=older_than_seconds)
    return list(
        Change.objects.select_related("table__datasource")
        .filter(state=State.PENDING, at__lte=cutoff)
        .order_by("at", "id")
    )


def history(
    table: TableMeta,
    *,
    username: str | None = None,
    column: str | None = None,
    row_key: str | None = None,
    since: Any = None,
    until: Any = None,
    hidden_columns: Iterable[str] = (),
):
    """A table's recorded changes, newest first, filtered; entries of `hidden_columns` left out.
    Failed writes are left out too: they changed nothing."""
    changes = Change.objects.filter(table=table).exclude(state=State.FAILED)
    if username:
        changes = changes.filter(username=username)
    if column:
        changes = changes.filter(column=column)
    if row_key is not None and row_key != "":
        changes = changes.filter(row_key=row_key)
    if since is not None:
        changes = changes.filter(at__gte=since)
    if until is not None:
        changes = changes.filter(at__lte=until)
    hidden = list(hidden_columns)
    if hidden:
        changes = changes.exclude(column__in=hidden)
    return changes.select_related("reverts")


def describe(change: Change, hidden_columns: Iterable[str] = ()) -> dict:
    """An entry as the API and the history page show it (hidden columns out of whole rows)."""
    hidden = set(hidden_columns)

    def shown(value: Any) -> Any:
        if change.column or not isinstance(value, dict) or not hidden:
            return value
        return {k: v for k, v in value.items() if k not in hidden}

    return {
        "id": change.pk,
        "at": change.at.isoformat(),
        "user": change.username,
        "action": change.action,
        "row_key": change.row_key,
        "column": change.column or None,
        "old_value": shown(change.old_value),
        "new_value": shown(change.new_value),
        "state": change.state,
        "reverts": change.reverts_id,
    }
