"""The row operations pages and the API both call: read a page, write, insert, delete.

Each checks access through core.access first, hides what the user may not see, and goes through
the table's datasource. All functions are synchronous (ORM and driver work); async callers run
them in a thread.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from itertools import repeat
from operator import itemgetter
from typing import Any

from django.conf import settings

from core import access, audit, events, locks, metadata_cache
from core.models import Change, ColumnMeta, TableMeta

from .base import BaseDatasource, Page, Query
from .connections import datasource_for
from .errors import (
    DatasourceError,
    InvalidQuery,
    InvalidValue,
    ReadOnlyTable,
    RowLocked,
    RowNotFound,
    WriteConflict,
)  # fmt: skip
from .values import decode_key, encode_key


class TableNotFound(DatasourceError):
    """No such table, or one the user may not read (they are told the same)."""

    status = 404


class NotAllowed(DatasourceError):
    status = 403


@dataclass
class OpenTable:
    """A table as one user may use it."""

    user: Any
    table: TableMeta
    columns: list[ColumnMeta]

    @property
    def datasource(self) -> BaseDatasource:
        return datasource_for(self.table.datasource)

    @property
    def config(self) -> dict:
        return self.table.table_config()

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @cached_property
    def all_kinds(self) -> dict[str, str]:
        """Every column's kind, hidden ones too (compare-and-set covers the whole row)."""
        return dict(self.table.columns.values_list("name", "kind"))

    @cached_property
    def public_columns(self) -> set[str]:
        """The columns every reader of the table sees (events go to all of them)."""
        return set(self.table.columns.filter(visible=True).values_list("name", flat=True))

    @property
    def hidden_columns(self) -> list[str]:
        """The table's columns this user may not see."""
        shown = set(self.column_names)
        return [name for name in self.all_kinds if name not in shown]

    def may(self, action: str) -> bool:
        return access.can(self.user, action, self.table)

    def describe_columns(self) -> list[dict]:
        return [
            {
                "name": c.name,
                "label": c.label,
                "type": c.kind,
                "db_type": c.db_type,
                "nullable": c.nullable,
                "primary_key": c.primary_key,
                "max_length": c.max_length,
                "editable": c.editable and not self.table.read_only,
                "references": c.references,
                "choices": list(c.choices or []),
            }
            for c in self.columns
        ]


def open_table(user: Any, table_id: Any) -> OpenTable:
    """The table if the user may read it; TableNotFound otherwise (no hint that it exists)."""
    try:
        pk = int(table_id)
        table, columns = metadata_cache.remember(("table", pk), lambda: _table_and_columns(pk))
    except (TableMeta.DoesNotExist, TypeError, ValueError):
        raise TableNotFound("No such table") from None
    if not table.visible or not access.can(user, "read", table):
        raise TableNotFound("No such table")
    sees_hidden = access.sees_hidden_columns(user, table)
    columns = [c for c in columns if sees_hidden or c.visible]
    return OpenTable(user=user, table=table, columns=columns)


def _table_and_columns(pk: int) -> tuple[TableMeta, list[ColumnMeta]]:
    """A table with its datasource and columns. Remembered and shared between requests: read
    it, never change it (OpenTable.columns is a list of the request's own)."""
    table = TableMeta.objects.select_related("datasource").get(pk=pk)
    return table, list(table.columns.all())


def _require(opened: OpenTable, action: str, doing: str) -> None:
    if opened.table.read_only:
        raise ReadOnlyTable(opened.table.read_only_message)
    if not opened.may(action):
        raise NotAllowed(f"You may not {doing} in {opened.table.label}")


def read_page(opened: OpenTable, query: Query) -> dict:
    """A page of rows in the API's shape."""
    if query.columns:
        unknown = [n for n in query.columns if n not in opened.column_names]
        if unknown:
            raise DatasourceError(f"Unknown column {unknown[0]!r}")
    else:
        query.columns = opened.column_names
    visible = set(opened.column_names)
    for name, _ in query.sort:
        if name not in visible:
            raise DatasourceError(f"Cannot sort by unknown column {name!r}")
    for flt in query.filters:
        if flt.column not in visible:
            raise DatasourceError(f"Cannot filter on unknown column {flt.column!r}")
    page = opened.datasource.get_page(opened.config, query)
    return {
        "columns": page.columns,
        "rows": [
            {"key": key, "values": values}
            for key, (_, values) in zip(_row_keys(opened, page), page.rows, strict=True)
        ],
        "count": page.count,
        "count_accuracy": page.count_accuracy if page.count is not None else None,
        "next": page.next,
    }


def _row_keys(opened: OpenTable, page: Page) -> Iterable[str | None]:
    """The encoded key of each row of a page (None for tables without a key)."""
    keys = opened.table.key_columns
    if not keys:
        return repeat(None, len(page.rows))
    found = map(itemgetter(*keys), (key for key, _ in page.rows))
    # itemgetter of one name gives the value itself: zip makes it a 1-tuple.
    return map(encode_key, zip(found) if len(keys) == 1 else found)


def cursor_after_row(opened: OpenTable, row_key: str) -> str:
    """A cursor for the rows after this one in key order (ascending or descending)."""
    keys = opened.table.key_columns
    return opened.datasource.cursor_after(decode_key(row_key, len(keys)))


def key_values(opened: OpenTable, row_key: str) -> dict:
    keys = opened.table.key_columns
    if not keys:
        raise ReadOnlyTable(opened.table.read_only_reason or "This table's rows have no key")
    return dict(zip(keys, decode_key(row_key, len(keys)), strict=True))


def _writable(opened: OpenTable, values: dict) -> None:
    allowed = {c.name for c in opened.columns}
    for name in values:
        if name not in allowed:
            raise InvalidValue(f"The table has no column {name!r}", str(name))


def get_row(opened: OpenTable, row_key: str) -> dict:
    return read_row(opened, row_key)[0]


def _visible(opened: OpenTable, row: dict) -> dict:
    return {n: row[n] for n in opened.column_names if n in row}


# Kinds whose stored values compare reliably in SQL (whole-row compare-and-set leaves the rest
# out: binary is read as its size, and json has no equality on every database).
_COMPARABLE = {"integer", "real", "decimal", "text", "boolean", "date", "datetime", "time",
               "uuid", "enum"}  # fmt: skip
# Retries when someone writes between our read of a row and our compare-and-set write of it.
_ATTEMPTS = 3


def row_version(row: dict) -> str:
    """A row's version (its ETag): changes whenever any of its values does.

    Keyed with the server's secret: it covers hidden columns too, and a plain hash would let
    someone who may not see them test guesses of their values against it."""
    text = json.dumps(row, sort_keys=True, default=str, ensure_ascii=False)
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()[:32]


def read_row(opened: OpenTable, row_key: str) -> tuple[dict, str]:
    """A row as the user may see it, and its version."""
    row = opened.datasource.get_row(opened.config, key_values(opened, row_key))
    if row is None:
        raise RowNotFound("No such row")
    return _visible(opened, row), row_version(row)


def _comparable(opened: OpenTable, row: dict, names: Any = None) -> dict:
    kinds = opened.all_kinds
    return {
        n: row[n]
        for n in (row if names is None else names)
        if n in row and kinds.get(n) in _COMPARABLE
    }


def _unlocked(opened: OpenTable, row_key: str) -> None:
    try:
        locks.ensure_free(opened.table, row_key, opened.user)
    except locks.RowLocked as exc:
        raise RowLocked(
            f"{exc.username} is editing this row; try again when they are done", exc.username
        ) from None


def lock_row(opened: OpenTable, row_key: str, holder: str):
    """Take (or renew) the lock on a row for an editor who may write it."""
    _require(opened, "write", "edit rows")
    key_values(opened, row_key)
    try:
        return locks.acquire(opened.table, row_key, opened.user, holder)
    except locks.RowLocked as exc:
        raise RowLocked(f"{exc.username} is editing this row", exc.username) from None


def unlock_row(opened: OpenTable, row_key: str, holder: str) -> bool:
    """Release the editor's lock; owners and admins break anyone's."""
    if locks.release(opened.table, row_key, holder):
        return True
    lock = locks.current(opened.table, row_key)
    if lock is None or lock.user_id == opened.user.pk:
        return False
    if not opened.may("owner"):
        raise NotAllowed(f"{lock.user.get_username()} holds this lock; only owners may break it")
    return locks.break_lock(opened.table, row_key, opened.user)


def _conflict(opened: OpenTable, current: dict) -> WriteConflict:
    return WriteConflict(
        "The row was changed by someone else since you read it", _visible(opened, current)
    )


def _publish(opened: OpenTable, kind: str, row_key: str, holder: str | None, **extra) -> None:
    events.publish(
        opened.table.pk,
        {"type": kind, "key": row_key, "user": opened.user.get_username(), "holder": holder,
         **extra},
    )  # fmt: skip


def update_row(
    opened: OpenTable,
    row_key: str,
    values: dict,
    expected: dict | None = None,
    *,
    version: str | None = None,
    holder: str | None = None,
    reverts: Change | None = None,
) -> dict:
    """Compare-and-set write of some cells; answers the row as stored.

    Against `expected` (the values the writer saw) or `version` (the row's version they read);
    with neither, against the values just read, so the audit's old values are exact. Refused
    while another user holds the row's lock. Audited and announced to the table's open views.
    """
    _require(opened, "write", "edit rows")
    _writable(opened, values)
    _writable(opened, expected or {})
    key = key_values(opened, row_key)
    _unlocked(opened, row_key)
    source, config = opened.datasource, opened.config
    for _ in range(_ATTEMPTS):
        before = source.get_row(config, key)
        if before is None:
            raise RowNotFound("The row no longer exists: someone deleted it")
        if version is not None and row_version(before) != version:
            raise _conflict(opened, before)
        if expected is not None:
            seen = expected
        else:
            seen = _comparable(opened, before, None if version is not None else values)
        cells = [(name, before.get(name), value) for name, value in values.items()]
        entries = audit.begin(opened.user, opened.table, "update", row_key, cells, reverts)
        try:
            stored = source.update_row(config, key, values, seen)
        except WriteConflict as exc:
            audit.fail(entries)
            if expected is None and version is None:
                continue  # written in between by someone else: read it again
            raise _conflict(opened, exc.current) from None
        except DatasourceError as exc:
            if exc.status < 500:  # refused (a bad value, a constraint): nothing was written
                audit.fail(entries)
            raise  # unreachable or timed out: it may have happened; left to settle()
        audit.confirm(entries, stored=stored)
        public = {n: v for n, v in stored.items() if n in opened.public_columns}
        _publish(opened, "row_updated", row_key, holder, values=public)
        return _visible(opened, stored)
    raise _conflict(opened, before)


def insert_row(
    opened: OpenTable, values: dict, *, holder: str | None = None, reverts: Change | None = None
) -> dict:
    """Add a row; answers its key and values. Audited and announced."""
    _require(opened, "write", "add rows")
    _writable(opened, values)
    entries = audit.begin(opened.user, opened.table, "insert", "", [("", None, values)], reverts)
    source, config = opened.datasource, opened.config
    try:
        key = source.insert_row(config, values)
    except (InvalidValue, InvalidQuery, ReadOnlyTable):
        audit.fail(entries)
        raise
    except DatasourceError as exc:
        if exc.status < 500:  # refused by the database (a duplicate key, a constraint)
            audit.fail(entries)
        raise
    row_key = encode_key([key[k] for k in opened.table.key_columns])
    row = source.get_row(config, key) or {}
    audit.confirm(entries, row_key=row_key, stored={"": row})
    _publish(opened, "row_inserted", row_key, holder)
    return {"key": row_key, "values": _visible(opened, row)}


def delete_rows(
    opened: OpenTable,
    row_keys: list[str],
    *,
    expected: dict | None = None,
    version: str | None = None,
    holder: str | None = None,
    reverts: Change | None = None,
) -> int:
    """Delete rows by key; answers how many were deleted. Each delete records the whole row, so
    it can be restored; `expected` or `version` make a single delete compare-and-set."""
    _require(opened, "delete", "delete rows")
    keys = [(row_key, key_values(opened, row_key)) for row_key in row_keys]
    for row_key, _ in keys:
        _unlocked(opened, row_key)
    return sum(
        _delete_one(opened, row_key, key, expected, version, holder, reverts)
        for row_key, key in keys
    )


def _delete_one(opened, row_key, key, expected, version, holder, reverts) -> int:
    source, config = opened.datasource, opened.config
    for _ in range(_ATTEMPTS):
        before = source.get_row(config, key)
        if before is None:
            return 0
        if version is not None and row_version(before) != version:
            raise _conflict(opened, before)
        seen = expected if expected is not None else _comparable(opened, before)
        entries = audit.begin(
            opened.user, opened.table, "delete", row_key, [("", before, None)], reverts
        )
        try:
            deleted = source.delete_by_key(config, key, seen)
        except DatasourceError as exc:
            if exc.status < 500:  # refused (a foreign key points at it): nothing was deleted
                audit.fail(entries)
            raise
        if deleted:
            audit.confirm(entries)
            _publish(opened, "row_deleted", row_key, holder)
            return 1
        audit.fail(entries)
        if expected is not None or version is not None:
            current = source.get_row(config, key)
            if current is None:
                return 0
            raise _conflict(opened, current)
    raise _conflict(opened, before)
