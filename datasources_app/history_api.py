"""The history API: a table's recorded changes (`/api/tables/{id}/history`) and undoing one
(`/api/changes/{id}/revert`). The history page reads through the same functions."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja import Router, Schema
from ninja.errors import HttpError

from core import audit
from core.errors_api import TABLE_ERRORS, WRITE_ERRORS
from core.models import Change

from . import changes, rows

router = Router(tags=["history"])

MAX_LIMIT = 500

# What a user must be allowed to do to undo each kind of change: undoing an insert deletes the
# row, undoing an update or a delete writes it.
REVERT_NEEDS = {
    Change.Action.UPDATE: "write",
    Change.Action.INSERT: "delete",
    Change.Action.DELETE: "write",
}


class ChangeOut(Schema):
    id: int
    at: str
    user: str
    action: str
    row_key: str
    column: str | None
    old_value: Any = None
    new_value: Any = None
    state: str
    reverts: int | None


class HistoryOut(Schema):
    count: int
    changes: list[ChangeOut]


class RevertOut(Schema):
    action: str
    row_key: str
    values: dict[str, Any] | None
    change: ChangeOut | None


def parse_moment(text: str | None, *, end_of_day: bool = False) -> datetime | None:
    """An ISO date or date and time, in the server's time zone unless it names one.

    A bare date means the start of that day, or its end with `end_of_day` (an "until" date
    includes the whole day). ValueError, saying what is wrong, for anything else.
    """
    text = (text or "").strip()
    if not text:
        return None
    try:
        moment = datetime.combine(date.fromisoformat(text), time.max if end_of_day else time.min)
    except ValueError:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                f"{text!r} is not a date (2024-05-31) or a date and time (2024-05-31T14:00)"
            ) from None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


def read_history(
    opened: rows.OpenTable,
    *,
    username: str | None = None,
    column: str | None = None,
    row_key: str | None = None,
    since: str | None = None,
    until: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[int, list[Change]]:
    """How many changes match, and one page of them (newest first), as the user may see them.
    ValueError for a since or until that is no date."""
    try:
        start = parse_moment(since)
    except ValueError as exc:
        raise ValueError(f"since: {exc}") from None
    try:
        end = parse_moment(until, end_of_day=True)
    except ValueError as exc:
        raise ValueError(f"until: {exc}") from None
    found = audit.history(
        opened.table, username=username or None, column=column or None, row_key=row_key or None,
        since=start, until=end, hidden_columns=opened.hidden_columns,
    )  # fmt: skip
    return found.count(), list(found[offset : offset + limit])


def history_users(opened: rows.OpenTable) -> list[str]:
    """Who appears in the table's history (as far as the user may see it)."""
    found = audit.history(opened.table, hidden_columns=opened.hidden_columns)
    return list(found.order_by("username").values_list("username", flat=True).distinct())


def may_revert(opened: rows.OpenTable, change: Change) -> bool:
    """Whether the user may undo this change (the row operations check again when they do)."""
    if change.state != Change.State.DONE or opened.table.read_only:
        return False
    return opened.may(REVERT_NEEDS[change.action])


def revert(user: Any, change_id: Any, holder: str | None = None) -> dict:
    """Undo a change; the answer includes the new entry that records the undo."""
    undone = changes.revert_change(user, change_id, holder=holder)
    entry = (
        Change.objects.filter(reverts_id=int(change_id), user=user, state=Change.State.DONE)
        .order_by("-id")
        .first()
    )
    hidden = rows.open_table(user, entry.table_id).hidden_columns if entry else []
    return {**undone, "change": audit.describe(entry, hidden) if entry else None}


@router.get("/tables/{table_id}/history", response={200: HistoryOut, **TABLE_ERRORS})
def table_history(
    request: HttpRequest,
    table_id: int,
    user: str | None = None,
    column: str | None = None,
    row: str | None = None,
    since: str | None = None,
    until: str | None = None,
    limit: int = 50,
    offset: int = 0,
):
    """The table's changes, newest first: who changed which row and column when, from what to
    what. Filter by `user`, `column`, `row` (a row key) and a time range (`since`, `until`: ISO
    dates or dates and times; an `until` date includes that whole day). `count` is the number
    of matching changes; page with `limit` (1 to 500) and `offset`."""
    if not 1 <= limit <= MAX_LIMIT:
        raise HttpError(400, f"limit must be between 1 and {MAX_LIMIT}")
    if offset < 0:
        raise HttpError(400, "offset must not be negative")
    opened = rows.open_table(request.user, table_id)
    try:
        count, page = read_history(
            opened, username=user, column=column, row_key=row, since=since, until=until,
            offset=offset, limit=limit,
        )  # fmt: skip
    except ValueError as exc:
        raise HttpError(400, str(exc)) from None
    hidden = opened.hidden_columns
    return {"count": count, "changes": [audit.describe(c, hidden) for c in page]}


@router.post("/changes/{change_id}/revert", response={200: RevertOut, **WRITE_ERRORS})
def revert_change(request: HttpRequest, change_id: int):
    """Undo a change: an update writes the old value back (only while the cell still holds the
    value the change wrote: 409 otherwise), an insert deletes the row, a delete restores the
    whole row with its key. The undo is itself recorded, as `change` (its `reverts` is the
    change undone). 403 without the permission the undo needs, 423 while someone edits the row."""
    return revert(request.user, change_id)
