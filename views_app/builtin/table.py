"""The built-in table view: an editable AG Grid over the rows API, registered as a plugin.

Several people may have a table open at once: see `collaboration` for row locks, live updates
and presence.
"""

from __future__ import annotations

from typing import Any

from nicegui import ui

from datasources_app import rows
from datasources_app.errors import WriteConflict
from plugins_app.hookspecs import hookimpl

from ..base import BaseView
from ..counts import rows_text
from ..dialogs import confirm
from ..share import ShareDialog
from .collaboration import Collaboration, lock_aware
from .grid_js import (
    KEY_FIELD,
    ROW_LOCKED_RULE,
    datasource_js,
    export_js,
    recount_js,
    set_search_js,
)  # fmt: skip
from .grid_settings import GridSettings

NUMERIC = ("integer", "real")
TEXT_OPTIONS = ["contains", "equals", "notEqual", "startsWith", "blank", "notBlank"]
NUMBER_OPTIONS = [
    "equals", "notEqual", "lessThan", "lessThanOrEqual", "greaterThan", "greaterThanOrEqual",
    "inRange", "blank", "notBlank",
]  # fmt: skip
DATE_OPTIONS = ["equals", "lessThan", "greaterThan", "inRange", "blank", "notBlank"]
# Kinds shown but never edited: binary (its size), arrays (a JSON list), unknown types.
READ_ONLY_KINDS = ("binary", "array", "other")
# Edits made by people (not by the grid's own updates) are written to the database.
USER_EDIT_SOURCES = {"edit", "paste", "undo", "redo", "rangeSvc", "fillHandle", None}


def column_def(column: dict, can_write: bool) -> dict[str, Any]:
    """AG Grid's definition of one column: header with its type, a filter and an editor."""
    kind = column["type"]
    definition: dict[str, Any] = {
        "field": column["name"],
        "colId": column["name"],
        "headerName": f"{column['label']} · {kind}",
        "headerTooltip": column["db_type"] or kind,
        "editable": bool(column["editable"] and can_write and kind not in READ_ONLY_KINDS),
        "filterParams": {"maxNumConditions": 1, "buttons": ["apply", "reset"]},
    }
    if kind in NUMERIC:
        definition["filter"] = "agNumberColumnFilter"
        definition["filterParams"]["filterOptions"] = NUMBER_OPTIONS
        definition["cellDataType"] = "number"
        definition["type"] = "rightAligned"
    elif kind in ("date", "datetime"):
        definition["filter"] = "agDateColumnFilter"
        definition["filterParams"]["filterOptions"] = DATE_OPTIONS
        definition["cellDataType"] = "text"
    elif kind == "boolean":
        definition["filter"] = "agTextColumnFilter"
        definition["filterParams"]["filterOptions"] = ["equals", "blank", "notBlank"]
        definition["cellDataType"] = "boolean"
    else:
        definition["filter"] = "agTextColumnFilter"
        definition["filterParams"]["filterOptions"] = TEXT_OPTIONS
        definition["cellDataType"] = "text"
    if kind == "enum":
        # rows.OpenTable.describe_columns() may not carry choices yet: no choices, no list.
        choices = list(column.get("choices") or [])
        if choices:
            definition["cellEditor"] = "agSelectCellEditor"
            values = ([None] if column["nullable"] else []) + choices
            definition["cellEditorParams"] = {"values": values}
    if kind in ("json", "array", "other", "binary"):
        definition["valueFormatter"] = None
        definition[":valueFormatter"] = (
            "(p) => p.value === null || p.value === undefined ? '' : "
            "(typeof p.value === 'object' ? JSON.stringify(p.value) : String(p.value))"
        )
    if column["primary_key"]:
        definition["pinned"] = "left"
    return definition


class TableView(BaseView):
    """Rows in an editable grid; paging, sorting, filtering and search run in the database."""

    def get_view_name(self) -> str:
        return "Table"

    def can_handle_table(self, table_meta: dict) -> bool:
        return True

    def render(self) -> None:
        TableGrid(self.context).build()


class TableGrid(GridSettings, Collaboration):
    """The state of one grid on one page."""

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        self.context = context
        opened = context.opened
        self.columns = opened.describe_columns()
        self.can_write = opened.may("write") and not opened.table.read_only
        self.can_delete = opened.may("delete") and not opened.table.read_only
        self.can_share = opened.may("owner")
        self.grid: ui.aggrid | None = None

    def build(self) -> None:
        table = self.context.table
        if table.read_only:
            with ui.row().classes("w-full items-center bg-amber-1 text-amber-10 q-pa-sm rounded"):
                ui.icon("lock")
                ui.label(f"Read-only: {table.read_only_message}").classes("read-only-notice")
        with ui.row().classes("w-full items-center gap-2"):
            search = (
                ui.input(placeholder="Search text columns", value=self.saved_search())
                .props("dense outlined clearable debounce=400")
                .classes("w-72")
            )
            search.on_value_change(lambda e: self.search(e.value or ""))
            self.count_label = ui.label("counting rows…").classes("text-grey-8 row-count")
            # Shown when the count is an estimate or a lower bound: counting every row of a
            # huge table is the user's choice, under the statement time limit.
            self.exact_button = (
                ui.button("Count exactly", on_click=self.count_exactly)
                .props("flat dense no-caps size=sm")
                .classes("count-exactly")
            )
            self.exact_button.visible = False
            self.presence_box = ui.row().classes("items-center gap-1 presence")
            ui.space()
            ui.button("Refresh", icon="refresh", on_click=self.refresh).props("flat")
            self.settings_buttons()
            ui.button("Row history", icon="history", on_click=self.open_history).props("flat")
            ui.button("Open in form", icon="article", on_click=self.open_in_form).props("flat")
            with ui.button("Export", icon="download").props("flat") as export:
                export.classes("export-button")
                with ui.menu():
                    ui.menu_item("CSV", on_click=lambda: self.export("csv"))
                    ui.menu_item("JSON", on_click=lambda: self.export("json"))
            if self.can_share:
                share = ShareDialog(self.context)
                ui.button("Share", icon="share", on_click=share.open).props("flat")
            if self.can_write:
                ui.button("Add row", icon="add", on_click=self.open_add_dialog)
            if self.can_delete:
                ui.button("Delete selected", icon="delete", on_click=self.confirm_delete).props(
                    "color=negative outline"
                )
        with ui.row().classes("w-full items-center gap-2 query-timeout") as notice:
            ui.icon("timer", color="warning")
            self.timeout_label = ui.label()
            ui.button("Retry", icon="refresh", on_click=self.retry).props("flat dense")
        notice.visible = False
        self.timeout_notice = notice
        kinds = {c["name"]: c["type"] for c in self.columns}
        column_defs = [column_def(c, self.can_write) for c in self.columns]
        lock_aware(column_defs)
        options: dict[str, Any] = {
            "rowModelType": "infinite",
            "cacheBlockSize": 100,
            "maxBlocksInCache": 50,
            "maxConcurrentDatasourceRequests": 2,
            "suppressFieldDotNotation": True,
            "columnDefs": column_defs,
            "defaultColDef": {"sortable": True, "resizable": True, "minWidth": 140},
            "stopEditingWhenCellsLoseFocus": True,
            # The infinite row model draws blank rows while its first page loads: the overlay
            # says so, until the rows (and their count) arrive.
            "loading": True,
            ":getRowId": f"(p) => p.data[{KEY_FIELD!r}]",
            "rowClassRules": {":nocoflo-row-locked": ROW_LOCKED_RULE},
        }
        if self.can_delete:
            options["rowSelection"] = {
                "mode": "multiRow",
                "enableClickSelection": False,
                "headerCheckbox": False,
            }
            options["selectionColumnDef"] = {
                "pinned": "left",
                "width": 44,
                "minWidth": 44,
                "maxWidth": 44,
            }
        self.settings_options(options)
        grid = (
            ui.aggrid(options).classes("w-full nocoflo-grid").style("height: calc(100vh - 190px)")
        )
        self.grid = grid
        grid.options[":datasource"] = datasource_js(
            f"/api/tables/{table.pk}/rows", kinds, grid.id, self.count_label.html_id
        )
        grid.on("cellValueChanged", self.on_cell_changed)
        self.setup_settings(grid)
        ui.on(f"nocoflo-grid-count-{grid.id}", lambda e: self.show_count(e.args))
        ui.on(f"nocoflo-grid-error-{grid.id}", lambda e: self.show_error(e.args))
        self.setup_collaboration()

    def export(self, fmt: str) -> None:
        """Download the rows as the grid shows them; the export API checks access again."""
        url = f"/api/tables/{self.context.table.pk}/export"
        ui.run_javascript(export_js(self.grid.id, url, fmt))

    async def open_in_form(self) -> None:
        """The selected row (or the focused cell's row), one record at a time in the form view."""
        from urllib.parse import quote

        key = await self.chosen_row("open it in the form")
        if key is None:
            return
        table_id = self.context.table.pk
        ui.navigate.to(f"/tables/{table_id}?view=form_view&row={quote(str(key), safe='')}")

    def show_count(self, counted: Any) -> None:
        counted = counted if isinstance(counted, dict) else {}
        self.count_label.text = rows_text(counted.get("count"), counted.get("accuracy"))
        self.exact_button.visible = counted.get("accuracy", "exact") != "exact"
        self.timeout_notice.visible = False
        self.grid.run_grid_method("setGridOption", "loading", False)

    def show_error(self, error: Any) -> None:
        error = error if isinstance(error, dict) else {"message": str(error)}
        message = str(error.get("message") or "The rows could not be read")
        self.grid.run_grid_method("setGridOption", "loading", False)
        if error.get("status") == 504:
            # A time limit cut the query: say so where the rows should be, with a way to retry.
            self.timeout_label.text = f"{message}. Narrow the search or filters, or retry."
            self.timeout_notice.visible = True
            if self.count_label.text == "counting every row…":
                self.count_label.text = ""
            return
        ui.notify(message, type="negative", multi_line=True)

    def count_exactly(self) -> None:
        self.count_label.text = "counting every row…"
        self.exact_button.visible = False
        ui.run_javascript(recount_js(self.grid.id, exact=True))
        self.grid.run_grid_method("purgeInfiniteCache")

    def retry(self) -> None:
        self.timeout_notice.visible = False
        self.refresh()

    def search(self, text: str) -> None:
        ui.run_javascript(set_search_js(self.grid.id, text))
        self.remember_search(text)
        # A search shows its results from the first row: rows far down may not exist in them.
        self.grid.run_grid_method("ensureIndexVisible", 0, "top")
        self.refresh()

    def refresh(self) -> None:
        """Read the rows again (after a search, add or delete), and their count."""
        ui.run_javascript(recount_js(self.grid.id))
        self.grid.run_grid_method("purgeInfiniteCache")

    def put_row(self, key: str, values: dict) -> None:
        self.grid.run_row_method(key, "setData", {**values, KEY_FIELD: key})

    async def on_cell_changed(self, event: Any) -> None:
        args = event.args
        if args.get("source") not in USER_EDIT_SOURCES:
            return
        column, data = args.get("colId"), args.get("data") or {}
        key = data.get(KEY_FIELD)
        old, new = args.get("oldValue"), args.get("newValue")
        if key is None or column is None or old == new:
            return
        async with self._in_order:
            await self.save(key, column, new, old, data)

    async def save(self, key: str, column: str, new: Any, seen: Any, data: dict) -> None:
        """Write one cell, compare-and-set against the value the editor saw."""
        ok, result = await self.context.attempt(
            rows.update_row, key, {column: new}, {column: seen}, holder=self.context.client_id
        )
        if ok:
            self.put_row(key, result)
            ui.notify(f"Saved {column}", type="positive", timeout=1200)
            return
        if isinstance(result, WriteConflict):
            self.put_row(key, result.current)
            self.show_conflict(key, column, new, result.current)
        else:
            # Refused: the cell shows the stored value again.
            self.put_row(key, {**data, column: seen})

    def show_conflict(self, key: str, column: str, mine: Any, current: dict) -> None:
        with ui.dialog() as dialog, ui.card().classes("min-w-96 conflict-dialog"):
            ui.label("Someone else changed this row").classes("text-h6")
            ui.label(f"{column} changed since you read it. Nothing was written.")
            with ui.grid(columns=2).classes("w-full q-my-md"):
                ui.label("Your value").classes("text-weight-bold")
                ui.label("Current value").classes("text-weight-bold")
                ui.label(repr(mine))
                ui.label(repr(current.get(column)))
            with ui.row().classes("justify-end w-full"):
                ui.button("Keep current", on_click=dialog.close).props("flat")

                async def overwrite() -> None:
                    dialog.close()
                    await self.save(key, column, mine, current.get(column), current)

                ui.button("Use mine", on_click=overwrite)
        dialog.open()

    def open_add_dialog(self) -> None:
        inputs: dict[str, Any] = {}
        with ui.dialog() as dialog, ui.card().classes("min-w-96 add-row-dialog"):
            ui.label(f"Add a row to {self.context.table.label}").classes("text-h6")
            for column in self.columns:
                if column["type"] in READ_ONLY_KINDS:
                    continue
                inputs[column["name"]] = typed_input(column)
            with ui.row().classes("justify-end w-full"):
                ui.button("Cancel", on_click=dialog.close).props("flat")

                async def add() -> None:
                    values = {
                        name: widget.value
                        for name, widget in inputs.items()
                        if widget.value not in (None, "")
                    }
                    ok, result = await self.context.attempt(
                        rows.insert_row, values, holder=self.context.client_id
                    )
                    if ok:
                        dialog.close()
                        ui.notify("Row added", type="positive")
                        self.refresh()

                ui.button("Add", on_click=add)
        dialog.open()

    async def confirm_delete(self) -> None:
        selected = await self.grid.get_selected_rows()
        keys = [row.get(KEY_FIELD) for row in selected if row.get(KEY_FIELD)]
        if not keys:
            ui.notify("Select rows first (the checkboxes on the left)", type="warning")
            return

        async def delete() -> None:
            ok, deleted = await self.context.attempt(
                rows.delete_rows, keys, holder=self.context.client_id
            )
            if ok:
                ui.notify(f"Deleted {deleted} row{'s' if deleted != 1 else ''}")
                self.grid.run_grid_method("deselectAll")
                self.refresh()

        confirm(
            f"Delete {len(keys)} row{'s' if len(keys) != 1 else ''}?",
            "This cannot be undone from here.", "Delete", delete, classes="delete-dialog",
        )  # fmt: skip


def typed_input(column: dict) -> Any:
    """An input that fits the column's type."""
    label = column["label"] + ("" if column["nullable"] else " *")
    kind = column["type"]
    hint = column["db_type"] or kind
    if column["primary_key"] and kind == "integer":
        return ui.number(label, placeholder="automatic").props("outlined dense").classes("w-full")
    if kind in NUMERIC:
        widget = ui.number(label, format="%d" if kind == "integer" else None)
    elif kind == "boolean":
        if column["nullable"]:
            widget = ui.select({None: "(empty)", True: "true", False: "false"}, label=label)
        else:
            return ui.switch(label, value=False)
    elif kind == "date":
        widget = ui.input(label, placeholder="YYYY-MM-DD")
        with widget.add_slot("append"):
            icon = ui.icon("event").classes("cursor-pointer")
            with ui.menu() as menu:
                ui.date(on_change=menu.close).bind_value(widget)
            icon.on("click", menu.open)
    elif kind == "datetime":
        widget = ui.input(label, placeholder="YYYY-MM-DD HH:MM:SS")
    elif kind == "enum" and column.get("choices"):
        options = {choice: choice for choice in column["choices"]}
        if column["nullable"]:
            options = {None: "(empty)", **options}
        widget = ui.select(options, label=label)
    else:
        widget = ui.input(label)
        if column["max_length"]:
            widget.props(f"maxlength={column['max_length']} counter")
    widget.props("outlined dense").classes("w-full")
    widget.props["hint"] = hint
    return widget


class TableViewPlugin:
    @hookimpl
    def get_view_class(self):
        return TableView

    @hookimpl
    def get_view_priority(self):
        return 1  # default fallback priority
