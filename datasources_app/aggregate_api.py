"""`GET /api/tables/{table_id}/aggregate`: chart data, grouped and aggregated by the database."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema
from ninja.errors import HttpError

from core.errors_api import TABLE_ERRORS

from . import rows
from .aggregate import AggregateSpec, aggregate_rows
from .api import MAX_LIMIT, parse_query

router = Router(tags=["tables"])


class SeriesOut(Schema):
    name: str
    y: list[Any]


class AggregateOut(Schema):
    x: list[Any]
    series: list[SeriesOut]
    bin_width: float | None = None


@router.get("/tables/{table_id}/aggregate", response={200: AggregateOut, **TABLE_ERRORS})
def aggregate(
    request: HttpRequest,
    table_id: int,
    x: str,
    y: str | None = None,
    agg: str = "count",
    group: str | None = None,
    bucket: str | None = None,
    top: int = 20,
    bins: int | None = None,
    q: str | None = None,
    filters: str | None = None,
):
    """`agg` (count, sum, avg, min, max) of `y` per value of `x`, one series per value of `group`
    (or one named after the aggregation), over the rows matching the rows endpoint's `q` and
    `filters`. A date x is counted per `bucket` (day, week, month, year); categories beyond the
    `top` largest are merged into "other". With `bins`, x is numeric and the answer is a
    histogram: rows per equal-width bin, x the bins' lower edges, `bin_width` their width."""
    opened = rows.open_table(request.user, table_id)
    query = parse_query(MAX_LIMIT, 0, None, None, q, filters)
    query.with_count = False
    if y == "":
        y = None
    if agg not in ("count", "sum", "avg", "min", "max"):
        raise HttpError(400, "agg must be count, sum, avg, min or max")
    spec = AggregateSpec(
        x=x, y=y, agg=agg, group=group or None, bucket=bucket or None, query=query,
        top_n=top, bins=bins,
    )  # fmt: skip
    return aggregate_rows(opened, spec)
