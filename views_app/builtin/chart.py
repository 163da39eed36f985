"""The built-in chart view: bar, line, scatter, pie and histogram charts (plotly) of a table,
aggregated by the database, registered as a plugin.

The numbers come from `datasources_app.aggregate` through the page's ViewContext, so access is
checked again for every change; each user's chart settings are kept per table.
"""

from __future__ import annotations

import logging
from typing import Any

from nicegui import ui

from datasources_app.aggregate import (
    AGGREGATIONS,
    BUCKETS,
    DATE_KINDS,
    EMPTY,
    NUMERIC_KINDS,
    UNGROUPABLE_KINDS,
    AggregateSpec,
    aggregate_rows,
)
from datasources_app.base import FILTER_OPS, Filter, Query
from datasources_app.errors import DatasourceError
from plugins_app.hookspecs import hookimpl
from plugins_app.manager import PluginError

from ..base import BaseView
from ..preferences import save_view_config, view_config

log = logging.getLogger("nocoflo.pages")

VIEW_NAME = "chart_view"
CHART_TYPES = {"bar": "Bar", "line": "Line", "scatter": "Scatter", "pie": "Pie",
               "histogram": "Histogram"}  # fmt: skip
AGGREGATION_LABELS = {"count": "Count", "sum": "Sum", "avg": "Average", "min": "Minimum",
                      "max": "Maximum"}  # fmt: skip
DEFAULT_TOP = 20
DEFAULT_BINS = 20
OP_SIGNS = {"eq": "=", "ne": "≠", "lt": "<", "lte": "≤", "gt": ">", "gte": "≥",
            "contains": "contains", "startswith": "starts with", "isnull": "is empty",
            "notnull": "is not empty", "in": "in"}  # fmt: skip


def chartable(kind: str) -> bool:
    return kind in NUMERIC_KINDS or kind in DATE_KINDS


class ChartView(BaseView):
    """Charts of a table: a date or category on x, a count or a sum (average...) on y."""

    def get_view_name(self) -> str:
        return "Chart"

    def can_handle_table(self, table_meta: dict) -> bool:
        return any(chartable(c.get("type", "")) for c in table_meta.get("columns", []))

    def render(self) -> None:
        ChartPanel(self.context).build()


def default_settings(columns: list[dict]) -> dict:
    """A first chart: rows per month of the first date, else per value of the first text column,
    else a histogram of the first number."""
    dates = [c["name"] for c in columns if c["type"] in DATE_KINDS]
    texts = [c["name"] for c in columns if c["type"] in ("text", "enum", "boolean")]
    numbers = [c["name"] for c in columns if c["type"] in NUMERIC_KINDS]
    settings = {"type": "bar", "x": None, "y": None, "agg": "count", "group": None,
                "bucket": None, "top": DEFAULT_TOP, "bins": DEFAULT_BINS,
                "table_filters": True}  # fmt: skip
    if dates:
        settings.update(type="line", x=dates[0], bucket="month")
    elif texts:
        settings.update(x=texts[0])
    elif numbers:
        settings.update(type="histogram", x=numbers[0])
    return settings


def restore_settings(saved: Any, columns: list[dict]) -> dict:
    """Saved settings over the defaults, each kept only while it still fits the table."""
    settings = default_settings(columns)
    if not isinstance(saved, dict):
        return settings
    names = {c["name"] for c in columns}
    if saved.get("type") in CHART_TYPES:
        settings["type"] = saved["type"]
    for key in ("x", "y", "group"):
        if key in saved and (saved[key] is None or saved[key] in names):
            settings[key] = saved[key]
    if saved.get("agg") in AGGREGATIONS:
        settings["agg"] = saved["agg"]
    if saved.get("bucket") is None or saved.get("bucket") in BUCKETS:
        settings["bucket"] = saved.get("bucket", settings["bucket"])
    for key, default in (("top", DEFAULT_TOP), ("bins", DEFAULT_BINS)):
        value = saved.get(key, default)
        settings[key] = value if isinstance(value, int) and 1 <= value <= 100 else default
    settings["table_filters"] = saved.get("table_filters", True) is not False
    if settings["x"] is None:
        settings["x"] = default_settings(columns)["x"]
    return settings


def table_filters(saved: Any, visible: set[str]) -> tuple[list[Filter], str]:
    """The filters and search the table view saved, as far as they make sense here.

    Read defensively: anything not shaped like `{"filters": [{column, op, value}], "q": text}`
    over columns the user sees is left out."""
    if not isinstance(saved, dict):
        return [], ""
    found = []
    items = saved.get("filters")
    for item in items if isinstance(items, list) else []:
        if (
            isinstance(item, dict)
            and isinstance(item.get("column"), str)
            and item["column"] in visible
            and item.get("op") in FILTER_OPS
        ):
            found.append(Filter(item["column"], item["op"], item.get("value")))
    search = saved.get("q")
    return found, search.strip() if isinstance(search, str) else ""


def describe_filters(filters: list[Filter], search: str, labels: dict[str, str]) -> str:
    parts = []
    for flt in filters:
        sign = OP_SIGNS.get(flt.op, flt.op)
        value = "" if flt.op in ("isnull", "notnull") else f" {flt.value}"
        parts.append(f"{labels.get(flt.column, flt.column)} {sign}{value}")
    if search:
        parts.append(f"search “{search}”")
    return ", ".join(parts)


def _load(opened: Any) -> tuple[dict, dict]:
    return (
        view_config(opened.user, opened.table, VIEW_NAME),
        view_config(opened.user, opened.table, "table_view"),
    )


def _save(opened: Any, settings: dict) -> None:
    save_view_config(opened.user, opened.table, VIEW_NAME, settings)


def build_figure(chart_type: str, data: dict, x_kind: str, bucketed: bool) -> dict:
    """A plotly figure (as JSON) for an aggregate's answer."""
    x = [EMPTY if v is None else v for v in data["x"]]
    layout: dict[str, Any] = {
        "margin": {"l": 50, "r": 20, "t": 20, "b": 60},
        "legend": {"orientation": "h"},
        "autosize": True,
    }
    traces: list[dict] = []
    if chart_type == "pie":
        (series,) = data["series"]
        traces.append({"type": "pie", "labels": [str(v) for v in x], "values": series["y"],
                       "name": series["name"], "sort": False})  # fmt: skip
        return {"data": traces, "layout": layout, "config": {"displaylogo": False}}
    if chart_type == "histogram":
        width = data.get("bin_width") or 1
        centers = [v + width / 2 for v in data["x"]]
        for series in data["series"]:
            traces.append({"type": "bar", "x": centers, "y": series["y"], "width": width,
                           "name": series["name"]})  # fmt: skip
        layout.update(barmode="stack", bargap=0.02)
    else:
        for series in data["series"]:
            trace: dict[str, Any] = {"x": x, "y": series["y"], "name": series["name"]}
            if chart_type == "bar":
                trace["type"] = "bar"
            else:
                trace["type"] = "scatter"
                trace["mode"] = "lines+markers" if chart_type == "line" else "markers"
                trace["connectgaps"] = False
            traces.append(trace)
        layout["barmode"] = "group"
        if bucketed or x_kind in DATE_KINDS:
            layout["xaxis"] = {"type": "date"}
        elif x_kind not in NUMERIC_KINDS:
            layout["xaxis"] = {"type": "category"}
    layout["showlegend"] = len(traces) > 1
    return {"data": traces, "layout": layout, "config": {"displaylogo": False}}


class ChartPanel:
    """The state of one chart on one page."""

    def __init__(self, context: Any) -> None:
        self.context = context
        self.columns = [
            c for c in context.opened.describe_columns() if c["type"] not in UNGROUPABLE_KINDS
        ]
        self.kinds = {c["name"]: c["type"] for c in self.columns}
        self.labels = {c["name"]: c["label"] for c in self.columns}
        self.settings = default_settings(self.columns)
        self.filters: list[Filter] = []
        self.search = ""
        self.loaded = False
        self._generation = 0
        self.plot: ui.plotly | None = None
        self.data: dict | None = None

    # --- the page ------------------------------------------------------------------------------

    def build(self) -> None:
        with ui.column().classes("w-full gap-2 nocoflo-chart"):
            self.controls = ui.row().classes("w-full items-end gap-2 chart-controls")
            self.filter_row = ui.row().classes("w-full items-center gap-2 chart-filters")
            self.area = ui.column().classes("w-full chart-area")
            with self.area:
                ui.spinner(size="lg")
        # Settings are read from the database, which a render (synchronous) cannot wait for.
        ui.timer(0, self.start, once=True)

    async def start(self) -> None:
        try:
            saved, table_saved = await self.context.run(_load)
        except (DatasourceError, PluginError) as exc:
            self.show_problem(str(exc))
            return
        self.settings = restore_settings(saved, self.columns)
        self.filters, self.search = table_filters(table_saved, set(self.kinds))
        self.loaded = True
        self.draw_controls()
        await self.refresh()

    def names(self, kinds: tuple[str, ...] | None = None) -> dict[str, str]:
        return {c["name"]: c["label"] for c in self.columns if kinds is None or c["type"] in kinds}

    def draw_controls(self) -> None:
        settings = self.settings
        self.controls.clear()
        with self.controls:
            self.select("Chart", CHART_TYPES, "type", "chart-type")
            self.select("X", self.names(), "x", "chart-x")
            if settings["type"] == "histogram":
                self.number("Bins", "bins", "chart-bins")
            else:
                self.select("Aggregation", AGGREGATION_LABELS, "agg", "chart-agg")
                self.select("Y", {None: "(rows)", **self.names()}, "y", "chart-y")
                if self.kinds.get(settings["x"]) in DATE_KINDS:
                    buckets = {None: "(none)", **{b: b.capitalize() for b in BUCKETS}}
                    self.select("Date bucket", buckets, "bucket", "chart-bucket")
                else:
                    self.number("Top", "top", "chart-top")
            if settings["type"] != "pie":
                self.select("Group / colour", {None: "(none)", **self.names()}, "group",
                            "chart-group")  # fmt: skip
        self.draw_filter_note()

    def select(self, label: str, options: dict, key: str, marker: str) -> None:
        value = self.settings.get(key)
        if value not in options:
            value = None if None in options else next(iter(options), None)
            self.settings[key] = value
        ui.select(
            options, label=label, value=value, on_change=lambda e: self.change(key, e.value)
        ).props("dense outlined options-dense").classes("min-w-36").mark(marker)

    def number(self, label: str, key: str, marker: str) -> None:
        ui.number(
            label, value=self.settings.get(key), min=1, max=100, step=1, format="%d",
            on_change=lambda e: self.change(key, int(e.value) if e.value else None),
        ).props("dense outlined debounce=400").classes("w-24").mark(marker)  # fmt: skip

    def draw_filter_note(self) -> None:
        self.filter_row.clear()
        if not (self.filters or self.search):
            return
        note = describe_filters(self.filters, self.search, self.labels)
        with self.filter_row:
            ui.icon("filter_alt").classes("text-grey-7")
            if self.settings["table_filters"]:
                ui.label(f"Filtered like the table: {note}").classes("text-grey-8 filter-note")
                text, use = "Show all rows", False
            else:
                ui.label(f"All rows (the table is filtered: {note})").classes(
                    "text-grey-8 filter-note"
                )
                text, use = "Filter like the table", True
            ui.button(text, on_click=lambda: self.change("table_filters", use)).props(
                "flat dense no-caps"
            ).mark("chart-filter-toggle")

    async def change(self, key: str, value: Any) -> None:
        if not self.loaded or self.settings.get(key) == value:
            return
        if key in ("top", "bins") and not (isinstance(value, int) and 1 <= value <= 100):
            return
        self.settings[key] = value
        if key == "x" and self.kinds.get(value) not in DATE_KINDS:
            self.settings["bucket"] = None
        elif key == "x" and self.settings.get("bucket") is None:
            self.settings["bucket"] = "month"
        if key in ("type", "x", "table_filters"):
            self.draw_controls()
        try:
            await self.context.run(_save, dict(self.settings))
        except (DatasourceError, PluginError) as exc:
            ui.notify(f"The chart's settings were not saved: {exc}", type="warning")
        await self.refresh()

    # --- the chart -----------------------------------------------------------------------------

    def spec(self) -> AggregateSpec:
        settings = self.settings
        query = Query(with_count=False)
        if settings["table_filters"]:
            query.filters = list(self.filters)
            query.search = self.search
        if settings["type"] == "histogram":
            return AggregateSpec(
                x=settings["x"], group=settings["group"], query=query, bins=settings["bins"]
            )
        return AggregateSpec(
            x=settings["x"],
            y=settings["y"],
            agg=settings["agg"],
            group=None if settings["type"] == "pie" else settings["group"],
            bucket=settings["bucket"] if self.kinds.get(settings["x"]) in DATE_KINDS else None,
            query=query,
            top_n=settings["top"],
        )

    async def refresh(self) -> None:
        """Ask the database again and draw the answer, or say what went wrong instead."""
        self._generation += 1
        generation = self._generation
        settings = self.settings
        if not settings.get("x"):
            self.show_problem("This table has no column a chart can use for x")
            return
        try:
            spec = self.spec()
            data = await self.context.run(aggregate_rows, spec)
        except (DatasourceError, PluginError) as exc:
            if generation == self._generation:
                self.show_problem(str(exc))
            return
        except Exception:  # never a traceback in front of a user
            log.exception("chart failed")
            if generation == self._generation:
                self.show_problem("Something went wrong on the server; it has been logged")
            return
        if generation != self._generation:
            return  # a newer change is on its way
        self.data = data
        if not data["x"]:
            self.show_problem("No rows to chart", kind="info")
            return
        figure = build_figure(
            settings["type"], data, self.kinds.get(settings["x"], ""), spec.bucket is not None
        )
        if self.plot is None or self.plot.is_deleted:
            self.area.clear()
            with self.area:
                self.plot = ui.plotly(figure).classes("w-full chart-figure").style("height: 65vh")
        else:
            self.plot.update_figure(figure)

    def show_problem(self, message: str, kind: str = "error") -> None:
        self.plot = None
        self.area.clear()
        colours = "bg-red-1 text-red-10" if kind == "error" else "bg-grey-2 text-grey-9"
        with self.area, ui.card().classes(f"w-full {colours} chart-problem"):
            ui.label(message)


class ChartViewPlugin:
    @hookimpl
    def get_view_class(self):
        return ChartView

    @hookimpl
    def get_view_priority(self):
        return 0  # offered next to the table, never chosen over it
