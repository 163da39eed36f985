"""The built-in PostgreSQL datasource (psycopg2), registered as a plugin like SQLite."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import URL, make_url

from plugins_app.hookspecs import hookimpl

from ..errors import DatasourceError, DatasourceUnavailable, QueryTimeout
from ..sql import SQLAlchemyDatasource

DRIVER = "postgresql+psycopg2"
# Schemas of PostgreSQL itself; pg_toast* and pg_temp* are matched by prefix.
SYSTEM_SCHEMAS = ("pg_catalog", "information_schema")
SYSTEM_PREFIXES = ("pg_toast", "pg_temp")
# SQLSTATEs of a server that cannot be reached or refuses us: connection exceptions (08...),
# an administrator's shutdown or termination (57P01-57P03), bad credentials, unknown database.
UNAVAILABLE_CODES = ("57P01", "57P02", "57P03", "28000", "28P01", "3D000")
QUERY_CANCELED = "57014"
# The statement time limit for the rest of the transaction (milliseconds, as text).
SET_TIME_LIMIT = sa.text("SELECT set_config('statement_timeout', :ms, true)")
# Schemas the connecting role may use (USAGE), without PostgreSQL's own.
VISIBLE_SCHEMAS = sa.text(
    "SELECT nspname FROM pg_namespace WHERE has_schema_privilege(oid, 'USAGE') ORDER BY nspname"
)


def normalise_url(connection_string: str) -> URL:
    """`postgres://` and `postgresql://` URLs (any driver) as psycopg2 URLs."""
    url = make_url(connection_string.replace("postgres://", "postgresql://", 1))
    if url.get_backend_name() != "postgresql":
        raise DatasourceUnavailable(
            f"A PostgreSQL datasource needs a postgresql:// URL, not {url.drivername}://"
        )
    return url.set(drivername=DRIVER)


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


ESTIMATE_SQL = sa.text(
    "SELECT CASE WHEN c.reltuples >= 0 THEN c.reltuples::bigint ELSE s.n_live_tup END "
    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "LEFT JOIN pg_stat_all_tables s ON s.relid = c.oid "
    "WHERE c.relname = :name AND c.relkind IN ('r', 'p', 'm') "
    "AND n.nspname = COALESCE(:schema, current_schema())"
)


def milliseconds(seconds: float) -> int:
    """A time limit as PostgreSQL's statement_timeout takes it (0 would mean none)."""
    return max(1, round(seconds * 1000))


class PostgreSQLDatasource(SQLAlchemyDatasource):
    label = "PostgreSQL"

    def create_engine(self) -> sa.Engine:
        url = normalise_url(self.connection_string)
        # The time limit is enforced by the server: a runaway query is stopped there, not merely
        # abandoned by us. Options given in the URL come first, ours are added.
        limit_ms = milliseconds(self.statement_timeout)
        options = " ".join(
            part
            for part in (str(url.query.get("options", "")), f"-c statement_timeout={limit_ms}")
            if part
        )
        url = url.difference_update_query(["options"])
        return sa.create_engine(
            url,
            pool_pre_ping=True,  # a restarted server or a killed connection is replaced quietly
            pool_size=2,
            max_overflow=4,
            pool_timeout=self.connect_timeout + self.statement_timeout,
            pool_recycle=3600,
            json_serializer=_json_text,
            connect_args={
                # libpq takes whole seconds (and treats 1 as 2).
                "connect_timeout": max(1, math.ceil(self.connect_timeout)),
                "options": options,
                "application_name": "nocoflo",
            },
        )

    @contextmanager
    def time_limited(self, conn, seconds: float) -> Iterator[None]:
        # A statement stopped by the limit ends the transaction, and with it this setting; after
        # the block the connection's own limit applies again.
        conn.execute(SET_TIME_LIMIT, {"ms": str(milliseconds(seconds))})
        yield
        conn.execute(SET_TIME_LIMIT, {"ms": str(milliseconds(self.statement_timeout))})

    def estimate_rows(self, conn, table: sa.Table) -> int | None:
        # reltuples is kept by VACUUM/ANALYZE (-1 before the first); the statistics collector's
        # live-row count covers a table loaded since. Names are bound values, never SQL text.
        row = conn.execute(ESTIMATE_SQL, {"schema": table.schema, "name": table.name}).first()
        if row is None or row[0] is None:
            return None
        return int(row[0])

    def translate_error(self, exc: sa_exc.SQLAlchemyError) -> DatasourceError:
        orig = getattr(exc, "orig", None)
        code = getattr(orig, "pgcode", None) or ""
        detail = self._detail(orig)
        if code == QUERY_CANCELED:
            return QueryTimeout(
                f"The query ran longer than {self.statement_timeout:g} seconds and was stopped "
                "by PostgreSQL"
            )
        if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError) and (
            not code  # libpq failed before a server answered: refused, unknown host, bad login
            or code.startswith("08")
            or code in UNAVAILABLE_CODES
            or exc.connection_invalidated
        ):
            return DatasourceUnavailable(f"The PostgreSQL database cannot be reached: {detail}")
        return super().translate_error(exc)

    def _detail(self, orig: Any) -> str:
        """The driver's message on one line, with the password (if any) blanked out."""
        detail = " ".join(str(orig).split()) if orig is not None else ""
        password = make_url(self.connection_string).password
        return detail.replace(str(password), "***") if password else detail

    # --- schemas ----------------------------------------------------------------------------

    def schemas(self, inspector: Any) -> list[str | None]:
        """Every schema the role may use; the default one (public) is None."""
        with self.connect() as conn:
            names = conn.execute(VISIBLE_SCHEMAS).scalars().all()
        default = inspector.default_schema_name
        found: list[str | None] = []
        for name in names:
            if name in SYSTEM_SCHEMAS or name.startswith(SYSTEM_PREFIXES):
                continue
            found.append(None if name == default else name)
        return sorted(found, key=lambda n: (n is not None, n or ""))

    # --- types ------------------------------------------------------------------------------

    def same_value(self, column, value: Any, kind: str = ""):
        if kind == "json":
            # json has no equality operator; jsonb compares values, not their spelling.
            return sa.cast(column, JSONB).is_not_distinct_from(
                sa.cast(sa.literal(value, JSONB), JSONB)
            )
        return super().same_value(column, value, kind)

    def sort_expression(self, column, kind: str):
        if kind == "json" and not isinstance(getattr(column, "type", None), JSONB):
            return sa.cast(column, JSONB)  # json has no ordering either
        return column


class PostgreSQLDatasourcePlugin:
    name = "postgresql"

    @hookimpl
    def get_datasource_class(self):
        return PostgreSQLDatasource

    @hookimpl
    def get_supported_schemes(self):
        return ["postgresql", "postgres"]
