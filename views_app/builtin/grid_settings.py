"""The grid's settings kept per user and table: column order, widths, hidden columns, sort,
filters and the search text, restored when the table opens again.

They are saved as the `table_view` settings of the user's ViewPreference:

    {"columns": [{"colId", "width", "hide", "sort", "sortIndex"}, ...],
     "sort": ["-amount", "id"],                     # the rows API's sort
     "filter_model": {...},                          # AG Grid's filter model
     "filters": [{"column", "op", "value"}, ...],    # the rows API's filters
     "q": "search text"}

Other views (charts) read "filters" and "q" to show the same rows as the grid.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from asgiref.sync import sync_to_async
from nicegui import background_tasks, ui

from core.auth import user_for_session
from datasources_app import rows

from .. import preferences
from .grid_js import SETTINGS_EVENTS, set_search_js, settings_changed_js

log = logging.getLogger("nocoflo.pages")

TABLE_VIEW = "table_view"
COLUMN_KEYS = ("colId", "width", "hide", "sort", "sortIndex")


def _column_of(sort: str) -> str:
    return sort[1:] if sort.startswith("-") else sort


def clean_settings(config: Any, column_names: list[str]) -> dict[str, Any]:
    """Saved or sent settings reduced to the table's current columns and the known keys; a
    column that was removed (or is hidden from this user) is dropped."""
    config = config if isinstance(config, dict) else {}
    known = set(column_names)
    columns = [
        {key: column[key] for key in COLUMN_KEYS if key in column}
        for column in config.get("columns") or []
        if isinstance(column, dict) and column.get("colId") in known
    ]
    sort = [s for s in config.get("sort") or [] if isinstance(s, str) and _column_of(s) in known]
    model = config.get("filter_model")
    filter_model = (
        {name: value for name, value in model.items() if name in known}
        if isinstance(model, dict)
        else {}
    )
    filters = [
        {"column": f["column"], "op": f.get("op"), "value": f.get("value")}
        for f in config.get("filters") or []
        if isinstance(f, dict) and f.get("column") in known and isinstance(f.get("op"), str)
    ]
    q = config.get("q")
    return {
        "columns": columns,
        "sort": sort,
        "filter_model": filter_model,
        "filters": filters,
        "q": q if isinstance(q, str) else "",
    }


def initial_state(settings: dict[str, Any], column_names: list[str]) -> dict[str, Any]:
    """AG Grid's `initialState` for cleaned settings: applied as the grid is created, so the
    first rows it asks for are already sorted and filtered."""
    state: dict[str, Any] = {}
    columns = settings.get("columns") or []
    if columns:
        saved = [c["colId"] for c in columns]
        # Columns added to the table since come after the ones the user arranged.
        state["columnOrder"] = {
            "orderedColIds": saved + [n for n in column_names if n not in saved]
        }
        widths = [
            {"colId": c["colId"], "width": int(c["width"])}
            for c in columns
            if isinstance(c.get("width"), int | float) and not isinstance(c.get("width"), bool)
        ]
        if widths:
            state["columnSizing"] = {"columnSizingModel": widths}
        state["columnVisibility"] = {"hiddenColIds": [c["colId"] for c in columns if c.get("hide")]}
    sorted_columns = sorted(
        (c for c in columns if c.get("sort") in ("asc", "desc")),
        key=lambda c: c.get("sortIndex") or 0,
    )
    sort_model = [{"colId": c["colId"], "sort": c["sort"]} for c in sorted_columns]
    if not sort_model:  # settings saved through the API may have only the API's sort
        sort_model = [
            {"colId": _column_of(s), "sort": "desc" if s.startswith("-") else "asc"}
            for s in settings.get("sort") or []
        ]
    if sort_model:
        state["sort"] = {"sortModel": sort_model}
    if settings.get("filter_model"):
        state["filter"] = {"filterModel": settings["filter_model"]}
    return state


def _save(user: Any, table_id: int, config: dict | None) -> None:
    try:
        opened = rows.open_table(user, table_id)
    except rows.TableNotFound:
        return  # no longer readable: nothing of theirs to keep
    if config is None:
        preferences.forget_view_config(user, opened.table, TABLE_VIEW)
    else:
        preferences.save_view_config(user, opened.table, TABLE_VIEW, config)


class GridSettings:
    """The part of the table grid that keeps its settings (a mixin of TableGrid, which provides
    `context`, `columns` and `grid`)."""

    context: Any
    columns: list[dict]
    grid: ui.aggrid | None

    @property
    def view_settings(self) -> dict[str, Any]:
        if "_view_settings" not in self.__dict__:
            self._view_settings = clean_settings(
                getattr(self.context, "view_config", None), self._column_names()
            )
        return self._view_settings

    @property
    def _settings_in_order(self) -> asyncio.Lock:
        if "_settings_lock" not in self.__dict__:
            self._settings_lock = asyncio.Lock()
        return self._settings_lock

    def _column_names(self) -> list[str]:
        return [c["name"] for c in self.columns]

    def saved_search(self) -> str:
        return self.view_settings["q"]

    def settings_options(self, options: dict[str, Any]) -> None:
        """Grid options that restore the saved settings and report the user's changes."""
        state = initial_state(self.view_settings, self._column_names())
        if state:
            options["initialState"] = state

    def setup_settings(self, grid: ui.aggrid) -> None:
        """Once the grid exists: the saved search for its first rows, and saving on changes."""
        handler = settings_changed_js(grid.id)
        for event in SETTINGS_EVENTS:
            grid.options[":on" + event[0].upper() + event[1:]] = handler
        if "columnSizing" in grid.options.get("initialState", {}):
            grid.options.pop("autoSizeStrategy", None)  # would stretch the saved widths
        if self.saved_search():
            # Set as the datasource is created, before the grid asks for its first rows.
            grid.options[":datasource"] = (
                f"(() => {{ {set_search_js(grid.id, self.saved_search())} "
                f"return {grid.options[':datasource']}; }})()"
            )
        ui.on(f"nocoflo-grid-settings-{grid.id}", self.on_settings_changed)

    def settings_buttons(self) -> None:
        """The toolbar's "Columns" menu (which columns are shown) and "Reset view"."""
        hidden = {c["colId"] for c in self.view_settings["columns"] if c.get("hide")}
        with ui.button("Columns", icon="view_column").props("flat").classes("columns-button"):
            with ui.menu().classes("columns-menu"), ui.column().classes("gap-0 q-pa-sm"):
                for column in self.columns:
                    name = column["name"]
                    ui.checkbox(
                        column["label"],
                        value=name not in hidden,
                        on_change=lambda e, name=name: self.show_column(name, e.value),
                    ).props("dense")
        ui.button("Reset view", icon="restart_alt", on_click=self.reset_settings).props(
            "flat"
        ).classes("reset-view")

    def show_column(self, name: str, visible: bool) -> None:
        self.grid.run_grid_method("setColumnsVisible", [name], visible)
        columns = self.view_settings["columns"]
        if not columns:  # nothing arranged yet: keep the table's own order
            columns.extend({"colId": n} for n in self._column_names())
        entry = next((c for c in columns if c["colId"] == name), None)
        if entry is None:
            entry = {"colId": name}
            columns.append(entry)
        entry["hide"] = not visible
        self.save_settings_soon()

    def remember_search(self, text: str) -> None:
        if text != self.view_settings["q"]:
            self.view_settings["q"] = text
            self.save_settings_soon()

    async def on_settings_changed(self, event: Any) -> None:
        if self.__dict__.get("_settings_forgotten"):
            return  # a change reported just before "Reset view" must not bring them back
        sent = clean_settings(event.args, self._column_names())
        # The search and the Columns menu go through the server: its copy wins. (The grid's
        # report may have been taken just before a column was hidden from the menu.)
        sent["q"] = self.view_settings["q"]
        hidden = {c["colId"] for c in self.view_settings["columns"] if c.get("hide")}
        for column in sent["columns"]:
            column["hide"] = column["colId"] in hidden
        if sent == self.view_settings:
            return  # the grid reports its restored filters as a change: nothing new
        self._view_settings = sent
        await self.save_settings()

    def save_settings_soon(self) -> None:
        background_tasks.create(self.save_settings(), name="nocoflo grid settings")

    async def save_settings(self, forget: bool = False) -> None:
        """Save the settings (or forget them) as the current user, in the order they changed."""
        config = None if forget else dict(self.view_settings)
        async with self._settings_in_order:
            try:
                user = await user_for_session(self.context.session_key)
                if user.is_authenticated:
                    await sync_to_async(_save)(user, self.context.table.pk, config)
            except Exception:  # a lost setting must not break the grid: log it
                log.exception("saving the grid's settings failed")

    async def reset_settings(self) -> None:
        """Forget the saved settings and open the table again as it first looked."""
        self._view_settings = clean_settings({}, self._column_names())
        self._settings_forgotten = True
        await self.save_settings(forget=True)
        ui.navigate.reload()
