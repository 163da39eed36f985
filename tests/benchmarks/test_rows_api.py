"""benchmarks/rows_api.py: which cases a table can time."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import pytest

from benchmarks import rows_api


@pytest.fixture
def small_target(tmp_path):
    path = tmp_path / "small.sqlite3"
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, status TEXT)")
        conn.executemany("INSERT INTO orders VALUES (?, 'new')", [(n,) for n in range(1, 501)])
    baseline = rows_api.SQLiteBaseline(path)
    yield rows_api.Target(None, "/api/tables/1/rows", baseline, "orders", "id", 0, 5)
    baseline.close()


def test_a_small_table_skips_the_deep_pages_instead_of_timing_empty_ones(small_target):
    cases = {case.name: case for case in rows_api.build_cases(small_target, {"id", "status"})}
    deep = [cases["cursor after 900,000"], cases["offset 900,000"]]
    assert [case.skip_reason for case in deep] == ["table has fewer than 900,000 rows"] * 2
    # The cases the table has columns for are timed; the others say which column is missing.
    assert cases["first page"].skip_reason == ""
    assert cases["sort unit_price (unindexed)"].skip_reason == "table has no column unit_price"
