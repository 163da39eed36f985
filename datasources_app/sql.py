"""Datasources for SQL databases, on SQLAlchemy Core.

Identifiers always come from reflection (a column name from a URL is looked up in the reflected
table, never formatted into SQL) and values are always bound. Dialect differences live in the
subclasses' small overrides.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import groupby, repeat
from operator import itemgetter
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine

from .aggregate import aggregate_sql
from .base import AT_LEAST, ESTIMATE, EXACT, BaseDatasource, Filter, Page, Query
from .errors import (
    DatasourceError,
    DatasourceUnavailable,
    InvalidOption,
    InvalidQuery,
    InvalidValue,
    QueryTimeout,
    RowNotFound,
    WriteConflict,
)
from .values import ColumnSpec, coerce, rows_to_json, to_json

log = logging.getLogger("nocoflo.datasources")

# Rows per executemany of a bulk insert: large enough to amortise round trips, small enough to
# keep each statement (and the driver's parameter buffers) modest.
INSERT_BATCH = 1000

# Up to this many matching rows a page's count is exact; beyond it the count is the database's
# estimate (a whole table) or "more than" this many (filtered), unless the user asks for an
# exact count. Counting this many rows takes about a millisecond on any of the databases.
EXACT_COUNT_LIMIT = 10_000

# A page's count (but an exact one the user asked for) stops after this many seconds. Counting
# up to the limit above reads that many matching rows, and when few rows match a filter that can
# mean reading all of a huge table, while the page itself found its rows at the start. A count cut
# short says "more than" the rows the page has shown. A second lets a search of a million rows be
# counted exactly (a few hundred milliseconds on a busy machine) and holds a page of ten million
# to a second, not the statement time limit.
COUNT_TIME_LIMIT = 1.0

# Page statements kept per datasource (one per table, columns, order and key); past it, start
# again.
PAGE_PLANS = 256


class SQLAlchemyDatasource(BaseDatasource):
    """Everything a SQL database needs, given an engine."""

    def __init__(self, connection_string: str, config: dict | None = None) -> None:
        super().__init__(connection_string, config)
        self._engine: Engine | None = None
        self._tables: dict[tuple[str | None, str], sa.Table] = {}
        self._kinds_cache: dict[tuple[str | None, str], dict[str, str]] = {}
        self._choices_cache: dict[tuple[str | None, str], dict[str, tuple[str, ...]]] = {}
        self._page_plans: dict[tuple, PagePlan] = {}
        self._lock = threading.Lock()
        self.connect_timeout = self.number_option("connect_timeout", 5.0)
        self.statement_timeout = self.number_option("statement_timeout", 10.0)
        self.exact_count_limit = self.number_option("exact_count_limit", EXACT_COUNT_LIMIT)
        self.count_time_limit = self.number_option("count_time_limit", COUNT_TIME_LIMIT, 0.001)

    def number_option(self, name: str, default: float, minimum: float = 0) -> Any:
        """A number from the datasource's options, of the default's type (int: whole). A wrong
        one is refused with its name, as the admin typed it."""
        raw = self.config.get(name)
        if raw is None:
            return default
        kind = type(default)
        try:
            value = kind(raw)
            valid = not isinstance(raw, bool) and value == float(raw) and value >= minimum
        except (TypeError, ValueError, OverflowError):
            valid = False
        if not valid:
            what = "a whole number" if kind is int else "a number"
            raise InvalidOption(
                f"The datasource option {name!r} must be {what} of at least {minimum:g}, "
                f"not {raw!r}"
            )
        return value

    # --- engine and reflection --------------------------------------------------------------

    def create_engine(self) -> Engine:
        return sa.create_engine(self.connection_string, pool_pre_ping=True)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    self._engine = self.create_engine()
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
        self._tables.clear()

    @contextmanager
    def connect(self, write: bool = False):
        """A connection (in a transaction when writing); driver errors become DatasourceErrors."""
        try:
            with self.engine.begin() if write else self.engine.connect() as conn:
                yield conn
        except DatasourceError:
            raise
        except sa_exc.SQLAlchemyError as exc:
            raise self.translate_error(exc) from exc
        except OverflowError as exc:
            # sqlite3 cannot bind an integer beyond 64 bits (a value or a key the user typed);
            # it raises this before SQLAlchemy sees a database error.
            error = InvalidValue if write else InvalidQuery
            raise error("A number is too large for the database") from exc
        except ValueError as exc:
            # psycopg2 refuses text with a NUL character the same way, before sending it.
            if "NUL" not in str(exc):
                raise
            error = InvalidValue if write else InvalidQuery
            raise error("Text with a NUL character cannot be sent to this database") from exc

    def translate_error(self, exc: sa_exc.SQLAlchemyError) -> DatasourceError:
        """A message for the user about what the database said, without SQL or secrets."""
        orig = getattr(exc, "orig", None)
        detail = str(orig) if orig is not None else type(exc).__name__
        if isinstance(exc, sa_exc.IntegrityError):
            return InvalidValue(f"The database refused the change: {detail}")
        if isinstance(exc, sa_exc.DataError):
            return InvalidValue(f"The database refused the value: {detail}")
        if isinstance(exc, sa_exc.NoSuchTableError):
            return RowNotFound(f"The table {exc} no longer exists in the database")
        log.warning("datasource error: %s", detail)
        if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
            if exc.connection_invalidated or "connect" in detail.lower() or "open" in detail:
                return DatasourceUnavailable(f"The database cannot be reached: {detail}")
            return DatasourceError(f"The database could not run the query: {detail}")
        return DatasourceError(f"The database could not run the query: {detail}")

    def reflect(self, table_config: dict) -> sa.Table:
        """The table as the database describes it (cached until `forget`)."""
        ident = (table_config.get("schema") or None, table_config["name"])
        table = self._tables.get(ident)
        if table is None:
            try:
                table = sa.Table(
                    ident[1], sa.MetaData(), schema=ident[0], autoload_with=self.engine
                )
            except sa_exc.NoSuchTableError as exc:
                raise RowNotFound(f"The table {ident[1]!r} does not exist in the database") from exc
            except sa_exc.SQLAlchemyError as exc:
                raise self.translate_error(exc) from exc
            # Kinds and choices come from the reflected types, before adapt_table may swap them.
            self._kinds_cache[ident] = {c.name: self.column_kind(c) for c in table.columns}
            self._choices_cache[ident] = {
                c.name: self.column_choices(c)
                for c in table.columns
                if self._kinds_cache[ident][c.name] == "enum"
            }
            table = self.adapt_table(table)
            self._tables[ident] = table
        return table

    def forget(self, table_config: dict | None = None) -> None:
        """Drop cached reflections, after a schema change."""
        if table_config is None:
            self._tables.clear()
        else:
            self._tables.pop((table_config.get("schema") or None, table_config["name"]), None)
        self._page_plans.clear()  # they hold the reflected tables

    def adapt_table(self, table: sa.Table) -> sa.Table:
        """A hook for dialects whose stored values need no driver-side conversion."""
        return table

    def kinds(self, table_config: dict) -> dict[str, str]:
        self.reflect(table_config)
        return self._kinds_cache[(table_config.get("schema") or None, table_config["name"])]

    def choices(self, table_config: dict) -> dict[str, tuple[str, ...]]:
        """The allowed values of each enum column."""
        self.reflect(table_config)
        return self._choices_cache[(table_config.get("schema") or None, table_config["name"])]

    def column_kind(self, column: sa.Column) -> str:
        """Nocoflo's kind for a reflected column."""
        return self.kind_of(column.type)

    def column_choices(self, column: sa.Column) -> tuple[str, ...]:
        """The values an enum column allows, as reflected."""
        return tuple(getattr(column.type, "enums", None) or ())

    def kind_of(self, type_: sa.types.TypeEngine) -> str:
        """Nocoflo's kind for a reflected column type."""
        checks = (
            (sa.ARRAY, "array"),
            (sa.Boolean, "boolean"),
            (sa.Integer, "integer"),
            (sa.Float, "real"),
            (sa.Numeric, "decimal"),
            (sa.DateTime, "datetime"),
            (sa.Date, "date"),
            (sa.Time, "time"),
            (sa.JSON, "json"),
            (sa.Uuid, "uuid"),
            (sa.LargeBinary, "binary"),
            (sa.types._Binary, "binary"),
            (sa.Enum, "enum"),
            (sa.String, "text"),
        )
        for cls, kind in checks:
            if isinstance(type_, cls):
                return kind
        return "other"

    def specs(self, table_config: dict) -> dict[str, ColumnSpec]:
        table = self.reflect(table_config)
        kinds = self.kinds(table_config)
        choices = self.choices(table_config)
        single_int_pk = len(table.primary_key.columns) == 1 and all(
            kinds[c.name] == "integer" for c in table.primary_key.columns
        )
        return {
            c.name: ColumnSpec(
                name=c.name,
                kind=kinds[c.name],
                nullable=bool(c.nullable) and not c.primary_key,
                max_length=self.max_length_of(c) if kinds[c.name] != "enum" else None,
                primary_key=c.primary_key,
                has_default=c.server_default is not None
                or c.identity is not None
                or (c.primary_key and single_int_pk),
                choices=choices.get(c.name, ()),
            )
            for c in table.columns
        }

    def max_length_of(self, column: sa.Column) -> int | None:
        return getattr(column.type, "length", None)

    def column(self, table: sa.Table, name: Any) -> sa.ColumnElement:
        """A reflected column by name; a name that is not one is refused, never quoted into SQL."""
        if isinstance(name, str) and name in table.c:
            return table.c[name]
        raise InvalidQuery(f"The table has no column {name!r}")

    def key_column(self, table: sa.Table, name: str) -> sa.ColumnElement:
        return self.column(table, name)

    # --- schema -------------------------------------------------------------------------------

    def test_connection(self, connection_config: dict | None = None) -> bool:
        with self.connect() as conn:
            conn.execute(sa.select(sa.literal(1))).scalar()
        return True

    def list_tables(self) -> list[dict]:
        try:
            inspector = sa.inspect(self.engine)
            found = []
            for schema in self.schemas(inspector):
                found += [
                    {"name": n, "schema": schema or "", "is_view": False}
                    for n in inspector.get_table_names(schema=schema)
                ]
                found += [
                    {"name": n, "schema": schema or "", "is_view": True}
                    for n in inspector.get_view_names(schema=schema)
                ]
            return found
        except sa_exc.SQLAlchemyError as exc:
            raise self.translate_error(exc) from exc

    def schemas(self, inspector: Any) -> list[str | None]:
        return [None]

    def get_schema(self, table_config: dict) -> list[dict]:
        table = self.reflect(table_config)
        specs = self.specs(table_config)
        columns = []
        for c in table.columns:
            fk = next(iter(c.foreign_keys), None)
            columns.append(
                {
                    "name": c.name,
                    "kind": specs[c.name].kind,
                    "db_type": self.type_name(c),
                    "nullable": specs[c.name].nullable,
                    "primary_key": bool(c.primary_key),
                    "default": _default_text(c),
                    "max_length": specs[c.name].max_length,
                    "references": fk.target_fullname if fk is not None else "",
                    "choices": list(specs[c.name].choices),
                }
            )
        return columns

    def type_name(self, column: sa.Column) -> str:
        try:
            return column.type.compile(dialect=self.engine.dialect)
        except sa_exc.CompileError:
            return ""

    def key_columns_for(self, table_config: dict) -> list[str]:
        """The columns that identify a row: the primary key (empty when there is none)."""
        return [c.name for c in self.reflect(table_config).primary_key.columns]

    # --- reading -----------------------------------------------------------------------------

    def get_table_data(self, table_config: dict, limit: int = 100) -> tuple[list[str], list[tuple]]:
        page = self.get_page(table_config, Query(limit=limit, with_count=False))
        return page.columns, [tuple(values.values()) for _, values in page.rows]

    def _keys(self, table_config: dict, table: sa.Table) -> list[str]:
        keys = table_config.get("key_columns")
        return list(keys) if keys is not None else self.key_columns_for(table_config)

    def where_clause(
        self, table: sa.Table, kinds: dict[str, str], query: Query
    ) -> list[sa.ColumnElement]:
        conditions = [self.filter_condition(table, kinds, f) for f in query.filters]
        if query.search:
            shown = query.columns or list(kinds)  # never match text the user is not shown
            text_columns = [
                self.as_text(table.c[n], k)
                for n, k in kinds.items()
                if k in ("text", "enum") and n in shown
            ]
            if text_columns:
                conditions.append(sa.or_(*(self.text_match(c, query.search) for c in text_columns)))
            else:
                conditions.append(sa.false())
        return conditions

    def text_match(self, column: sa.ColumnElement, text: str) -> sa.ColumnElement:
        return column.icontains(text, autoescape=True)

    def as_text(self, column: sa.ColumnElement, kind: str) -> sa.ColumnElement:
        """The column as text, for contains/startswith and search (numbers, dates, enums...)."""
        return column if kind == "text" else sa.cast(column, sa.String)

    def bound(self, column: sa.ColumnElement, kind: str, value: Any) -> Any:
        """A value (or a bound parameter) to compare with the column; floats of single
        precision need the column's type on both sides, or 1.1 (float4) never equals 1.1
        (float8)."""
        if kind == "real" and value is not None and not isinstance(column.type, sa.Double):
            if not isinstance(value, sa.BindParameter):
                value = sa.literal(value, column.type)
            return sa.cast(value, column.type)
        return value

    def sort_expression(self, column: sa.ColumnElement, kind: str) -> sa.ColumnElement:
        """What to order a column by (a dialect may order a type through a cast)."""
        return column

    def filter_condition(
        self, table: sa.Table, kinds: dict[str, str], flt: Filter
    ) -> sa.ColumnElement:
        column = self.column(table, flt.column)
        op = flt.op
        if op == "isnull":
            return column.is_(None)
        if op == "notnull":
            return column.is_not(None)
        kind = kinds[flt.column]
        if op == "contains":
            return self.text_match(
                self.as_text(column, kind), str(flt.value if flt.value is not None else "")
            )
        if op == "startswith":
            return self.as_text(column, kind).istartswith(
                str(flt.value if flt.value is not None else ""), autoescape=True
            )
        spec = ColumnSpec(
            name=flt.column, kind=kind, choices=self._choices_of_table(table).get(flt.column, ())
        )
        if op == "in":
            values = flt.value if isinstance(flt.value, list) else [flt.value]
            return column.in_([self.filter_value(spec, v) for v in values])
        value = self.filter_value(spec, flt.value)
        operators = {
            "eq": column.__eq__,
            "ne": column.__ne__,
            "lt": column.__lt__,
            "lte": column.__le__,
            "gt": column.__gt__,
            "gte": column.__ge__,
        }
        if op not in operators:
            raise InvalidQuery(f"Unknown filter operator {op!r}")
        if value is None:
            return column.is_(None) if op == "eq" else column.is_not(None)
        if kind == "real" and op in ("eq", "ne"):
            value = self.bound(column, kind, value)
        return operators[op](value)

    def _choices_of_table(self, table: sa.Table) -> dict[str, tuple[str, ...]]:
        return self._choices_cache.get((table.schema, table.name), {})

    def filter_value(self, spec: ColumnSpec, raw: Any) -> Any:
        try:
            return self.to_db(spec.kind, coerce(spec, raw))
        except InvalidValue as exc:
            raise InvalidQuery(f"Filter on {spec.name}: {exc}") from exc

    def to_db(self, kind: str, value: Any) -> Any:
        """A Python value as this database's driver takes it (reflected types convert)."""
        return value

    def get_page(self, table_config: dict, query: Query) -> Page:
        table = self.reflect(table_config)
        kinds = self.kinds(table_config)
        names = (
            [self.column(table, n).name for n in query.columns]
            if query.columns
            else [c.name for c in table.columns]
        )
        keys = self._keys(table_config, table)
        plan = self._page_plan(table, kinds, tuple(names), tuple(query.sort), tuple(keys))
        conditions = self.where_clause(table, kinds, query)
        offset, after = self._decode_cursor(query, len(plan.order))
        # One row past the page says whether another page follows.
        params: dict[str, Any] = {"page_limit": query.limit + 1}
        if after:
            stmt = plan.after_page
            for i, ((column, _), kind, value) in enumerate(
                zip(plan.order, plan.order_kinds, after, strict=True)
            ):
                params[f"after{i}"] = self.cursor_value(column, kind, value)
        else:
            stmt = plan.offset_page
            params["page_offset"] = offset or 0
        if conditions:
            stmt = stmt.where(*conditions)

        total, accuracy = None, EXACT
        with self.connect() as conn:
            result = self.select_page(conn, table, stmt, query, params)
            more = len(result) > query.limit
            result = result[: query.limit]
            if query.with_count:
                # Rows known to match: the page's, those before it when it is at an offset (and
                # has rows: past the end the offset proves nothing), one more when a page follows.
                before = (offset or 0) if result and not after else 0
                known = before + len(result) + more
                whole = not after and not more and (bool(result) or not offset)
                total, accuracy = self.page_count(
                    conn, table, conditions, query.exact_count, known, whole
                )
        values = rows_to_json(names, [kinds.get(n, "") for n in names], result)
        # Each row's key by name, from its place in the row, with no Python frame per row (this
        # runs for every row of every page). itemgetter of one place gives a value, not a tuple.
        key_at = plan.key_at
        pick = itemgetter(*key_at) if key_at else lambda _: ()
        key_tuples = zip(map(pick, result)) if len(key_at) == 1 else map(pick, result)
        rows = list(zip(map(dict, map(zip, repeat(keys), key_tuples)), values, strict=True))
        next_cursor = None
        if more:
            if plan.keyset_ok:
                last = result[-1]
                after_values = [to_json("", last[i]) for i in plan.order_at]
                next_cursor = _encode_cursor({"after": after_values})
            else:
                next_cursor = _encode_cursor({"offset": (offset or 0) + query.limit})
        return Page(
            columns=names, rows=rows, count=total, next=next_cursor, count_accuracy=accuracy
        )

    def _page_plan(
        self, table: sa.Table, kinds: dict[str, str], names: tuple, sort: tuple, keys: tuple
    ) -> PagePlan:
        """The statements of a page of these columns in this order, built once: a grid reading
        page after page runs the same statement with other values bound, which spares building
        it and SQLAlchemy working out its cache key each time."""
        shape = (table, names, sort, keys)
        plan = self._page_plans.get(shape)
        if plan is None:
            plan = self._build_page_plan(table, kinds, list(names), list(sort), list(keys))
            if len(self._page_plans) >= PAGE_PLANS:
                self._page_plans.clear()
            self._page_plans[shape] = plan
        return plan

    def _build_page_plan(
        self, table: sa.Table, kinds: dict[str, str], names: list, sort: list, keys: list
    ) -> PagePlan:
        key_exprs = [self.key_column(table, k) for k in keys]
        order = [(self.column(table, name), desc) for name, desc in sort]
        sorted_names = {c.name for c, _ in order}
        order += [(k, False) for k in key_exprs if k.name not in sorted_names]
        order = [
            (self.sort_expression(c, kinds.get(getattr(c, "name", ""), "")), d) for c, d in order
        ]

        # Key and order columns already shown are read from their place in the row: selecting
        # them again would widen every row the database sorts (PostgreSQL: twice as slow).
        selected: list[sa.ColumnElement] = [table.c[n] for n in names]
        positions = {n: i for i, n in enumerate(names)}

        def place(expr: sa.ColumnElement) -> int:
            if isinstance(expr, sa.Column) and expr.table is table and expr.name in positions:
                return positions[expr.name]
            selected.append(expr.label(f"__extra{len(selected)}"))
            return len(selected) - 1

        key_at = [place(k) for k in key_exprs]
        order_at = [place(c) for c, _ in order]

        ordered = sa.select(*selected).order_by(*[c.desc() if d else c.asc() for c, d in order])
        # A cursor's values are bound as each column compares them (see `bound`). Without an
        # order there is no cursor to page after.
        order_kinds = [kinds.get(getattr(c, "name", ""), "") for c, _ in order]
        after = [
            self.bound(c, kind, sa.bindparam(f"after{i}", type_=c.type))
            for i, ((c, _), kind) in enumerate(zip(order, order_kinds, strict=True))
        ]
        after_cursor = ordered.where(_keyset_condition(order, after)) if order else ordered
        limit = sa.bindparam("page_limit", type_=sa.Integer())
        offset = sa.bindparam("page_offset", type_=sa.Integer())
        return PagePlan(
            offset_page=ordered.limit(limit).offset(offset),
            after_page=after_cursor.limit(limit),
            order=order,
            order_kinds=order_kinds,
            key_at=key_at,
            order_at=order_at,
            keyset_ok=self._keyset_ok(table, order),
        )

    def select_page(
        self, conn: Connection, table: sa.Table, stmt: sa.Select, query: Query, params: dict
    ) -> Sequence[sa.Row]:
        """The rows of a page: its statement (filtered, ordered and limited) with its values
        bound (a dialect may read them its own way, see SQLiteDatasource)."""
        return conn.execute(stmt, params).all()

    def cursor_value(self, column: sa.ColumnElement, kind: str, value: Any) -> Any:
        """A value of a keyset cursor (JSON, as a page showed it) as the column's type takes it
        (the page's statement compares it as `bound` says)."""
        if not kind or value is None:
            return value
        try:
            return self.to_db(kind, coerce(ColumnSpec(str(column.name), kind), value))
        except InvalidValue as exc:
            raise InvalidQuery("That cursor does not fit this table") from exc

    def _keyset_ok(self, table: sa.Table, order: list[tuple[Any, bool]]) -> bool:
        """Keyset paging needs ordered columns without NULLs (NULLs do not compare)."""
        return bool(order) and all(
            getattr(c, "primary_key", False) or not getattr(c, "nullable", False) for c, _ in order
        )

    def _decode_cursor(self, query: Query, width: int) -> tuple[int, list | None]:
        if not query.cursor:
            return query.offset, None
        try:
            padded = query.cursor + "=" * (-len(query.cursor) % 4)
            data = json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # nested too deep
            raise InvalidQuery("That is not a cursor from this table") from exc
        if isinstance(data, dict) and isinstance(data.get("offset"), int) and data["offset"] >= 0:
            return data["offset"], None
        after = data.get("after") if isinstance(data, dict) else None
        if not isinstance(after, list) or len(after) != width:
            raise InvalidQuery(
                "That cursor does not fit this sort order; start from the first page"
            )
        return 0, after

    def cursor_after(self, key_values: list) -> str:
        return _encode_cursor({"after": [to_json("", v) for v in key_values]})

    def count(self, table_config: dict, query: Query) -> int | None:
        table = self.reflect(table_config)
        conditions = self.where_clause(table, self.kinds(table_config), query)
        with self.connect() as conn:
            return self.count_rows(conn, table, conditions)

    def count_rows(self, conn: Connection, table: sa.Table, conditions: list) -> int:
        stmt = sa.select(sa.func.count()).select_from(table)
        if conditions:
            stmt = stmt.where(*conditions)
        return int(conn.execute(stmt).scalar_one())

    def page_count(
        self,
        conn: Connection,
        table: sa.Table,
        conditions: list,
        exact: bool,
        known: int = 0,
        whole: bool = False,
    ) -> tuple[int, str]:
        """The count a page shows and how far it can be trusted, without scanning a huge table.

        `known` rows are known to match (the page read them), and `whole` says they are all
        of them (the last page, read from the first row), which needs no count. Counting stops
        one row past `exact_count_limit`, and after `count_time_limit` seconds: when few rows
        match, reaching the limit could mean reading the whole table. Past the limit a whole
        table is counted by the database's own estimate; a filtered one is "more than" the
        limit; a count cut short is "more than" what is known. `exact` counts everything
        (under the statement time limit).
        """
        if exact:
            return self.count_rows(conn, table, conditions), EXACT
        if whole:
            return known, EXACT
        limit = self.exact_count_limit
        window = sa.select(sa.literal(1)).select_from(table).where(*conditions).limit(limit + 1)
        try:
            with self.time_limited(conn, self.count_time_limit):
                counted = conn.execute(sa.select(sa.func.count()).select_from(window.subquery()))
                capped = int(counted.scalar_one())
        except sa_exc.DBAPIError as exc:
            if not isinstance(self.translate_error(exc), QueryTimeout):
                raise
            conn.rollback()  # PostgreSQL ends a transaction whose statement it stopped
            return max(known - 1, 0), AT_LEAST
        if capped <= limit:
            return capped, EXACT
        if not conditions:
            estimate = self.estimate_rows(conn, table)
            if estimate is not None and estimate > limit:
                return estimate, ESTIMATE
        return limit, AT_LEAST

    @contextmanager
    def time_limited(self, conn: Connection, seconds: float) -> Iterator[None]:
        """Statements run on `conn` in this block stop after `seconds` with the database's time-out
        error. Each dialect's datasource knows how; others run them under the statement time
        limit."""
        yield

    def estimate_rows(self, conn: Connection, table: sa.Table) -> int | None:
        """The number of rows of a table from the database's statistics, without reading it;
        None when the database keeps none. Each dialect's datasource knows where to look."""
        return None

    def _key_condition(self, table: sa.Table, table_config: dict, key: dict) -> sa.ColumnElement:
        keys = self._keys(table_config, table)
        if not keys:
            raise InvalidQuery("This table has no primary key, so its rows cannot be addressed")
        if set(key) != set(keys):
            raise InvalidQuery("That row key does not fit this table")
        return sa.and_(*(self.key_column(table, k) == key[k] for k in keys))

    def _read_row(self, conn: Connection, table: sa.Table, table_config: dict, key: dict):
        kinds = self.kinds(table_config)
        record = conn.execute(
            sa.select(*table.columns).where(self._key_condition(table, table_config, key))
        ).first()
        if record is None:
            return None
        return {n: to_json(kinds.get(n, ""), v) for n, v in record._mapping.items()}

    def get_row(self, table_config: dict, key: dict) -> dict | None:
        table = self.reflect(table_config)
        with self.connect() as conn:
            return self._read_row(conn, table, table_config, key)

    def aggregate(self, table_config: dict, spec: Any) -> dict:
        return aggregate_sql(self, table_config, spec)

    # --- writing -----------------------------------------------------------------------------

    def _checked_values(
        self, table_config: dict, values: dict, inserting: bool, specs: dict | None = None
    ) -> dict:
        specs = specs if specs is not None else self.specs(table_config)
        checked = {}
        for name, raw in values.items():
            spec = specs.get(name) if isinstance(name, str) else None
            if spec is None:
                raise InvalidValue(f"The table has no column {name!r}", str(name))
            if spec.primary_key and not inserting:
                raise InvalidValue(f"{name} is part of the primary key and cannot be changed", name)
            if spec.kind in ("binary", "array", "other"):
                raise InvalidValue(f"{name} is read-only in Nocoflo", name)
            checked[name] = self.to_db(spec.kind, coerce(spec, raw))
        if inserting:
            missing = [
                s.name for s in specs.values()
                if not s.nullable and not s.has_default and checked.get(s.name) is None
            ]  # fmt: skip
            if missing:
                raise InvalidValue(f"{', '.join(missing)} cannot be empty", missing[0])
        return checked

    def expected_to_db(self, spec: ColumnSpec, value: Any) -> Any:
        """The stored form of a value the writer saw, for compare-and-set."""
        try:
            return self.to_db(spec.kind, coerce(ColumnSpec(spec.name, spec.kind), value))
        except InvalidValue:
            return value

    def update_row(
        self, table_config: dict, key: dict, values: dict, expected: dict | None = None
    ) -> dict:
        table = self.reflect(table_config)
        specs = self.specs(table_config)
        new_values = self._checked_values(table_config, values, inserting=False)
        if not new_values:
            raise InvalidValue("Nothing to change")
        conditions = [
            self._key_condition(table, table_config, key),
            *self.expected_conditions(table, specs, expected),
        ]
        with self.connect(write=True) as conn:
            result = conn.execute(sa.update(table).where(*conditions).values(**new_values))
            current = self._read_row(conn, table, table_config, key)
            if current is None:
                raise RowNotFound("The row no longer exists: someone deleted it")
            if result.rowcount == 0:
                raise WriteConflict(
                    "The row was changed by someone else since you read it", current
                )
        return current

    def expected_conditions(
        self, table: sa.Table, specs: dict[str, ColumnSpec], expected: dict | None
    ) -> list[sa.ColumnElement]:
        """The row still holds the values the writer saw (compare-and-set)."""
        conditions = []
        for name, seen in (expected or {}).items():
            if name not in specs:
                raise InvalidValue(f"The table has no column {name!r}", str(name))
            column = table.c[name]
            stored = self.expected_to_db(specs[name], seen)
            conditions.append(
                column.is_(None)
                if stored is None
                else self.same_value(column, stored, specs[name].kind)
            )
        return conditions

    def same_value(self, column: sa.ColumnElement, value: Any, kind: str = "") -> sa.ColumnElement:
        """The column still holds `value` (compare-and-set)."""
        return column.is_not_distinct_from(self.bound(column, kind, value))

    def update_cell(
        self,
        table_config: dict,
        pk_col: str,
        pk_value: Any,
        column: str,
        new_value: Any,
        expected: Any = ...,
    ) -> bool:
        config = {**table_config, "key_columns": [pk_col]}
        seen = None if expected is ... else {column: expected}
        self.update_row(config, {pk_col: pk_value}, {column: new_value}, seen)
        return True

    def insert_row(self, table_config: dict, data: dict) -> dict:
        table = self.reflect(table_config)
        values = self._checked_values(table_config, data, inserting=True)
        keys = self._keys(table_config, table)
        with self.connect(write=True) as conn:
            result = conn.execute(sa.insert(table).values(**values))
            return self.inserted_key(result, keys, values)

    def insert_rows(
        self,
        table_config: dict,
        rows: list[dict],
        progress: Callable[[int, int], None] | None = None,
    ) -> list[dict]:
        table = self.reflect(table_config)
        keys = self._keys(table_config, table)
        specs = self.specs(table_config)
        # Returned keys are matched to their rows by type: untyped key columns (SQLite's, see
        # adapt_table) are inserted a row at a time instead, in the same transaction.
        typed_keys = all(
            not isinstance(self.key_column(table, k).type, sa.types.NullType) for k in keys
        )
        returning = (
            typed_keys and self.engine.dialect.insert_executemany_returning_sort_by_parameter_order
        )
        found: list[dict] = []
        with self.connect(write=True) as conn:  # one transaction: any failure rolls all back
            for start in range(0, len(rows), INSERT_BATCH):
                # Values are checked a batch at a time, so no second copy of every row is held;
                # one that does not fit rolls back the batches written before it.
                batch = [
                    self._checked_values(table_config, row, True, specs)
                    for row in rows[start : start + INSERT_BATCH]
                ]
                # One executemany per run of rows naming the same columns (a row leaving a
                # column to its default names fewer).
                for _, run in groupby(batch, key=lambda values: tuple(values)):
                    found += self._insert_run(conn, table, keys, list(run), returning)
                if progress is not None:
                    progress(start + len(batch), len(rows))
        return found

    def _insert_run(
        self, conn: Connection, table: sa.Table, keys: list[str], run: list[dict], returning: bool
    ) -> list[dict]:
        if not keys or all(k in run[0] for k in keys):
            conn.execute(sa.insert(table), run)
            return [{k: values[k] for k in keys} for values in run]
        if returning:
            stmt = sa.insert(table).returning(
                *[self.key_column(table, k) for k in keys], sort_by_parameter_order=True
            )
            return [dict(zip(keys, record, strict=True)) for record in conn.execute(stmt, run)]
        stmt = sa.insert(table)
        return [self.inserted_key(conn.execute(stmt, values), keys, values) for values in run]

    def inserted_key(self, result: Any, keys: list[str], values: dict) -> dict:
        inserted = result.inserted_primary_key or ()
        found = dict(zip(keys, inserted, strict=False))
        return {k: found.get(k, values.get(k)) for k in keys}

    def delete_by_key(self, table_config: dict, key: dict, expected: dict | None = None) -> bool:
        """Delete a row; with `expected`, only while it still holds those values."""
        table = self.reflect(table_config)
        conditions = [self._key_condition(table, table_config, key)]
        if expected:
            conditions += self.expected_conditions(table, self.specs(table_config), expected)
        with self.connect(write=True) as conn:
            deleted = conn.execute(sa.delete(table).where(*conditions)).rowcount
        return deleted > 0

    def delete_row(self, table_config: dict, pk_col: str, pk_value: Any) -> bool:
        return self.delete_by_key({**table_config, "key_columns": [pk_col]}, {pk_col: pk_value})


def _default_text(column: sa.Column) -> str:
    default = column.server_default
    if default is None:
        return ""
    if isinstance(default, sa.Identity):
        return "identity"
    if isinstance(default, sa.Computed):
        return f"generated: {default.sqltext}"[:255]
    arg = getattr(default, "arg", default)
    return str(getattr(arg, "text", arg))


@dataclass(frozen=True)
class PagePlan:
    """A page's statements for one table, its shown columns, order and key."""

    offset_page: sa.Select  # the first page or one at an offset: page_limit, page_offset
    after_page: sa.Select  # the page after a cursor: page_limit, after0, after1...
    order: list[tuple[sa.ColumnElement, bool]]  # what it is ordered by, key columns last
    order_kinds: list[str]  # the kind of each (a cursor's values are read as it)
    key_at: list[int]  # where each key column is in a row read
    order_at: list[int]  # where each order column is (a cursor holds their values)
    keyset_ok: bool  # whether the next page can start after the last row's values


def _keyset_condition(order: list[tuple[Any, bool]], after: list[Any]) -> sa.ColumnElement:
    """Rows strictly after `after` in this order: (a > x) OR (a = x AND b > y) OR ..."""
    alternatives = []
    for i, (column, desc) in enumerate(order):
        beyond = column < after[i] if desc else column > after[i]
        equal_before = [order[j][0] == after[j] for j in range(i)]
        alternatives.append(sa.and_(*equal_before, beyond) if equal_before else beyond)
    # One column (paging by the key, the common case): the comparison alone.
    return sa.or_(*alternatives) if len(alternatives) > 1 else alternatives[0]


def _encode_cursor(data: dict) -> str:
    raw = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")
