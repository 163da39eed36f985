"""One datasource suite for every backend: SQLite, PostgreSQL and MySQL/MariaDB, each on a fresh
database holding the same fixture tables (tests/backends.py). Servers that cannot be reached fail
these tests; nothing here is skipped."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import secrets
import sys
import time
from decimal import Decimal

import pytest
import sqlalchemy as sa

from core.models import ColumnMeta
from datasources_app.base import FILTER_OPS, Filter, Query
from datasources_app.builtin.mysql import MySQLDatasource, MySQLDatasourcePlugin
from datasources_app.builtin.postgresql import PostgreSQLDatasource, PostgreSQLDatasourcePlugin
from datasources_app.builtin.sqlite import SQLiteDatasource
from datasources_app.connections import datasource_for
from datasources_app.discovery import discover_tables
from datasources_app.errors import (
    DatasourceUnavailable,
    InvalidQuery,
    InvalidValue,
    QueryTimeout,
    RowNotFound,
    WriteConflict,
)
from datasources_app.values import encode_key
from plugins_app.manager import PluginError, PluginManager
from tests.backends import HOSTILE_COLUMNS, HOSTILE_TABLE, MOODS, UUID_1, database_url
from tests.factories import DatasourceFactory

pytestmark = pytest.mark.integration

TYPED = {"name": "typed"}
PAIRS = {"name": "pairs"}
MIXED = {"name": "Mixed Case"}
NOTES = {"name": "notes"}
HOSTILE = {"name": HOSTILE_TABLE}
SERVERS = ["postgresql", "mysql"]


def walk(ds, config, **query_args) -> tuple[list, list[str]]:
    """All rows of a query, page after page through `next`; and the cursors used."""
    rows, cursors, cursor = [], [], None
    while True:
        page = ds.get_page(config, Query(cursor=cursor, **query_args))
        rows += page.rows
        if page.next is None:
            return rows, cursors
        cursor = page.next
        cursors.append(cursor)


def ids(rows) -> list:
    return [values["id"] for _, values in rows]


def cursor_kind(cursor: str) -> str:
    data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    return next(iter(data))


def page_ids(ds, config=TYPED, **query_args) -> list:
    return ids(ds.get_page(config, Query(**query_args)).rows)


def raw_ids(backend, order_by: str) -> list:
    """The table's ids in an order as the database itself sorts them (NULLs, collation...)."""
    return [r[0] for r in backend.query(f"SELECT id FROM typed ORDER BY {order_by}")]  # noqa: S608


# --- tables and types ---------------------------------------------------------------------------


def test_list_tables_finds_every_fixture_table(backend, ds):
    found = {(t["schema"], t["name"]) for t in ds.list_tables()}
    expected = {
        ("", "typed"),
        ("", "pairs"),
        ("", "Mixed Case"),
        ("", "notes"),
        ("", HOSTILE_TABLE),
    }
    if backend.name == "postgresql":
        expected.add(("Other Schema", "gadgets"))
    assert found == expected
    assert ds.test_connection() is True


def test_schema_reports_every_kind(backend, ds):
    columns = {c["name"]: c for c in ds.get_schema(TYPED)}
    kinds = {name: c["kind"] for name, c in columns.items()}
    expected = {
        "id": "integer", "name": "text", "qty": "integer", "price": "decimal", "ratio": "real",
        "active": "boolean", "born": "date", "alarm": "time", "seen": "datetime",
        "seen_tz": "datetime", "note": "text", "meta": "json", "token": "uuid", "photo": "binary",
    }  # fmt: skip
    if "enum" in backend.features:
        expected["mood"] = "enum"
    if "array" in backend.features:
        expected["tags"] = "array"
    if backend.name == "postgresql":
        expected["doc"] = "json"  # jsonb
    assert kinds == expected
    assert columns["id"]["primary_key"] is True and columns["id"]["nullable"] is False
    assert columns["name"]["max_length"] == 10 and columns["name"]["nullable"] is False
    assert columns["note"]["max_length"] is None
    assert all(c["choices"] == [] for n, c in columns.items() if n != "mood")
    if "enum" in backend.features:
        assert columns["mood"]["choices"] == MOODS
        assert columns["mood"]["max_length"] is None
    assert ds.key_columns_for(TYPED) == ["id"]


def test_values_are_shown_as_json(backend, ds):
    row = ds.get_row(TYPED, {"id": 1})
    assert json.loads(json.dumps(row)) == row  # everything is plain JSON
    assert (row["name"], row["qty"], row["active"]) == ("Ann", 3, True)
    assert (row["born"], row["alarm"], row["seen"]) == (
        "1970-01-02",
        "08:30:00",
        "2024-01-02 03:04:05",
    )
    assert row["token"] == UUID_1
    assert row["photo"] == "(3 bytes)"
    assert ds.get_row(TYPED, {"id": 2})["active"] is False
    if backend.name == "sqlite":  # SQLite keeps JSON as the text it was given
        assert json.loads(row["meta"]) == {"a": 1, "list": [1, 2]}
    else:
        assert row["meta"] == {"a": 1, "list": [1, 2]}
        assert ds.get_row(TYPED, {"id": 3})["meta"] == [1, 2, 3]
        assert row["price"] == "12345678901234.5678"  # a string: no float rounding
        assert row["mood"] == "happy"
    if "array" in backend.features:
        assert row["tags"] == [1, 2, 3]
        assert ds.get_row(TYPED, {"id": 3})["tags"] == []


# --- reading: paging, sorting, filtering, searching, counting -------------------------------------


def test_offset_paging(ds):
    assert page_ids(ds, limit=2) == [1, 2]
    assert page_ids(ds, limit=2, offset=2) == [3, 4]
    assert page_ids(ds, limit=2, offset=4) == [5]
    assert page_ids(ds, limit=2, offset=10) == []


def test_keyset_cursor_continues_exactly(ds):
    rows, cursors = walk(ds, TYPED, limit=2)
    assert ids(rows) == [1, 2, 3, 4, 5]
    assert cursors and all(cursor_kind(c) == "after" for c in cursors)
    first = ds.get_page(TYPED, Query(limit=2))
    assert first.count == 5
    second = ds.get_page(TYPED, Query(limit=2, cursor=first.next, with_count=False))
    assert ids(second.rows) == [3, 4] and second.count is None


def test_pages_of_one_shape_run_one_statement_with_their_own_values(ds):
    """A grid reading page after page does not build its statement again for each page."""
    executed = []

    def record(conn, statement, *args):
        executed.append(statement)

    ds.reflect(TYPED)  # reading the table's description runs statements of its own
    sa.event.listen(ds.engine, "before_execute", record)
    try:
        first = ds.get_page(TYPED, Query(limit=2, with_count=False))
        second = ds.get_page(TYPED, Query(limit=2, cursor=first.next, with_count=False))
        third = ds.get_page(TYPED, Query(limit=2, cursor=second.next, with_count=False))
        at_offset = ds.get_page(TYPED, Query(limit=2, offset=2, with_count=False))
        wider = ds.get_page(TYPED, Query(limit=3, with_count=False))
    finally:
        sa.event.remove(ds.engine, "before_execute", record)
    assert [ids(p.rows) for p in (first, second, third, at_offset, wider)] == [
        [1, 2], [3, 4], [5], [3, 4], [1, 2, 3],
    ]  # fmt: skip
    pages = [s for s in executed if isinstance(s, sa.Select)]
    assert len(pages) == 5
    assert pages[0] is pages[3] is pages[4]  # the first page, one at an offset, a longer one
    assert pages[1] is pages[2]  # the pages after a cursor
    assert pages[0] is not pages[1]
    # Another order is another statement; a filter is added to the page's own.
    ds.get_page(TYPED, Query(limit=2, sort=[("name", True)], with_count=False))
    ds.get_page(TYPED, Query(limit=2, filters=[Filter("qty", "gt", 3)], with_count=False))
    assert len(ds._page_plans) == 2


@pytest.mark.parametrize(
    ("sort", "order_by"),
    [
        ([("name", False)], "name, id"),
        ([("name", True)], "name DESC, id"),
        ([("id", True)], "id DESC"),
        ([("price", False)], "price, id"),
        ([("seen", True)], "seen DESC, id"),
        ([("qty", True), ("name", False)], "qty DESC, name, id"),
    ],
)
def test_sort_matches_the_databases_own_order(backend, ds, sort, order_by):
    expected = raw_ids(backend, order_by)
    assert page_ids(ds, sort=sort) == expected
    # Page after page (keyset on NOT NULL columns, offsets otherwise), the same order.
    assert ids(walk(ds, TYPED, sort=sort, limit=2)[0]) == expected


# (column, op, value, ids): one database serves them all, each case is checked on its own.
FILTER_CASES = [
    ("name", "eq", "Ann", [1]),
    ("qty", "ne", 3, [3, 4, 5]),
    ("qty", "lt", "7", [1, 4]),
    ("qty", "lte", 7, [1, 3, 4]),
    ("qty", "gt", 3, [3, 5]),
    ("qty", "gte", 3, [1, 3, 5]),
    ("qty", "in", [1, "10"], [4, 5]),
    ("qty", "contains", "1", [4, 5]),
    ("qty", "isnull", None, [2]),
    ("born", "notnull", None, [1, 3, 4]),
    ("note", "contains", "NOTE", [1, 3]),
    ("note", "contains", "50%", [4]),
    ("note", "contains", "_", [4]),
    ("name", "startswith", "ann", [1, 4]),
    ("price", "eq", "0.1", [3]),
    ("price", "gt", "100", [1]),
    ("price", "lt", 0, [4]),
    ("ratio", "eq", 1.1, [4]),
    ("ratio", "gte", "1.5", [1, 3]),
    ("active", "eq", "true", [1, 3, 5]),
    ("active", "eq", False, [2, 4]),
    ("born", "eq", "1999-12-31", [3]),
    ("born", "lt", "1999-01-01", [1]),
    ("alarm", "gt", "12:00:00", [3]),
    ("seen", "gt", "2000-01-01 00:00:00", [1]),
    ("token", "eq", UUID_1, [1]),
    ("token", "eq", None, [2, 3, 4, 5]),
]


def test_every_filter_op(ds):
    for column, op, value, expected in FILTER_CASES:
        query = Query(filters=[Filter(column, op, value)])
        case = f"{column} {op} {value!r}"
        assert page_ids(ds, filters=query.filters) == expected, case
        assert ds.count(TYPED, query) == len(expected), case
    assert {op for _, op, _, _ in FILTER_CASES} == set(FILTER_OPS)


def test_filters_combine_and_refuse_what_does_not_fit(ds):
    both = [Filter("active", "eq", True), Filter("qty", "gt", 3)]
    assert page_ids(ds, filters=both) == [3, 5]
    with pytest.raises(InvalidQuery, match="whole number"):
        ds.get_page(TYPED, Query(filters=[Filter("qty", "eq", "many")]))
    with pytest.raises(InvalidQuery, match="no column"):
        ds.get_page(TYPED, Query(filters=[Filter("nope", "eq", 1)]))
    with pytest.raises(InvalidQuery, match="operator"):
        ds.get_page(TYPED, Query(filters=[Filter("qty", "like", 1)]))


@pytest.mark.parametrize("backend", ["postgresql", "mysql"], indirect=True)
def test_enum_filters(ds):
    assert page_ids(ds, filters=[Filter("mood", "eq", "happy")]) == [1]
    assert page_ids(ds, filters=[Filter("mood", "contains", "S")]) == [3, 4]
    assert page_ids(ds, filters=[Filter("mood", "in", ["sad", "so-so"])]) == [3, 4]
    assert page_ids(ds, search="SO-") == [4]
    with pytest.raises(InvalidQuery, match="must be one of happy, sad, so-so"):
        ds.get_page(TYPED, Query(filters=[Filter("mood", "eq", "angry")]))


def test_search_is_case_insensitive_over_text_columns(ds):
    assert page_ids(ds, search="ann") == [1, 4]
    assert page_ids(ds, search="NOTE") == [1, 3]
    assert page_ids(ds, search="50%") == [4]
    assert page_ids(ds, search="nothing like this") == []
    assert ds.count(TYPED, Query(search="ann")) == 2
    # Only the columns the user is shown are searched.
    assert page_ids(ds, search="note", columns=["id", "name"]) == []


def test_count_follows_filters_and_search(ds):
    assert ds.count(TYPED, Query()) == 5
    assert ds.count(TYPED, Query(filters=[Filter("qty", "notnull")], search="ann")) == 2
    assert ds.count(TYPED, Query(filters=[Filter("qty", "gt", 1)], search="ann")) == 1


def test_a_large_table_is_counted_without_scanning_it(backend):
    """Past the exact-count limit (3 here, 10,000 by default) a whole table shows the database's
    own estimate, a filtered one "more than" the limit, and an exact count only on request."""
    ds = backend.datasource(exact_count_limit=3)
    # The servers' estimates come from their statistics, which ANALYZE brings up to date.
    if backend.name == "postgresql":
        backend.execute_script(["ANALYZE typed"])
    elif backend.name == "mysql":
        backend.query("ANALYZE TABLE typed")

    def shown(**query_args) -> tuple:
        page = ds.get_page(TYPED, Query(limit=2, **query_args))
        return page.count, page.count_accuracy

    assert shown() == (5, "estimate")
    assert shown(exact_count=True) == (5, "exact")
    assert shown(filters=[Filter("qty", "notnull")]) == (3, "at_least")
    assert shown(filters=[Filter("qty", "notnull")], exact_count=True) == (4, "exact")
    assert shown(search="ann") == (2, "exact")  # few enough to count exactly
    # Without statistics to go by, a large table is "more than" the limit.
    ds.estimate_rows = lambda conn, table: None
    assert shown() == (3, "at_least")


def test_a_count_that_runs_out_of_time_says_more_than_the_rows_shown(backend):
    """A count stops after `count_time_limit` (a second by default), however many rows
    it would have to read: the page says "more than" the rows it shows, and an exact count is
    still there on request."""
    backend.create_wide_view()
    ds = backend.datasource(exact_count_limit=2_000_000, count_time_limit=0.001)
    wide = {"name": "wide"}
    page = ds.get_page(wide, Query(limit=3))
    assert (len(page.rows), page.count, page.count_accuracy) == (3, 3, "at_least")
    page = ds.get_page(wide, Query(limit=3, offset=6))
    assert (len(page.rows), page.count, page.count_accuracy) == (3, 9, "at_least")
    # The connection's own time limit is back: the exact count takes longer than the count's.
    started = time.monotonic()
    page = ds.get_page(wide, Query(limit=3, exact_count=True))
    assert (page.count, page.count_accuracy) == (1_000_000, "exact")
    assert time.monotonic() - started > 0.001
    # With time enough, the count is exact up to the limit, as before.
    counted = backend.datasource(exact_count_limit=2_000_000).get_page(wide, Query(limit=3))
    assert (counted.count, counted.count_accuracy) == (1_000_000, "exact")


def test_the_last_page_is_its_own_count_and_has_no_next(backend):
    ds = backend.datasource(exact_count_limit=3)
    with_qty = [Filter("qty", "notnull")]  # 4 of the 5 rows: more than the limit
    page = ds.get_page(TYPED, Query(limit=4, filters=with_qty))
    assert (len(page.rows), page.next, page.count, page.count_accuracy) == (4, None, 4, "exact")
    page = ds.get_page(TYPED, Query(limit=3, offset=3, filters=with_qty))
    assert (len(page.rows), page.next, page.count, page.count_accuracy) == (1, None, 4, "exact")
    # Past the end there is nothing to count from: the count is made, capped as ever.
    page = ds.get_page(TYPED, Query(limit=3, offset=10, filters=with_qty))
    assert (page.rows, page.next, page.count, page.count_accuracy) == ([], None, 3, "at_least")
    # A full page with rows after it is counted.
    page = ds.get_page(TYPED, Query(limit=2, filters=with_qty))
    assert page.next is not None and (page.count, page.count_accuracy) == (3, "at_least")


# --- writing: typed compare-and-set edits, conflicts, inserts, deletes


def edits_for(backend) -> dict:
    """A new value per editable column, as a user would type it in the grid."""
    edits = {
        "name": "Zed",
        "qty": "42",
        "price": "98765432109876.5432" if backend.name != "sqlite" else "2.5",
        "ratio": "2.75",
        "active": "false",
        "born": "2001-02-03",
        "alarm": "07:15:30",
        "seen": "2023-04-05 06:07:08",
        "seen_tz": "2024-12-31T23:30:00-05:00",
        "note": "edited ✓",
        "meta": {"nested": {"k": [1, 2.5, None, "ü"]}},
        "token": "00000000-0000-4000-8000-000000000001",
    }
    if "enum" in backend.features:
        edits["mood"] = "sad"
    if backend.name == "postgresql":
        edits["doc"] = [{"jsonb": True}, "ü"]
    return edits


def test_every_type_is_edited_with_compare_and_set(backend, ds):
    for column, new in edits_for(backend).items():
        seen = ds.get_row(TYPED, {"id": 1})[column]
        stored = ds.update_row(TYPED, {"id": 1}, {column: new}, {column: seen})
        again = ds.get_row(TYPED, {"id": 1})
        assert again == stored, column
        # The value the writer saw is now stale: nothing is written, the current row comes back.
        with pytest.raises(WriteConflict) as conflict:
            ds.update_row(TYPED, {"id": 1}, {column: seen}, {column: seen})
        assert conflict.value.current == stored, column
        assert ds.get_row(TYPED, {"id": 1}) == stored, column
        # Writing over what is now shown (the grid's next edit) works for every type.
        ds.update_row(TYPED, {"id": 1}, {column: new}, {column: stored[column]})
    row = ds.get_row(TYPED, {"id": 1})
    assert (row["name"], row["qty"], row["active"]) == ("Zed", 42, False)
    assert (row["born"], row["alarm"], row["seen"]) == (
        "2001-02-03",
        "07:15:30",
        "2023-04-05 06:07:08",
    )
    assert row["ratio"] == 2.75
    assert row["note"] == "edited ✓"
    assert row["token"] == "00000000-0000-4000-8000-000000000001"


def test_edits_are_written_typed(backend, ds):
    ds.update_row(TYPED, {"id": 3}, {"qty": "8", "active": "no", "born": "2020-01-01"})
    qty, active, born = backend.query("SELECT qty, active, born FROM typed WHERE id = 3")[0]
    assert qty == 8 and isinstance(qty, int)
    assert active in (False, 0) and not isinstance(active, str)
    if backend.name == "sqlite":
        assert born == "2020-01-01"
    else:
        assert born == dt.date(2020, 1, 1)
    row = ds.get_row(TYPED, {"id": 3})
    assert (row["qty"], row["active"], row["born"]) == (8, False, "2020-01-01")


def test_a_value_changed_by_someone_else_is_a_conflict(backend, ds):
    shown = ds.get_row(TYPED, {"id": 1})
    backend.query("UPDATE typed SET qty = 99 WHERE id = 1")
    with pytest.raises(WriteConflict) as conflict:
        ds.update_row(TYPED, {"id": 1}, {"qty": 5}, {"qty": shown["qty"]})
    assert conflict.value.current["qty"] == 99
    assert conflict.value.status == 409
    assert backend.query("SELECT qty FROM typed WHERE id = 1") == [(99,)]


def test_a_change_of_case_or_trailing_text_is_a_conflict(backend, ds):
    # MySQL's default collation takes "ann" for "Ann"; compare-and-set must not.
    backend.query("UPDATE typed SET name = 'ANN' WHERE id = 1")
    with pytest.raises(WriteConflict) as conflict:
        ds.update_row(TYPED, {"id": 1}, {"qty": 5}, {"name": "Ann"})
    assert conflict.value.current["name"] == "ANN"
    assert ds.update_row(TYPED, {"id": 1}, {"qty": 5}, {"name": "ANN"})["qty"] == 5


def test_writing_the_same_value_again_is_no_conflict(ds):
    # MySQL counts a row whose values did not change only with CLIENT.FOUND_ROWS (SQLAlchemy's
    # default); otherwise this would look like a conflict.
    assert ds.update_row(TYPED, {"id": 1}, {"qty": 3}, {"qty": 3})["qty"] == 3
    assert ds.update_cell(TYPED, "id", 1, "note", "first note") is True


def test_a_deleted_row_is_not_found(backend, ds):
    shown = ds.get_row(TYPED, {"id": 2})
    backend.query("DELETE FROM typed WHERE id = 2")
    with pytest.raises(RowNotFound):
        ds.update_row(TYPED, {"id": 2}, {"qty": 1}, {"qty": shown["qty"]})
    assert ds.get_row(TYPED, {"id": 2}) is None


def test_insert_and_delete(backend, ds):
    key = ds.insert_row(
        TYPED, {"name": "Eve", "price": "1.25", "active": "yes", "meta": {"x": [1]}, "born": ""}
    )
    assert key == {"id": 6}
    row = ds.get_row(TYPED, key)
    assert (row["name"], row["active"], row["born"]) == ("Eve", True, None)
    assert row["price"] in ("1.2500", 1.25)
    assert (json.loads(row["meta"]) if isinstance(row["meta"], str) else row["meta"]) == {"x": [1]}
    assert ds.delete_by_key(TYPED, key) is True
    assert ds.get_row(TYPED, key) is None
    assert ds.delete_by_key(TYPED, key) is False
    assert ds.delete_row(TYPED, "id", 5) is True
    assert backend.query("SELECT count(*) FROM typed") == [(4,)]


# (values, column, message): what a user may type that does not fit.
REFUSALS = [
    ({"qty": "many"}, "qty", "whole number"),
    ({"qty": 1.5}, "qty", "whole number"),
    ({"price": "cheap"}, "price", "decimal"),
    ({"active": "maybe"}, "active", "true or false"),
    ({"born": "31/12/1999"}, "born", "date"),
    ({"seen": "yesterday"}, "seen", "date and time"),
    ({"name": "much too long"}, "name", "at most 10 characters"),
    ({"name": None}, "name", "cannot be empty"),
    ({"active": ""}, "active", "cannot be empty"),
    ({"meta": "{not json"}, "meta", "valid JSON"),
    ({"token": "not-a-uuid"}, "token", "UUID"),
    ({"photo": "abc"}, "photo", "read-only"),
    ({"id": 9}, "id", "primary key"),
]


def test_values_that_do_not_fit_are_refused_and_nothing_is_written(backend, ds):
    before = backend.query("SELECT * FROM typed ORDER BY id")
    for values, column, message in REFUSALS:
        with pytest.raises(InvalidValue, match=message) as refused:
            ds.update_row(TYPED, {"id": 1}, {"qty": 77, **values})
        assert refused.value.column == column, values
        assert refused.value.status == 422
        if column != "id":  # a new row may be given its key
            with pytest.raises(InvalidValue):
                ds.insert_row(TYPED, {"name": "Ok", **values} if column != "name" else values)
    assert backend.query("SELECT * FROM typed ORDER BY id") == before


def test_insert_without_a_required_value_is_refused(backend, ds):
    with pytest.raises(InvalidValue, match="name cannot be empty"):
        ds.insert_row(TYPED, {"qty": 1})
    assert backend.query("SELECT count(*) FROM typed") == [(5,)]


@pytest.mark.parametrize("backend", SERVERS, indirect=True)
def test_a_value_the_database_itself_refuses_is_invalid(backend, ds):
    with pytest.raises(InvalidValue, match="refused the value") as refused:
        ds.update_row(TYPED, {"id": 1}, {"price": "123456789012345678.5"})
    assert refused.value.status == 422
    assert backend.query("SELECT price FROM typed WHERE id = 1") == [
        (Decimal("12345678901234.5678"),)
    ]
    # A cursor whose values do not fit the sorted columns is refused, not sent to the database.
    bad = base64.urlsafe_b64encode(json.dumps({"after": ["soon"]}).encode()).decode()
    with pytest.raises(InvalidQuery, match="cursor"):
        ds.get_page(TYPED, Query(cursor=bad.rstrip("=")))


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_postgresql_identity_and_generated_columns(backend, ds):
    backend.execute_script(
        [
            "CREATE TABLE made (id INT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, n INT NOT NULL, "
            "twice INT GENERATED ALWAYS AS (n * 2) STORED)"
        ]
    )
    made = {"name": "made"}
    defaults = {c["name"]: c["default"] for c in ds.get_schema(made)}
    assert defaults["id"] == "identity"
    assert defaults["twice"].startswith("generated: ")
    key = ds.insert_row(made, {"n": 21})
    assert key == {"id": 1}
    assert ds.get_row(made, key) == {"id": 1, "n": 21, "twice": 42}


# --- types one by one


@pytest.mark.parametrize("backend", SERVERS, indirect=True)
def test_decimals_are_never_rounded(backend, ds):
    assert ds.get_row(TYPED, {"id": 1})["price"] == "12345678901234.5678"
    stored = ds.update_row(TYPED, {"id": 3}, {"price": "98765432109876.5432"}, {"price": "0.1000"})
    assert stored["price"] == "98765432109876.5432"
    assert backend.query("SELECT price FROM typed WHERE id = 3") == [
        (Decimal("98765432109876.5432"),)
    ]
    assert page_ids(ds, filters=[Filter("price", "eq", "12345678901234.5678")]) == [1]
    assert page_ids(ds, filters=[Filter("price", "gt", "12345678901234.5677")]) == [1, 3]


def test_timestamps_with_time_zone_keep_their_instant_and_offset(backend, ds):
    shown = ds.get_row(TYPED, {"id": 1})["seen_tz"]
    assert dt.datetime.fromisoformat(shown) == dt.datetime(2024, 6, 1, 8, tzinfo=dt.UTC)
    assert dt.datetime.fromisoformat(shown).tzinfo is not None
    stored = ds.update_row(
        TYPED, {"id": 1}, {"seen_tz": "2024-12-31T23:30:00-05:00"}, {"seen_tz": shown}
    )
    value = dt.datetime.fromisoformat(stored["seen_tz"])
    assert value.tzinfo is not None
    assert value == dt.datetime(2025, 1, 1, 4, 30, tzinfo=dt.UTC)
    # Filters compare instants too.
    later = [Filter("seen_tz", "gt", "2025-01-01T05:00:00+02:00")]
    if backend.name != "sqlite":  # SQLite compares the stored text
        assert page_ids(ds, filters=later) == [1]


def test_json_round_trips_as_json(backend, ds):
    document = {"nested": {"k": [1, 2.5, None, "ü"]}, "s": "text"}
    seen = ds.get_row(TYPED, {"id": 4})["meta"]
    stored = ds.update_row(TYPED, {"id": 4}, {"meta": document}, {"meta": seen})
    if backend.name == "sqlite":
        assert json.loads(stored["meta"]) == document
        return
    assert stored["meta"] == document
    # Written as one JSON value, not as a JSON string holding JSON.
    kind = {
        "postgresql": "SELECT json_typeof(meta) FROM typed WHERE id = 4",
        "mysql": "SELECT JSON_TYPE(meta) FROM typed WHERE id = 4",
    }[backend.name]
    assert backend.query(kind)[0][0].lower() == "object"
    # Compare-and-set compares JSON values, whatever their spelling in the database.
    backend.query(
        "UPDATE typed SET meta = %s WHERE id = 4", ['{"s":"text","nested":{"k":[1,2.5,null,"ü"]}}']
    )
    assert ds.update_row(TYPED, {"id": 4}, {"meta": [1]}, {"meta": document})["meta"] == [1]
    with pytest.raises(WriteConflict):
        ds.update_row(TYPED, {"id": 4}, {"meta": [2]}, {"meta": {"other": True}})
    # A JSON text typed in the grid is parsed, not stored as a string.
    assert ds.update_row(TYPED, {"id": 4}, {"meta": '{"typed": true}'})["meta"] == {"typed": True}
    # Sorting by a JSON column works (PostgreSQL's json has no ordering of its own).
    assert len(page_ids(ds, sort=[("meta", False)])) == 5


@pytest.mark.parametrize("backend", SERVERS, indirect=True)
def test_enums_offer_and_enforce_their_choices(backend, ds):
    assert ds.update_row(TYPED, {"id": 2}, {"mood": "so-so"}, {"mood": None})["mood"] == "so-so"
    with pytest.raises(InvalidValue, match="mood must be one of happy, sad, so-so") as refused:
        ds.update_row(TYPED, {"id": 2}, {"mood": "angry"})
    assert refused.value.column == "mood"
    with pytest.raises(InvalidValue, match="must be one of"):
        ds.insert_row(TYPED, {"name": "Enum", "mood": "HAPPY"})
    assert backend.query("SELECT mood FROM typed WHERE id = 2") == [("so-so",)]
    assert ds.update_row(TYPED, {"id": 2}, {"mood": None})["mood"] is None


def test_uuids(backend, ds):
    new = "5f0c6a2e-8c51-4c43-9c3e-4f4f3a1b2c3d"
    stored = ds.update_row(TYPED, {"id": 2}, {"token": new.upper()}, {"token": None})
    assert stored["token"] == new
    if backend.name != "sqlite":
        assert page_ids(ds, filters=[Filter("token", "eq", new.upper())]) == [2]
    with pytest.raises(InvalidValue, match="UUID"):
        ds.update_row(TYPED, {"id": 2}, {"token": "12345"})


def test_binary_and_arrays_are_shown_and_read_only(backend, ds):
    row = ds.get_row(TYPED, {"id": 1})
    assert row["photo"] == "(3 bytes)"
    with pytest.raises(InvalidValue, match="read-only"):
        ds.update_row(TYPED, {"id": 1}, {"photo": "AAEC"})
    if "array" in backend.features:
        assert row["tags"] == [1, 2, 3]
        with pytest.raises(InvalidValue, match="tags is read-only"):
            ds.update_row(TYPED, {"id": 1}, {"tags": [4]})
        with pytest.raises(InvalidValue, match="read-only"):
            ds.insert_row(TYPED, {"name": "Arr", "tags": [1]})
    assert backend.query("SELECT count(*) FROM typed") == [(5,)]


# --- keys and names


def test_composite_primary_keys(backend, ds):
    assert ds.key_columns_for(PAIRS) == ["a", "b"]
    page = ds.get_page(PAIRS, Query())
    assert [k for k, _ in page.rows] == [{"a": 1, "b": "x"}, {"a": 1, "b": "y"}, {"a": 2, "b": "x"}]
    rows, cursors = walk(ds, PAIRS, limit=1)
    assert [k for k, _ in rows] == [k for k, _ in page.rows] and len(cursors) == 2
    assert ds.get_row(PAIRS, {"a": 1, "b": "y"}) == {"a": 1, "b": "y", "v": "two"}
    stored = ds.update_row(PAIRS, {"a": 1, "b": "y"}, {"v": "TWO"}, {"v": "two"})
    assert stored == {"a": 1, "b": "y", "v": "TWO"}
    with pytest.raises(WriteConflict):
        ds.update_row(PAIRS, {"a": 1, "b": "y"}, {"v": "2"}, {"v": "two"})
    assert ds.insert_row(PAIRS, {"a": 3, "b": "z", "v": "new"}) == {"a": 3, "b": "z"}
    assert ds.delete_by_key(PAIRS, {"a": 1, "b": "x"}) is True
    with pytest.raises(InvalidQuery, match="row key"):
        ds.get_row(PAIRS, {"a": 1})
    assert backend.query("SELECT a, b, v FROM pairs ORDER BY a, b") == [
        (1, "y", "TWO"), (2, "x", "three"), (3, "z", "new"),
    ]  # fmt: skip


def test_mixed_case_identifiers(backend, ds):
    assert [c["name"] for c in ds.get_schema(MIXED)] == ["Id", "CamelCol", "lower"]
    assert ds.key_columns_for(MIXED) == ["Id"]
    q = backend.q
    page = ds.get_page(MIXED, Query(sort=[("CamelCol", True)]))
    assert [k["Id"] for k, _ in page.rows] == [
        r[0]
        for r in backend.query(
            f"SELECT {q('Id')}, {q('CamelCol')} FROM {q('Mixed Case')} ORDER BY 2 DESC"  # noqa: S608
        )
    ]
    filtered = ds.get_page(MIXED, Query(filters=[Filter("CamelCol", "eq", "Upper")]))
    assert [k for k, _ in filtered.rows] == [{"Id": 1}]
    assert ds.get_page(MIXED, Query(search="UPP")).count == 1
    stored = ds.update_row(MIXED, {"Id": 2}, {"CamelCol": "Changed"}, {"CamelCol": "lower"})
    assert stored == {"Id": 2, "CamelCol": "Changed", "lower": 20}
    assert ds.insert_row(MIXED, {"Id": 3, "CamelCol": "Three"}) == {"Id": 3}
    assert ds.delete_by_key(MIXED, {"Id": 1}) is True
    left = f"SELECT {q('Id')}, {q('CamelCol')} FROM {q('Mixed Case')} ORDER BY 1"  # noqa: S608
    assert backend.query(left) == [(2, "Changed"), (3, "Three")]


def test_a_table_without_primary_key(backend, ds):
    rows, _ = walk(ds, NOTES, limit=2)
    assert sorted(v["body"] for _, v in rows) == ["a", "b", "c"]
    if backend.name == "sqlite":
        assert ds.key_columns_for(NOTES) == ["rowid"]  # SQLite's own row ids
        return
    assert ds.key_columns_for(NOTES) == []
    with pytest.raises(InvalidQuery, match="no primary key"):
        ds.update_row(NOTES, {}, {"body": "x"})
    with pytest.raises(InvalidQuery, match="no primary key"):
        ds.delete_by_key(NOTES, {})


def test_hostile_names(backend, ds):
    assert [c["name"] for c in ds.get_schema(HOSTILE)] == list(HOSTILE_COLUMNS)
    for column in HOSTILE_COLUMNS:
        assert len(ds.get_page(HOSTILE, Query(sort=[(column, True)])).rows) == 3
    found = ds.get_page(HOSTILE, Query(filters=[Filter('"select"', "contains", "DROP")]))
    assert [k for k, _ in found.rows] == [{"id": 2}]
    assert (
        ds.get_page(HOSTILE, Query(search="CAFÉ" if backend.name != "sqlite" else "café")).count
        == 1
    )
    stored = ds.update_row(
        HOSTILE, {"id": 1}, {"column with spaces": "11", "naïve ünïcødé 名前": "ok"},
        {"column with spaces": 10},
    )  # fmt: skip
    assert (stored["column with spaces"], stored["naïve ünïcødé 名前"]) == (11, "ok")
    assert ds.insert_row(HOSTILE, {"id": 4, '"select"': "'; --"}) == {"id": 4}
    assert backend.query("SELECT count(*) FROM typed") == [(5,)]  # nothing was injected


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_postgresql_tables_outside_public_keep_their_schema(backend, ds):
    gadgets = {"name": "gadgets", "schema": "Other Schema"}
    tables = {(t["schema"], t["name"]) for t in ds.list_tables()}
    assert ("Other Schema", "gadgets") in tables
    assert not any(s.startswith(("pg_", "information_schema")) for s, _ in tables)
    assert [v["label"] for _, v in ds.get_page(gadgets, Query()).rows] == ["sprocket", "widget"]
    stored = ds.update_row(gadgets, {"id": 2}, {"label": "gizmo"}, {"label": "widget"})
    assert stored == {"id": 2, "label": "gizmo"}
    with pytest.raises(RowNotFound):
        ds.get_page({"name": "gadgets"}, Query())  # not in the default schema


@pytest.mark.django_db
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_discovery_records_schemas_and_enum_choices(backend_source):
    gadgets = backend_source.tables.get(name="gadgets")
    assert gadgets.schema == "Other Schema"
    assert gadgets.key_columns == ["id"]
    assert backend_source.tables.get(name="typed").schema == ""
    mood = ColumnMeta.objects.get(table__datasource=backend_source, name="mood")
    assert (mood.kind, mood.choices) == ("enum", MOODS)
    tags = ColumnMeta.objects.get(table__datasource=backend_source, name="tags")
    assert (tags.kind, tags.editable) == ("array", False)
    assert discover_tables(backend_source).tables_changed == []  # stable on a second run


# --- the rows API end to end


def send(client, method: str, url: str, body: dict):
    return getattr(client, method)(url, json.dumps(body), content_type="application/json")


def test_rows_api_end_to_end(backend, backend_source, admin_client):
    table = backend_source.tables.get(name="typed")
    url = f"/api/tables/{table.pk}/rows"
    first = admin_client.get(url, {"limit": 2, "sort": "-id"})
    assert first.status_code == 200, first.content
    body = first.json()
    assert body["count"] == 5 and [r["values"]["id"] for r in body["rows"]] == [5, 4]
    rest = admin_client.get(url, {"limit": 2, "sort": "-id", "cursor": body["next"]}).json()
    assert [r["values"]["id"] for r in rest["rows"]] == [3, 2]
    found = admin_client.get(url, {"q": "ANN", "filters": json.dumps([
        {"column": "qty", "op": "gte", "value": 1}])}).json()  # fmt: skip
    assert [r["values"]["name"] for r in found["rows"]] == ["Ann", "Annabel"]

    key = encode_key([1])
    row = admin_client.get(f"{url}/{key}").json()
    assert row["qty"] == 3
    changed = send(
        admin_client, "patch", f"{url}/{key}", {"values": {"qty": "4"}, "expected": {"qty": 3}}
    )
    assert changed.status_code == 200, changed.content
    assert changed.json()["values"]["qty"] == 4
    stale = send(
        admin_client, "patch", f"{url}/{key}", {"values": {"qty": 5}, "expected": {"qty": 3}}
    )
    assert stale.status_code == 409 and stale.json()["current"]["qty"] == 4
    wrong = send(admin_client, "patch", f"{url}/{key}", {"values": {"qty": "lots"}})
    assert wrong.status_code == 422 and wrong.json()["column"] == "qty"

    added = send(admin_client, "post", url, {"values": {"name": "Api", "price": "3.5"}})
    assert added.status_code == 201, added.content
    assert added.json()["values"]["name"] == "Api"
    assert admin_client.delete(f"{url}/{added.json()['key']}").status_code in (200, 204)
    assert backend.query("SELECT qty FROM typed WHERE id = 1") == [(4,)]
    assert backend.query("SELECT count(*) FROM typed") == [(5,)]

    tables = {t["name"] for t in admin_client.get("/api/tables").json()}
    assert {"typed", "pairs", "Mixed Case", "notes"} <= tables


# --- failures: bad logins, unreachable servers, time limits, restarts


@pytest.mark.parametrize("backend", SERVERS, indirect=True)
def test_an_unreachable_server_is_unavailable_quickly(backend):
    url = database_url(backend.url, backend.database, port=1, password="s3cret-pw")
    datasource = backend.datasource(url, connect_timeout=2)
    started = time.monotonic()
    with pytest.raises(DatasourceUnavailable) as info:
        datasource.test_connection()
    assert time.monotonic() - started < 5
    message = str(info.value)
    assert "cannot be reached" in message
    assert "refused" in message.lower() or "can't connect" in message.lower()
    assert "s3cret-pw" not in message
    assert info.value.status == 503
    with pytest.raises(DatasourceUnavailable):
        datasource.list_tables()


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_postgresql_refused_logins_say_why(backend):
    unknown_db = backend.datasource(database_url(backend.url, "nocoflo_no_such_database"))
    with pytest.raises(DatasourceUnavailable, match='database "nocoflo_no_such_database" does not'):
        unknown_db.test_connection()
    role = "nocoflo_role_" + secrets.token_hex(4)
    unknown_role = backend.datasource(
        database_url(backend.url, backend.database, username=role, password="pw-123")
    )
    with pytest.raises(DatasourceUnavailable, match=f'role "{role}" does not exist') as info:
        unknown_role.test_connection()
    assert "pw-123" not in str(info.value)


def pg_auth_method(backend, role: str) -> str:
    """How the server authenticates `role` connecting over TCP from 127.0.0.1 (pg_hba.conf)."""
    rules = backend.query(
        "SELECT database, user_name, address, netmask, auth_method FROM pg_hba_file_rules "
        "WHERE type LIKE 'host%' ORDER BY line_number"
    )
    for databases, users, address, netmask, method in rules:
        if not {"all", backend.database} & set(databases) or not {"all", role} & set(users):
            continue
        if address in ("all", "samehost", "samenet"):
            return method
        network = ipaddress.ip_network(f"{address}/{netmask}" if netmask else address, False)
        if ipaddress.ip_address("127.0.0.1") in network:
            return method
    return "reject"


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_postgresql_wrong_password(backend):
    """A wrong password is refused where the server checks passwords. Our servers trust every
    connection from 127.0.0.1 (pg_hba "trust"), which ignores passwords: there the test proves
    only that the connection goes through, and the refused logins above cover the rest."""
    role = "nocoflo_role_" + secrets.token_hex(4)
    backend.query(f"CREATE ROLE {role} LOGIN PASSWORD 'right-pw'")
    try:
        wrong = backend.datasource(
            database_url(backend.url, backend.database, username=role, password="wrong-pw")
        )
        if pg_auth_method(backend, role) == "trust":
            assert wrong.test_connection() is True
        else:
            with pytest.raises(DatasourceUnavailable, match="password authentication failed") as e:
                wrong.test_connection()
            assert "wrong-pw" not in str(e.value)
        wrong.close()
    finally:
        backend.query(f"DROP ROLE {role}")


@pytest.mark.parametrize("backend", ["mysql"], indirect=True)
def test_mysql_wrong_password_is_refused_without_showing_it(backend):
    user = "nocoflo_u_" + secrets.token_hex(4)
    hosts = ("%", "localhost", "127.0.0.1")
    for host in hosts:
        backend.query(f"CREATE USER '{user}'@'{host}' IDENTIFIED BY 'right-pw'")
        backend.query(f"GRANT ALL ON `{backend.database}`.* TO '{user}'@'{host}'")
    try:
        wrong = backend.datasource(
            database_url(backend.url, backend.database, username=user, password="wrong-pw")
        )
        with pytest.raises(DatasourceUnavailable, match="Access denied") as info:
            wrong.test_connection()
        assert "wrong-pw" not in str(info.value)
        right = backend.datasource(
            database_url(backend.url, backend.database, username=user, password="right-pw")
        )
        assert right.test_connection() is True
        right.close()
        unknown = backend.datasource(database_url(backend.url, "nocoflo_no_such_database"))
        with pytest.raises(DatasourceUnavailable, match="Unknown database"):
            unknown.test_connection()
    finally:
        for host in hosts:
            backend.query(f"DROP USER '{user}'@'{host}'")


def test_a_query_past_the_time_limit_is_stopped(backend):
    backend.create_slow_view()
    datasource = backend.datasource(statement_timeout=0.5)
    started = time.monotonic()
    with pytest.raises(QueryTimeout, match="longer than 0.5 seconds") as info:
        datasource.get_page({"name": "slow"}, Query(limit=10))
    assert time.monotonic() - started < 5
    assert info.value.status == 504
    # The datasource goes on working.
    assert datasource.count(TYPED, Query()) == 5


@pytest.mark.parametrize("backend", SERVERS, indirect=True)
def test_a_server_restart_between_requests_goes_unnoticed(backend, ds):
    assert page_ids(ds, limit=2) == [1, 2]
    assert backend.kill_connections() >= 1  # what a restart does to pooled connections
    assert page_ids(ds, limit=2) == [1, 2]
    assert ds.update_row(TYPED, {"id": 1}, {"qty": 4}, {"qty": 3})["qty"] == 4


# --- plugins


@pytest.mark.unit
def test_the_server_plugins_register_their_schemes():
    manager = PluginManager(entry_points=False)
    manager.load_plugins()
    assert manager.get_datasource("postgresql") is PostgreSQLDatasource
    assert manager.get_datasource("postgres") is PostgreSQLDatasource
    assert manager.get_datasource("postgresql+psycopg2") is PostgreSQLDatasource
    assert manager.get_datasource("mysql") is MySQLDatasource
    assert manager.get_datasource("MariaDB") is MySQLDatasource
    assert manager.get_datasource("sqlite") is SQLiteDatasource
    assert manager.datasource_plugin_name("postgres") == "postgresql"
    assert manager.datasource_plugin_name("mariadb") == "mysql"
    assert PostgreSQLDatasourcePlugin().get_supported_schemes() == ["postgresql", "postgres"]
    assert MySQLDatasourcePlugin().get_supported_schemes() == ["mysql", "mariadb"]
    manager.set_enabled("mysql", False)  # not essential
    with pytest.raises(PluginError):
        manager.get_datasource("mysql")


@pytest.mark.unit
def test_without_mysqlclient_only_the_mysql_plugin_fails(monkeypatch, caplog, database_spares):
    database_spares.wait()  # no database is made in the background while MySQLdb is gone
    monkeypatch.setitem(sys.modules, "MySQLdb", None)  # import MySQLdb now fails
    monkeypatch.delitem(sys.modules, "datasources_app.builtin.mysql")
    manager = PluginManager(entry_points=False)
    manager.load_plugins()
    failed = manager.plugins["datasources_app.builtin.mysql"]
    assert (failed.health, failed.enabled) == ("failed to load", False)
    assert "MySQLdb" in failed.error
    assert "datasources_app.builtin.mysql" in caplog.text
    assert manager.get_datasource("postgresql") is PostgreSQLDatasource
    assert manager.get_datasource("sqlite") is SQLiteDatasource
    with pytest.raises(PluginError, match="No enabled datasource plugin handles 'mysql'"):
        manager.get_datasource("mysql")


@pytest.mark.unit
@pytest.mark.parametrize(
    ("cls", "url", "expected"),
    [
        (PostgreSQLDatasource, "postgres://u:p@db.example/x", "postgresql+psycopg2://u:***@db.example/x"),
        (PostgreSQLDatasource, "postgresql://u@h:6543/x", "postgresql+psycopg2://u@h:6543/x"),
        (PostgreSQLDatasource, "postgresql+asyncpg://u@h/x", "postgresql+psycopg2://u@h/x"),
        (MySQLDatasource, "mysql://root@h/x", "mysql+mysqldb://root@h/x?charset=utf8mb4"),
        (MySQLDatasource, "mariadb://root:pw@h:3307/x", "mysql+mysqldb://root:***@h:3307/x?charset=utf8mb4"),
    ],
)  # fmt: skip
def test_urls_are_normalised_to_their_driver(cls, url, expected):
    datasource = cls(url, {"connect_timeout": 3, "statement_timeout": 2.5})
    assert datasource.engine.url.render_as_string(hide_password=True) == expected
    datasource.close()


@pytest.mark.parametrize("backend", SERVERS, indirect=True)
def test_server_connections_carry_the_time_limit_and_settings(backend):
    datasource = backend.datasource(statement_timeout=1.5)
    with datasource.connect() as conn:
        if backend.name == "postgresql":
            assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "1500ms"
            assert conn.exec_driver_sql("SHOW application_name").scalar() == "nocoflo"
        else:
            assert float(conn.exec_driver_sql("SELECT @@max_statement_time").scalar()) == 1.5
            assert conn.exec_driver_sql("SELECT @@time_zone").scalar() == "+00:00"
            assert conn.exec_driver_sql("SELECT @@character_set_client").scalar() == "utf8mb4"
    assert datasource.engine.pool.size() == 2


@pytest.mark.unit
@pytest.mark.parametrize(
    ("cls", "url", "message"),
    [
        (PostgreSQLDatasource, "mysql://root@h/x", "needs a postgresql:// URL"),
        (MySQLDatasource, "postgresql://u@h/x", "needs a mysql:// or mariadb:// URL"),
        (MySQLDatasource, "mysql://root@h", "needs a database name"),
    ],
)
def test_urls_of_another_kind_are_refused(cls, url, message):
    with pytest.raises(DatasourceUnavailable, match=message):
        cls(url).test_connection()


@pytest.mark.django_db
@pytest.mark.parametrize("backend", SERVERS, indirect=True)
def test_a_datasource_config_of_each_server_type_connects(backend):
    config = DatasourceFactory(datasource_type=backend.name, connection_string=backend.url)
    assert isinstance(datasource_for(config), backend.datasource_class)
    assert datasource_for(config).test_connection() is True
