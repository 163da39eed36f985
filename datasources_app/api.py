"""The tables and rows API (`/api/tables...`), on the same row operations as the grid."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Router, Schema, Status
from ninja.errors import HttpError

from core import access

from . import rows
from .base import FILTER_OPS, Filter, Query
from .errors import InvalidQuery

router = Router(tags=["tables"])

MAX_LIMIT = 1000


class ColumnOut(Schema):
    name: str
    type: str
    nullable: bool
    primary_key: bool


class TableOut(Schema):
    id: int
    name: str
    label: str
    datasource: str
    read_only: bool
    columns: list[ColumnOut]


class RowOut(Schema):
    key: str | None
    values: dict[str, Any]


class PageOut(Schema):
    columns: list[str]
    rows: list[RowOut]
    count: int | None
    next: str | None


class RowIn(Schema):
    values: dict[str, Any]


class RowPatch(Schema):
    values: dict[str, Any]
    expected: dict[str, Any] | None = None


class DeletedOut(Schema):
    deleted: int


@router.get("/tables", response=list[TableOut])
def list_tables(request: HttpRequest):
    """The tables you can read, with their columns."""
    tables = access.readable_tables(request.user).prefetch_related("columns")
    sees_all = access.can(request.user, "owner")
    return [
        {
            "id": t.pk,
            "name": t.name,
            "label": t.label,
            "datasource": t.datasource.name,
            "read_only": t.read_only,
            "columns": [
                {
                    "name": c.name,
                    "type": c.kind,
                    "nullable": c.nullable,
                    "primary_key": c.primary_key,
                }
                for c in t.columns.all()
                if c.visible or sees_all
            ],  # fmt: skip
        }
        for t in tables
    ]


def parse_query(
    limit: int, offset: int, cursor: str | None, sort: str | None, q: str | None,
    filters: str | None, count: bool = False,
) -> Query:  # fmt: skip
    """The rows endpoint's parameters as a Query, or a 400 saying what is wrong."""
    if not 1 <= limit <= MAX_LIMIT:
        raise HttpError(400, f"limit must be between 1 and {MAX_LIMIT}")
    if offset < 0:
        raise HttpError(400, "offset must not be negative")
    return Query(
        limit=limit,
        offset=offset,
        cursor=cursor or None,
        sort=_parse_sort(sort),
        filters=_parse_filters(filters),
        search=(q or "").strip(),
        with_count=count or (not cursor and offset == 0),
    )


def _parse_sort(sort: str | None) -> list[tuple[str, bool]]:
    if not sort:
        return []
    # A JSON list allows column names that contain commas.
    try:
        names = json.loads(sort) if sort.startswith("[") else sort.split(",")
    except ValueError:
        names = None  # not JSON: refused below with a 400, not a 500
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise InvalidQuery("sort must be column names separated by commas")
    return [(n[1:], True) if n.startswith("-") else (n, False) for n in names]


def _parse_filters(filters: str | None) -> list[Filter]:
    if not filters:
        return []
    try:
        items = json.loads(filters)
    except ValueError as exc:
        raise InvalidQuery("filters must be a JSON array of {column, op, value}") from exc
    if not isinstance(items, list):
        raise InvalidQuery("filters must be a JSON array of {column, op, value}")
    parsed = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("column"), str):
            raise InvalidQuery("each filter needs a column, an op and a value")
        if item.get("op") not in FILTER_OPS:
            raise InvalidQuery(f"op must be one of {', '.join(FILTER_OPS)}")
        parsed.append(Filter(item["column"], item["op"], item.get("value")))
    return parsed


@router.get("/tables/{table_id}/rows", response=PageOut)
def list_rows(
    request: HttpRequest,
    table_id: int,
    limit: int = 100,
    offset: int = 0,
    cursor: str | None = None,
    sort: str | None = None,
    q: str | None = None,
    filters: str | None = None,
    count: bool = False,
):
    """A page of rows: offset or cursor paging, sort, filters and search, all run by the database.

    `count` is given on the first page (no offset or cursor), or on any page with `count=true`;
    `next` is the cursor of the next page.
    """
    query = parse_query(limit, offset, cursor, sort, q, filters, count)
    page = rows.read_page(rows.open_table(request.user, table_id), query)
    # The page is plain JSON already; skipping re-validation of every cell keeps this hot path
    # fast (PageOut still documents the shape).
    return HttpResponse(json.dumps(page, ensure_ascii=False), content_type="application/json")


@router.get("/tables/{table_id}/rows/{row_key}", response=dict[str, Any])
def get_row(request: HttpRequest, table_id: int, row_key: str):
    """One row by its key."""
    return rows.get_row(rows.open_table(request.user, table_id), row_key)


@router.post("/tables/{table_id}/rows", response={201: RowOut})
def create_row(request: HttpRequest, table_id: int, body: RowIn):
    """Add a row; answers its key and stored values."""
    return Status(201, rows.insert_row(rows.open_table(request.user, table_id), body.values))


@router.patch("/tables/{table_id}/rows/{row_key}", response=RowOut)
def patch_row(request: HttpRequest, table_id: int, row_key: str, body: RowPatch):
    """Change cells of a row. With `expected` (the values you read), nothing is written when the
    row changed since: the answer is 409 with the current row."""
    opened = rows.open_table(request.user, table_id)
    stored = rows.update_row(opened, row_key, body.values, body.expected)
    return {"key": row_key, "values": stored}


@router.delete("/tables/{table_id}/rows/{row_key}", response=DeletedOut)
def delete_row(request: HttpRequest, table_id: int, row_key: str):
    """Delete a row."""
    deleted = rows.delete_rows(rows.open_table(request.user, table_id), [row_key])
    if not deleted:
        raise rows.RowNotFound("No such row")
    return {"deleted": deleted}
