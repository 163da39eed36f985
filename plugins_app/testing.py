"""Helpers for testing Nocoflo plugins: load a plugin the way Nocoflo does, find an installed one
through its entry point, make sample tables, pages and SQLite files, and check a datasource
against the datasource contract.

Importing this module needs no configured Django; the helpers that need it call `setup_django()`,
which configures Nocoflo's settings with a throwaway data directory unless the environment names
one. A plugin's tests usually call `setup_django()` in their conftest.py, before the plugin's
module (which may import Nocoflo's models) is imported::

    # tests/conftest.py
    from plugins_app.testing import setup_django

    setup_django()

The helpers that check something report a failure as an AssertionError whose message says what
went wrong (the plugin manager's own message when it refuses a plugin), so a plugin's test reads
as a list of plain calls.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import inspect
import os
import shutil
import sqlite3
import tempfile
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .manager import PluginInfo, PluginManager

__all__ = [
    "COLUMN_KINDS",
    "ESSENTIAL_BUILTINS",
    "SAMPLE_COLUMNS",
    "SAMPLE_TABLE",
    "check_datasource",
    "config_errors",
    "installed_plugin",
    "load_plugin",
    "plugin_manager",
    "sample_page",
    "sample_rows",
    "sample_sqlite_database",
    "sample_table_meta",
    "setup_django",
]

# The built-ins the helpers' managers load next to the plugin under test: the ones Nocoflo cannot
# work without (the table view and the SQLite datasource).
ESSENTIAL_BUILTINS = ("views_app.builtin.table", "datasources_app.builtin.sqlite")

# The kinds a datasource may give a column (core.models.ColumnMeta.Kind).
COLUMN_KINDS = frozenset(
    {"integer", "real", "decimal", "text", "boolean", "date", "datetime", "time", "json", "uuid",
     "enum", "array", "binary", "other"}
)  # fmt: skip

# What get_schema tells about each column.
SCHEMA_KEYS = frozenset(
    {"name", "kind", "db_type", "nullable", "primary_key", "default", "max_length", "references"}
)

# The table sample_sqlite_database writes, as sample_table_meta describes it by default.
SAMPLE_TABLE = "items"
SAMPLE_COLUMNS = (
    {"name": "id", "type": "integer", "nullable": False, "primary_key": True},
    {"name": "name", "type": "text", "nullable": False, "primary_key": False},
    {"name": "category", "type": "text", "nullable": True, "primary_key": False},
    {"name": "amount", "type": "real", "nullable": True, "primary_key": False},
    {"name": "quantity", "type": "integer", "nullable": True, "primary_key": False},
    {"name": "active", "type": "boolean", "nullable": True, "primary_key": False},
    {"name": "created", "type": "date", "nullable": True, "primary_key": False},
)
_SAMPLE_DDL = """
CREATE TABLE {table} (
    id INTEGER PRIMARY KEY,
    name VARCHAR(40) NOT NULL,
    category VARCHAR(20),
    amount REAL,
    quantity INTEGER,
    active BOOLEAN,
    created DATE
)
"""
_CATEGORIES = ("red", "green", "blue")

# Values written by check_datasource's insert, by column kind.
_NEW_VALUES: dict[str, Any] = {
    "integer": 4242,
    "real": 2.5,
    "decimal": "12.50",
    "boolean": True,
    "date": "2024-02-29",
    "datetime": "2024-02-29 12:34:56",
    "time": "12:34:56",
    "json": {"checked": True},
}
# Kinds Nocoflo shows but never writes.
_READ_ONLY_KINDS = ("binary", "array", "other")

_SOURCE = "registered by plugins_app.testing"


# --- Django ----------------------------------------------------------------------------------


def setup_django() -> None:
    """Configure Django with Nocoflo's settings, once; later calls do nothing.

    DJANGO_SETTINGS_MODULE defaults to nocoflo_project.settings. Unless NOCOFLO_DATA_DIR is set,
    it is pointed at a new temporary folder (removed when the process ends), so tests never
    write into a real data directory.
    """
    from django.apps import apps
    from django.conf import settings

    if apps.ready:
        return
    if not settings.configured:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nocoflo_project.settings")
        if not os.environ.get("NOCOFLO_DATA_DIR"):
            data_dir = tempfile.mkdtemp(prefix="nocoflo-plugin-tests-")
            atexit.register(shutil.rmtree, data_dir, ignore_errors=True)
            os.environ["NOCOFLO_DATA_DIR"] = data_dir
    import django

    django.setup()


# --- plugins ---------------------------------------------------------------------------------


def plugin_manager(
    *plugins: Any, builtins: Iterable[str] = ESSENTIAL_BUILTINS, entry_points: bool = False
) -> PluginManager:
    """A fresh plugin manager (not the process's) with the essential built-ins and `plugins`
    registered and enabled.

    A plugin may be given as an instance, a class (instantiated) or a module (its plugin classes,
    or its module-level hook implementations). Raises AssertionError with the manager's message
    when a built-in or one of the plugins fails to load or is refused.
    """
    setup_django()
    from .manager import PluginManager

    manager = PluginManager(builtins=builtins, entry_points=entry_points)
    manager.load_plugins()
    failed = [info.error for info in manager.plugins.values() if info.obj is None]
    if failed and not entry_points:
        raise AssertionError("a built-in plugin failed to load: " + "; ".join(failed))
    for plugin in plugins:
        for obj in _plugin_objects(plugin):
            _register(manager, obj)
    return manager


def load_plugin(plugin: Any, config: Mapping[str, Any] | None = None) -> PluginInfo:
    """Register one plugin (instance, class or module) in a fresh manager, the way Nocoflo loads
    it, and answer its PluginInfo (enabled, health "ok").

    With `config`, the configuration is then handed over as an admin's change is: validated
    against the plugin's schema and passed to its `configure` hook. Raises AssertionError with the
    manager's message when the plugin or the configuration is refused (a misspelt hook, an
    unsupported plugin API version, a duplicate name, an invalid configuration...). Use
    `plugin_manager` to ask the manager about the plugin afterwards (the views offered for a
    table, the datasource class for a scheme).
    """
    objects = _plugin_objects(plugin)
    if len(objects) != 1:
        names = ", ".join(_name_of(obj) for obj in objects)
        raise AssertionError(f"{plugin!r} holds {len(objects)} plugins ({names}); pass one")
    manager = plugin_manager(objects[0])
    info = manager.plugins[_name_of(objects[0])]
    if config is not None:
        from .manager import PluginError

        try:
            manager.configure(info.name, dict(config))
        except PluginError as exc:
            raise AssertionError(f"plugin {info.name!r} refused the configuration: {exc}") from exc
    return info


def installed_plugin(name: str) -> PluginInfo:
    """The PluginInfo of the plugin `name` as a fresh manager finds it through the entry points
    of group "nocoflo" of the installed distributions (its `source` names the distribution).

    The manager enables no third-party plugin, so the answer shows whether the plugin starts
    disabled. Raises AssertionError when no installed distribution provides the plugin or when
    it failed to load.
    """
    import importlib.metadata

    setup_django()
    from .hookspecs import PROJECT_NAME
    from .manager import PluginManager

    manager = PluginManager(builtins=ESSENTIAL_BUILTINS, entry_points=True)
    manager.load_plugins()
    info = manager.plugins.get(name)
    if info is None:
        found = sorted(ep.name for ep in importlib.metadata.entry_points(group=PROJECT_NAME))
        raise AssertionError(
            f"no installed plugin named {name!r} (entry points of group {PROJECT_NAME!r}: "
            f"{', '.join(found) or 'none'}); install its distribution, e.g. pip install -e ."
        )
    if info.obj is None or info.health != "ok":
        raise AssertionError(info.error or f"plugin {name!r} did not load ({info.health})")
    return info


def config_errors(plugin: Any, config: Any) -> list[str]:
    """What is wrong with `config` for this plugin (instance, class or module), by the JSON
    Schema its `get_config_schema` hook answers: an empty list when the configuration is valid.

    Raises AssertionError when the plugin declares no schema or its schema is not valid JSON
    Schema.
    """
    import jsonschema

    obj = _plugin_objects(plugin)[0]
    hook = getattr(obj, "get_config_schema", None)
    if hook is None:
        raise AssertionError(f"plugin {_name_of(obj)!r} has no get_config_schema hook")
    schema = hook()
    validator_cls = jsonschema.validators.validator_for(schema)
    try:
        validator_cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise AssertionError(
            f"the configuration schema of {_name_of(obj)!r} is not valid JSON Schema: {exc.message}"
        ) from exc
    errors = []
    for error in validator_cls(schema).iter_errors(config):
        where = "/".join(str(part) for part in error.absolute_path)
        errors.append(f"{where}: {error.message}" if where else error.message)
    return sorted(errors)


def _plugin_objects(plugin: Any) -> list[Any]:
    from .manager import plugins_in_module

    if inspect.ismodule(plugin):
        found = plugins_in_module(plugin)
        if not found:
            raise AssertionError(f"{plugin.__name__} defines no Nocoflo hook implementations")
        return found
    return [plugin() if inspect.isclass(plugin) else plugin]


def _name_of(obj: Any) -> str:
    from .manager import plugin_name_for

    return plugin_name_for(obj)


def _register(manager: PluginManager, obj: Any) -> PluginInfo:
    name = _name_of(obj)
    info = manager.register_plugin(obj, source=_SOURCE, enabled=True)
    if info is None:
        failure = manager.plugins.get(f"{name} (duplicate)") or manager.plugins.get(name)
        message = failure.error if failure is not None and failure.error else "refused"
        raise AssertionError(f"plugin {name!r} did not load: {message}")
    if info.health != "ok":
        raise AssertionError(f"plugin {name!r} is {info.health}: {info.error}")
    return info


# --- sample data -----------------------------------------------------------------------------


def sample_table_meta(
    columns: Sequence[Any] | Mapping[str, str] | None = None,
    *,
    name: str = SAMPLE_TABLE,
    table_id: int = 1,
    label: str | None = None,
    read_only: bool = False,
) -> dict:
    """A `table_meta` dict as views receive it in `can_handle_table`.

    `columns` defaults to the columns of sample_sqlite_database's table. Each column may be a
    dict (missing keys filled in), a (name, type) pair, or `columns` may map names to types; the
    first column is the primary key unless a column says otherwise.
    """
    if columns is None:
        given: list[dict] = [dict(c) for c in SAMPLE_COLUMNS]
    elif isinstance(columns, Mapping):
        given = [{"name": n, "type": t} for n, t in columns.items()]
    else:
        given = [
            dict(c) if isinstance(c, Mapping) else {"name": c[0], "type": c[1]} for c in columns
        ]
    has_key = any(c.get("primary_key") for c in given)
    described = []
    for position, column in enumerate(given):
        key = bool(column.get("primary_key", not has_key and position == 0))
        described.append(
            {
                "name": column["name"],
                "type": column.get("type", "text"),
                "nullable": column.get("nullable", not key),
                "primary_key": key,
            }
        )
    return {
        "id": table_id,
        "name": name,
        "label": label if label is not None else name.replace("_", " ").capitalize(),
        "read_only": read_only,
        "columns": described,
    }


def sample_rows(count: int = 20) -> list[dict]:
    """The rows sample_sqlite_database writes (as a page shows them): ids 1..count, every fifth
    quantity empty."""
    start = dt.date(2024, 1, 1)
    return [
        {
            "id": i,
            "name": f"item {i}",
            "category": _CATEGORIES[i % len(_CATEGORIES)],
            "amount": round(i * 1.25, 2),
            "quantity": None if i % 5 == 0 else i % 7,
            "active": i % 2 == 0,
            "created": (start + dt.timedelta(days=i)).isoformat(),
        }
        for i in range(1, count + 1)
    ]


def sample_sqlite_database(path: str | Path, rows: int = 20, *, table: str = SAMPLE_TABLE) -> Path:
    """Write a SQLite file at `path` holding `table` (columns as in SAMPLE_COLUMNS) with `rows`
    rows of sample_rows; answers the path. The file must not exist yet."""
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path} exists already")
    if not table.isidentifier():
        raise ValueError(f"{table!r} is not a plain table name")
    path.parent.mkdir(parents=True, exist_ok=True)
    names = [c["name"] for c in SAMPLE_COLUMNS]
    connection = sqlite3.connect(path)
    try:
        with connection:
            connection.execute(_SAMPLE_DDL.format(table=table))
            connection.executemany(
                f"INSERT INTO {table} ({', '.join(names)}) "  # noqa: S608 (identifier checked)
                f"VALUES ({', '.join('?' for _ in names)})",
                [tuple(_sqlite_value(r[n]) for n in names) for r in sample_rows(rows)],
            )
    finally:
        connection.close()
    return path


def _sqlite_value(value: Any) -> Any:
    return int(value) if isinstance(value, bool) else value


def sample_page(
    rows: Sequence[Mapping[str, Any]],
    *,
    count: int | None = None,
    key_columns: Sequence[str] = ("id",),
    next_cursor: str | None = None,
) -> dict:
    """A page of rows in the shape `datasources_app.rows.read_page` answers (what a view gets
    from `await self.context.run(rows.read_page, query)`); `count` defaults to len(rows)."""
    from datasources_app.values import encode_key

    columns: list[str] = []
    for row in rows:
        columns += [name for name in row if name not in columns]
    return {
        "columns": columns,
        "rows": [
            {
                "key": encode_key([row[k] for k in key_columns]) if key_columns else None,
                "values": dict(row),
            }
            for row in rows
        ],
        "count": len(rows) if count is None else count,
        "next": next_cursor,
    }


# --- the datasource contract -----------------------------------------------------------------


def check_datasource(
    datasource_cls: type,
    url: str,
    table: str,
    *,
    config: Mapping[str, Any] | None = None,
    schema: str | None = None,
    writable: bool | None = None,
    new_row: Mapping[str, Any] | None = None,
    page_size: int = 7,
) -> dict:
    """Check a datasource class against the contract Nocoflo relies on, on a real database.

    Opens `datasource_cls(url, config)` (with Nocoflo's timeouts) and checks: test_connection
    answers True; list_tables lists `table`; get_schema describes each column with the expected
    keys and a known kind; paging through get_page with cursors reads every row once, agreeing
    with count and with get_row; get_table_data agrees; a filter on the key finds the row.
    When the table is writable (default: it has key columns and is no view), a row is inserted
    (`new_row`, or values made up from the schema), read back, updated with compare-and-set,
    refused as a conflict when stale, and deleted again; the table is left as it was.

    Answers a report: {"table", "columns", "key_columns", "count", "is_view", "writable"}.
    Raises AssertionError on the first broken promise.
    """
    from datasources_app.base import BaseDatasource

    if not (inspect.isclass(datasource_cls) and issubclass(datasource_cls, BaseDatasource)):
        raise AssertionError(f"{datasource_cls!r} is not a BaseDatasource subclass")
    options = {"connect_timeout": 5.0, "statement_timeout": 10.0, **(config or {})}
    datasource = datasource_cls(url, options)
    try:
        return _check(datasource, table, schema, writable, new_row, page_size)
    finally:
        datasource.close()


def _check(
    datasource: Any,
    table: str,
    schema: str | None,
    writable: bool | None,
    new_row: Mapping[str, Any] | None,
    page_size: int,
) -> dict:
    from datasources_app.base import Filter, Query

    _expect(datasource.test_connection() is True, "test_connection() did not answer True")

    tables = datasource.list_tables()
    _expect(isinstance(tables, list), "list_tables() did not answer a list")
    for item in tables:
        missing = {"name", "schema", "is_view"} - set(item)
        _expect(not missing, f"list_tables() entry {item!r} lacks {sorted(missing)}")
    listed = [t for t in tables if t["name"] == table and (schema is None or t["schema"] == schema)]
    _expect(listed, f"list_tables() does not list {table!r}: {[t['name'] for t in tables]}")
    is_view = bool(listed[0]["is_view"])

    # As Nocoflo's discovery asks (a view's rows have no rowid to fall back on).
    config: dict[str, Any] = {"name": table, "schema": schema or None, "is_view": is_view}
    columns = datasource.get_schema(config)
    _expect(columns, f"get_schema() answered no columns for {table!r}")
    for column in columns:
        missing = SCHEMA_KEYS - set(column)
        _expect(not missing, f"get_schema() column {column!r} lacks {sorted(missing)}")
        _expect(
            column["kind"] in COLUMN_KINDS,
            f"column {column['name']!r} has kind {column['kind']!r}, not one of Nocoflo's",
        )
    names = [c["name"] for c in columns]
    _expect(len(set(names)) == len(names), f"get_schema() repeats a column: {names}")
    keys = list(datasource.key_columns_for(config))
    # Mostly columns; SQLite tables without a primary key are keyed by their rowid.
    _expect(all(isinstance(k, str) for k in keys), f"key_columns_for() answered {keys!r}")
    config["key_columns"] = keys

    total = datasource.count(config, Query())
    _expect(isinstance(total, int) and total >= 0, f"count() answered {total!r}, not a row count")
    seen, first_rows = _read_all_pages(datasource, config, names, keys, total, page_size)

    if keys:
        for key, values in first_rows[:5]:
            found = datasource.get_row(config, key)
            _expect(found == values, f"get_row({key!r}) answered {found!r}, the page {values!r}")
        if first_rows and len(keys) == 1 and keys[0] in names:
            key = first_rows[0][0]
            matching = datasource.count(
                config, Query(filters=[Filter(keys[0], "eq", key[keys[0]])])
            )
            _expect(matching == 1, f"filtering on {keys[0]} = {key[keys[0]]!r} counted {matching}")

    data_columns, data_rows = datasource.get_table_data(config, limit=3)
    _expect(list(data_columns) == names, f"get_table_data() columns {data_columns} != {names}")
    _expect(
        len(data_rows) == min(3, total),
        f"get_table_data(limit=3) answered {len(data_rows)} rows of {total}",
    )

    if writable is None:
        writable = bool(keys) and not is_view
    if writable:
        _expect(keys, f"{table!r} has no key columns, so its rows cannot be written")
        _check_writes(datasource, config, columns, keys, total, new_row)
    return {
        "table": table,
        "columns": names,
        "key_columns": keys,
        "count": total,
        "is_view": is_view,
        "writable": writable,
        "rows_read": seen,
    }


def _read_all_pages(
    datasource: Any, config: dict, names: list[str], keys: list[str], total: int, page_size: int
) -> tuple[int, list[tuple[dict, dict]]]:
    """Page through the table by cursors; answers the rows read and the first page's rows."""
    from datasources_app.base import Query

    max_pages = 200
    cursor: str | None = None
    seen_keys: set[str] = set()
    read = 0
    first_rows: list[tuple[dict, dict]] = []
    for number in range(max_pages):
        page = datasource.get_page(
            config, Query(limit=page_size, cursor=cursor, with_count=number == 0)
        )
        _expect(list(page.columns) == names, f"get_page() columns {page.columns} != {names}")
        if number == 0:
            _expect(page.count == total, f"get_page() counted {page.count}, count() {total}")
            first_rows = list(page.rows)
        _expect(len(page.rows) <= page_size, f"get_page() answered more than {page_size} rows")
        for key, values in page.rows:
            _expect(list(values) == names, f"a row's values {list(values)} != columns {names}")
            _expect(list(key) == keys, f"a row's key {key!r} does not name {keys}")
            if keys:
                marker = repr(sorted(key.items()))
                _expect(marker not in seen_keys, f"paging read the row {key!r} twice")
                seen_keys.add(marker)
        read += len(page.rows)
        cursor = page.next
        if cursor is None:
            break
    else:
        return read, first_rows  # a large table: the pages read agreed so far
    _expect(read == total, f"paging through the table read {read} rows; count() says {total}")
    return read, first_rows


def _check_writes(
    datasource: Any,
    config: dict,
    columns: list[dict],
    keys: list[str],
    total: int,
    new_row: Mapping[str, Any] | None,
) -> None:
    from datasources_app.base import Query
    from datasources_app.errors import WriteConflict

    row = dict(new_row) if new_row is not None else _made_up_row(columns, keys)
    by_name = {c["name"]: c for c in columns}
    key = datasource.insert_row(config, row)
    _expect(
        isinstance(key, dict) and sorted(key) == sorted(keys),
        f"insert_row() answered {key!r}, not the new row's key columns {keys}",
    )
    try:
        stored = datasource.get_row(config, key)
        _expect(stored is not None, f"get_row({key!r}) found no row just inserted")
        for name, value in row.items():
            _expect(
                _same(by_name[name], stored[name], value),
                f"column {name!r} was written as {value!r} but reads back as {stored[name]!r}",
            )
        counted = datasource.count(config, Query())
        _expect(counted == total + 1, f"count() is {counted} after an insert into {total} rows")

        name, changed = _change(columns, keys, row, stored)
        updated = datasource.update_row(config, key, {name: changed}, {name: stored[name]})
        _expect(
            _same(by_name[name], updated[name], changed),
            f"update_row() answered {name!r} = {updated[name]!r}, not {changed!r}",
        )
        try:
            datasource.update_row(config, key, {name: stored[name]}, {name: stored[name]})
        except WriteConflict as exc:
            _expect(
                _same(by_name[name], exc.current[name], changed),
                "the WriteConflict does not carry the current row",
            )
        else:
            raise AssertionError("update_row() with stale expected values did not conflict")
    except BaseException:
        with contextlib.suppress(Exception):  # leave the table as it was; the failure stands
            datasource.delete_by_key(config, key)
        raise
    deleted = datasource.delete_by_key(config, key)
    _expect(deleted is True, f"delete_by_key({key!r}) did not answer True")
    _expect(datasource.get_row(config, key) is None, "the deleted row can still be read")
    counted = datasource.count(config, Query())
    _expect(counted == total, f"count() is {counted} after deleting the new row, not {total}")


def _made_up_row(columns: list[dict], keys: list[str]) -> dict:
    """Values for every writable column (the key too, unless it is a single integer column the
    database numbers)."""
    by_name = {c["name"]: c for c in columns}
    numbered = len(keys) == 1 and by_name.get(keys[0], {"kind": "integer"})["kind"] == "integer"
    token = uuid.uuid4().hex[:8]
    row: dict[str, Any] = {}
    for column in columns:
        name, kind = column["name"], column["kind"]
        if name in keys and numbered:
            continue
        required = name in keys or not (column["nullable"] or column["default"])
        if column["references"] or kind in _READ_ONLY_KINDS:
            if required:
                raise AssertionError(
                    f"cannot make up a value for {name!r} ({kind}); pass new_row=..."
                )
            continue
        if kind == "enum":
            choices = column.get("choices") or []
            if not choices:
                continue
            value: Any = choices[0]
        elif kind == "text":
            value = f"nocoflo check {token}"
        elif kind == "uuid":
            value = str(uuid.uuid4())
        elif kind == "integer" and name in keys:
            value = int(token, 16)
        else:
            value = _NEW_VALUES[kind]
        if isinstance(value, str) and column.get("max_length"):
            value = value[-column["max_length"] :]
        row[name] = value
    return row


def _change(columns: list[dict], keys: list[str], row: dict, stored: dict) -> tuple[str, Any]:
    """A column to update and its new value."""
    for column in columns:
        name, kind = column["name"], column["kind"]
        if name in keys or name not in row:
            continue
        if kind == "text":
            value = f"changed {uuid.uuid4().hex[:6]}"
            return name, value[-column["max_length"] :] if column.get("max_length") else value
        if kind in ("integer", "real") and isinstance(stored[name], int | float):
            return name, stored[name] + 1
        if kind == "boolean" and isinstance(stored[name], bool):
            return name, not stored[name]
    raise AssertionError("no text, number or boolean column to check updates with")


def _same(column: dict, read: Any, written: Any) -> bool:
    """Equal as values of the column's kind (a date written as text reads back as a date...)."""
    from datasources_app.errors import InvalidValue
    from datasources_app.values import ColumnSpec, coerce

    spec = ColumnSpec(column["name"], column["kind"])
    try:
        return coerce(spec, read) == coerce(spec, written)
    except InvalidValue:
        return read == written


def _expect(condition: Any, message: str) -> None:
    if not condition:
        raise AssertionError(message)
