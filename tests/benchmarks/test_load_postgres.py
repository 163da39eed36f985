"""benchmarks/load_postgres.py: a SQLite file copied into a real PostgreSQL database.

Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust authentication); a server that is down
fails these tests. Each test loads into a database of its own, dropped afterwards.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3

import psycopg2
import pytest

from benchmarks import load_postgres
from datasources_app.demo_data import build_demo_database

pytestmark = pytest.mark.integration

SERVER = "postgresql://postgres@127.0.0.1:5432/{name}"


def _admin(statement: str) -> None:
    conn = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres")
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


@pytest.fixture
def pg_url():
    """A database name that does not exist yet (the loader creates it), dropped after the test."""
    name = f"nocoflo_loadtest_{os.getpid()}"
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    yield SERVER.format(name=name)
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _query(url: str, statement: str, args=()) -> list[tuple]:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(statement, args)
            return cur.fetchall()
    finally:
        conn.close()


def test_the_demo_is_loaded_with_types_keys_indexes_and_foreign_keys(tmp_path, pg_url, capsys):
    demo = tmp_path / "demo.sqlite3"
    build_demo_database(demo, orders=300)

    assert load_postgres.main(["--db", str(demo), "--url", pg_url]) == 0

    types = dict(
        _query(
            pg_url,
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'orders'",
        )
    )
    assert types == {
        "id": "integer",
        "customer_id": "integer",
        "product_id": "integer",
        "quantity": "integer",
        "unit_price": "double precision",
        "status": "text",
        "ordered_at": "timestamp without time zone",
        "shipped_on": "date",
        "gift": "boolean",
        "comment": "text",
    }
    assert ("sku", "character varying") in _query(
        pg_url,
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = 'products'",
    )
    constraints = {
        (table, kind)
        for table, kind in _query(
            pg_url,
            "SELECT conrelid::regclass::text, contype::text FROM pg_constraint "
            "WHERE connamespace = 'public'::regnamespace",
        )
    }
    assert {("orders", "p"), ("orders", "f"), ("customers", "u"), ("products", "u")} <= constraints
    indexes = {row[0] for row in _query(pg_url, "SELECT indexname FROM pg_indexes")}
    assert {"orders_customer_id", "orders_product_id", "orders_ordered_at"} <= indexes
    analyzed = _query(pg_url, "SELECT last_analyze FROM pg_stat_user_tables WHERE relname='orders'")
    assert analyzed[0][0] is not None

    with sqlite3.connect(demo) as db:
        expected = db.execute("SELECT * FROM orders ORDER BY id").fetchall()
    got = _query(pg_url, "SELECT * FROM orders ORDER BY id")
    assert len(got) == len(expected) == 300
    for want, row in zip(expected, got, strict=True):
        shipped = dt.date.fromisoformat(want[7]) if want[7] else None
        ordered = dt.datetime.fromisoformat(want[6])
        assert row == (*want[:6], ordered, shipped, bool(want[8]), want[9])
    assert "orders" in capsys.readouterr().out


def test_awkward_values_and_names_survive(tmp_path, pg_url):
    path = tmp_path / "odd.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(
            """
            CREATE TABLE "we""ird table" (
                "key" INTEGER PRIMARY KEY, "big" INTEGER, "text" TEXT, "blob" BLOB,
                "ratio" REAL, "price" DECIMAL(10, 2), "at" TIMESTAMP, "flag" BOOL
            );
            CREATE TABLE child (id INTEGER PRIMARY KEY, parent INTEGER REFERENCES "we""ird table");
            CREATE UNIQUE INDEX "odd index" ON "we""ird table" ("text");
            """
        )
        db.executemany(
            'INSERT INTO "we""ird table" VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
            [
                (1, 2**40, "tab\there\nnew line\\back\rslash", b"\x00\xff", 0.1, "12.34", None, 1),
                (2, None, "", None, 1e-300, None, "2024-02-29 23:59:59", 0),
                (3, -(2**40), "ünïcødé 🦉 \\N", b"", None, "0.50", None, None),
            ],
        )
        db.execute("INSERT INTO child VALUES (1, 3)")

    assert load_postgres.main(["--db", str(path), "--url", pg_url]) == 0

    rows = _query(pg_url, 'SELECT * FROM "we""ird table" ORDER BY key')
    assert [row[1] for row in rows] == [2**40, None, -(2**40)]
    assert [row[2] for row in rows] == [
        "tab\there\nnew line\\back\rslash",
        "",  # an empty string stays an empty string, not NULL
        "ünïcødé 🦉 \\N",
    ]
    assert [bytes(row[3]) if row[3] is not None else None for row in rows] == [
        b"\x00\xff",
        None,
        b"",
    ]
    assert [row[4] for row in rows] == [0.1, 1e-300, None]
    assert [str(row[5]) if row[5] is not None else None for row in rows] == ["12.34", None, "0.50"]
    assert rows[1][6] == dt.datetime(2024, 2, 29, 23, 59, 59)
    assert [row[7] for row in rows] == [True, False, None]
    types = dict(
        _query(
            pg_url,
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'we\"ird table'",
        )
    )
    assert types["big"] == "bigint" and types["key"] == "integer"
    assert types["price"] == "numeric" and types["blob"] == "bytea"
    assert _query(pg_url, "SELECT indexname FROM pg_indexes WHERE indexname = 'odd index'")
    foreign = _query(
        pg_url, "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE contype = 'f'"
    )
    assert foreign == [('FOREIGN KEY (parent) REFERENCES "we""ird table"(key)',)]


def test_existing_tables_are_replaced_only_when_asked(tmp_path, pg_url, capsys):
    demo = tmp_path / "demo.sqlite3"
    build_demo_database(demo, orders=50)
    assert load_postgres.main(["--db", str(demo), "--url", pg_url]) == 0

    assert load_postgres.main(["--db", str(demo), "--url", pg_url]) == 2
    assert "--replace" in capsys.readouterr().err
    assert load_postgres.main(["--db", str(demo), "--url", pg_url, "--replace"]) == 0
    assert _query(pg_url, "SELECT count(*) FROM orders") == [(50,)]


def test_what_cannot_run_exits_with_2(tmp_path, capsys):
    missing = tmp_path / "missing.sqlite3"
    assert load_postgres.main(["--db", str(missing)]) == 2
    assert "not found" in capsys.readouterr().err

    demo = tmp_path / "demo.sqlite3"
    build_demo_database(demo, orders=10)
    url = "postgresql://postgres@127.0.0.1:1/nowhere"
    assert load_postgres.main(["--db", str(demo), "--url", url]) == 2
    assert "cannot reach PostgreSQL" in capsys.readouterr().err
