"""The table page's view switcher and the grid's saved settings, in the simulated browser."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async
from nicegui import ui
from nicegui.events import GenericEventArguments, handle_event
from nicegui.helpers import event_type_to_camel_case
from nicegui.testing import User

from plugins_app import manager as manager_module
from plugins_app.hookspecs import hookimpl
from plugins_app.manager import PluginManager
from views_app import preferences
from views_app.base import BaseView
from views_app.models import ViewPreference

from .conftest import (
    grid_state,
    page_db,
    record_javascript,
    settle,
    sign_in,
    the_grid,
    until,
)

pytestmark = pytest.mark.integration


class SampleView(BaseView):
    def render(self) -> None:
        ui.label("The sample view").classes("sample-view")

    def get_view_name(self) -> str:
        return "Sample"

    def can_handle_table(self, table_meta: dict) -> bool:
        return True


class PickyView(SampleView):
    def get_view_name(self) -> str:
        return "Picky"

    def can_handle_table(self, table_meta: dict) -> bool:
        return False


class SampleViewPlugin:
    @hookimpl
    def get_view_class(self):
        return SampleView

    @hookimpl
    def get_view_priority(self):
        return 3  # above the table view


class PickyViewPlugin:
    @hookimpl
    def get_view_class(self):
        return PickyView


@pytest.fixture
def sample_views():
    """The table view, a sample view preferred over it and one that can show no table."""
    previous = manager_module._current
    manager = PluginManager(
        builtins=("views_app.builtin.table", "datasources_app.builtin.sqlite"), entry_points=False
    )
    manager.load_plugins()
    manager.register_plugin(SampleViewPlugin())
    manager.register_plugin(PickyViewPlugin())
    manager_module.set_manager(manager)
    yield manager
    manager_module._current = previous


async def open_orders(user: User, account, source, query: str = "") -> object:
    table = await sync_to_async(source.tables.get)(name="orders")
    await sign_in(user, account)
    await user.open(f"/tables/{table.pk}{query}")
    return table


def switcher(user: User) -> ui.toggle:
    (toggle,) = user.find(ui.toggle).elements
    return toggle


async def choose(user: User, view_name: str) -> None:
    """Pick a view in the switcher, as a click does, and wait for the page it opens."""
    with user:
        switcher(user).value = view_name
    await settle(0.3)
    # A busy machine opens the chosen view's page later, never another one.
    await until(lambda: f"view={view_name}" in (user.back_history or [""])[-1], 10)


def emit(user: User, event: str, args) -> None:
    """What the browser's `emitEvent(event, args)` delivers to the page."""
    layout = user.client.layout
    (listener,) = [
        listener
        for listener in layout._event_listeners.values()
        if listener.type == event_type_to_camel_case(event)
    ]
    with user:
        handle_event(
            listener.handler, GenericEventArguments(sender=layout, client=user.client, args=args)
        )


preferred_view = sync_to_async(preferences.preferred_view)
view_config = sync_to_async(preferences.view_config)
set_preferred_view = sync_to_async(preferences.set_preferred_view)
save_view_config = sync_to_async(preferences.save_view_config)


# --- the switcher -------------------------------------------------------------------------------


@page_db
async def test_switcher_lists_the_capable_views(user: User, demo_source, reader, sample_views):
    await open_orders(user, reader, demo_source)
    toggle = switcher(user)
    # Best first; the view that cannot show the table is not offered.
    assert toggle.options == {"sample_view": "Sample", "table_view": "Table"}
    assert toggle.value == "sample_view"  # nothing chosen yet: the highest priority
    await user.should_see("The sample view")
    await user.should_not_see(ui.aggrid)


@page_db
async def test_switching_saves_and_reopening_restores(
    user: User, demo_source, reader, sample_views
):
    table = await open_orders(user, reader, demo_source)
    await choose(user, "table_view")
    assert user.back_history[-1] == f"/tables/{table.pk}?view=table_view"
    await user.should_see(ui.aggrid)
    assert await preferred_view(reader, table) == "table_view"

    await user.open(f"/tables/{table.pk}")
    assert switcher(user).value == "table_view"
    await user.should_see(ui.aggrid)
    await user.should_not_see("The sample view")


@page_db
async def test_manual_opens_the_table_view_until_chosen(
    user: User, demo_source, reader, sample_views, settings
):
    settings.NOCOFLO_VIEW_SELECTION = "manual"
    table = await open_orders(user, reader, demo_source)
    assert switcher(user).value == "table_view"
    await choose(user, "sample_view")
    assert await preferred_view(reader, table) == "sample_view"
    await user.open(f"/tables/{table.pk}")
    await user.should_see("The sample view")


@page_db
async def test_priority_ignores_and_keeps_no_choice(
    user: User, demo_source, reader, sample_views, settings
):
    settings.NOCOFLO_VIEW_SELECTION = "priority"
    table = await sync_to_async(demo_source.tables.get)(name="orders")
    await set_preferred_view(reader, table, "table_view")
    await open_orders(user, reader, demo_source)
    assert switcher(user).value == "sample_view"
    await choose(user, "table_view")  # for this visit only
    await user.should_see(ui.aggrid)
    await set_preferred_view(reader, table, "")
    await choose(user, "sample_view")
    assert await preferred_view(reader, table) == ""


@page_db
async def test_a_view_that_went_away_falls_back(user: User, demo_source, reader, sample_views):
    table = await sync_to_async(demo_source.tables.get)(name="orders")
    await set_preferred_view(reader, table, "sample_view")
    sample_views.set_enabled("sample_view", False)
    await open_orders(user, reader, demo_source)
    assert switcher(user).options == {"table_view": "Table"}
    await user.should_see(ui.aggrid)

    await user.open(f"/tables/{table.pk}?view=picky_view")
    await user.should_see("The view 'picky_view' cannot show this table; showing Table.")
    await user.should_see(ui.aggrid)


# --- the grid's settings ------------------------------------------------------------------------

SETTINGS = {
    "columns": [
        {"colId": "ag-Grid-SelectionColumn", "width": 44, "hide": False},
        {"colId": "status", "width": 210, "hide": False, "sort": "desc", "sortIndex": 0,
         "pinned": None, "flex": None},
        {"colId": "id", "width": 90, "hide": False, "sort": None, "sortIndex": None},
        {"colId": "comment", "width": 150, "hide": True},
        {"colId": "dropped_column", "width": 100, "hide": False},
    ],
    "sort": ["-status"],
    "filter_model": {"quantity": {"filterType": "number", "type": "greaterThan", "filter": 5},
                     "dropped_column": {"filterType": "text", "type": "equals", "filter": "x"}},
    "filters": [{"column": "quantity", "op": "gt", "value": 5},
                {"column": "dropped_column", "op": "eq", "value": "x"}],
    "q": "from the browser",
}  # fmt: skip

SAVED = {
    "columns": [
        {"colId": "status", "width": 210, "hide": False, "sort": "desc", "sortIndex": 0},
        {"colId": "id", "width": 90, "hide": False, "sort": None, "sortIndex": None},
        {"colId": "comment", "width": 150, "hide": True},
    ],
    "sort": ["-status"],
    "filter_model": {"quantity": {"filterType": "number", "type": "greaterThan", "filter": 5}},
    "filters": [{"column": "quantity", "op": "gt", "value": 5}],
    "q": "",
}


@page_db
async def test_grid_settings_are_saved_and_restored(user: User, demo_source, reader):
    table = await open_orders(user, reader, demo_source, "?view=table_view")
    grid = the_grid(user)
    assert "initialState" not in grid.options  # nothing saved yet
    # Which columns show is the Columns menu's business, kept by the server: a report from the
    # grid (maybe taken just before) cannot bring a hidden column back.
    user.find(kind=ui.checkbox, content="comment").click()
    await settle(0.2)
    emit(user, f"nocoflo-grid-settings-{grid.id}", {**SETTINGS, "columns": [
        {**c, "hide": False} for c in SETTINGS["columns"]]})  # fmt: skip
    await settle(0.2)
    # Columns the table no longer has (or the grid's own) are not kept; the search is the server's.
    assert await view_config(reader, table, "table_view") == SAVED

    await user.open(f"/tables/{table.pk}?view=table_view")
    grid = the_grid(user)
    assert grid.options["initialState"] == {
        "columnOrder": {
            "orderedColIds": [
                "status", "id", "comment", "customer_id", "product_id", "quantity", "unit_price",
                "ordered_at", "shipped_on", "gift",
            ]
        },
        "columnSizing": {
            "columnSizingModel": [
                {"colId": "status", "width": 210}, {"colId": "id", "width": 90},
                {"colId": "comment", "width": 150},
            ]
        },
        "columnVisibility": {"hiddenColIds": ["comment"]},
        "sort": {"sortModel": [{"colId": "status", "sort": "desc"}]},
        "filter": {"filterModel": SAVED["filter_model"]},
    }  # fmt: skip
    assert "autoSizeStrategy" not in grid.options  # the saved widths stand
    # Every change the user makes in the grid is reported (once it settles).
    for event in ("Moved", "Resized"):
        assert f"const gridId = {grid.id}," in grid.options[f":onColumn{event}"]
    assert ":onColumnVisible" not in grid.options
    assert grid.options[":onSortChanged"] == grid.options[":onFilterChanged"]

    # The restored grid reports its filters as a change: the same settings are not saved again.
    saved_at = await sync_to_async(lambda: ViewPreference.objects.get(user=reader).updated_at)()
    emit(user, f"nocoflo-grid-settings-{grid.id}", SETTINGS)
    await settle(0.2)
    assert await sync_to_async(lambda: ViewPreference.objects.get(user=reader).updated_at)() == (
        saved_at
    )


@page_db
async def test_the_search_is_remembered(user: User, demo_source, reader):
    table = await open_orders(user, reader, demo_source, "?view=table_view")
    user.find(kind=ui.input, content="Search text columns").type("anna")
    await settle(0.6)
    assert (await view_config(reader, table, "table_view"))["q"] == "anna"

    await user.open(f"/tables/{table.pk}?view=table_view")
    grid = the_grid(user)
    (search,) = user.find(kind=ui.input, content="Search text columns").elements
    assert search.value == "anna"
    # Set before the grid asks for its first rows.
    assert grid.options[":datasource"].startswith(
        f'(() => {{ (window.nocofloSearch = window.nocofloSearch || {{}})[{grid.id}] = "anna";'
    )


@page_db
async def test_the_columns_menu_hides_a_column(user: User, demo_source, reader):
    table = await open_orders(user, reader, demo_source, "?view=table_view")
    grid = the_grid(user)
    label = next(c["label"] for c in grid_state(user).columns if c["name"] == "status")
    sent = record_javascript(user)
    (box,) = [b for b in user.find(ui.checkbox).elements if b.text == label]
    assert box.value is True
    with user:
        box.value = False
    await settle(0.2)
    hide = f'return runMethod({grid.id}, "run_grid_method", ["setColumnsVisible",["status"],false])'
    assert hide in sent
    saved = await view_config(reader, table, "table_view")
    # The table's own order is kept for the columns not arranged yet.
    assert [c["colId"] for c in saved["columns"]][:3] == ["id", "customer_id", "product_id"]
    assert [c["colId"] for c in saved["columns"] if c.get("hide")] == ["status"]

    await user.open(f"/tables/{table.pk}?view=table_view")
    grid = the_grid(user)
    assert grid.options["initialState"]["columnVisibility"] == {"hiddenColIds": ["status"]}
    (box,) = [b for b in user.find(ui.checkbox).elements if b.text == label]
    assert box.value is False


@page_db
async def test_reset_view_forgets_the_settings(user: User, demo_source, reader):
    table = await sync_to_async(demo_source.tables.get)(name="orders")
    await save_view_config(reader, table, "table_view", SAVED)
    await save_view_config(reader, table, "chart_view", {"x": "status"})
    await open_orders(user, reader, demo_source, "?view=table_view")
    assert "initialState" in the_grid(user).options
    user.find(kind=ui.button, content="Reset view").click()
    await settle(0.3)
    assert await view_config(reader, table, "table_view") == {}
    assert await view_config(reader, table, "chart_view") == {"x": "status"}  # others' kept
    assert "initialState" not in the_grid(user).options  # the page opened again, fresh


@pytest.mark.unit
def test_the_settings_script():
    from views_app.builtin.grid_js import datasource_js, settings_changed_js

    script = settings_changed_js(7, delay_ms=300)
    # Restoring and the Columns menu run through the grid's API: not saved back.
    assert "'api', 'gridInitializing', 'sizeColumnsToFit'" in script and "!e.finished" in script
    assert "emitEvent('nocoflo-grid-settings-' + gridId" in script and "}, 300);" in script
    assert "getColumnState()" in script and "getFilterModel()" in script
    # The filters are turned into the API's shape by the datasource's own converter.
    assert "window.nocofloFiltersOf" in datasource_js("/api/tables/1/rows", {}, 7)
    assert json.dumps(7) in script
