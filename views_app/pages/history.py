"""`/tables/<id>/history`: who changed what in a table and when, filtered and paged, with undo.

`?user=`, `?column=`, `?row=` (a row key), `?since=` and `?until=` prefill the filters, so a
row's "Full history" link opens the page on that row.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from fastapi import Request
from nicegui import ui

from core.auth import session_key_of
from datasources_app import history_api, rows

from ..context import ViewContext
from ..history import PAGE_SIZE, HistoryFilters, change_list, load_entries, revert_and_tell
from ..layout import frame
from .common import open_table_page

# The filters an address may prefill, by their query parameter.
FILTERS = ("user", "column", "row", "since", "until")


class HistoryList:
    """One open history page: its filters, the page shown, and the list."""

    def __init__(self, context: ViewContext, filters: HistoryFilters) -> None:
        self.context = context
        self.filters = filters
        self.page = 1
        self.table: ui.table | None = None

    def build(self) -> None:
        self.table = change_list(
            self.revert,
            pagination={"rowsPerPage": PAGE_SIZE, "page": 1, "rowsNumber": 0},
        )
        self.table.props["rows-per-page-options"] = [PAGE_SIZE]
        # With `rowsNumber` set, the table leaves paging to the server: it asks by `request`.
        self.table.on("request", self.on_request, ["pagination"])

    async def load(self, page: int | None = None) -> None:
        """Show a page of the changes that match the filters (the first after a filter change)."""
        if page is not None:
            self.page = max(1, page)
        offset = (self.page - 1) * PAGE_SIZE
        ok, loaded = await self.context.attempt(load_entries, self.filters, offset, PAGE_SIZE)
        if not ok:
            return
        count, entries = loaded
        last_page = (count - 1) // PAGE_SIZE + 1
        if not entries and count and last_page < self.page:
            # The list shrank under us (a filter or a revert): show its last page instead.
            await self.load(last_page)
            return
        assert self.table is not None
        self.table.rows = entries
        self.table.pagination = {"rowsPerPage": PAGE_SIZE, "page": self.page, "rowsNumber": count}

    async def on_request(self, event: Any) -> None:
        pagination = (event.args or {}).get("pagination") or {}
        try:
            page = int(pagination.get("page", 1))
        except (TypeError, ValueError):
            page = 1
        await self.load(page)

    async def filter_by(self, name: str, value: Any) -> None:
        setattr(self.filters, name, (value or "").strip())
        await self.load(1)

    async def revert(self, change_id: int) -> None:
        await revert_and_tell(self.context, change_id)
        await self.load()


def _filter_options(opened: rows.OpenTable, filters: HistoryFilters) -> tuple[dict, dict]:
    """The user and column choices: who appears in the history, the columns the user sees."""
    users = history_api.history_users(opened)
    columns = [(c.name, c.label) for c in opened.columns]
    # A filter from the URL that matches nothing is kept (and shows nothing), not dropped.
    if filters.user and filters.user not in users:
        users.append(filters.user)
    if filters.column and filters.column not in {name for name, _ in columns}:
        columns.append((filters.column, filters.column))
    return (
        {"": "Anyone", **{name: name for name in users}},
        {"": "Any column", **dict(columns)},
    )


async def history_page(request: Request, table_id: str):
    user, tables, opened, redirect = await open_table_page(request, table_id)
    if opened is None:
        return redirect

    query = request.query_params
    filters = HistoryFilters(**{name: query.get(name, "").strip() for name in FILTERS})
    user_options, column_options = await sync_to_async(_filter_options)(opened, filters)
    listing = HistoryList(ViewContext(session_key=session_key_of(request), opened=opened), filters)
    table = opened.table

    with frame(user, tables, f"{table.label} · History", current=table, view="History") as right:
        with right:
            ui.label("Table").classes("text-overline text-grey-7")
            ui.link("Open the table", f"/tables/{table.pk}").classes("block no-underline q-py-xs")
        with ui.row().classes("w-full items-center justify-between"):
            ui.label(f"{table.label} · History").classes("text-h5")
            ui.link(f"Back to {table.label}", f"/tables/{table.pk}").classes("back-to-table")
        with ui.row().classes("w-full items-end gap-4 history-filters"):
            ui.select(
                user_options, value=filters.user, label="User",
                on_change=lambda e: listing.filter_by("user", e.value),
            ).classes("min-w-[10rem]")  # fmt: skip
            ui.select(
                column_options, value=filters.column, label="Column",
                on_change=lambda e: listing.filter_by("column", e.value),
            ).classes("min-w-[10rem]")  # fmt: skip
            ui.input(
                "Row key", value=filters.row,
                on_change=lambda e: listing.filter_by("row", e.value),
            ).props("clearable debounce=400")  # fmt: skip
            ui.input(
                "From", value=filters.since,
                on_change=lambda e: listing.filter_by("since", e.value),
            ).props("type=date stack-label clearable")  # fmt: skip
            ui.input(
                "To", value=filters.until,
                on_change=lambda e: listing.filter_by("until", e.value),
            ).props("type=date stack-label clearable")  # fmt: skip
        listing.build()
    await listing.load(1)
    return None
