"""Small SQLite files built with plain sqlite3 for the datasource tests."""

from __future__ import annotations

import sqlite3
from pathlib import Path

SHOP_SCHEMA = """
CREATE TABLE authors (
    id INTEGER PRIMARY KEY,
    name VARCHAR(10) NOT NULL,
    born DATE,
    active BOOLEAN NOT NULL DEFAULT 1,
    rating REAL,
    score NUMERIC(8, 2),
    meta JSON,
    updated DATETIME,
    alarm TIME,
    photo BLOB,
    note TEXT DEFAULT 'none',
    anything
);
CREATE TABLE books (
    id INTEGER PRIMARY KEY,
    author_id INTEGER NOT NULL REFERENCES authors(id),
    title TEXT NOT NULL,
    pages INTEGER
);
CREATE TABLE notes (body TEXT, n INTEGER);
CREATE TABLE shadow (rowid TEXT, body TEXT);
CREATE TABLE allnames (rowid TEXT, _rowid_ TEXT, oid TEXT);
CREATE TABLE pairs (a INTEGER NOT NULL, b TEXT NOT NULL, v TEXT, PRIMARY KEY (a, b));
CREATE TABLE counters (id INTEGER PRIMARY KEY, n INTEGER NOT NULL);
CREATE VIEW author_names AS SELECT id, name FROM authors;
INSERT INTO authors (id, name, born, active, rating, photo, note) VALUES
    (1, 'Ann', '1970-01-02', 1, 4.5, x'000102', 'first'),
    (2, 'Bob', NULL, 0, NULL, NULL, NULL),
    (3, 'Cy', '1999-12-31', 1, 3.0, NULL, 'third');
INSERT INTO books (id, author_id, title, pages) VALUES
    (1, 1, 'Alpha', 100), (2, 1, 'Beta', NULL), (3, 2, 'Gamma', 300);
INSERT INTO notes (body, n) VALUES ('a', 1), ('b', 2), ('c', 3);
INSERT INTO shadow (rowid, body) VALUES ('not the rowid', 'one'), ('nor this', 'two');
INSERT INTO allnames VALUES ('x', 'y', 'z');
INSERT INTO pairs (a, b, v) VALUES (1, 'x', 'one'), (1, 'y', 'two'), (2, 'x', 'three');
INSERT INTO counters (id, n) VALUES (1, 10), (2, 20);
"""


def build_shop(path: Path) -> Path:
    conn = sqlite3.connect(path)
    try:
        conn.executescript(SHOP_SCHEMA)
    finally:
        conn.close()
    return path


def build_slow(path: Path) -> Path:
    """A view over a triple cross join: 10^9 rows no query gets through in a test's lifetime."""
    conn = sqlite3.connect(path)
    try:
        conn.executescript(
            """
            CREATE TABLE big (id INTEGER PRIMARY KEY, t TEXT NOT NULL);
            WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 1000)
            INSERT INTO big SELECT i, 'row ' || i FROM s;
            CREATE VIEW slow AS SELECT a.id AS id, a.t || b.t || c.t AS t FROM big a, big b, big c;
            """
        )
    finally:
        conn.close()
    return path


def query(path: Path, sql: str, params: tuple = ()) -> list[tuple]:
    """Read the file with plain sqlite3, bypassing Nocoflo entirely."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()
