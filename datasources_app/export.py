"""Export: a table's rows, as the user may see them and as a view shows them (filters, sort,
search, columns), streamed as CSV or JSON a page at a time, so memory stays flat at any size."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from typing import Any

from .base import Query
from .rows import OpenTable, read_page

FORMATS = {"csv": "text/csv; charset=utf-8", "json": "application/json"}
PAGE_ROWS = 2000


def pages(opened: OpenTable, query: Query) -> Iterator[dict]:
    """The rows API's pages one after the other, each read only when the previous one is sent."""
    query.limit, query.offset, query.cursor, query.with_count = PAGE_ROWS, 0, None, False
    while True:
        page = read_page(opened, query)
        yield page
        if not page["next"]:
            return
        query.cursor = page["next"]


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return value


def csv_chunk(page: dict, header: bool) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    if header:
        writer.writerow(page["columns"])
    writer.writerows([_cell(row["values"].get(n)) for n in page["columns"]] for row in page["rows"])
    return out.getvalue()


def json_chunk(page: dict, first: bool) -> str:
    body = ",\n".join(json.dumps(row["values"], ensure_ascii=False) for row in page["rows"])
    if not body:
        return ""
    return ("" if first else ",\n") + body


def start(
    opened: OpenTable, query: Query, fmt: str, client_gone: Callable[[], bool]
) -> Iterator[str]:
    """Read the first page now, so a bad filter or a datasource that is down is answered with an
    error before any of the download is sent; the rest streams, until `client_gone()`."""
    source = pages(opened, query)
    return _stream(next(source), source, fmt, client_gone)


def _stream(
    first_page: dict, source: Iterator[dict], fmt: str, client_gone: Callable[[], bool]
) -> Iterator[str]:
    # The server sends each chunk before the next page is read (its worker thread produces the
    # download as it goes), so a slow download never holds more than one page.
    if fmt == "json":
        yield "["
    page: dict | None = first_page
    first = True
    while page is not None:
        chunk = csv_chunk(page, header=first) if fmt == "csv" else json_chunk(page, first)
        if chunk:
            yield chunk
            first = False
        if client_gone():  # a cancelled download reads no further page
            return
        page = next(source, None)
    if fmt == "json":
        yield "]\n"
