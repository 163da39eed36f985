"""Chart data of a CSV file: an `AggregateSpec` answered as the SQL datasources answer it, by one
streamed pass over the file (two for a histogram) that keeps one accumulator per group.

The answer is `{"x": [...], "series": [{"name": ..., "y": [...]}]}` with every series aligned to
x: ordered x values (numbers, dates, date buckets) in axis order with the empty value last;
categories largest first, those beyond the top N counted together as "other" (last); series
largest first, "other" last.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from datasources_app.aggregate import (
    COMPARABLE_KINDS,
    DATE_KINDS,
    MAX_POINTS,
    NUMERIC_KINDS,
    ORDERED_KINDS,
    OTHER,
    AggregateSpec,
    json_number,
    series_name,
)
from datasources_app.errors import InvalidQuery
from datasources_app.values import to_json

from . import cells
from .cells import Unparsed

if TYPE_CHECKING:
    from .datasource import CsvTable

# Groups (x values times series) one chart may keep in memory while the file streams by.
MAX_GROUPS = 200_000


class Accumulator:
    """count, sum, min and max of one group's y values (mergeable: "other" is a merge)."""

    __slots__ = ("rows", "n", "total", "low", "high")

    def __init__(self) -> None:
        self.rows = 0  # rows in the group
        self.n = 0  # non-empty y values
        self.total: Any = 0
        self.low: Any = None
        self.high: Any = None

    def add(self, y: Any, numeric: bool) -> None:
        self.rows += 1
        if y is None or isinstance(y, Unparsed):
            return
        self.n += 1
        if numeric:
            self.total += y
        if self.low is None or y < self.low:
            self.low = y
        if self.high is None or y > self.high:
            self.high = y

    def merge(self, other: Accumulator) -> None:
        self.rows += other.rows
        self.n += other.n
        self.total += other.total
        if other.low is not None and (self.low is None or other.low < self.low):
            self.low = other.low
        if other.high is not None and (self.high is None or other.high > self.high):
            self.high = other.high

    def value(self, agg: str, has_y: bool) -> Any:
        """The aggregate as SQL gives it: count(*) or count(y), NULL sums of nothing."""
        if agg == "count":
            return self.n if has_y else self.rows
        if not self.n:
            return None
        if agg == "sum":
            return self.total
        if agg == "avg":
            return self.total / self.n
        return self.low if agg == "min" else self.high


def check(table: CsvTable, spec: AggregateSpec) -> dict[str, str]:
    """What the SQL datasources refuse, refused alike; answers the columns' kinds."""
    spec.check()
    kinds = {c.name: c.kind for c in table.columns}
    for name in (spec.x, spec.y, spec.group):
        if name is not None:
            table.column(name)
    x_kind = kinds[spec.x]
    if spec.bucket is not None and x_kind not in DATE_KINDS:
        raise InvalidQuery(f"Date buckets need a date column for x; {spec.x} is {x_kind}")
    if spec.bins is not None:
        if x_kind not in NUMERIC_KINDS:
            raise InvalidQuery(f"A histogram needs a numeric column for x; {spec.x} is {x_kind}")
        return kinds
    if spec.y is not None:
        y_kind = kinds[spec.y]
        if spec.agg in ("sum", "avg") and y_kind not in NUMERIC_KINDS:
            raise InvalidQuery(f"{spec.agg} needs a numeric column for y; {spec.y} is {y_kind}")
        if spec.agg in ("min", "max") and y_kind not in COMPARABLE_KINDS:
            raise InvalidQuery(f"{spec.agg} cannot compare {spec.y} ({y_kind} values)")
    return kinds


def aggregate(table: CsvTable, spec: AggregateSpec, scan: Callable[[], Iterator[list]]) -> dict:
    """`spec` over the rows `scan()` streams (those matching the spec's filters and search)."""
    kinds = check(table, spec)
    if spec.bins is not None:
        return _histogram(table, spec, kinds, scan)
    return _grouped(table, spec, kinds, scan)


def _getter(table: CsvTable, name: str | None) -> Callable[[list], Any]:
    if name is None:
        return lambda row: None
    column = table.column(name)
    index, kind = column.index, column.kind
    return lambda row: cells.typed(kind, row[index] if index < len(row) else None)


def _bucket(value: Any, unit: str) -> str | None:
    """The first day of a date's day, week (Monday), month or year, as YYYY-MM-DD."""
    if not isinstance(value, dt.date):
        return None  # empty, or not a date at all (SQL's date functions give NULL)
    day = value.date() if isinstance(value, dt.datetime) else value
    if unit == "week":
        day -= dt.timedelta(days=day.weekday())
    elif unit == "month":
        day = day.replace(day=1)
    elif unit == "year":
        day = day.replace(month=1, day=1)
    return day.isoformat()


def _order_key(value: Any) -> tuple:
    """Axis order: values, then unparsed ones, the empty value last."""
    if value is None:
        return (2,)
    if isinstance(value, Unparsed):
        return (1, value.text)
    return (0, value)


def _ranked(totals: dict[Any, Any]) -> list[Any]:
    """Categories by their aggregate, largest first (ties in value order, empty last); those
    whose aggregate is empty come last."""
    keys = sorted(totals, key=_order_key)
    present = [k for k in keys if totals[k] is not None]
    present.sort(key=lambda k: totals[k], reverse=True)
    return present + [k for k in keys if totals[k] is None]


def _too_many(name: str) -> InvalidQuery:
    return InvalidQuery(
        f"{name} has too many distinct values to chart from a CSV file: choose a date bucket "
        "or another column"
    )


def _grouped(table: CsvTable, spec: AggregateSpec, kinds: dict, scan) -> dict:
    x_of, g_of, y_of = _getter(table, spec.x), _getter(table, spec.group), _getter(table, spec.y)
    has_y = spec.y is not None
    numeric = has_y and kinds[spec.y] in NUMERIC_KINDS
    bucket = spec.bucket
    cells_: dict[tuple, Accumulator] = {}
    for row in scan():
        x = x_of(row)
        if bucket is not None:
            x = _bucket(x, bucket)
        cell = (x, g_of(row))
        acc = cells_.get(cell)
        if acc is None:
            if len(cells_) >= MAX_GROUPS:
                raise _too_many(spec.x if spec.group is None else f"{spec.x} by {spec.group}")
            acc = cells_[cell] = Accumulator()
        acc.add(y_of(row) if has_y else None, numeric)

    def totals(at: int) -> dict[Any, Any]:
        merged: dict[Any, Accumulator] = {}
        for cell, acc in cells_.items():
            merged.setdefault(cell[at], Accumulator()).merge(acc)
        return {k: acc.value(spec.agg, has_y) for k, acc in merged.items()}

    # x: (is other, value) keys, in axis order or largest first.
    x_values = {x for x, _ in cells_}
    if bucket is not None or kinds[spec.x] in ORDERED_KINDS:
        if len(x_values) > MAX_POINTS:
            raise InvalidQuery(
                f"{spec.x} has more than {MAX_POINTS:,} distinct values: choose a date bucket "
                "or another column for x"
            )
        x_keys = [(0, x) for x in sorted(x_values, key=_order_key)]
        x_key = {x: (0, x) for x in x_values}
    else:
        x_keys, x_key = _top(totals(0), spec.top_n)
    if spec.group is None:
        g_keys: list = [None]
        g_key: dict = {None: None}
    else:
        g_keys, g_key = _top(totals(1), spec.top_n)

    final: dict[tuple, Accumulator] = {}
    for (x, g), acc in cells_.items():
        final.setdefault((x_key[x], g_key[g]), Accumulator()).merge(acc)
    x_kind = "" if bucket is not None else kinds[spec.x]
    y_kind = kinds.get(spec.y or "", "")
    group_kind = kinds.get(spec.group or "", "")
    series = []
    for g in g_keys:
        ys = []
        for xk in x_keys:
            acc = final.get((xk, g))
            value = None if acc is None else acc.value(spec.agg, has_y)
            ys.append(json_number(value, y_kind, spec.agg))
        series.append({"name": _series_name(g, group_kind, spec.agg), "y": ys})
    return {"x": [_label(k, x_kind) for k in x_keys], "series": series}


def _top(totals: dict[Any, Any], n: int) -> tuple[list, dict]:
    """The top `n` categories as keys (and "other" for the rest), and each category's key."""
    ranked = _ranked(totals)
    kept = ranked[:n]
    keys = [(0, v) for v in kept]
    mapping = {v: (0, v) for v in kept}
    if len(ranked) > n:
        keys.append((1, None))
        mapping.update({v: (1, None) for v in ranked[n:]})
    return keys, mapping


def _label(key: tuple, kind: str) -> Any:
    other, value = key
    if other:
        return OTHER
    if isinstance(value, Unparsed):
        return value.text
    return to_json(kind, value)


def _series_name(key: tuple | None, kind: str, agg: str) -> str:
    if key is None:
        return agg
    return OTHER if key[0] else series_name(_label(key, kind))


def _histogram(table: CsvTable, spec: AggregateSpec, kinds: dict, scan) -> dict:
    x_of, g_of = _getter(table, spec.x), _getter(table, spec.group)
    bins = spec.bins or 1
    low = high = None
    for row in scan():  # first pass: the range of x
        x = x_of(row)
        if x is None or isinstance(x, Unparsed):
            continue
        low = x if low is None or x < low else low
        high = x if high is None or x > high else high
    if low is None or high is None:
        empty_series = [{"name": "count", "y": []}] if spec.group is None else []
        return {"x": [], "series": empty_series, "bin_width": None}
    low, high = float(low), float(high)
    width = (high - low) / bins or 1.0
    counts: dict[tuple, int] = {}
    for row in scan():  # second pass: a count per bin and group
        x = x_of(row)
        if x is None or isinstance(x, Unparsed):
            continue
        # The largest value is the right edge of the last bin, not a bin of its own.
        index = min(int(math.floor((x - low) / width)), bins - 1)
        cell = (index, g_of(row))
        if cell not in counts and len(counts) >= MAX_GROUPS:
            raise _too_many(f"{spec.x} by {spec.group}")
        counts[cell] = counts.get(cell, 0) + 1
    if spec.group is None:
        g_keys: list = [None]
        g_key: dict = {None: None}
    else:
        group_totals: dict[Any, int] = {}
        for (_, g), n in counts.items():
            group_totals[g] = group_totals.get(g, 0) + n
        g_keys, g_key = _top(group_totals, spec.top_n)
    final: dict[tuple, int] = {}
    for (index, g), n in counts.items():
        cell = (index, g_key[g])
        final[cell] = final.get(cell, 0) + n
    group_kind = kinds.get(spec.group or "", "")
    series = [
        {
            "name": _series_name(g, group_kind, "count"),
            "y": [final.get((i, g), 0) for i in range(bins)],
        }
        for g in g_keys
    ]
    return {"x": [low + i * width for i in range(bins)], "series": series, "bin_width": width}
