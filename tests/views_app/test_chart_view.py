"""The built-in chart view: which tables it is offered for, its figure, its controls, its saved
settings and its messages in place of a chart."""

from __future__ import annotations

import sqlite3

import pytest
from asgiref.sync import sync_to_async
from nicegui import ui
from nicegui.testing import User

from plugins_app.manager import PluginManager
from views_app import preferences
from views_app.builtin.chart import (
    ChartView,
    build_figure,
    default_settings,
    describe_filters,
    restore_settings,
    table_filters,
)

from .conftest import page_db, settle, sign_in

pytestmark = pytest.mark.integration


def meta(*kinds: str) -> dict:
    return {"id": 1, "columns": [{"name": f"c{i}", "type": k} for i, k in enumerate(kinds)]}


# --- without a page ----------------------------------------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize(
    ("kinds", "offered"),
    [
        (("text", "integer"), True),
        (("text", "real"), True),
        (("decimal",), True),
        (("text", "date"), True),
        (("datetime",), True),
        (("text", "boolean", "json"), False),
        ((), False),
    ],
)
def test_offered_for_tables_with_numbers_or_dates(kinds, offered):
    assert ChartView(1, None).can_handle_table(meta(*kinds)) is offered


@pytest.mark.unit
def test_the_chart_view_is_a_builtin_ranked_after_the_table():
    manager = PluginManager(entry_points=False)
    manager.load_plugins()
    views = manager.get_available_views(meta("text", "integer"))
    names = [v.plugin_name for v in views]
    assert names.index("table_view") < names.index("chart_view")
    assert manager.plugins["chart_view"].builtin
    assert [v.plugin_name for v in manager.get_available_views(meta("text"))].count(
        "chart_view"
    ) == 0


def column(name: str, kind: str) -> dict:
    return {"name": name, "label": name, "type": kind}


@pytest.mark.unit
def test_defaults_and_restored_settings():
    dated = [column("id", "integer"), column("status", "text"), column("at", "datetime")]
    assert default_settings(dated) | {} == {
        **default_settings(dated),
        "type": "line", "x": "at", "bucket": "month", "agg": "count", "y": None,
    }  # fmt: skip
    assert default_settings(dated[:2])["x"] == "status"
    assert default_settings(dated[:1])["type"] == "histogram"
    restored = restore_settings(
        {"type": "bar", "x": "gone", "y": "id", "agg": "sum", "top": 500, "bucket": "year"},
        dated,
    )
    assert (restored["x"], restored["y"], restored["agg"]) == ("at", "id", "sum")
    assert (restored["top"], restored["bucket"]) == (20, "year")
    assert restore_settings("nonsense", dated) == default_settings(dated)


@pytest.mark.unit
def test_table_filters_are_read_defensively():
    saved = {
        "filters": [
            {"column": "status", "op": "eq", "value": "paid"},
            {"column": "hidden", "op": "eq", "value": 1},
            {"column": "status", "op": "between"},
            "junk",
            {"filterType": "text"},
        ],
        "q": " gift ",
    }
    filters, search = table_filters(saved, {"status", "quantity"})
    assert [(f.column, f.op, f.value) for f in filters] == [("status", "eq", "paid")]
    assert search == "gift"
    assert table_filters({"filters": "x", "q": 5}, {"status"}) == ([], "")
    assert table_filters(None, {"status"}) == ([], "")
    assert describe_filters(filters, search, {"status": "Status"}) == (
        "Status = paid, search “gift”"
    )


@pytest.mark.unit
def test_figures():
    data = {"x": ["a", None], "series": [{"name": "count", "y": [3, 1]}]}
    bar = build_figure("bar", data, "text", False)
    assert bar["data"][0]["type"] == "bar"
    assert bar["data"][0]["x"] == ["a", "(empty)"]
    assert bar["layout"]["xaxis"] == {"type": "category"}
    assert build_figure("line", data, "text", False)["data"][0]["mode"] == "lines+markers"
    assert build_figure("scatter", data, "text", False)["data"][0]["mode"] == "markers"
    pie = build_figure("pie", data, "text", False)
    assert (pie["data"][0]["labels"], pie["data"][0]["values"]) == (["a", "(empty)"], [3, 1])
    histogram = {"x": [0.0, 2.0], "series": [{"name": "count", "y": [4, 5]}], "bin_width": 2.0}
    bars = build_figure("histogram", histogram, "real", False)["data"][0]
    assert (bars["x"], bars["width"]) == ([1.0, 3.0], 2.0)
    dated = build_figure("line", {"x": ["2024-01-01"], "series": data["series"][:1]}, "", True)
    assert dated["layout"]["xaxis"] == {"type": "date"}


# --- on a page ----------------------------------------------------------------------------------


async def open_chart(user: User, account, source, name: str = "orders"):
    table = await sync_to_async(source.tables.get)(name=name)
    await sign_in(user, account)
    await user.open(f"/tables/{table.pk}?view=chart_view")
    await settle(0.5)
    return table


def figure(user: User) -> dict:
    (plot,) = user.find(ui.plotly).elements
    return plot.figure


def control(user: User, marker: str):
    (element,) = user.find(marker=marker).elements
    return element


def sql(path, statement: str) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute(statement).fetchall()


@page_db
async def test_the_chart_appears_with_the_databases_numbers(
    user: User, demo_source, demo_db, admin_user
):
    await open_chart(user, admin_user, demo_source)
    shown = figure(user)
    expected = sql(
        demo_db, "SELECT strftime('%Y-%m-01', ordered_at), count(*) FROM orders GROUP BY 1"
    )
    (trace,) = shown["data"]
    assert list(zip(trace["x"], trace["y"], strict=True)) == expected
    assert trace["mode"] == "lines+markers"
    assert shown["layout"]["xaxis"] == {"type": "date"}


@page_db
async def test_changing_controls_updates_the_figure_and_is_saved(
    user: User, demo_source, demo_db, admin_user
):
    table = await open_chart(user, admin_user, demo_source)
    control(user, "chart-type").set_value("bar")
    await settle(0.3)
    control(user, "chart-x").set_value("status")
    await settle(0.3)
    control(user, "chart-agg").set_value("sum")
    control(user, "chart-y").set_value("unit_price")
    await settle(0.5)
    (trace,) = figure(user)["data"]
    assert trace["type"] == "bar"
    expected = dict(sql(demo_db, "SELECT status, sum(unit_price) FROM orders GROUP BY status"))
    assert dict(zip(trace["x"], trace["y"], strict=True)) == pytest.approx(expected)

    control(user, "chart-group").set_value("gift")
    await settle(0.5)
    assert {t["name"] for t in figure(user)["data"]} == {"true", "false"}

    saved = await sync_to_async(preferences.view_config)(admin_user, table, "chart_view")
    assert (saved["type"], saved["x"], saved["y"], saved["agg"], saved["group"]) == (
        "bar", "status", "unit_price", "sum", "gift",
    )  # fmt: skip


@page_db
async def test_settings_are_restored_on_reopening(user: User, demo_source, admin_user):
    table = await sync_to_async(demo_source.tables.get)(name="orders")
    await sync_to_async(preferences.save_view_config)(
        admin_user, table, "chart_view",
        {"type": "pie", "x": "status", "y": None, "agg": "count", "top": 3},
    )  # fmt: skip
    await open_chart(user, admin_user, demo_source)
    (trace,) = figure(user)["data"]
    assert trace["type"] == "pie"
    assert len(trace["labels"]) == 4 and trace["labels"][-1] == "other"
    assert control(user, "chart-x").value == "status"
    assert control(user, "chart-top").value == 3


@page_db
async def test_a_bad_combination_shows_a_message_instead_of_a_chart(
    user: User, demo_source, admin_user
):
    await open_chart(user, admin_user, demo_source)
    control(user, "chart-x").set_value("status")
    await settle(0.3)
    control(user, "chart-y").set_value("comment")
    control(user, "chart-agg").set_value("avg")
    await settle(0.5)
    await user.should_see("avg needs a numeric column for y; comment is text")
    await user.should_not_see(ui.plotly)
    control(user, "chart-agg").set_value("count")
    await settle(0.5)
    assert figure(user)["data"]


@page_db
async def test_the_tables_filters_apply_and_can_be_cleared(
    user: User, demo_source, demo_db, admin_user
):
    table = await sync_to_async(demo_source.tables.get)(name="orders")
    await sync_to_async(preferences.save_view_config)(
        admin_user, table, "table_view",
        {"filters": [{"column": "status", "op": "eq", "value": "paid"}]},
    )  # fmt: skip
    await sync_to_async(preferences.save_view_config)(
        admin_user, table, "chart_view", {"type": "bar", "x": "status"}
    )
    await open_chart(user, admin_user, demo_source)
    await user.should_see("Filtered like the table: status = paid")
    (trace,) = figure(user)["data"]
    assert trace["x"] == ["paid"]
    user.find(marker="chart-filter-toggle").click()
    await settle(0.5)
    await user.should_see("All rows (the table is filtered: status = paid)")
    (trace,) = figure(user)["data"]
    assert len(trace["x"]) == len(sql(demo_db, "SELECT DISTINCT status FROM orders"))
