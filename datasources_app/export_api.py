"""`GET /api/tables/{table_id}/export`: a table's rows as CSV or JSON, streamed."""

from __future__ import annotations

import json
import re

from django.http import HttpRequest, StreamingHttpResponse
from ninja import Router
from ninja.errors import HttpError

from core.errors_api import TABLE_ERRORS
from nocoflo_project.disconnect import client_gone

from . import export, rows
from .api import MAX_LIMIT, parse_query

router = Router(tags=["tables"])


def _columns(columns: str | None) -> list[str] | None:
    if not columns:
        return None
    try:
        names = json.loads(columns) if columns.startswith("[") else columns.split(",")
    except (ValueError, RecursionError):  # RecursionError: nested too deep to read
        names = None
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise HttpError(400, "columns must be column names separated by commas")
    return names


def _filename(label: str, fmt: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("_") or "table"
    return f"{safe[:80]}.{fmt}"


# 200 is the file itself (CSV or JSON), streamed.
@router.get("/tables/{table_id}/export", response={200: None, **TABLE_ERRORS})
def export_rows(
    request: HttpRequest,
    table_id: int,
    format: str = "csv",
    sort: str | None = None,
    q: str | None = None,
    filters: str | None = None,
    columns: str | None = None,
):
    """Every row matching the rows endpoint's `sort`, `q` and `filters`, as CSV (with a header)
    or a JSON array, in `columns` (default: every column you may see). Streamed: any size."""
    if format not in export.FORMATS:
        raise HttpError(400, "format must be csv or json")
    opened = rows.open_table(request.user, table_id)
    query = parse_query(MAX_LIMIT, 0, None, sort, q, filters)
    query.columns = _columns(columns)
    response = StreamingHttpResponse(
        export.start(opened, query, format, client_gone(request)),
        content_type=export.FORMATS[format],
    )
    response["Content-Disposition"] = (
        f'attachment; filename="{_filename(opened.table.label, format)}"'
    )
    return response
