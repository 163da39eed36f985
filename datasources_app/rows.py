"""The row operations pages and the API both call: read a page, write, insert, delete.

Each checks access through core.access first, hides what the user may not see, and goes through
the table's datasource. All functions are synchronous (ORM and driver work); async callers run
them in a thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core import access
from core.models import ColumnMeta, TableMeta

from .base import BaseDatasource, Query
from .connections import datasource_for
from .errors import DatasourceError, InvalidValue, ReadOnlyTable, RowNotFound
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
        table = TableMeta.objects.select_related("datasource").get(pk=int(table_id))
    except (TableMeta.DoesNotExist, TypeError, ValueError):
        raise TableNotFound("No such table") from None
    if not table.visible or not access.can(user, "read", table):
        raise TableNotFound("No such table")
    columns = list(table.columns.all())
    if not access.sees_hidden_columns(user, table):
        columns = [c for c in columns if c.visible]
    return OpenTable(user=user, table=table, columns=columns)


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
    keys = opened.table.key_columns
    return {
        "columns": page.columns,
        "rows": [
            {"key": encode_key([key[k] for k in keys]) if keys else None, "values": values}
            for key, values in page.rows
        ],
        "count": page.count,
        "next": page.next,
    }


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
    row = opened.datasource.get_row(opened.config, key_values(opened, row_key))
    if row is None:
        raise RowNotFound("No such row")
    return _visible(opened, row)


def _visible(opened: OpenTable, row: dict) -> dict:
    return {n: row[n] for n in opened.column_names if n in row}


def update_row(opened: OpenTable, row_key: str, values: dict, expected: dict | None) -> dict:
    """Compare-and-set write of some cells; answers the row as stored."""
    _require(opened, "write", "edit rows")
    _writable(opened, values)
    _writable(opened, expected or {})
    row = opened.datasource.update_row(opened.config, key_values(opened, row_key), values, expected)
    return _visible(opened, row)


def insert_row(opened: OpenTable, values: dict) -> dict:
    """Add a row; answers its key and values."""
    _require(opened, "write", "add rows")
    _writable(opened, values)
    key = opened.datasource.insert_row(opened.config, values)
    row_key = encode_key([key[k] for k in opened.table.key_columns])
    row = opened.datasource.get_row(opened.config, key) or {}
    return {"key": row_key, "values": _visible(opened, row)}


def delete_rows(opened: OpenTable, row_keys: list[str]) -> int:
    """Delete rows by key; answers how many were deleted."""
    _require(opened, "delete", "delete rows")
    keys = [key_values(opened, k) for k in row_keys]
    return sum(1 for key in keys if opened.datasource.delete_by_key(opened.config, key))
