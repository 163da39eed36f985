"""The tables and rows API (`/api/tables...`), on the same row operations as the grid."""

from __future__ import annotations

import json
from typing import Any, Literal

import orjson
from django.http import HttpRequest, HttpResponse
from ninja import Header, Router, Schema, Status
from ninja.errors import HttpError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from core import access, grants, locks
from core.errors_api import ANY_ERRORS, TABLE_ERRORS, WRITE_ERRORS, ErrorOut, FailureOut
from core.models import TableMeta

from . import rows
from .base import FILTER_OPS, Filter, Query
from .connections import DatasourceTypeUnavailable, probe
from .discovery import discover_tables
from .errors import DatasourceError, InvalidOption, InvalidQuery
from .models import DatasourceConfig

router = Router(tags=["tables"])

MAX_LIMIT = 1000


class ColumnOut(Schema):
    name: str
    type: str
    nullable: bool
    primary_key: bool
    choices: list[Any] = []


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
    # exact; estimate (the database's statistics, for a large whole table); at_least (a large
    # filtered table has more than `count` matching rows). `exact_count=true` makes it exact.
    count_accuracy: Literal["exact", "estimate", "at_least"] | None
    next: str | None


class RowIn(Schema):
    values: dict[str, Any]


class RowPatch(Schema):
    values: dict[str, Any]
    expected: dict[str, Any] | None = None
    version: str | None = None


class DeletedOut(Schema):
    deleted: int


@router.get("/tables", response={200: list[TableOut], **ANY_ERRORS})
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
                    "choices": c.choices,
                }
                for c in t.columns.all()
                if c.visible or sees_all
            ],  # fmt: skip
        }
        for t in tables
    ]


def parse_query(
    limit: int, offset: int, cursor: str | None, sort: str | None, q: str | None,
    filters: str | None, count: bool | None = None, exact_count: bool = False,
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
        # Unless told (`count=true|false`), the first page comes with the count and others not.
        with_count=exact_count or (count if count is not None else not cursor and offset == 0),
        exact_count=exact_count,
    )


def _parse_sort(sort: str | None) -> list[tuple[str, bool]]:
    if not sort:
        return []
    # A JSON list allows column names that contain commas.
    try:
        names = json.loads(sort) if sort.startswith("[") else sort.split(",")
    except (ValueError, RecursionError):  # RecursionError: nested deeper than json can read
        names = None  # not JSON: refused below with a 400, not a 500
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise InvalidQuery("sort must be column names separated by commas")
    return [(n[1:], True) if n.startswith("-") else (n, False) for n in names]


def _parse_filters(filters: str | None) -> list[Filter]:
    if not filters:
        return []
    try:
        items = json.loads(filters)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep to read
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


@router.get("/tables/{table_id}/rows", response={200: PageOut, **TABLE_ERRORS})
def list_rows(
    request: HttpRequest,
    table_id: int,
    limit: int = 100,
    offset: int = 0,
    cursor: str | None = None,
    sort: str | None = None,
    q: str | None = None,
    filters: str | None = None,
    count: bool | None = None,
    exact_count: bool = False,
):
    """A page of rows: offset or cursor paging, sort, filters and search, all run by the database.

    `count` is given on the first page (no offset or cursor) unless `count=false`, and on any
    page with `count=true`.
    Counting never scans a huge table unless asked: past 10,000 matching rows `count_accuracy`
    says whether `count` is the database's `estimate` of the whole table or `at_least` that
    many filtered rows; a count that takes longer than a second stops and is
    `at_least` the rows read so far; `exact_count=true` counts them all (under the statement
    time limit).
    `next` is the cursor of the next page, null on the last: keyset (fast at any depth) when the
    order is by the key or by non-null columns, else an offset.
    """
    query = parse_query(limit, offset, cursor, sort, q, filters, count, exact_count)
    page = rows.read_page(rows.open_table(request.user, table_id), query)
    # The page is plain JSON already; skipping re-validation of every cell keeps this hot path
    # fast (PageOut still documents the shape).
    return HttpResponse(page_json(page), content_type="application/json")


def page_json(page: dict) -> bytes:
    """A page as JSON text (UTF-8)."""
    try:
        # Column names may be str subclasses (SQLAlchemy's quoted_name): NON_STR_KEYS takes them.
        return orjson.dumps(page, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:  # an integer wider than 64 bits, which only the standard library writes
        return json.dumps(page, ensure_ascii=False).encode()


def _version(if_match: str | None, body_version: str | None = None) -> str | None:
    """The row version a writer read: the body's `version`, or the `If-Match` header's ETag."""
    if body_version:
        return body_version
    if not if_match or if_match.strip() == "*":
        return None
    return if_match.strip().removeprefix("W/").strip('"')


def _etag(version: str) -> str:
    return f'"{version}"'


@router.get("/tables/{table_id}/rows/{row_key}", response={200: dict[str, Any], **TABLE_ERRORS})
def get_row(request: HttpRequest, response: HttpResponse, table_id: int, row_key: str):
    """One row by its key. Its version is the `ETag` header: send it back as `If-Match` (or as
    `version`) to write only if nobody changed the row since."""
    values, version = rows.read_row(rows.open_table(request.user, table_id), row_key)
    response["ETag"] = _etag(version)
    return values


@router.post("/tables/{table_id}/rows", response={201: RowOut, **WRITE_ERRORS})
def create_row(request: HttpRequest, table_id: int, body: RowIn):
    """Add a row; answers its key and stored values."""
    return Status(201, rows.insert_row(rows.open_table(request.user, table_id), body.values))


@router.patch("/tables/{table_id}/rows/{row_key}", response={200: RowOut, **WRITE_ERRORS})
def patch_row(
    request: HttpRequest,
    response: HttpResponse,
    table_id: int,
    row_key: str,
    body: RowPatch,
    if_match: str | None = Header(None, alias="If-Match"),
):
    """Change cells of a row, compare-and-set: with `expected` (the values you read) or the row's
    version (`If-Match` or `version`), nothing is written when the row changed since, and the
    answer is 409 with the current row. 423 while someone else is editing the row."""
    opened = rows.open_table(request.user, table_id)
    version = _version(if_match, body.version)
    rows.update_row(opened, row_key, body.values, body.expected, version=version)
    values, new_version = rows.read_row(opened, row_key)
    response["ETag"] = _etag(new_version)
    return {"key": row_key, "values": values}


@router.delete("/tables/{table_id}/rows/{row_key}", response={200: DeletedOut, **WRITE_ERRORS})
def delete_row(
    request: HttpRequest,
    table_id: int,
    row_key: str,
    if_match: str | None = Header(None, alias="If-Match"),
):
    """Delete a row; with `If-Match`, only if nobody changed it since you read that version."""
    opened = rows.open_table(request.user, table_id)
    deleted = rows.delete_rows(opened, [row_key], version=_version(if_match))
    if not deleted:
        raise rows.RowNotFound("No such row")
    return {"deleted": deleted}


# --- row locks --------------------------------------------------------------------------------


class LockOut(Schema):
    key: str
    locked_by: str
    expires_at: str


def _api_holder(request: HttpRequest) -> str:
    return f"api:{request.user.pk}"


@router.get(
    "/tables/{table_id}/locks", response={200: list[LockOut], **TABLE_ERRORS}, tags=["locks"]
)
def list_locks(request: HttpRequest, table_id: int):
    """The rows of the table someone is editing now."""
    opened = rows.open_table(request.user, table_id)
    return [
        {"key": lock.row_key, "locked_by": lock.user.get_username(),
         "expires_at": lock.expires_at.isoformat()}
        for lock in locks.live_locks(opened.table)
    ]  # fmt: skip


@router.post(
    "/tables/{table_id}/rows/{row_key}/lock",
    response={200: LockOut, **WRITE_ERRORS},
    tags=["locks"],
)
def lock_row(request: HttpRequest, table_id: int, row_key: str):
    """Take (or renew) the lock on a row before editing it from a program; others cannot write
    the row until you release it or it lapses (`NOCOFLO_LOCK_SECONDS`). 423 when someone else
    holds it."""
    opened = rows.open_table(request.user, table_id)
    lock = rows.lock_row(opened, row_key, _api_holder(request))
    return {"key": row_key, "locked_by": lock.user.get_username(),
            "expires_at": lock.expires_at.isoformat()}  # fmt: skip


class ReleasedOut(Schema):
    released: bool


@router.delete(
    "/tables/{table_id}/rows/{row_key}/lock",
    response={200: ReleasedOut, **TABLE_ERRORS},
    tags=["locks"],
)
def unlock_row(request: HttpRequest, table_id: int, row_key: str):
    """Release your lock on a row; table owners and admins break anyone's."""
    opened = rows.open_table(request.user, table_id)
    return {"released": rows.unlock_row(opened, row_key, _api_holder(request))}


# --- who may use a table (its owners) ---------------------------------------------------------


class GrantSchema(Schema):
    user: str | None = None
    group: str | None = None
    permissions: list[str] = []


class GrantsSchema(Schema):
    grants: list[GrantSchema]


def _owned_table(request: HttpRequest, table_id: int) -> TableMeta:
    """The table if the user owns it: 404 when they may not read it, 403 when they only may."""
    table = TableMeta.objects.select_related("datasource").filter(pk=table_id).first()
    if table is None or not table.visible or not access.can(request.user, "read", table):
        raise HttpError(404, "No such table")
    if not access.can(request.user, "owner", table):
        raise HttpError(403, f"Only owners may see and change who may use {table.label}")
    return table


@router.get(
    "/tables/{table_id}/permissions",
    response={200: GrantsSchema, **ANY_ERRORS, 404: ErrorOut},
    tags=["permissions"],
)
def get_permissions(request: HttpRequest, table_id: int):
    """Who may use the table (owners only): grants to users and groups."""
    return {"grants": grants.list_grants(_owned_table(request, table_id))}


@router.put(
    "/tables/{table_id}/permissions",
    response={200: GrantsSchema, **ANY_ERRORS, 404: ErrorOut},
    tags=["permissions"],
)
def put_permissions(request: HttpRequest, table_id: int, body: GrantsSchema):
    """Replace the table's whole list of grants (owners only); 422 and nothing changed when a
    grant names an unknown user or group, both or neither, or an unknown permission."""
    table = _owned_table(request, table_id)
    try:
        saved = grants.replace_grants(request.user, table, [g.model_dump() for g in body.grants])
    except grants.InvalidGrants as exc:
        raise HttpError(422, str(exc)) from None
    return {"grants": saved}


# --- datasources (admins) ---------------------------------------------------------------------


class DatasourceIn(Schema):
    type: str
    connection_string: str
    config: dict[str, Any] = {}
    name: str | None = None
    read_only: bool = False


class DatasourceOut(Schema):
    id: int
    name: str
    type: str
    connection: str
    enabled: bool
    read_only: bool
    tables: int


def _require_perm(request: HttpRequest, action: str) -> None:
    if not request.user.has_perm(f"datasources_app.{action}_datasourceconfig"):
        raise HttpError(403, f"You may not {action} datasources")


def _answer(status: int, body: dict) -> HttpResponse:
    return HttpResponse(json.dumps(body), status=status, content_type="application/json")


def _failure(status: int, message: str) -> HttpResponse:
    return _answer(status, {"success": False, "message": message})


@router.get("/datasources", response={200: list[DatasourceOut], **ANY_ERRORS}, tags=["datasources"])
def list_datasources(request: HttpRequest):
    """Datasources with their connection (password masked) and table counts."""
    _require_perm(request, "view")
    return [
        {"id": d.pk, "name": d.name, "type": d.datasource_type,
         "connection": d.safe_connection_string(), "enabled": d.enabled,
         "read_only": d.read_only, "tables": d.tables.count()}
        for d in DatasourceConfig.objects.all()
    ]  # fmt: skip


class DatasourceCreated(Schema):
    success: bool
    datasource_id: int
    message: str
    tables: list[str]


class SyncOut(Schema):
    success: bool
    message: str
    tables_added: list[str]
    tables_removed: list[str]
    tables_changed: list[str]
    columns_added: list[str]
    columns_removed: list[str]
    columns_changed: list[str]


# 400: not a database URL, a name in use, a type no plugin provides or an option it cannot take;
# 502: the database cannot be reached or read.
@router.post(
    "/datasources",
    response={201: DatasourceCreated, **ANY_ERRORS, 400: FailureOut, 502: FailureOut},
    tags=["datasources"],
)
def create_datasource(request: HttpRequest, body: DatasourceIn):
    """Add a datasource: its connection is tested and its tables discovered; nothing is saved
    when it cannot be reached. Answers `{"success": true, "datasource_id": N}`."""
    _require_perm(request, "add")
    try:
        url = make_url(body.connection_string.strip())
    except (ArgumentError, ValueError):
        return _failure(400, "The connection string is not a database URL")
    name = (body.name or url.database or body.type).strip()[:255]
    if DatasourceConfig.objects.filter(name=name).exists():
        return _failure(400, f"A datasource named {name!r} exists already")
    config = DatasourceConfig(
        name=name, datasource_type=body.type.strip().lower(), config_json=body.config,
        read_only=body.read_only,
    )  # fmt: skip
    config.set_connection(body.connection_string.strip())
    try:
        probe(config)
    except DatasourceError as exc:
        refused = isinstance(exc, DatasourceTypeUnavailable | InvalidOption)
        return _failure(400 if refused else 502, str(exc))
    config.save()
    try:
        report = discover_tables(config)
    except DatasourceError as exc:
        config.delete()
        return _failure(502, str(exc))
    return _answer(201, {"success": True, "datasource_id": config.pk, "message": str(report),
                         "tables": report.tables_added})  # fmt: skip


@router.post(
    "/datasources/{datasource_id}/sync",
    response={200: SyncOut, **ANY_ERRORS, 404: ErrorOut, 502: FailureOut},
    tags=["datasources"],
)
def sync_datasource(request: HttpRequest, datasource_id: int):
    """Read the schema again; answers the tables and columns added, removed and changed."""
    _require_perm(request, "change")
    config = DatasourceConfig.objects.filter(pk=datasource_id).first()
    if config is None:
        raise HttpError(404, "No such datasource")
    try:
        report = discover_tables(config)
    except DatasourceError as exc:
        return _failure(502, str(exc))
    return {"success": True, "message": str(report), **report.as_dict()}
