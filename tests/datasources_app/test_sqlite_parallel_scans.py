"""Pages of a large SQLite table sorted by an unindexed column are read in rowid ranges at once.

What users rely on: the pages are exactly the pages of one plain read (same rows, same order,
same cursors), whatever the values (ties, NULLs, numbers and text mixed in one column); a time
limit cut in any range is the usual message; and nothing else is split.
"""

from __future__ import annotations

import random
import sqlite3
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from datasources_app.base import Filter, Query
from datasources_app.builtin import sqlite as sqlite_module
from datasources_app.builtin.sqlite import SQLiteDatasource
from datasources_app.errors import QueryTimeout

from .sqlite_files import query as plain

pytestmark = pytest.mark.integration

ROWS = 3_000
ITEMS = {"name": "items"}
SCAN_THREAD = "nocoflo-sqlite-scan"


def build_items(path: Path) -> Path:
    rng = random.Random(7)
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE items (
            id INTEGER PRIMARY KEY, q INTEGER NOT NULL, note TEXT, mixed, indexed INTEGER NOT NULL
        );
        CREATE INDEX items_indexed ON items (indexed);
        CREATE TABLE keyless (a TEXT, b INTEGER);
        CREATE TABLE shadowed (rowid TEXT, _rowid_ TEXT, oid TEXT, q INTEGER);
        CREATE TABLE pairs (a INTEGER, b INTEGER, PRIMARY KEY (a, b)) WITHOUT ROWID;
        CREATE VIEW items_view AS SELECT id, q FROM items;
        """
    )
    mixed = [3, 3.5, "3", "apple", b"\x00", None, -1, "Zebra", "zebra", ""]
    # Rowids with gaps, so the ranges hold different numbers of rows.
    ids = sorted(rng.sample(range(1, 50 * ROWS), ROWS))
    conn.executemany(
        "INSERT INTO items VALUES (?, ?, ?, ?, ?)",
        [
            (
                i,
                rng.randrange(5),
                rng.choice([None, "a", "b", "B", "c d", "é"]),
                rng.choice(mixed),
                rng.randrange(1000),
            )
            for i in ids
        ],
    )
    conn.executemany(
        "INSERT INTO keyless VALUES (?, ?)", [(str(i % 7), i % 3) for i in range(ROWS)]
    )
    conn.executemany(
        "INSERT INTO shadowed VALUES (?, ?, ?, ?)", [(None, None, None, i % 5) for i in range(ROWS)]
    )
    conn.executemany("INSERT INTO pairs VALUES (?, ?)", [(i % 50, i) for i in range(ROWS)])
    conn.commit()
    conn.close()
    return path


@pytest.fixture
def items_file(tmp_path) -> Path:
    return build_items(tmp_path / "items.sqlite3")


@pytest.fixture
def small_split(monkeypatch):
    """Tables of a thousand rows count as large here."""
    monkeypatch.setattr(sqlite_module, "SPLIT_MIN_ROWS", 1_000)


class Reads:
    """The statements a datasource runs, with the thread that ran each."""

    def __init__(self, datasource: SQLiteDatasource) -> None:
        self.seen: list[tuple[str, str]] = []
        sa.event.listen(datasource.engine, "before_cursor_execute", self._record)

    def _record(self, conn, cursor, statement, parameters, context, executemany) -> None:
        self.seen.append((threading.current_thread().name, statement))

    def split(self) -> bool:
        return any(thread.startswith(SCAN_THREAD) for thread, _ in self.seen)


def open_ds(path: Path, **config) -> SQLiteDatasource:
    return SQLiteDatasource(f"sqlite:///{path}", config)


def walk(datasource, config, **query_args) -> list:
    rows, cursor = [], None
    while True:
        page = datasource.get_page(config, Query(cursor=cursor, with_count=False, **query_args))
        rows += page.rows
        if page.next is None:
            return rows
        cursor = page.next


# Each sort, and the same order in SQL, ties broken by the key.
SORTS = {
    "q": ([("q", False)], "SELECT id FROM items ORDER BY q, id"),
    "q-,note": ([("q", True), ("note", False)], "SELECT id FROM items ORDER BY q DESC, note, id"),
    "mixed": ([("mixed", False)], "SELECT id FROM items ORDER BY mixed, id"),
    "mixed-": ([("mixed", True)], "SELECT id FROM items ORDER BY mixed DESC, id"),
    "note-": ([("note", True)], "SELECT id FROM items ORDER BY note DESC, id"),
}


@pytest.mark.parametrize("name", SORTS)
@pytest.mark.parametrize("ways", [2, 3])
def test_split_pages_are_the_pages_of_one_read(items_file, small_split, name, ways):
    sort, sql = SORTS[name]
    split, single = open_ds(items_file, parallel_scans=ways), open_ds(items_file, parallel_scans=1)
    try:
        reads = Reads(split)
        rows = walk(split, ITEMS, limit=70, sort=sort)
        assert reads.split()
        assert rows == walk(single, ITEMS, limit=70, sort=sort)
        # And in the order SQLite itself gives, checked without Nocoflo.
        assert [values["id"] for _, values in rows] == [r[0] for r in plain(items_file, sql)]
        assert split.engine.pool.checkedout() == 0
    finally:
        split.close()
        single.close()


def test_a_filtered_sort_is_split_and_keeps_only_matching_rows(items_file, small_split):
    datasource = open_ds(items_file, parallel_scans=2)
    try:
        reads = Reads(datasource)
        flt = [Filter("note", "eq", "b"), Filter("q", "gte", 2)]
        rows = walk(datasource, ITEMS, limit=40, sort=[("mixed", False)], filters=flt)
        assert reads.split()
        assert [values["id"] for _, values in rows] == [
            r[0]
            for r in plain(
                items_file,
                "SELECT id FROM items WHERE note = 'b' AND q >= 2 ORDER BY mixed, id",
            )
        ]
    finally:
        datasource.close()


@pytest.mark.parametrize(
    ("table", "query_args"),
    [
        (ITEMS, {"sort": [("indexed", False)]}),  # an index gives the order
        (ITEMS, {"sort": [("id", True)]}),  # so does the key
        (ITEMS, {}),  # unsorted pages go by the key
        (ITEMS, {"sort": [("q", False)], "filters": [Filter("indexed", "eq", 5)]}),  # SEARCH
        (ITEMS, {"sort": [("q", False)], "offset": 990, "limit": 20}),  # too far from the start
        ({"name": "shadowed"}, {"sort": [("q", False)]}),  # no name left for the rowid
        ({"name": "pairs"}, {"sort": [("b", False)]}),  # WITHOUT ROWID
        ({"name": "items_view", "is_view": True}, {"sort": [("q", False)]}),
    ],
    ids=["indexed", "key", "unsorted", "search", "deep", "shadowed", "pairs", "view"],
)
def test_what_is_not_split(items_file, small_split, table, query_args):
    datasource = open_ds(items_file, parallel_scans=2)
    try:
        reads = Reads(datasource)
        page = datasource.get_page(table, Query(with_count=False, **query_args))
        assert page.rows
        assert not reads.split()
    finally:
        datasource.close()


def test_a_keyless_table_is_split_by_its_rowid(items_file, small_split):
    datasource = open_ds(items_file, parallel_scans=2)
    try:
        reads = Reads(datasource)
        rows = walk(datasource, {"name": "keyless"}, limit=500, sort=[("a", True)])
        assert reads.split()
        assert [key["rowid"] for key, _ in rows] == [
            r[0] for r in plain(items_file, "SELECT rowid FROM keyless ORDER BY a DESC, rowid")
        ]
    finally:
        datasource.close()


def test_a_small_table_or_one_way_is_one_read(items_file):
    # SPLIT_MIN_ROWS as shipped: three thousand rows (rowids 1 to 3,000) are read at once.
    for datasource in (
        open_ds(items_file, parallel_scans=4),
        open_ds(items_file, parallel_scans=1),
    ):
        try:
            reads = Reads(datasource)
            datasource.get_page({"name": "keyless"}, Query(sort=[("a", False)], with_count=False))
            assert not reads.split()
        finally:
            datasource.close()


def test_a_range_cut_by_the_time_limit_is_the_usual_message(tmp_path, small_split):
    # The first range holds ten rows, the second two hundred thousand, so the range read on
    # the other thread is the one the time limit stops.
    path = tmp_path / "lopsided.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL);
        WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 10)
        INSERT INTO t SELECT i, 'x' FROM s;
        WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 200000)
        INSERT INTO t SELECT 10000000 + i, hex(randomblob(8)) FROM s;
        """
    )
    conn.close()
    datasource = open_ds(path, parallel_scans=2, statement_timeout=0.001)
    try:
        reads = Reads(datasource)
        with pytest.raises(QueryTimeout, match="longer than 0.001 seconds"):
            datasource.get_page({"name": "t"}, Query(sort=[("v", False)], with_count=False))
        assert reads.split()
        assert datasource.engine.pool.checkedout() == 0
    finally:
        datasource.close()
