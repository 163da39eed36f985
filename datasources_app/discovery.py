"""Schema discovery: bring Nocoflo's table and column metadata in line with the database.

Display names and visibility of what still exists are kept; what disappeared is removed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction

from core.models import ColumnMeta, TableMeta

from .connections import datasource_for
from .models import DatasourceConfig

# Column attributes that come from the database and are refreshed on every sync.
_DISCOVERED = (
    "kind", "db_type", "nullable", "primary_key", "default", "max_length", "references", "choices",
)  # fmt: skip


@dataclass
class SyncReport:
    """What a sync changed: tables, and columns of tables that stayed ("table.column")."""

    tables_added: list[str] = field(default_factory=list)
    tables_removed: list[str] = field(default_factory=list)
    tables_changed: list[str] = field(default_factory=list)
    columns_added: list[str] = field(default_factory=list)
    columns_removed: list[str] = field(default_factory=list)
    columns_changed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {name: list(getattr(self, name)) for name in self.__dataclass_fields__}

    def __str__(self) -> str:
        tables = (self.tables_added, self.tables_removed, self.tables_changed)
        columns = (self.columns_added, self.columns_removed, self.columns_changed)
        return (
            "tables: {} added, {} removed, {} changed; columns: {} added, {} removed, {} "
            "changed".format(*(len(t) for t in tables), *(len(c) for c in columns))
        )


def discover_tables(config: DatasourceConfig) -> SyncReport:
    """Read every table of the datasource and update TableMeta and ColumnMeta to match."""
    datasource = datasource_for(config)
    datasource.forget()
    found = datasource.list_tables()
    schemas = {}
    for entry in found:
        table_config = {"name": entry["name"], "schema": entry["schema"] or None,
                        "is_view": entry["is_view"]}  # fmt: skip
        columns = datasource.get_schema(table_config)
        keys = datasource.key_columns_for(table_config)
        schemas[(entry["schema"] or "", entry["name"])] = (entry, columns, keys)

    report = SyncReport()
    with transaction.atomic():
        existing = {(t.schema, t.name): t for t in config.tables.all()}
        for ident, table in existing.items():
            if ident not in schemas:
                report.tables_removed.append(_label(ident))
                table.delete()
        for ident, (entry, columns, keys) in schemas.items():
            table = existing.get(ident)
            if table is None:
                table = TableMeta(datasource=config, schema=ident[0], name=ident[1])
                report.tables_added.append(_label(ident))
            elif _sync_columns_changed(table, columns) or table.key_columns != keys:
                report.tables_changed.append(_label(ident))
            new_table = table.pk is None
            table.is_view = entry["is_view"]
            table.key_columns = keys
            table.read_only_reason = _read_only_reason(entry, keys)
            table.save()
            added, removed, changed = _sync_columns(table, columns)
            if not new_table:
                prefix = _label(ident) + "."
                report.columns_added += [prefix + name for name in added]
                report.columns_removed += [prefix + name for name in removed]
                report.columns_changed += [prefix + name for name in changed]
    return report


def _label(ident: tuple[str, str]) -> str:
    return f"{ident[0]}.{ident[1]}" if ident[0] else ident[1]


def _read_only_reason(entry: dict, keys: list[str]) -> str:
    if entry.get("read_only_reason"):  # a datasource that cannot write says why in its words
        return str(entry["read_only_reason"])[:255]
    if keys:
        return ""
    if entry["is_view"]:
        return "This is a database view without a primary key, so its rows cannot be edited."
    return "This table has no primary key, so Nocoflo cannot tell its rows apart to edit them."


def _sync_columns_changed(table: TableMeta, columns: list[dict]) -> bool:
    current = {c.name: c for c in table.columns.all()}
    if set(current) != {c["name"] for c in columns}:
        return True
    return any(
        getattr(current[c["name"]], attr) != _value(c, attr)
        for c in columns
        for attr in _DISCOVERED
    )


def _value(column: dict, attr: str):
    value = column.get(attr)
    if attr in ("db_type", "default", "references"):
        return value or ""
    if attr == "choices":
        return list(value or [])
    return value


def _sync_columns(table: TableMeta, columns: list[dict]) -> tuple[list, list, list]:
    """Update the table's columns; answers the names added, removed and changed."""
    current = {c.name: c for c in table.columns.all()}
    names = {c["name"] for c in columns}
    removed = sorted(set(current) - names)
    table.columns.filter(name__in=removed).delete()
    added, changed = [], []
    for position, column in enumerate(columns):
        meta = current.get(column["name"])
        if meta is None:
            meta = ColumnMeta(table=table, name=column["name"])
            added.append(column["name"])
        elif any(getattr(meta, attr) != _value(column, attr) for attr in _DISCOVERED):
            changed.append(column["name"])
        meta.position = position
        for attr in _DISCOVERED:
            setattr(meta, attr, _value(column, attr))
        meta.save()
    return added, removed, changed
