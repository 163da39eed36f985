"""The built-in SQLite datasource: Nocoflo's embedded default, registered as a plugin."""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.pool import QueuePool

from plugins_app.hookspecs import hookimpl

from ..base import Query
from ..errors import DatasourceUnavailable, InvalidQuery, QueryTimeout
from ..sql import SQLAlchemyDatasource
from ..values import ColumnSpec

# SQLite tables without a declared primary key are addressed by their rowid, under the first of
# these names that no real column shadows.
ROWID_NAMES = ("rowid", "_rowid_", "oid")
# How many distinct counts (per filter and search) each pooled connection remembers.
COUNT_MEMORY = 64
# SQLite runs a statement on one core. A page sorted by an unindexed column reads and sorts the
# whole table; from this many rows (by rowid span) the table is read in rowid ranges on several
# connections at once (the datasource option `parallel_scans`, default: the CPUs, at most 4).
SPLIT_MIN_ROWS = 100_000
# Each range returns its first offset + limit rows; beyond this many, one plain read is cheaper.
SPLIT_MAX_ROWS = 1_000


def _default_parallel_scans() -> int:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(4, cpus or 1))


class SQLiteDatasource(SQLAlchemyDatasource):
    label = "SQLite"

    def __init__(self, connection_string: str, config: dict | None = None) -> None:
        super().__init__(connection_string, config)
        self.parallel_scans = self.number_option("parallel_scans", _default_parallel_scans(), 1)
        self._scan_pool: ThreadPoolExecutor | None = None

    def close(self) -> None:
        if self._scan_pool is not None:
            self._scan_pool.shutdown(wait=False, cancel_futures=True)
            self._scan_pool = None
        super().close()

    @property
    def path(self) -> Path:
        database = make_url(self.connection_string).database
        if not database or database == ":memory:":
            raise DatasourceUnavailable("A SQLite datasource needs the path of a database file")
        return Path(database)

    def create_engine(self) -> sa.Engine:
        path = self.path
        timeout = self.connect_timeout

        def connect() -> sqlite3.Connection:
            # mode=rw: a mistyped path is an error, not a new empty database.
            uri = f"file:{quote(str(path.resolve()))}?mode=rw"
            try:
                return sqlite3.connect(uri, uri=True, timeout=timeout, check_same_thread=False)
            except sqlite3.OperationalError as exc:
                raise DatasourceUnavailable(f"Cannot open the SQLite file {path}: {exc}") from exc

        # A connection per worker thread of a server process (NOCOFLO_API_THREADS and
        # NOCOFLO_LONG_THREADS, 12 by default) and a few for the pages stays open: one opened past
        # the pool's size is closed again when given back, and reopening it (and forgetting its
        # counts) at every request of a busy server costs more than the query. An open SQLite
        # connection is a file handle and its page cache. The connection given back last is taken
        # first: after a burst of requests opened many, a request takes the one whose page cache
        # and remembered counts are freshest, not the one idle longest.
        engine = sa.create_engine(
            "sqlite://", creator=connect, poolclass=QueuePool, pool_size=20, pool_use_lifo=True
        )
        limit = self.statement_timeout

        @sa.event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection, record):
            deadline = record.info.setdefault("deadline", [0.0])
            # Stop any statement that runs past the time limit. The check runs every million
            # steps (a few milliseconds): each call takes the GIL from the page's other threads.
            dbapi_connection.set_progress_handler(
                lambda: 1 if deadline[0] and time.monotonic() > deadline[0] else 0, 1_000_000
            )
            dbapi_connection.execute("PRAGMA foreign_keys=ON")

        @sa.event.listens_for(engine, "commit")
        def _forget_counts(conn):
            # This connection's own writes do not change its data_version.
            conn.connection.info.pop("counts", None)

        @sa.event.listens_for(engine, "before_cursor_execute")
        def _start_clock(conn, cursor, statement, parameters, context, executemany):
            info = conn.connection.info
            info["deadline"][0] = time.monotonic() + info.get("time_limit", limit)

        return engine

    @contextmanager
    def time_limited(self, conn, seconds: float) -> Iterator[None]:
        # Read by the clock each statement starts (see create_engine); the progress handler
        # looks at it every million steps, a few milliseconds.
        info = conn.connection.info
        info["time_limit"] = seconds
        try:
            yield
        finally:
            del info["time_limit"]

    def count_rows(self, conn, table: sa.Table, conditions: list) -> int:
        """Exact counts, remembered per pooled connection while the database is unchanged.

        PRAGMA data_version changes whenever another connection commits, and this connection's
        own commits clear its memory, so a remembered count is never stale; repeating the count
        of a large table would otherwise scan it on every first page.
        """
        info = conn.connection.info
        version = conn.exec_driver_sql("PRAGMA data_version").scalar()
        if info.get("counts_version") != version or "counts" not in info:
            info["counts"], info["counts_version"] = {}, version
        counts = info["counts"]
        stmt = sa.select(sa.func.count()).select_from(table).where(*conditions)
        compiled = stmt.compile(dialect=conn.dialect)
        key = (str(compiled), repr(compiled.params))
        if key not in counts:
            if len(counts) >= COUNT_MEMORY:
                counts.clear()
            counts[key] = super().count_rows(conn, table, conditions)
        return counts[key]

    def estimate_rows(self, conn, table: sa.Table) -> int | None:
        """SQLite keeps no row statistics, but a rowid table's rowids run from min to max: two
        index lookups give the span, exact unless rows were deleted. Tables without rowid
        (views, WITHOUT ROWID) have no estimate."""
        span = self._rowid_span(conn, table)
        return None if span is None else span[1] - span[0] + 1

    def _rowid(self, table: sa.Table) -> sa.ColumnElement | None:
        """The table's rowid under a name no real column shadows (none if all three are)."""
        name = next((n for n in ROWID_NAMES if n not in table.c), None)
        return None if name is None else sa.literal_column(name)  # one of three fixed words

    def _rowid_span(self, conn, table: sa.Table) -> tuple[int, int] | None:
        rowid = self._rowid(table)
        if rowid is None:
            return None
        # Two subqueries: SQLite answers a lone min() or max() from the b-tree's edge, but
        # scans the whole table for both in one select.
        low = sa.select(sa.func.min(rowid)).select_from(table).scalar_subquery()
        high = sa.select(sa.func.max(rowid)).select_from(table).scalar_subquery()
        try:
            low, high = conn.execute(sa.select(low, high)).one()
        except sa_exc.OperationalError:
            return None
        if low is None or high is None:
            return None
        return int(low), int(high)

    def select_page(
        self, conn, table: sa.Table, stmt: sa.Select, query: Query, params: dict
    ) -> Sequence[sa.Row]:
        """A page sorted by an unindexed column of a large table is read in rowid ranges at
        once: each range's first rows by the page's order, on a connection of its own, and then
        the page from those rows alone, by the same statement (so SQLite's own ordering and
        comparison rules decide, and the values are read once more, together)."""
        wanted = params.get("page_offset", 0) + params["page_limit"]
        split = self._split(conn, table, stmt, query, wanted, params)
        if split is None:
            return super().select_page(conn, table, stmt, query, params)
        rowid, ranges, stmt = split  # the statement with its values in it, as parts need
        parts = [
            stmt.with_only_columns(rowid)
            .select_from(table)
            .where(*bounds)
            .limit(wanted)
            .offset(None)
            for bounds in ranges
        ]
        futures = [self._scan_workers().submit(self._first_rowids, part) for part in parts[1:]]
        try:
            found = conn.execute(parts[0]).scalars().all()
            for future in futures:
                found += future.result()
        finally:
            for future in futures:
                future.cancel()  # after a failure, ranges not yet started are not read
        if not found:
            return []
        return conn.execute(stmt.where(rowid.in_(found))).all()  # its page's limit and offset

    def _scan_workers(self) -> ThreadPoolExecutor:
        """The threads that read the other ranges (the request's own thread reads the first)."""
        with self._lock:
            if self._scan_pool is None:
                self._scan_pool = ThreadPoolExecutor(
                    self.parallel_scans - 1, thread_name_prefix="nocoflo-sqlite-scan"
                )
            return self._scan_pool

    def _first_rowids(self, part: sa.Select) -> list:
        with self.connect() as conn:  # the time limit and error messages as for any read
            return conn.execute(part).scalars().all()

    def _split(
        self, conn, table: sa.Table, stmt: sa.Select, query: Query, wanted: int, params: dict
    ) -> tuple[sa.ColumnElement, list[list[sa.ColumnElement]], sa.Select] | None:
        """The rowid, its conditions for each range to read at once and the statement with the
        page's values in it (as SQLite's plan was asked for); or None for one plain read: a small
        table, a page far from the start, an order an index gives, or a plan SQLite would not run
        as a scan of the whole table and a sort."""
        if self.parallel_scans < 2 or not query.sort or wanted > SPLIT_MAX_ROWS:
            return None
        first = query.sort[0][0]
        if first in table.c and (
            table.c[first].primary_key
            or any(index.columns and index.columns[0] is table.c[first] for index in table.indexes)
        ):
            return None  # an index gives the order: no scan to split
        span = self._rowid_span(conn, table)  # None without a rowid
        if span is None or span[1] - span[0] + 1 < SPLIT_MIN_ROWS:
            return None
        # SQLite's own plan says whether it would scan and sort: the statement as SQLAlchemy
        # compiled it (identifiers quoted, values bound) behind the fixed words EXPLAIN QUERY PLAN.
        stmt = stmt.params(params)
        compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
        values = tuple(compiled.params[name] for name in compiled.positiontup or ())
        plan = [row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", values)]
        reads = [step for step in plan if step.startswith(("SCAN ", "SEARCH "))]
        if (
            len(reads) != 1
            or not reads[0].startswith("SCAN ")
            or " USING " in reads[0]
            or "USE TEMP B-TREE FOR ORDER BY" not in plan
        ):
            return None
        rowid, ways = self._rowid(table), self.parallel_scans
        low, high = span
        cuts = [low + (high - low + 1) * i // ways for i in range(1, ways)]
        # The first and last ranges are open, so a row added meanwhile is in one range.
        ranges = (
            [[rowid < cuts[0]]]
            + [[rowid >= a, rowid < b] for a, b in pairwise(cuts)]
            + [[rowid >= cuts[-1]]]
        )
        return rowid, ranges, stmt

    def test_connection(self, connection_config: dict | None = None) -> bool:
        if not self.path.exists():
            raise DatasourceUnavailable(f"The SQLite file {self.path} does not exist")
        with self.connect() as conn:  # reading the schema fails on a file that is no database
            conn.execute(sa.text("SELECT count(*) FROM sqlite_master"))
        return super().test_connection(connection_config)

    def translate_error(self, exc):
        if "interrupted" in str(getattr(exc, "orig", "")):
            return QueryTimeout(
                f"The query ran longer than {self.statement_timeout:g} seconds and was stopped"
            )
        if isinstance(getattr(exc, "orig", None), DatasourceUnavailable):
            return exc.orig
        return super().translate_error(exc)

    def adapt_table(self, table: sa.Table) -> sa.Table:
        # SQLite stores what it was given; reading through SQLAlchemy's DATE or NUMERIC processors
        # would fail on any row whose text does not parse. Nocoflo validates on write instead.
        for column in table.columns:
            column.type = sa.types.NULLTYPE
        return table

    def column_kind(self, column: sa.Column) -> str:
        declared = self._declared.get(column.table.name, {}).get(column.name, "").upper()
        # SQLite's affinity rules would make these NUMERIC; their declared names say more.
        for prefix, kind in (("UUID", "uuid"), ("JSON", "json")):
            if declared.startswith(prefix):
                return kind
        return super().column_kind(column)

    def kind_of(self, type_: sa.types.TypeEngine) -> str:
        kind = super().kind_of(type_)
        # A column declared without a type holds anything; it is edited as text.
        return "text" if kind == "other" and isinstance(type_, sa.types.NullType) else kind

    def type_name(self, column: sa.Column) -> str:
        return self._declared.get(column.table.name, {}).get(column.name, "")

    def reflect(self, table_config: dict) -> sa.Table:
        ident = (table_config.get("schema") or None, table_config["name"])
        if ident not in self._tables:
            with self.connect() as conn:
                # The declared types, before adapt_table replaces them.
                rows = conn.execute(
                    sa.text("SELECT name, type FROM pragma_table_info(:t)"), {"t": ident[1]}
                ).all()
            self._declared[ident[1]] = {name: declared for name, declared in rows}
        return super().reflect(table_config)

    def max_length_of(self, column: sa.Column) -> int | None:
        declared = self._declared.get(column.table.name, {}).get(column.name, "")
        try:
            return getattr(sa.types.to_instance(_parse_type(declared.upper())), "length", None)
        except Exception:
            return None

    @property
    def _declared(self) -> dict[str, dict[str, str]]:
        if not hasattr(self, "_declared_types"):
            self._declared_types: dict[str, dict[str, str]] = {}
        return self._declared_types

    def key_columns_for(self, table_config: dict) -> list[str]:
        table = self.reflect(table_config)
        keys = [c.name for c in table.primary_key.columns]
        if keys or table_config.get("is_view"):
            return keys
        free = [name for name in ROWID_NAMES if name not in table.c]
        return free[:1]

    def key_column(self, table: sa.Table, name: str) -> sa.ColumnElement:
        if name in ROWID_NAMES and name not in table.c:
            return sa.literal_column(name)  # one of three fixed words, never user input
        if name in table.c:
            return table.c[name]
        raise InvalidQuery(f"The table has no column {name!r}")

    def inserted_key(self, result: Any, keys: list[str], values: dict) -> dict:
        # A rowid, or an INTEGER PRIMARY KEY (an alias of the rowid) the database chose.
        if len(keys) == 1 and keys[0] not in values:
            return {keys[0]: result.lastrowid}
        return super().inserted_key(result, keys, values)

    def text_match(self, column, text: str):
        # SQLite's LIKE is already case-insensitive for ASCII; lower() on every row would only
        # slow the scan.
        return column.contains(text, autoescape=True)

    def to_db(self, kind: str, value: Any) -> Any:
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, dt.datetime):
            return value.isoformat(sep=" ")
        if isinstance(value, dt.date | dt.time):
            return value.isoformat()
        if isinstance(value, Decimal):
            return str(value)
        if kind == "uuid" and value is not None:
            return str(value)
        if kind == "json" and value is not None and not isinstance(value, str):
            # Columns are read and written untyped here, so JSON is stored as its text.
            return json.dumps(value)
        return super().to_db(kind, value)

    def expected_to_db(self, spec: ColumnSpec, value: Any) -> Any:
        # Pages and the API show SQLite's stored text as it is, so the writer saw the stored
        # form already; only booleans are shown differently (true/false for 1/0).
        if spec.kind == "boolean" and isinstance(value, bool):
            return int(value)
        return value

    def same_value(self, column, value, kind: str = ""):
        return column.op("IS")(value)

    # Columns are read and compared untyped here (see adapt_table): values go to SQLite as the
    # pages showed them, and LIKE works on any stored value.

    def bound(self, column, kind: str, value: Any) -> Any:
        return value

    def cursor_value(self, column, kind: str, value: Any) -> Any:
        return value

    def as_text(self, column, kind: str):
        return column


def _parse_type(declared: str) -> Any:
    """A SQLAlchemy type for a declared SQLite type such as VARCHAR(12)."""
    from sqlalchemy.dialects.sqlite.base import SQLiteDialect

    return SQLiteDialect()._resolve_type_affinity(declared)


class SQLiteDatasourcePlugin:
    name = "sqlite_datasource"  # the derived name would be "sq_lite_datasource"

    @hookimpl
    def get_datasource_class(self):
        return SQLiteDatasource

    @hookimpl
    def get_supported_schemes(self):
        return ["sqlite", "sqlite3"]
