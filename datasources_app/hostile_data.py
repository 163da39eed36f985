"""Build a tiny SQLite database whose table and column names try to break naive SQL.

Every name here is legal SQLite when quoted correctly, but breaks (or worse, injects)
when code pastes identifiers into SQL unquoted or forgets to double embedded double
quotes: quotes, semicolons, comment markers, spaces, non-ASCII text and SQL keywords.
Tests point Nocoflo at this file to prove that introspection, paging, sorting,
filtering and editing quote identifiers everywhere.

Note that the second column of the first table is literally named ``"select"``,
including the double quotes.

Run it directly to build a file by hand::

    python datasources_app/hostile_data.py /tmp/hostile.sqlite3
"""

from __future__ import annotations

import argparse
import os
import sqlite3
from pathlib import Path

HOSTILE_TABLE = 'weird "table"; DROP TABLE x; --'
# (name, declared type) in table order.
HOSTILE_COLUMNS = (
    ("id", "INTEGER PRIMARY KEY"),
    ('"select"', "TEXT"),
    ("column with spaces", "INTEGER"),
    ("naïve ünïcødé 名前", "TEXT"),
    ("semi;colon--dash", "REAL"),
)
HOSTILE_ROWS = (
    (1, "plain", 10, "hello", 1.5),
    (2, 'it\'s "quoted"', None, "naïve café", -2.25),
    (3, "'; DROP TABLE orders; --", 0, "名前 ✓ 🚀", None),
    (4, "<script>alert(1)</script>", -7, None, 0.0),
    (5, None, 2_147_483_648, "", 1e10),
)

KEYWORD_TABLE = "order"
KEYWORD_COLUMNS = (
    ("id", "INTEGER PRIMARY KEY"),
    ("group", "TEXT NOT NULL"),
    ("from", "INTEGER"),
)
KEYWORD_ROWS = (
    (1, "alpha", 1),
    (2, "beta", None),
    (3, "select * from order", 3),
    (4, "", -4),
)


def quote_identifier(name: str) -> str:
    """Quote an SQL identifier; doubling embedded quotes is what makes any name safe."""
    return '"' + name.replace('"', '""') + '"'


def _create_and_fill(
    conn: sqlite3.Connection,
    table: str,
    columns: tuple[tuple[str, str], ...],
    rows: tuple[tuple, ...],
) -> None:
    # Every identifier goes through quote_identifier and every value is a bound
    # parameter, so the formatted SQL below cannot be injected into.
    column_defs = ", ".join(f"{quote_identifier(name)} {decl}" for name, decl in columns)
    conn.execute(f"CREATE TABLE {quote_identifier(table)} ({column_defs})")
    column_list = ", ".join(quote_identifier(name) for name, _ in columns)
    placeholders = ", ".join("?" for _ in columns)
    conn.executemany(
        f"INSERT INTO {quote_identifier(table)} ({column_list}) VALUES ({placeholders})",  # noqa: S608
        rows,
    )


def build_hostile_database(path: str | os.PathLike) -> None:
    """Create (or replace) the hostile-names database at ``path``."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Stale -wal/-shm files from a previous database would be replayed into the new one.
    for stale in (target, Path(f"{target}-wal"), Path(f"{target}-shm")):
        stale.unlink(missing_ok=True)
    conn = sqlite3.connect(target)
    try:
        with conn:
            _create_and_fill(conn, HOSTILE_TABLE, HOSTILE_COLUMNS, HOSTILE_ROWS)
            _create_and_fill(conn, KEYWORD_TABLE, KEYWORD_COLUMNS, KEYWORD_ROWS)
    finally:
        conn.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build Nocoflo's hostile-names test database.")
    parser.add_argument("path", help="where to write the database (replaced if it exists)")
    args = parser.parse_args(argv)
    build_hostile_database(args.path)
    print(f"wrote {args.path}")


if __name__ == "__main__":
    main()
