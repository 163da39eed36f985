"""A table's recorded changes on screen: the list the history page and a row's history dialog
share, with a Revert button on each change the user may undo."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from django.utils import timezone
from nicegui import ui

from core.audit import describe
from core.models import Change
from datasources_app import changes, history_api, rows
from datasources_app.errors import InvalidQuery
from datasources_app.values import key_from_text, key_label

from .context import ViewContext

PAGE_SIZE = 50
# A row's history dialog shows this many changes; older ones are on the history page.
ROW_HISTORY_LIMIT = 200
# Longer values are cut on screen (the API has them whole).
SHOWN_CHARS = 160

COLUMNS = [
    {"name": "id", "label": "#", "field": "id", "align": "right"},
    {"name": "at", "label": "When", "field": "at", "align": "left"},
    {"name": "user", "label": "Who", "field": "user", "align": "left"},
    {"name": "action", "label": "Action", "field": "action", "align": "left"},
    {"name": "row_key", "label": "Row", "field": "row_key", "align": "left"},
    {"name": "column", "label": "Column", "field": "column", "align": "left"},
    {"name": "change", "label": "Old → new", "field": "change", "align": "left"},
    {"name": "state", "label": "State", "field": "state", "align": "left"},
    {"name": "revert", "label": "", "field": "id", "align": "right"},
]

# The button is part of the table's template, so the browser draws it for each row that may
# be undone; it sends the change's id back as a `revert` event.
REVERT_SLOT = r"""
<q-td :props="props">
  <q-btn v-if="props.row.can_revert" dense flat no-caps size="sm" color="primary"
         icon="undo" label="Revert" class="revert-button"
         @click="() => $parent.$emit('revert', props.row.id)" />
</q-td>
"""

WRAPPED_SLOT = r"""
<q-td :props="props" class="history-change" :title="props.row.change_full">
  {{ props.value }}
</q-td>
"""


@dataclass
class HistoryFilters:
    """What the list shows: empty means any."""

    user: str = ""
    column: str = ""
    row: str = ""
    since: str = ""
    until: str = ""


def shown_value(value: Any) -> str:
    """A cell's value as text; whole rows (and other structures) as compact JSON."""
    if value is None:
        return "∅"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def _cut(text: str) -> str:
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "…"


def list_entry(opened: rows.OpenTable, change: Change) -> dict:
    """A change as one line of the list."""
    described = describe(change, opened.hidden_columns)
    if change.action == Change.Action.INSERT:
        change_text = "→ " + shown_value(described["new_value"])
    elif change.action == Change.Action.DELETE:
        change_text = shown_value(described["old_value"]) + " →"
    else:
        change_text = (
            f"{shown_value(described['old_value'])} → {shown_value(described['new_value'])}"
        )
    action = change.action
    if change.reverts_id:
        action = f"{action} (reverts #{change.reverts_id})"
    return {
        "id": change.pk,
        "at": timezone.localtime(change.at).strftime("%Y-%m-%d %H:%M:%S"),
        "user": change.username,
        "action": action,
        "row_key": key_label(change.row_key, len(opened.table.key_columns)),
        "column": change.column,
        "change": _cut(change_text),
        "change_full": change_text,
        "state": change.state,
        "can_revert": history_api.may_revert(opened, change),
    }


def load_entries(
    opened: rows.OpenTable, filters: HistoryFilters, offset: int, limit: int
) -> tuple[int, list[dict]]:
    """How many changes match, and one page of them as list lines (runs in a thread)."""
    try:
        count, page = history_api.read_history(
            opened, username=filters.user, column=filters.column,
            row_key=_row_key(opened, filters.row), since=filters.since, until=filters.until,
            offset=offset, limit=limit,
        )  # fmt: skip
    except ValueError as exc:
        raise InvalidQuery(str(exc)) from None
    return count, [list_entry(opened, change) for change in page]


def _row_key(opened: rows.OpenTable, text: str | None) -> str | None:
    """The row filter as typed on the page: the key's values, or an opaque key from a link."""
    if not text:
        return text
    # SQLite's rowid is no declared column, and an integer.
    kinds = [opened.all_kinds.get(k, "integer") for k in opened.table.key_columns]
    return key_from_text(text, kinds) if kinds else text


def revert_entry(opened: rows.OpenTable, change_id: Any) -> dict:
    """Undo one of this table's changes (the list only offers its own)."""
    if not Change.objects.filter(pk=_as_id(change_id), table=opened.table).exists():
        raise changes.ChangeNotFound("No such change")
    return changes.revert_change(opened.user, change_id)


def _as_id(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise changes.ChangeNotFound("No such change") from None


def change_list(on_revert: Callable[[int], Awaitable[None]], **table_options: Any) -> ui.table:
    """The list of changes; `on_revert(change_id)` runs when a Revert button is pressed."""
    table = ui.table(columns=COLUMNS, rows=[], row_key="id", **table_options)
    table.classes("w-full history-list").props("flat bordered dense wrap-cells")
    table.add_slot("body-cell-revert", REVERT_SLOT)
    table.add_slot("body-cell-change", WRAPPED_SLOT)

    async def revert(event: Any) -> None:
        await on_revert(event.args)

    table.on("revert", revert)
    return table


async def revert_and_tell(context: ViewContext, change_id: Any) -> bool:
    """Undo a change as the session's user; says what happened, or why not."""
    ok, _ = await context.attempt(revert_entry, change_id)
    if ok:
        ui.notify(f"Reverted change #{change_id}", type="positive")
    return ok


def history_url(table_id: int, **params: str) -> str:
    query = "&".join(f"{name}={quote(value, safe='')}" for name, value in params.items() if value)
    return f"/tables/{table_id}/history" + (f"?{query}" if query else "")


async def open_row_history(context: ViewContext, row_key: str) -> None:
    """A dialog with one row's changes, newest first, each revertible by who may undo it."""
    filters = HistoryFilters(row=row_key)
    ok, loaded = await context.attempt(load_entries, filters, 0, ROW_HISTORY_LIMIT)
    if not ok:
        return

    async def reload() -> None:
        ok, loaded = await context.attempt(load_entries, filters, 0, ROW_HISTORY_LIMIT)
        if ok:
            show(*loaded)

    async def revert(change_id: int) -> None:
        await revert_and_tell(context, change_id)
        await reload()

    def show(count: int, entries: list[dict]) -> None:
        table.rows = entries
        more = count - len(entries)
        summary.text = (
            f"{count} changes" + (f", the latest {len(entries)} shown" if more > 0 else "")
            if count
            else "No recorded changes for this row."
        )

    with ui.dialog() as dialog, ui.card().classes("row-history").style("max-width: 90vw"):
        dialog.props("full-width")
        ui.label("Row history").classes("text-h6")
        summary = ui.label().classes("text-grey-8")
        table = change_list(revert, pagination=0)
        table.props("hide-bottom")
        with ui.row().classes("w-full items-center justify-between"):
            ui.link("Full history", history_url(context.table.pk, row=row_key)).classes(
                "row-history-link"
            )
            ui.button("Close", on_click=dialog.close).props("flat")
    # Each opening builds a new dialog: drop it once closed.
    dialog.on("hide", dialog.delete)
    show(*loaded)
    dialog.open()
