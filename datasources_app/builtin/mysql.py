"""The built-in MySQL/MariaDB datasource (mysqlclient), registered as a plugin like SQLite.

MySQLdb is imported here, at module import: without mysqlclient the plugin manager records this
plugin as failed to load (by name, with the ImportError) and everything else goes on.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import MySQLdb  # noqa: F401  (mysqlclient: the driver this plugin needs)
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import URL, make_url

from plugins_app.hookspecs import hookimpl

from ..errors import DatasourceError, DatasourceUnavailable, QueryTimeout
from ..sql import SQLAlchemyDatasource

DRIVER = "mysql+mysqldb"
# Server error numbers: statement time limit (MariaDB 1969, MySQL 3024); cannot connect, lost,
# gone away, refused logins, unknown database, too many connections.
TIMEOUT_ERRORS = {1969, 3024}
UNAVAILABLE_ERRORS = {
    1040, 1044, 1045, 1049, 1129, 1130, 1203, 1698, 2002, 2003, 2005, 2006, 2013, 2026, 2055, 4031,
}  # fmt: skip
# MariaDB stores JSON as LONGTEXT with CHECK (json_valid(`column`)).
JSON_CHECK = re.compile(r"^\s*json_valid\(`((?:[^`]|``)+)`\)\s*$", re.IGNORECASE)
MARIADB_JSON_CHECKS = sa.text(
    "SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS "
    "WHERE CONSTRAINT_SCHEMA = COALESCE(:schema, DATABASE()) AND TABLE_NAME = :table"
)


def normalise_url(connection_string: str) -> URL:
    """`mysql://` and `mariadb://` URLs (any driver) as mysqlclient URLs in utf8mb4."""
    url = make_url(connection_string)
    if url.get_backend_name() not in ("mysql", "mariadb"):
        raise DatasourceUnavailable(
            f"A MySQL datasource needs a mysql:// or mariadb:// URL, not {url.drivername}://"
        )
    if not url.database:
        raise DatasourceUnavailable("A MySQL datasource needs a database name in its URL")
    return url.set(drivername=DRIVER).update_query_dict({"charset": "utf8mb4"})


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


class UTCTimestamp(sa.types.TypeDecorator):
    """MySQL's TIMESTAMP is an instant, shown in the session's time zone, which Nocoflo sets to
    UTC: read as aware UTC datetimes, aware values written as UTC."""

    impl = mysql.TIMESTAMP
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        return _naive_utc(value)

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        if isinstance(value, dt.datetime) and value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value


def _naive_utc(value: Any) -> Any:
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


# InnoDB's own estimate of a table's rows (what SHOW TABLE STATUS shows); NULL for views.
ESTIMATE_SQL = sa.text(
    "SELECT TABLE_ROWS FROM information_schema.TABLES "
    "WHERE TABLE_SCHEMA = COALESCE(:schema, DATABASE()) AND TABLE_NAME = :name"
)


def set_time_limit(execute: Callable, mariadb: bool, seconds: float) -> None:
    """The server stops a statement of this session past `seconds`. MariaDB counts seconds (any
    statement), MySQL milliseconds (SELECTs only)."""
    if mariadb:
        execute("SET SESSION max_statement_time = %s", (float(seconds),))
    else:
        execute("SET SESSION max_execution_time = %s", (max(1, round(seconds * 1000)),))


class MySQLDatasource(SQLAlchemyDatasource):
    label = "MySQL / MariaDB"

    def estimate_rows(self, conn, table: sa.Table) -> int | None:
        value = conn.execute(ESTIMATE_SQL, {"schema": table.schema, "name": table.name}).scalar()
        return None if value is None else int(value)

    def __init__(self, connection_string: str, config: dict | None = None) -> None:
        super().__init__(connection_string, config)
        self._json_columns: dict[tuple[str | None, str], set[str]] = {}

    def create_engine(self) -> sa.Engine:
        url = normalise_url(self.connection_string)
        engine = sa.create_engine(
            url,
            pool_pre_ping=True,  # a restarted server or a killed connection is replaced quietly
            pool_size=2,
            max_overflow=4,
            pool_timeout=self.connect_timeout + self.statement_timeout,
            pool_recycle=3600,  # below the server's wait_timeout
            # Non-ASCII text as itself: MariaDB's JSON_EQUALS does not decode \u escapes.
            json_serializer=_json_text,
            connect_args={"connect_timeout": max(1, math.ceil(self.connect_timeout))},
        )
        limit = self.statement_timeout

        @sa.event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection, record):
            cursor = dbapi_connection.cursor()
            try:
                record.info["mariadb"] = "mariadb" in dbapi_connection.get_server_info().lower()
                set_time_limit(cursor.execute, record.info["mariadb"], limit)
                # TIMESTAMP values are read and written in UTC (see UTCTimestamp).
                cursor.execute("SET SESSION time_zone = '+00:00'")
            finally:
                cursor.close()

        return engine

    @contextmanager
    def time_limited(self, conn, seconds: float) -> Iterator[None]:
        mariadb = conn.connection.info["mariadb"]
        set_time_limit(conn.exec_driver_sql, mariadb, seconds)
        try:
            yield
        finally:
            set_time_limit(conn.exec_driver_sql, mariadb, self.statement_timeout)

    def translate_error(self, exc: sa_exc.SQLAlchemyError) -> DatasourceError:
        orig = getattr(exc, "orig", None)
        args = getattr(orig, "args", ())
        number = args[0] if args and isinstance(args[0], int) else None
        if number in TIMEOUT_ERRORS:
            return QueryTimeout(
                f"The query ran longer than {self.statement_timeout:g} seconds and was stopped "
                "by the server"
            )
        if number in UNAVAILABLE_ERRORS or (
            isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated
        ):
            message = str(args[1]) if len(args) > 1 else str(orig)
            password = make_url(self.connection_string).password
            if password:
                message = message.replace(str(password), "***")
            return DatasourceUnavailable(f"The MySQL database cannot be reached: {message}")
        return super().translate_error(exc)

    # --- types ------------------------------------------------------------------------------

    def reflect(self, table_config: dict) -> sa.Table:
        ident = (table_config.get("schema") or None, table_config["name"])
        if ident not in self._tables:
            self._json_columns[ident] = self._mariadb_json_columns(ident)
        return super().reflect(table_config)

    def _mariadb_json_columns(self, ident: tuple[str | None, str]) -> set[str]:
        """MariaDB's JSON columns: LONGTEXT with a json_valid check (MySQL's are typed)."""
        if not getattr(self.engine.dialect, "is_mariadb", False):
            with self.connect():  # the dialect learns what the server is on first connect
                pass
            if not self.engine.dialect.is_mariadb:
                return set()
        with self.connect() as conn:
            clauses = conn.execute(
                MARIADB_JSON_CHECKS, {"schema": ident[0], "table": ident[1]}
            ).scalars()
            return {
                match.group(1).replace("``", "`")
                for match in (JSON_CHECK.match(c or "") for c in clauses)
                if match
            }

    def column_kind(self, column: sa.Column) -> str:
        ident = (column.table.schema, column.table.name)
        if column.name in self._json_columns.get(ident, ()) and isinstance(column.type, sa.String):
            return "json"
        # BOOL and BOOLEAN are TINYINT(1) in MySQL.
        if isinstance(column.type, mysql.TINYINT) and column.type.display_width == 1:
            return "boolean"
        return super().column_kind(column)

    def adapt_table(self, table: sa.Table) -> sa.Table:
        kinds = self._kinds_cache[(table.schema, table.name)]
        for column in table.columns:
            if kinds[column.name] == "json" and not isinstance(column.type, sa.JSON):
                column.type = mysql.JSON()  # parsed when read, serialised when written
            elif isinstance(column.type, mysql.TIMESTAMP):
                column.type = UTCTimestamp(fsp=getattr(column.type, "fsp", None))
            elif isinstance(column.type, sa.Float) and column.type.asdecimal:
                column.type.asdecimal = False  # DOUBLE reflects as Decimal; it is a float
        return table

    def to_db(self, kind: str, value: Any) -> Any:
        # DATETIME has no time zone: an aware value is stored as UTC, like TIMESTAMP.
        return _naive_utc(value)

    def same_value(self, column, value: Any, kind: str = ""):
        if kind == "json":
            # Compare JSON values, not their spelling ({"a":1} is {"a": 1}).
            literal = sa.literal(value, mysql.JSON())
            if self.engine.dialect.is_mariadb:
                return sa.func.json_equals(column, literal) == 1
            return column == sa.func.json_extract(literal, "$")
        if kind == "text":
            # Case-insensitive collations (MySQL's default) would take "TWO" for "two": a change
            # of case must be a conflict too, so text is compared exactly.
            return _exact(column).is_not_distinct_from(_exact(sa.literal(value)))
        return super().same_value(column, value, kind)


def _exact(expression: Any) -> Any:
    return sa.cast(expression, mysql.CHAR(charset="utf8mb4")).collate("utf8mb4_bin")


class MySQLDatasourcePlugin:
    name = "mysql"

    @hookimpl
    def get_datasource_class(self):
        return MySQLDatasource

    @hookimpl
    def get_supported_schemes(self):
        return ["mysql", "mariadb"]
