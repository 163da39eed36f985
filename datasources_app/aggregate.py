"""Charts' numbers: counts, sums and averages grouped in the database, never rows in Python.

An `AggregateSpec` says what to aggregate, by what and split by what. `aggregate_sql` answers it on
a SQL datasource with SQLAlchemy Core (identifiers from reflection, values bound), and
`aggregate_rows` is the row operation pages and the API call: the user's access and hidden
columns are checked as for reading a page.

The answer is `{"x": [...], "series": [{"name": ..., "y": [...]}]}`, every series aligned to x.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from .base import Query
from .errors import InvalidQuery
from .values import to_json

if TYPE_CHECKING:
    from .rows import OpenTable
    from .sql import SQLAlchemyDatasource

AGGREGATIONS = ("count", "sum", "avg", "min", "max")
BUCKETS = ("day", "week", "month", "year")
NUMERIC_KINDS = ("integer", "real", "decimal")
DATE_KINDS = ("date", "datetime")
# x values of these kinds are points on an axis (in order); the rest are categories.
ORDERED_KINDS = (*NUMERIC_KINDS, *DATE_KINDS, "time")
# min/max of these mean something; sum/avg need numbers.
COMPARABLE_KINDS = (*ORDERED_KINDS, "text", "enum")
# Values without a reliable equality in every database cannot be grouped.
UNGROUPABLE_KINDS = ("json", "binary", "array", "other")
OTHER = "other"
EMPTY = "(empty)"
MAX_TOP = 100
MAX_BINS = 200
# An axis of more points than this is no chart: a date bucket or the top N make it one.
MAX_POINTS = 5000


@dataclass
class AggregateSpec:
    """One chart's question: `agg` of `y` per value of `x` (split by `group`), over the rows
    matching `query`'s filters and search.

    With `bucket`, a date x counts per day, week (starting Monday), month or year. With `bins`, x
    is a number and the answer counts rows per equal-width bin (a histogram). Categories beyond
    the top `top_n` (by the aggregated value) are merged into one named "other".
    """

    x: str
    y: str | None = None
    agg: str = "count"
    group: str | None = None
    bucket: str | None = None
    query: Query = field(default_factory=lambda: Query(with_count=False))
    top_n: int = 20
    bins: int | None = None

    def check(self) -> None:
        """Refuse what makes no sense whatever the table (column checks come later)."""
        if not isinstance(self.x, str) or not self.x:
            raise InvalidQuery("Choose a column for x")
        if self.agg not in AGGREGATIONS:
            raise InvalidQuery(f"The aggregation must be one of {', '.join(AGGREGATIONS)}")
        if self.bucket is not None and self.bucket not in BUCKETS:
            raise InvalidQuery(f"The date bucket must be one of {', '.join(BUCKETS)}")
        if not 1 <= self.top_n <= MAX_TOP:
            raise InvalidQuery(f"top must be between 1 and {MAX_TOP}")
        if self.bins is not None:
            if not 1 <= self.bins <= MAX_BINS:
                raise InvalidQuery(f"bins must be between 1 and {MAX_BINS}")
            if self.bucket is not None:
                raise InvalidQuery("A histogram has bins, not date buckets")
        elif self.agg != "count" and not self.y:
            raise InvalidQuery(f"{self.agg} needs a column for y")
        if self.group == self.x:
            raise InvalidQuery("Group by another column than x")


# --- the row operation -------------------------------------------------------------------------


def aggregate_rows(opened: OpenTable, spec: AggregateSpec) -> dict:
    """The chart data of a table the user opened: only columns they may see, by name or filter."""
    spec.check()
    visible = set(opened.column_names)
    for role, name in (("x", spec.x), ("y", spec.y), ("group", spec.group)):
        if name is not None and name not in visible:
            raise InvalidQuery(f"Unknown column {name!r} for {role}")
    for flt in spec.query.filters:
        if flt.column not in visible:
            raise InvalidQuery(f"Cannot filter on unknown column {flt.column!r}")
    # The search never matches text in columns the user is not shown.
    spec.query.columns = opened.column_names
    return opened.datasource.aggregate(opened.config, spec)


# --- SQL -----------------------------------------------------------------------------------------


def date_bucket(dialect: str, column: Any, unit: str) -> sa.ColumnElement:
    """The first day of the column's day, ISO week, month or year, as YYYY-MM-DD text."""
    if dialect == "sqlite":
        if unit == "week":  # the coming Sunday (or today), six days back: Monday
            return sa.func.date(column, "weekday 0", "-6 days")
        formats = {"day": "%Y-%m-%d", "month": "%Y-%m-01", "year": "%Y-01-01"}
        return sa.func.strftime(formats[unit], column)
    if dialect == "postgresql":  # date_trunc's weeks start on Monday
        return sa.func.to_char(sa.func.date_trunc(unit, column), "YYYY-MM-DD")
    if dialect in ("mysql", "mariadb"):
        if unit == "week":  # WEEKDAY() is 0 on Monday
            column = sa.func.subdate(column, sa.func.weekday(column))
        formats = {"day": "%Y-%m-%d", "week": "%Y-%m-%d", "month": "%Y-%m-01", "year": "%Y-01-01"}
        return sa.func.date_format(column, formats[unit])
    raise InvalidQuery(f"Date buckets are not available for {dialect} databases")


def _floor(dialect: str, expression: Any) -> sa.ColumnElement:
    if dialect == "sqlite":
        # SQLite may lack floor(); the bins' offsets are never negative, so truncating is flooring.
        return sa.cast(expression, sa.Integer)
    return sa.func.floor(expression)


def _aggregate(agg: str, y: Any) -> sa.ColumnElement:
    if y is None:
        return sa.func.count()
    return {"count": sa.func.count, "sum": sa.func.sum, "avg": sa.func.avg,
            "min": sa.func.min, "max": sa.func.max}[agg](y)  # fmt: skip


def _check_columns(ds: SQLAlchemyDatasource, table: sa.Table, kinds: dict, spec: AggregateSpec):
    for name in (spec.x, spec.y, spec.group):
        if name is not None:
            ds.column(table, name)
    x_kind = kinds[spec.x]
    if x_kind in UNGROUPABLE_KINDS:
        raise InvalidQuery(f"Charts cannot group by {spec.x} ({x_kind} values)")
    if spec.group is not None and kinds[spec.group] in UNGROUPABLE_KINDS:
        raise InvalidQuery(f"Charts cannot group by {spec.group} ({kinds[spec.group]} values)")
    if spec.bucket is not None and x_kind not in DATE_KINDS:
        raise InvalidQuery(f"Date buckets need a date column for x; {spec.x} is {x_kind}")
    if spec.bins is not None:
        if x_kind not in NUMERIC_KINDS:
            raise InvalidQuery(f"A histogram needs a numeric column for x; {spec.x} is {x_kind}")
        return
    if spec.y is not None:
        y_kind = kinds[spec.y]
        if spec.agg in ("sum", "avg") and y_kind not in NUMERIC_KINDS:
            raise InvalidQuery(f"{spec.agg} needs a numeric column for y; {spec.y} is {y_kind}")
        if spec.agg in ("min", "max") and y_kind not in COMPARABLE_KINDS:
            raise InvalidQuery(f"{spec.agg} cannot compare {spec.y} ({y_kind} values)")


def aggregate_sql(ds: SQLAlchemyDatasource, table_config: dict, spec: AggregateSpec) -> dict:
    """`spec` answered by GROUP BY queries on the datasource's database."""
    spec.check()
    table = ds.reflect(table_config)
    kinds = ds.kinds(table_config)
    _check_columns(ds, table, kinds, spec)
    dialect = ds.engine.dialect.name
    conditions = ds.where_clause(table, kinds, spec.query)
    with ds.connect() as conn:
        if spec.bins is not None:
            return _histogram(ds, conn, dialect, table, kinds, conditions, spec)
        return _grouped(ds, conn, dialect, table, kinds, conditions, spec)


def _inner(columns: list[sa.ColumnElement], conditions: list) -> sa.Subquery:
    """The rows to aggregate, each with its x, group and y: the outer query groups by names, so a
    computed x (a date bucket) is written once."""
    stmt = sa.select(*columns)
    if conditions:
        stmt = stmt.where(*conditions)
    return stmt.subquery("rows")


def _top(conn, inner: sa.Subquery, key: str, value: sa.ColumnElement, n: int):
    """The `n` values of a category column with the largest aggregate (largest first) as
    (value, aggregate) rows, and whether there are more."""
    column = inner.c[key]
    stmt = (
        sa.select(column, value)
        .group_by(column)
        .order_by(sa.case((value.is_(None), 1), else_=0), value.desc(), column)
        .limit(n + 1)
    )
    found = [tuple(r) for r in conn.execute(stmt)]
    return found[:n], len(found) > n


def _kept(ds, column: sa.ColumnElement, kind: str, values: list) -> sa.ColumnElement:
    """The column holds one of `values` (None among them: NULL counts as one)."""
    present = [v for v in values if v is not None]
    matches = column.in_([ds.bound(column, kind, v) for v in present]) if present else sa.false()
    return sa.or_(matches, column.is_(None)) if None in values else matches


def _split(ds, inner, key: str, kind: str, tops: list | None):
    """A category column as (value, is-other): values outside `tops` become one "other"."""
    column = inner.c[key]
    if tops is None:
        return column.label(f"{key}_value"), sa.literal(0).label(f"{key}_other")
    kept = _kept(ds, column, kind, tops)
    return (
        sa.case((kept, column), else_=sa.null()).label(f"{key}_value"),
        sa.case((kept, 0), else_=1).label(f"{key}_other"),
    )


def _grouping(selected: list) -> list:
    """What to GROUP BY: the selected columns but constants (PostgreSQL takes a number for a
    position in the select list)."""
    return [c for c in selected if not isinstance(getattr(c, "element", c), sa.BindParameter)]


def _grouped(ds, conn, dialect: str, table, kinds: dict, conditions: list, spec: AggregateSpec):
    x_column = table.c[spec.x]
    x_kind = kinds[spec.x]
    x_expr = date_bucket(dialect, x_column, spec.bucket) if spec.bucket else x_column
    columns = [x_expr.label("x")]
    if spec.group is not None:
        columns.append(table.c[spec.group].label("g"))
    if spec.y is not None:
        columns.append(table.c[spec.y].label("y"))
    inner = _inner(columns, conditions)
    value = _aggregate(spec.agg, inner.c.y if spec.y is not None else None)
    ordered_x = spec.bucket is not None or x_kind in ORDERED_KINDS

    if spec.group is not None:
        answer = _grouped_at_once(conn, spec, kinds, inner, value, ordered_x)
        if answer is not None:
            return answer

    x_tops = g_tops = None
    x_ranking: list | None = None
    if not ordered_x:
        ranked, more = _top(conn, inner, "x", value, spec.top_n)
        x_ranking = [v for v, _ in ranked]
        x_tops = x_ranking if more else None
        if spec.group is None and not more:
            # Every category is in the ranking already: no second scan of the table.
            result = [(v, 0, total) for v, total in ranked]
            return _answer(spec, kinds, [(0, v) for v in x_ranking], [None], result)
    if spec.group is not None:
        ranked, more = _top(conn, inner, "g", value, spec.top_n)
        groups = [v for v, _ in ranked]
        g_tops = groups if more else None
    else:
        groups = []

    x_value, x_other = _split(ds, inner, "x", "" if spec.bucket else x_kind, x_tops)
    selected = [x_value, x_other]
    if spec.group is not None:
        g_value, g_other = _split(ds, inner, "g", kinds[spec.group], g_tops)
        selected += [g_value, g_other]
    stmt = sa.select(*selected, value.label("v")).group_by(*_grouping(selected))
    limit = MAX_POINTS * (len(groups) + 1) + 1
    result = conn.execute(stmt.limit(limit)).all()
    if len(result) >= limit:
        raise InvalidQuery(
            f"{spec.x} has more than {MAX_POINTS:,} distinct values: choose a date bucket "
            "or another column for x"
        )

    # x: in axis order, or largest first; series: largest first; "other" last in both.
    if ordered_x:
        x_keys = sorted({(r[1], r[0]) for r in result}, key=_axis_order)
    else:
        x_keys = [(0, v) for v in x_ranking or []] + ([(1, None)] if x_tops is not None else [])
    if spec.group is None:
        g_keys = [None]
    else:
        g_keys = [(0, v) for v in groups] + ([(1, None)] if g_tops is not None else [])
    return _answer(spec, kinds, x_keys, g_keys, result)


def _grouped_at_once(conn, spec, kinds: dict, inner, value, ordered_x: bool) -> dict | None:
    """A grouped chart from one scan, when nothing needs cutting to the top N: every cell with
    its row count, the rankings derived from the cells. None when something must be cut (the
    "other" of an average or a minimum is then computed by the database from its rows)."""
    limit = MAX_POINTS * (spec.top_n + 1) + 1
    stmt = (
        sa.select(inner.c.x, inner.c.g, value, sa.func.count())
        .group_by(inner.c.x, inner.c.g)
        .limit(limit)
    )
    cells = [tuple(r) for r in conn.execute(stmt)]
    groups = {g for _, g, _, _ in cells}
    xs = {x for x, _, _, _ in cells}
    if len(cells) >= limit or len(groups) > spec.top_n:
        return None
    if not ordered_x and len(xs) > spec.top_n:
        return None
    if ordered_x:
        x_keys = sorted(((0, x) for x in xs), key=_axis_order)
    else:
        x_keys = [(0, x) for x in _ranked(cells, 0, spec.agg)]
    g_keys = [(0, g) for g in _ranked(cells, 1, spec.agg)]
    result = [(x, 0, g, 0, v) for x, g, v, _ in cells]
    return _answer(spec, kinds, x_keys, g_keys, result)


def _ranked(cells: list[tuple], at: int, agg: str) -> list:
    """The values at position `at` of (x, group, aggregate, rows) cells, largest aggregate first
    (as `_top` orders them), each value's aggregate derived from its cells."""
    parts: dict[Any, list[tuple]] = {}
    for cell in cells:
        parts.setdefault(cell[at], []).append(cell)
    totals = {}
    for key, found in parts.items():
        values = [(v, n) for _, _, v, n in found if v is not None]
        if not values:
            totals[key] = None
        elif agg in ("count", "sum"):
            totals[key] = sum(v for v, _ in values)
        elif agg == "min":
            totals[key] = min(v for v, _ in values)
        elif agg == "max":
            totals[key] = max(v for v, _ in values)
        else:  # the average of the rows: each cell's average weighted by its rows
            totals[key] = sum(v * n for v, n in values) / sum(n for _, n in values)
    keys = sorted(parts, key=lambda k: (k is None, k if k is not None else 0))
    keys.sort(key=lambda k: totals[k] is None)
    present = [k for k in keys if totals[k] is not None]
    present.sort(key=lambda k: totals[k], reverse=True)
    return present + [k for k in keys if totals[k] is None]


def _answer(spec: AggregateSpec, kinds: dict, x_keys: list, g_keys: list, result: list) -> dict:
    """Rows of (x, x is other, [group, group is other,] value) as x labels and aligned series."""
    cells: dict[tuple, Any] = {}
    for record in result:
        g_key = (record[3], record[2]) if spec.group is not None else None
        cells[((record[1], record[0]), g_key)] = record[-1]
    y_kind = kinds.get(spec.y or "", "")
    series = [
        {
            "name": _series_name(g, kinds.get(spec.group or "", ""), spec.agg),
            "y": [json_number(cells.get((xk, g)), y_kind, spec.agg) for xk in x_keys],
        }
        for g in g_keys
    ]
    x_kind_out = "" if spec.bucket else kinds[spec.x]
    return {"x": [_label(k, x_kind_out) for k in x_keys], "series": series}


def _axis_order(key: tuple) -> tuple:
    other, value = key
    return (other, value is None, value if value is not None else 0)


def _label(key: tuple, kind: str) -> Any:
    other, value = key
    return OTHER if other else to_json(kind, value)


def _series_name(key: tuple | None, kind: str, agg: str) -> str:
    if key is None:
        return agg
    other, value = key
    return OTHER if other else series_name(to_json(kind, value))


def series_name(label: Any) -> str:
    """A series' name for its group's value as JSON (datasources that group by themselves, such
    as plugins, name their series the same way)."""
    if label is None:
        return EMPTY
    if isinstance(label, bool):
        return "true" if label else "false"
    return str(label)


def json_number(value: Any, kind: str, agg: str) -> Any:
    """A cell as JSON: numbers as numbers (Decimal too), min/max of dates as ISO text."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return float(value) if value.is_finite() else None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, bool | int):
        return int(value)
    return to_json(kind if agg in ("min", "max") else "", value)


def _histogram(ds, conn, dialect: str, table, kinds: dict, conditions: list, spec: AggregateSpec):
    x_column = table.c[spec.x]
    bins = spec.bins or 1
    bounds = sa.select(sa.func.min(x_column), sa.func.max(x_column))
    if conditions:
        bounds = bounds.where(*conditions)
    low, high = conn.execute(bounds).one()
    empty_series = [{"name": "count", "y": []}] if spec.group is None else []
    if low is None or high is None:
        return {"x": [], "series": empty_series, "bin_width": None}
    low, high = float(low), float(high)
    width = (high - low) / bins or 1.0
    index = _floor(dialect, (x_column - sa.literal(low)) / sa.literal(width))
    # The largest value is the right edge of the last bin, not a bin of its own.
    index = sa.case((index >= bins, bins - 1), else_=index)
    columns = [index.label("x")]
    if spec.group is not None:
        columns.append(table.c[spec.group].label("g"))
    inner = _inner(columns, [*conditions, x_column.is_not(None)])
    value = sa.func.count()
    g_tops = None
    groups: list = []
    if spec.group is not None:
        ranked, more = _top(conn, inner, "g", value, spec.top_n)
        groups = [v for v, _ in ranked]
        g_tops = groups if more else None
    selected = [inner.c.x]
    if spec.group is not None:
        g_value, g_other = _split(ds, inner, "g", kinds[spec.group], g_tops)
        selected += [g_value, g_other]
    counts = conn.execute(sa.select(*selected, value).group_by(*_grouping(selected))).all()
    if spec.group is None:
        g_keys: list = [None]
    else:
        g_keys = [(0, v) for v in groups] + ([(1, None)] if g_tops is not None else [])
    cells: dict[tuple, int] = {}
    for record in counts:
        g_key = (record[2], record[1]) if spec.group is not None else None
        cells[(int(record[0]), g_key)] = int(record[-1])
    series = [
        {
            "name": _series_name(g, kinds.get(spec.group or "", ""), "count"),
            "y": [cells.get((i, g), 0) for i in range(bins)],
        }
        for g in g_keys
    ]
    return {"x": [low + i * width for i in range(bins)], "series": series, "bin_width": width}
