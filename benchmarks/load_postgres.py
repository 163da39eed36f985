"""Copy the demo SQLite database into PostgreSQL, to benchmark Nocoflo on a PostgreSQL datasource.

Every table of the SQLite file is recreated with PostgreSQL types (integer or bigint, double
precision, boolean, date, timestamp, varchar(n), text), filled with COPY streamed straight from
sqlite3 (memory stays flat), then given the same primary keys, unique constraints, indexes and
foreign keys, and ANALYZEd. Keys and indexes are built after the load, which is several times
faster than maintaining them row by row.

    .venv/bin/python datasources_app/demo_data.py /tmp/demo.sqlite3     # if you have none yet
    .venv/bin/python benchmarks/load_postgres.py --db data/demo.sqlite3 \\
        [--url postgresql://postgres@127.0.0.1:5432/nocoflo_bench] [--replace]

The database is created when it does not exist. Tables of the same names already there are
refused unless ``--replace``. Exit code 0 when the row counts match the SQLite file, 1 when they
do not, 2 when the load cannot run at all.
"""

from __future__ import annotations

import argparse
import re
import sqlite3
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2
from psycopg2 import sql

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/nocoflo_bench"
FETCH_ROWS = 20_000
INT4 = (-(2**31), 2**31 - 1)


class LoadError(Exception):
    """The load cannot run; reported with exit code 2."""


@dataclass
class Column:
    name: str
    declared: str
    not_null: bool
    pg_type: str = ""


@dataclass
class Index:
    name: str
    columns: list[str]
    unique: bool


@dataclass
class ForeignKey:
    columns: list[str]
    table: str
    references: list[str]


@dataclass
class Table:
    name: str
    columns: list[Column]
    primary_key: list[str]
    unique: list[list[str]] = field(default_factory=list)
    indexes: list[Index] = field(default_factory=list)
    foreign_keys: list[ForeignKey] = field(default_factory=list)


# --- reading the SQLite schema --------------------------------------------------------------


def _pragma(db: sqlite3.Connection, pragma: str, name: str) -> list[tuple]:
    # PRAGMA arguments cannot be bound; the name comes from sqlite_master, quoted for SQLite.
    return db.execute(f"PRAGMA {pragma}({quote_sqlite(name)})").fetchall()


def pg_type(db: sqlite3.Connection, table: str, column: Column) -> str:
    """The PostgreSQL type for a declared SQLite type (SQLite's affinity rules, refined)."""
    declared = column.declared.upper()
    if "INT" in declared:
        # integer unless the stored values need 64 bits (SQLite integers are up to 8 bytes).
        low, high = db.execute(
            sql_sqlite("SELECT min({c}), max({c}) FROM {t}", table, column.name)
        ).fetchone()
        fits = low is None or (INT4[0] <= low and high <= INT4[1])
        return "integer" if fits else "bigint"
    if declared.startswith("BOOL"):
        return "boolean"
    if declared in ("DATETIME", "TIMESTAMP"):
        return "timestamp"
    if declared == "DATE":
        return "date"
    if declared == "TIME":
        return "time"
    if any(word in declared for word in ("REAL", "FLOA", "DOUB")):
        return "double precision"
    if declared.startswith(("DECIMAL", "NUMERIC")):
        return declared.lower()
    match = re.fullmatch(r"(?:VAR)?CHAR(?:ACTER)?\s*\((\d+)\)", declared)
    if match:
        return f"varchar({match.group(1)})"
    if "BLOB" in declared:
        return "bytea"
    return "text"


def quote_sqlite(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sql_sqlite(template: str, table: str, column: str | None = None) -> str:
    """A statement for sqlite3 with quoted identifiers (names come from the file's own schema)."""
    return template.format(t=quote_sqlite(table), c=quote_sqlite(column) if column else "")


def select_all(table: Table) -> str:
    columns = ", ".join(quote_sqlite(column.name) for column in table.columns)
    return f"SELECT {columns} FROM {quote_sqlite(table.name)}"  # noqa: S608


def read_schema(db: sqlite3.Connection) -> list[Table]:
    names = [
        row[0]
        for row in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY name"
        )
    ]
    tables = []
    for name in names:
        info = _pragma(db, "table_info", name)
        columns = [Column(row[1], row[2] or "", bool(row[3])) for row in info]
        for column in columns:
            column.pg_type = pg_type(db, name, column)
        primary_key = [row[1] for row in sorted(info, key=lambda r: r[5]) if row[5]]
        table = Table(name, columns, primary_key)
        for row in _pragma(db, "index_list", name):
            index_name, unique, origin = row[1], bool(row[2]), row[3]
            if origin == "pk":
                continue
            index_columns = [c[2] for c in _pragma(db, "index_info", index_name)]
            if origin == "u":  # UNIQUE in the table definition
                table.unique.append(index_columns)
            else:
                table.indexes.append(Index(index_name, index_columns, unique))
        keys: dict[int, ForeignKey] = {}
        for row in _pragma(db, "foreign_key_list", name):
            key = keys.setdefault(row[0], ForeignKey([], row[2], []))
            key.columns.append(row[3])
            key.references.append(row[4])
        table.foreign_keys = list(keys.values())
        tables.append(table)
    by_name = {table.name: table for table in tables}
    for table in tables:
        for key in table.foreign_keys:
            if None in key.references and key.table in by_name:  # REFERENCES t: its primary key
                key.references = by_name[key.table].primary_key
    return tables


# --- streaming rows into COPY ---------------------------------------------------------------

_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_field(value: object, pg: str) -> str:
    """One value in COPY's text format: \\N for NULL, backslash escapes for the rest."""
    if value is None:
        return "\\N"
    if pg == "boolean":
        return "t" if value else "f"
    if isinstance(value, float):
        return repr(value)  # shortest text that reads back as the same double
    if isinstance(value, bytes):
        return "\\\\x" + value.hex()
    return str(value).translate(_ESCAPES)


class CopySource:
    """A file-like object whose read() hands COPY the table's rows, a batch at a time."""

    def __init__(self, rows: sqlite3.Cursor, types: list[str]) -> None:
        self.rows = rows
        self.types = types
        self.buffer = b""
        self.count = 0

    def _more(self) -> bool:
        batch = self.rows.fetchmany(FETCH_ROWS)
        if not batch:
            return False
        types = self.types
        lines = [
            "\t".join(copy_field(value, pg) for value, pg in zip(row, types, strict=True))
            for row in batch
        ]
        self.count += len(batch)
        self.buffer += ("\n".join(lines) + "\n").encode()
        return True

    def read(self, size: int = -1) -> bytes:
        while (size < 0 or len(self.buffer) < size) and self._more():
            pass
        if size < 0:
            size = len(self.buffer)
        chunk, self.buffer = self.buffer[:size], self.buffer[size:]
        return chunk


# --- PostgreSQL -----------------------------------------------------------------------------


def ident(*names: str) -> sql.Composed:
    return sql.SQL(", ").join(sql.Identifier(name) for name in names)


def ensure_database(url: str) -> None:
    """Create the URL's database if it does not exist (through the server's `postgres` one)."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not name:
        raise LoadError("the URL names no database")
    maintenance = urlunsplit(parts._replace(path="/postgres"))
    try:
        conn = psycopg2.connect(maintenance)
    except psycopg2.Error as error:
        raise LoadError(f"cannot reach PostgreSQL: {' '.join(str(error).split())}") from None
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if cur.fetchone() is None:
                print(f"creating database {name}")
                cur.execute(sql.SQL("CREATE DATABASE {} ENCODING 'UTF8'").format(ident(name)))
    finally:
        conn.close()


def create_table(cur, table: Table) -> None:
    columns = sql.SQL(", ").join(
        sql.SQL("{} {}{}").format(
            sql.Identifier(column.name),
            sql.SQL(column.pg_type),
            sql.SQL(" NOT NULL" if column.not_null else ""),
        )
        for column in table.columns
    )
    cur.execute(sql.SQL("CREATE TABLE {} ({})").format(sql.Identifier(table.name), columns))


def add_keys_and_indexes(cur, table: Table) -> None:
    name = sql.Identifier(table.name)
    if table.primary_key:
        cur.execute(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} PRIMARY KEY ({})").format(
                name, sql.Identifier(f"{table.name}_pkey"), ident(*table.primary_key)
            )
        )
    for columns in table.unique:
        cur.execute(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} UNIQUE ({})").format(
                name, sql.Identifier(f"{table.name}_{'_'.join(columns)}_key"), ident(*columns)
            )
        )
    for index in table.indexes:
        cur.execute(
            sql.SQL("CREATE {}INDEX {} ON {} ({})").format(
                sql.SQL("UNIQUE " if index.unique else ""),
                sql.Identifier(index.name),
                name,
                ident(*index.columns),
            )
        )


def add_foreign_keys(cur, table: Table) -> None:
    for key in table.foreign_keys:
        cur.execute(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({})").format(
                sql.Identifier(table.name),
                sql.Identifier(f"{table.name}_{'_'.join(key.columns)}_fkey"),
                ident(*key.columns),
                sql.Identifier(key.table),
                ident(*key.references),
            )
        )


def load(sqlite_path: Path, url: str, replace: bool = False) -> dict[str, tuple[int, int]]:
    """Load every table; return {table: (rows in SQLite, rows in PostgreSQL)}."""
    if not sqlite_path.is_file():
        raise LoadError(f"SQLite file not found: {sqlite_path}")
    db = sqlite3.connect(sqlite_path.resolve().as_uri() + "?mode=ro", uri=True)
    try:
        tables = read_schema(db)
        if not tables:
            raise LoadError(f"{sqlite_path} holds no tables")
        ensure_database(url)
        conn = psycopg2.connect(url)
        try:
            return _load(db, conn, tables, replace)
        finally:
            conn.close()
    finally:
        db.close()


def _load(db: sqlite3.Connection, conn, tables: list[Table], replace: bool) -> dict:
    counts = {}
    with conn, conn.cursor() as cur:  # one transaction: all tables or none
        names = [table.name for table in tables]
        cur.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_name = ANY(%s)",
            [names],
        )
        existing = sorted(row[0] for row in cur.fetchall())
        if existing and not replace:
            raise LoadError(
                f"the database already has table(s) {', '.join(existing)}; use --replace"
            )
        for name in existing:
            cur.execute(sql.SQL("DROP TABLE {} CASCADE").format(sql.Identifier(name)))
        cur.execute("SET LOCAL maintenance_work_mem = '256MB'")
        for table in tables:
            started = time.perf_counter()
            create_table(cur, table)
            rows = db.execute(select_all(table))
            source = CopySource(rows, [column.pg_type for column in table.columns])
            copy = sql.SQL("COPY {} ({}) FROM STDIN").format(
                sql.Identifier(table.name), ident(*[column.name for column in table.columns])
            )
            cur.copy_expert(copy.as_string(conn), source, size=1 << 20)
            loaded = time.perf_counter() - started
            add_keys_and_indexes(cur, table)
            print(
                f"{table.name:<12} {source.count:>10,} rows  copied in {loaded:5.1f}s, "
                f"keys and indexes in {time.perf_counter() - started - loaded:5.1f}s"
            )
            counts[table.name] = source.count
        for table in tables:
            add_foreign_keys(cur, table)
    conn.autocommit = True  # ANALYZE cannot run inside the transaction block of `with conn`
    with conn.cursor() as cur:
        cur.execute(sql.SQL("ANALYZE {}").format(ident(*names)))
        result = {}
        for name in names:
            cur.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(name)))
            result[name] = (counts[name], cur.fetchone()[0])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Copy the demo SQLite database into PostgreSQL.")
    parser.add_argument("--db", default="data/demo.sqlite3", help="the SQLite file to copy")
    parser.add_argument("--url", default=DEFAULT_URL, help=f"the target (default {DEFAULT_URL})")
    parser.add_argument("--replace", action="store_true", help="drop tables of the same names")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        counts = load(Path(args.db), args.url, args.replace)
    except LoadError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except psycopg2.Error as error:
        print(f"error: PostgreSQL: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    different = {name: pair for name, pair in counts.items() if pair[0] != pair[1]}
    for name, (expected, got) in different.items():
        print(f"{name}: {expected:,} rows in SQLite but {got:,} in PostgreSQL", file=sys.stderr)
    print(f"loaded and analyzed in {time.perf_counter() - started:.1f}s")
    return 1 if different else 0


if __name__ == "__main__":
    sys.exit(main())
