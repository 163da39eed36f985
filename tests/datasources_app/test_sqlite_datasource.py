"""The SQLite datasource against real SQLite files: schema, paging, filters, writes, limits."""

from __future__ import annotations

import base64
import json
import sqlite3
import time

import pytest
import sqlalchemy as sa

from datasources_app.base import BaseDatasource, Filter, Query
from datasources_app.builtin.sqlite import SQLiteDatasource, SQLiteDatasourcePlugin
from datasources_app.errors import (
    DatasourceError,
    DatasourceUnavailable,
    InvalidQuery,
    InvalidValue,
    QueryTimeout,
    RowNotFound,
    WriteConflict,
)
from datasources_app.sql import SQLAlchemyDatasource

from .sqlite_files import build_slow, query

pytestmark = pytest.mark.integration

AUTHORS = {"name": "authors"}
BOOKS = {"name": "books"}
ORDERS = {"name": "orders"}


def cursor_data(cursor: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))


def walk(datasource, config, **query_args) -> tuple[list, list[str]]:
    """All rows of a query, page after page through `next`; and the cursors used."""
    rows, cursors = [], []
    cursor = None
    while True:
        page = datasource.get_page(config, Query(cursor=cursor, **query_args))
        rows += page.rows
        if page.next is None:
            return rows, cursors
        cursor = page.next
        cursors.append(cursor)


def ids(rows) -> list:
    return [values["id"] for _, values in rows]


# --- connection -------------------------------------------------------------------------------


def test_test_connection_answers_true_for_a_real_file(shop):
    assert shop.test_connection() is True


def test_missing_file_is_clearly_unavailable(tmp_path):
    path = tmp_path / "missing.sqlite3"
    datasource = SQLiteDatasource(f"sqlite:///{path}")
    with pytest.raises(DatasourceUnavailable, match="does not exist") as info:
        datasource.test_connection()
    assert info.value.status == 503
    # Reading does not create an empty database either: mode=rw refuses to open it.
    with pytest.raises(DatasourceUnavailable, match="Cannot open the SQLite file"):
        datasource.get_page({"name": "t"}, Query())
    assert not path.exists()
    datasource.close()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_a_sqlite_datasource_needs_a_file(url):
    with pytest.raises(DatasourceUnavailable, match="needs the path"):
        SQLiteDatasource(url).test_connection()


def test_a_file_that_is_not_a_database_is_an_error(tmp_path):
    path = tmp_path / "junk.sqlite3"
    path.write_bytes(b"this is not a database at all" * 100)
    datasource = SQLiteDatasource(f"sqlite:///{path}")
    with pytest.raises(DatasourceError, match="not a database"):
        datasource.test_connection()
    datasource.close()


def test_the_plugin_offers_the_sqlite_class_and_schemes():
    plugin = SQLiteDatasourcePlugin()
    assert plugin.get_datasource_class() is SQLiteDatasource
    assert plugin.get_supported_schemes() == ["sqlite", "sqlite3"]
    assert issubclass(SQLiteDatasource, BaseDatasource)


# --- schema -----------------------------------------------------------------------------------


def test_list_tables_reports_tables_and_views(shop):
    found = {t["name"]: t for t in shop.list_tables()}
    assert set(found) == {
        "authors",
        "books",
        "notes",
        "shadow",
        "allnames",
        "pairs",
        "counters",
        "author_names",
    }
    assert found["author_names"]["is_view"] is True
    assert found["authors"]["is_view"] is False
    assert found["authors"]["schema"] == ""


def test_get_schema_describes_kinds_nullability_defaults_keys_and_references(shop):
    columns = {c["name"]: c for c in shop.get_schema(AUTHORS)}
    assert [c["name"] for c in shop.get_schema(AUTHORS)][:3] == ["id", "name", "born"]
    assert {n: c["kind"] for n, c in columns.items()} == {
        "id": "integer",
        "name": "text",
        "born": "date",
        "active": "boolean",
        "rating": "real",
        "score": "decimal",
        "meta": "json",
        "updated": "datetime",
        "alarm": "time",
        "photo": "binary",
        "note": "text",
        "anything": "text",
    }
    assert columns["id"]["primary_key"] is True
    assert columns["id"]["nullable"] is False
    assert columns["name"]["nullable"] is False
    assert columns["name"]["max_length"] == 10
    assert columns["name"]["db_type"] == "VARCHAR(10)"
    assert columns["score"]["db_type"] == "NUMERIC(8, 2)"
    assert columns["anything"]["db_type"] == ""
    assert columns["born"]["nullable"] is True
    assert columns["active"]["default"] == "1"
    assert columns["note"]["default"] == "'none'"
    assert columns["rating"]["default"] == ""
    assert all(not c["primary_key"] for n, c in columns.items() if n != "id")

    books = {c["name"]: c for c in shop.get_schema(BOOKS)}
    assert books["author_id"]["references"] == "authors.id"
    assert books["title"]["references"] == ""


def test_key_columns(shop):
    assert shop.key_columns_for(AUTHORS) == ["id"]
    assert shop.key_columns_for({"name": "pairs"}) == ["a", "b"]
    # No primary key: the rowid, under a name no real column shadows.
    assert shop.key_columns_for({"name": "notes"}) == ["rowid"]
    assert shop.key_columns_for({"name": "shadow"}) == ["_rowid_"]
    assert shop.key_columns_for({"name": "allnames"}) == []
    assert shop.key_columns_for({"name": "author_names", "is_view": True}) == []


def test_an_unknown_table_is_not_found(shop):
    with pytest.raises(RowNotFound, match="does not exist"):
        shop.get_schema({"name": "nope"})


def test_forget_rereads_a_changed_table(shop, shop_file):
    assert "isbn" not in [c["name"] for c in shop.get_schema(BOOKS)]
    conn = sqlite3.connect(shop_file)
    conn.execute("ALTER TABLE books ADD COLUMN isbn VARCHAR(13)")
    conn.commit()
    conn.close()
    assert "isbn" not in [c["name"] for c in shop.get_schema(BOOKS)]  # cached
    assert "isbn" not in shop.get_page(BOOKS, Query(limit=1)).columns
    shop.forget(BOOKS)
    columns = {c["name"]: c for c in shop.get_schema(BOOKS)}
    assert columns["isbn"]["max_length"] == 13
    assert "isbn" in shop.get_page(BOOKS, Query(limit=1)).columns
    shop.forget()
    assert "isbn" in [c["name"] for c in shop.get_schema(BOOKS)]


def test_close_releases_and_the_datasource_reconnects(shop):
    shop.get_page(AUTHORS, Query(limit=1))
    assert shop._engine is not None
    shop.close()
    assert shop._engine is None
    assert shop.get_page(AUTHORS, Query(limit=1)).count == 3


# --- reading ----------------------------------------------------------------------------------


def test_get_table_data_answers_column_names_and_tuples(shop):
    columns, rows = shop.get_table_data(BOOKS, limit=2)
    assert columns == ["id", "author_id", "title", "pages"]
    assert rows == [(1, 1, "Alpha", 100), (2, 1, "Beta", None)]


def test_values_come_back_as_json(shop):
    row = shop.get_row(AUTHORS, {"id": 1})
    assert row["active"] is True
    assert row["photo"] == "(3 bytes)"
    assert row["born"] == "1970-01-02"
    assert row["rating"] == 4.5
    assert shop.get_row(AUTHORS, {"id": 2})["active"] is False
    assert shop.get_row(AUTHORS, {"id": 99}) is None


def test_offset_and_limit(demo_ds, demo_file):
    page = demo_ds.get_page(ORDERS, Query(limit=25, offset=100))
    assert ids(page.rows) == list(range(101, 126))
    assert page.count == 2000
    assert [key for key, _ in page.rows][:2] == [{"id": 101}, {"id": 102}]
    last = demo_ds.get_page(ORDERS, Query(limit=25, offset=1990, with_count=False))
    assert ids(last.rows) == list(range(1991, 2001))
    assert last.count is None
    assert last.next is None


def test_selected_columns_only(demo_ds):
    page = demo_ds.get_page(ORDERS, Query(limit=2, columns=["status", "quantity"]))
    assert page.columns == ["status", "quantity"]
    assert set(page.rows[0][1]) == {"status", "quantity"}
    assert page.rows[0][0] == {"id": 1}
    with pytest.raises(InvalidQuery, match="no column 'nope'"):
        demo_ds.get_page(ORDERS, Query(columns=["nope"]))


def test_keyset_cursor_continues_exactly_where_the_page_ended(demo_ds):
    first = demo_ds.get_page(ORDERS, Query(limit=10))
    assert ids(first.rows) == list(range(1, 11))
    assert cursor_data(first.next) == {"after": [10]}
    second = demo_ds.get_page(ORDERS, Query(limit=10, cursor=first.next))
    assert ids(second.rows) == list(range(11, 21))


def test_keyset_walk_sorted_descending_on_a_non_null_column(demo_ds, demo_file):
    flt = [Filter("quantity", "gte", 3)]
    rows, cursors = walk(demo_ds, ORDERS, limit=97, sort=[("status", True)], filters=flt)
    expected = query(
        demo_file, "SELECT id FROM orders WHERE quantity >= 3 ORDER BY status DESC, id ASC"
    )
    assert ids(rows) == [r[0] for r in expected]
    assert len(cursors) >= 2
    assert all("after" in cursor_data(c) for c in cursors)
    # Each cursor holds the sort value and the key of the last row of its page.
    first_after = cursor_data(cursors[0])["after"]
    assert first_after == [rows[96][1]["status"], rows[96][1]["id"]]


def test_keyset_walk_on_two_sort_columns(demo_ds, demo_file):
    rows, cursors = walk(
        demo_ds,
        ORDERS,
        limit=333,
        sort=[("quantity", False), ("unit_price", True)],
        with_count=False,
    )
    expected = query(demo_file, "SELECT id FROM orders ORDER BY quantity, unit_price DESC, id")
    assert ids(rows) == [r[0] for r in expected]
    assert all("after" in cursor_data(c) for c in cursors)


def test_sorting_on_a_nullable_column_pages_by_offset(demo_ds, demo_file):
    rows, cursors = walk(demo_ds, ORDERS, limit=400, sort=[("shipped_on", True)])
    expected = query(demo_file, "SELECT id FROM orders ORDER BY shipped_on DESC, id ASC")
    assert ids(rows) == [r[0] for r in expected]
    # The last page is full, and no (empty) page follows it.
    assert [cursor_data(c) for c in cursors] == [{"offset": n} for n in range(400, 1601, 400)]


def test_sort_on_the_key_descending(demo_ds):
    page = demo_ds.get_page(ORDERS, Query(limit=3, sort=[("id", True)]))
    assert ids(page.rows) == [2000, 1999, 1998]
    nxt = demo_ds.get_page(ORDERS, Query(limit=3, sort=[("id", True)], cursor=page.next))
    assert ids(nxt.rows) == [1997, 1996, 1995]


@pytest.mark.parametrize(
    "cursor",
    [
        "%%%not-base64",
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        base64.urlsafe_b64encode(b'{"after": [1, 2, 3]}').decode(),
        base64.urlsafe_b64encode(b'{"offset": -5}').decode(),
        base64.urlsafe_b64encode(b"[1]").decode(),
    ],
)
def test_a_bad_cursor_is_refused(demo_ds, cursor):
    with pytest.raises(InvalidQuery):
        demo_ds.get_page(ORDERS, Query(cursor=cursor))


def test_sorting_by_an_unknown_column_is_refused(demo_ds):
    with pytest.raises(InvalidQuery, match="no column 'nope'"):
        demo_ds.get_page(ORDERS, Query(sort=[("nope", False)]))


FILTER_CASES = [
    (Filter("status", "eq", "shipped"), "status = 'shipped'"),
    (Filter("status", "ne", "delivered"), "status != 'delivered'"),
    (Filter("quantity", "lt", 2), "quantity < 2"),
    (Filter("quantity", "lte", "2"), "quantity <= 2"),
    (Filter("quantity", "gt", 5), "quantity > 5"),
    (Filter("unit_price", "gte", "500.5"), "unit_price >= 500.5"),
    (Filter("comment", "contains", "GIFT"), "comment LIKE '%gift%'"),
    (Filter("status", "startswith", "Del"), "status LIKE 'del%'"),
    (Filter("shipped_on", "isnull"), "shipped_on IS NULL"),
    (Filter("shipped_on", "notnull"), "shipped_on IS NOT NULL"),
    (Filter("status", "in", ["cancelled", "refunded"]), "status IN ('cancelled', 'refunded')"),
    (Filter("status", "in", "pending"), "status = 'pending'"),
    (Filter("gift", "eq", True), "gift = 1"),
    (Filter("ordered_at", "lt", "2022-03-01"), "ordered_at < '2022-03-01 00:00:00'"),
    (Filter("shipped_on", "eq", None), "shipped_on IS NULL"),
    (Filter("shipped_on", "ne", ""), "shipped_on IS NOT NULL"),
    (Filter("comment", "contains", None), "comment IS NOT NULL"),
    (Filter("comment", "startswith", None), "comment IS NOT NULL"),
]


@pytest.mark.parametrize(("flt", "where"), FILTER_CASES)
def test_filters_select_what_sql_selects(demo_ds, demo_file, flt, where):
    page = demo_ds.get_page(ORDERS, Query(limit=5000, filters=[flt]))
    expected = [r[0] for r in query(demo_file, f"SELECT id FROM orders WHERE {where} ORDER BY id")]  # noqa: S608
    assert expected, "a filter case must select something"
    assert ids(page.rows) == expected
    assert page.count == len(expected)
    assert demo_ds.count(ORDERS, Query(filters=[flt])) == len(expected)


def test_filters_combine_with_and(demo_ds, demo_file):
    flt = [Filter("status", "eq", "delivered"), Filter("gift", "eq", "yes")]
    expected = query(demo_file, "SELECT count(*) FROM orders WHERE status='delivered' AND gift=1")
    assert demo_ds.count(ORDERS, Query(filters=flt)) == expected[0][0]


def test_bad_filters_are_refused(demo_ds):
    with pytest.raises(InvalidQuery, match="Filter on quantity: quantity needs a whole number"):
        demo_ds.get_page(ORDERS, Query(filters=[Filter("quantity", "gt", "lots")]))
    with pytest.raises(InvalidQuery, match="Unknown filter operator 'like'"):
        demo_ds.get_page(ORDERS, Query(filters=[Filter("status", "like", "x")]))
    with pytest.raises(InvalidQuery, match="no column"):
        demo_ds.get_page(ORDERS, Query(filters=[Filter("nope", "eq", 1)]))
    with pytest.raises(InvalidQuery):
        demo_ds.get_page(ORDERS, Query(filters=[Filter("quantity", "in", [1, "x"])]))


def test_search_looks_in_text_columns_case_insensitively(demo_ds, demo_file):
    page = demo_ds.get_page(ORDERS, Query(limit=5000, search="GIFT"))
    expected = query(
        demo_file,
        "SELECT id FROM orders WHERE status LIKE '%gift%' OR comment LIKE '%gift%' ORDER BY id",
    )
    assert expected
    assert ids(page.rows) == [r[0] for r in expected]
    assert page.count == len(expected)
    # Search and filters combine.
    both = demo_ds.count(ORDERS, Query(search="gift", filters=[Filter("gift", "eq", False)]))
    assert both < page.count


@pytest.mark.parametrize("text", ["%", "_", "\\"])
def test_search_treats_wildcards_literally(demo_ds, text):
    assert demo_ds.count(ORDERS, Query(search=text)) == 0


def test_search_in_a_table_without_text_columns_finds_nothing(shop):
    assert shop.count({"name": "counters"}, Query(search="1")) == 0
    assert shop.count({"name": "counters"}, Query()) == 2


def test_search_only_covers_the_selected_columns(demo_ds, demo_file):
    # A reader shown some columns must not find rows through the text of the others.
    in_comments = demo_ds.count(ORDERS, Query(search="gift"))
    assert in_comments > 0
    assert demo_ds.count(ORDERS, Query(search="gift", columns=["id", "status"])) == 0
    page = demo_ds.get_page(ORDERS, Query(search="gift", columns=["id", "comment"]))
    assert page.count == in_comments


def test_counts_follow_every_write(shop, shop_file):
    books = Query(search="a")
    assert shop.count(BOOKS, books) == 3
    assert shop.get_page(BOOKS, books).count == 3
    shop.insert_row(BOOKS, {"author_id": 1, "title": "Delta"})
    assert shop.count(BOOKS, books) == 4
    shop.delete_by_key(BOOKS, {"id": 1})
    assert shop.get_page(BOOKS, books).count == 3
    shop.update_row(BOOKS, {"id": 2}, {"title": "Bet"})
    assert shop.count(BOOKS, Query(search="beta")) == 0
    assert shop.count(BOOKS, books) == 2  # Gamma, Delta
    # A write by another program, on another connection.
    conn = sqlite3.connect(shop_file)
    with conn:
        conn.execute("INSERT INTO books (author_id, title) VALUES (2, 'Kappa'), (2, 'Zeta')")
    conn.close()
    assert shop.count(BOOKS, books) == 4
    assert shop.get_page(BOOKS, Query(limit=1, search="a")).count == 4


def test_an_exact_count_is_made_once_even_after_a_burst_of_connections(shop):
    """A burst of requests leaves several pooled connections, each with counts of its own: the
    next requests take the connection used last, which remembers the count it made."""
    made = []

    def note_counts(conn, cursor, statement, *rest):
        if statement.lower().startswith("select count(*)"):
            made.append(statement)

    sa.event.listen(shop.engine, "before_cursor_execute", note_counts)
    burst = [shop.engine.connect() for _ in range(5)]
    for conn in burst:
        conn.close()
    books = Query(search="a", exact_count=True)
    for _ in range(4):
        assert shop.get_page(BOOKS, books).count == 3
    assert len(made) == 1


def test_many_different_counts_stay_exact(shop):
    for n in range(80):
        flt = [Filter("n", "lte", n)]
        assert shop.count({"name": "counters"}, Query(filters=flt)) == (n >= 10) + (n >= 20)


# --- writing ----------------------------------------------------------------------------------


def test_insert_stores_typed_values(shop, shop_file):
    key = shop.insert_row(BOOKS, {"author_id": "2", "title": "Delta", "pages": " 1_000 "})
    assert key == {"id": 4}
    stored = query(
        shop_file, "SELECT pages, typeof(pages), typeof(author_id) FROM books WHERE id=4"
    )
    assert stored == [(1000, "integer", "integer")]

    key = shop.insert_row(
        AUTHORS,
        {
            "name": "Dee",
            "active": "yes",
            "born": "2001-02-03 00:00:00",
            "meta": {"k": [1]},
            "updated": "2024-05-06T07:08:09",
            "alarm": "07:30",
            "rating": "2.5",
            "score": "1.5",
        },
    )
    assert key == {"id": 4}
    stored = query(
        shop_file,
        "SELECT active, typeof(active), born, meta, updated, alarm, typeof(rating), note "
        "FROM authors WHERE id = 4",
    )
    assert stored == [
        (
            1,
            "integer",
            "2001-02-03",
            '{"k": [1]}',
            "2024-05-06 07:08:09",
            "07:30:00",
            "real",
            "none",
        ),
    ]
    assert shop.get_row(AUTHORS, key)["active"] is True


def test_insert_with_an_explicit_key(shop):
    assert shop.insert_row(BOOKS, {"id": 40, "author_id": 1, "title": "Forty"}) == {"id": 40}
    assert shop.get_row(BOOKS, {"id": 40})["title"] == "Forty"


def test_insert_into_a_composite_key_table(shop):
    assert shop.insert_row({"name": "pairs"}, {"a": "3", "b": "z", "v": "new"}) == {
        "a": 3,
        "b": "z",
    }
    assert shop.get_row({"name": "pairs"}, {"a": 3, "b": "z"}) == {"a": 3, "b": "z", "v": "new"}


@pytest.mark.parametrize(
    ("values", "column", "message"),
    [
        ({"author_id": 1, "title": "X", "pages": "many"}, "pages", "pages needs a whole number"),
        ({"author_id": 1}, "title", "title cannot be empty"),
        ({"author_id": 1, "title": None}, "title", "title cannot be empty"),
        ({"author_id": 1, "title": "X", "nope": 1}, "nope", "no column 'nope'"),
    ],
)
def test_insert_refuses_bad_values_and_writes_nothing(shop, shop_file, values, column, message):
    with pytest.raises(InvalidValue, match=message) as info:
        shop.insert_row(BOOKS, values)
    assert info.value.column == column
    assert info.value.status == 422
    assert query(shop_file, "SELECT count(*) FROM books") == [(3,)]


def test_insert_refuses_too_long_text_and_binary(shop, shop_file):
    with pytest.raises(InvalidValue, match="at most 10 characters"):
        shop.insert_row(AUTHORS, {"name": "x" * 11})
    with pytest.raises(InvalidValue, match="photo is read-only"):
        shop.insert_row(AUTHORS, {"name": "Pic", "photo": "abc"})
    assert query(shop_file, "SELECT count(*) FROM authors") == [(3,)]


def test_the_database_refusing_a_change_is_an_invalid_value(shop, shop_file):
    # Foreign keys are enforced on Nocoflo's connections.
    with pytest.raises(InvalidValue, match="refused the change: FOREIGN KEY"):
        shop.insert_row(BOOKS, {"author_id": 999, "title": "Orphan"})
    with pytest.raises(InvalidValue, match="UNIQUE"):
        shop.insert_row(BOOKS, {"id": 1, "author_id": 1, "title": "Twin"})
    assert query(shop_file, "SELECT count(*) FROM books") == [(3,)]


def test_update_row_with_matching_expected_values_writes(shop, shop_file):
    row = shop.update_row(
        AUTHORS, {"id": 1}, {"name": "Anna", "rating": "5"}, {"name": "Ann", "rating": 4.5}
    )
    assert row["name"] == "Anna"
    assert row["rating"] == 5.0
    assert query(shop_file, "SELECT name, rating FROM authors WHERE id = 1") == [("Anna", 5.0)]


def test_update_row_compares_nulls_and_booleans(shop, shop_file):
    row = shop.update_row(
        AUTHORS, {"id": 2}, {"born": "1980-05-06"}, {"born": None, "active": False, "note": None}
    )
    assert row["born"] == "1980-05-06"
    shop.update_row(AUTHORS, {"id": 1}, {"active": False}, {"active": True})
    assert query(shop_file, "SELECT active FROM authors WHERE id = 1") == [(0,)]


def test_update_row_without_expected_values_writes(shop, shop_file):
    shop.update_row(BOOKS, {"id": 2}, {"pages": 5})
    assert query(shop_file, "SELECT pages FROM books WHERE id = 2") == [(5,)]


def test_a_stale_update_is_a_conflict_carrying_the_current_row(shop, shop_file):
    with pytest.raises(WriteConflict) as info:
        shop.update_row(AUTHORS, {"id": 1}, {"name": "Mine"}, {"name": "Someone"})
    assert info.value.status == 409
    assert info.value.current["name"] == "Ann"
    assert info.value.current["id"] == 1
    assert query(shop_file, "SELECT name FROM authors WHERE id = 1") == [("Ann",)]
    with pytest.raises(WriteConflict):
        shop.update_row(AUTHORS, {"id": 2}, {"name": "Mine"}, {"rating": 1.0})


def test_updating_a_deleted_row_is_not_found(shop, shop_file):
    assert shop.delete_by_key(BOOKS, {"id": 3}) is True
    with pytest.raises(RowNotFound, match="no longer exists"):
        shop.update_row(BOOKS, {"id": 3}, {"title": "Back"}, {"title": "Gamma"})
    with pytest.raises(RowNotFound):
        shop.update_row(BOOKS, {"id": 3}, {"title": "Back"})
    assert query(shop_file, "SELECT count(*) FROM books WHERE id = 3") == [(0,)]


@pytest.mark.parametrize(
    ("values", "column", "message"),
    [
        ({"pages": "a lot"}, "pages", "pages needs a whole number"),
        ({"title": None}, "title", "title cannot be empty"),
        ({"author_id": ""}, "author_id", "author_id cannot be empty"),
        ({"id": 7}, "id", "part of the primary key"),
        ({"nope": 1}, "nope", "no column"),
    ],
)
def test_update_refuses_bad_values_and_writes_nothing(shop, shop_file, values, column, message):
    before = query(shop_file, "SELECT * FROM books ORDER BY id")
    with pytest.raises(InvalidValue, match=message) as info:
        shop.update_row(BOOKS, {"id": 1}, values)
    assert info.value.column == column
    assert query(shop_file, "SELECT * FROM books ORDER BY id") == before


def test_update_refuses_too_long_text(shop, shop_file):
    with pytest.raises(InvalidValue, match=r"name takes at most 10 characters \(11 given\)"):
        shop.update_row(AUTHORS, {"id": 1}, {"name": "x" * 11})
    assert query(shop_file, "SELECT name FROM authors WHERE id = 1") == [("Ann",)]


def test_update_refuses_nothing_to_change_and_unknown_expected_columns(shop):
    with pytest.raises(InvalidValue, match="Nothing to change"):
        shop.update_row(BOOKS, {"id": 1}, {})
    with pytest.raises(InvalidValue, match="no column 'nope'"):
        shop.update_row(BOOKS, {"id": 1}, {"title": "T"}, {"nope": 1})


def test_a_key_that_does_not_fit_is_refused(shop):
    with pytest.raises(InvalidQuery, match="does not fit"):
        shop.get_row({"name": "pairs"}, {"a": 1})
    with pytest.raises(InvalidQuery, match="does not fit"):
        shop.update_row(BOOKS, {"title": "Alpha"}, {"pages": 1})


def test_architecture_document_operations(shop, shop_file):
    assert shop.update_cell(BOOKS, "id", 1, "title", "Alpha 2") is True
    assert query(shop_file, "SELECT title FROM books WHERE id = 1") == [("Alpha 2",)]
    assert shop.update_cell(BOOKS, "id", 1, "pages", 101, expected=100) is True
    with pytest.raises(WriteConflict):
        shop.update_cell(BOOKS, "id", 1, "pages", 102, expected=100)
    with pytest.raises(InvalidValue):
        shop.update_cell(BOOKS, "id", 1, "pages", "many")
    assert query(shop_file, "SELECT pages FROM books WHERE id = 1") == [(101,)]
    assert shop.delete_row(BOOKS, "id", 2) is True
    assert shop.delete_row(BOOKS, "id", 2) is False
    assert query(shop_file, "SELECT id FROM books ORDER BY id") == [(1,), (3,)]


def test_delete_by_key(shop, shop_file):
    assert shop.delete_by_key({"name": "pairs"}, {"a": 1, "b": "y"}) is True
    assert shop.delete_by_key({"name": "pairs"}, {"a": 1, "b": "y"}) is False
    assert query(shop_file, "SELECT a, b FROM pairs ORDER BY a, b") == [(1, "x"), (2, "x")]


# --- tables without a primary key, views ----------------------------------------------------


def test_a_table_without_primary_key_is_addressed_by_rowid(shop, shop_file):
    notes = {"name": "notes"}
    rows, cursors = walk(shop, notes, limit=1)
    assert [key for key, _ in rows] == [{"rowid": 1}, {"rowid": 2}, {"rowid": 3}]
    assert [values for _, values in rows] == [
        {"body": "a", "n": 1},
        {"body": "b", "n": 2},
        {"body": "c", "n": 3},
    ]
    assert cursor_data(cursors[0]) == {"after": [1]}
    assert shop.get_row(notes, {"rowid": 2}) == {"body": "b", "n": 2}
    assert shop.update_row(notes, {"rowid": 2}, {"n": "20"}, {"n": 2}) == {"body": "b", "n": 20}
    assert shop.insert_row(notes, {"body": "d", "n": 4}) == {"rowid": 4}
    assert shop.delete_by_key(notes, {"rowid": 1}) is True
    assert query(shop_file, "SELECT rowid, body, n FROM notes ORDER BY rowid") == [
        (2, "b", 20),
        (3, "c", 3),
        (4, "d", 4),
    ]


def test_a_real_column_named_rowid_is_not_taken_for_the_rowid(shop, shop_file):
    shadow = {"name": "shadow"}
    page = shop.get_page(shadow, Query())
    assert page.rows[0] == ({"_rowid_": 1}, {"rowid": "not the rowid", "body": "one"})
    shop.update_row(shadow, {"_rowid_": 2}, {"body": "TWO"})
    assert query(shop_file, "SELECT body FROM shadow WHERE _rowid_ = 2") == [("TWO",)]


def test_rows_of_a_table_without_any_key_cannot_be_addressed(shop):
    assert shop.get_page({"name": "allnames"}, Query()).rows == [
        ({}, {"rowid": "x", "_rowid_": "y", "oid": "z"})
    ]
    with pytest.raises(InvalidQuery, match="no primary key"):
        shop.get_row({"name": "allnames"}, {})


def test_a_view_is_read_without_keys_and_pages_by_offset(shop):
    view = {"name": "author_names", "is_view": True, "key_columns": []}
    rows, cursors = walk(shop, view, limit=2, sort=[("name", True)])
    assert [values["name"] for _, values in rows] == ["Cy", "Bob", "Ann"]
    assert [key for key, _ in rows] == [{}, {}, {}]
    assert cursor_data(cursors[0]) == {"offset": 2}


def test_a_view_registered_with_no_key_columns_pages_past_the_first_page(shop):
    # Nocoflo's table metadata says which columns are the key; an empty list means none.
    view = {"name": "author_names", "key_columns": []}
    rows, _ = walk(shop, view, limit=2)
    assert sorted(values["name"] for _, values in rows) == ["Ann", "Bob", "Cy"]


# --- limits and errors ------------------------------------------------------------------------


def test_a_slow_statement_is_stopped_at_the_time_limit(tmp_path):
    path = build_slow(tmp_path / "slow.sqlite3")
    datasource = SQLiteDatasource(f"sqlite:///{path}", {"statement_timeout": 0.05})
    view = {"name": "slow", "is_view": True}
    try:
        started = time.monotonic()
        # A search that matches every one of the 10^9 rows: an exact count cannot finish.
        with pytest.raises(QueryTimeout, match="longer than 0.05 seconds") as info:
            datasource.get_page(view, Query(limit=5, search="row", exact_count=True))
        assert time.monotonic() - started < 5
        assert info.value.status == 504
        # A search that matches nothing has to look at every row: the page cannot finish.
        started = time.monotonic()
        with pytest.raises(QueryTimeout):
            datasource.get_page(view, Query(limit=5, search="zzz", with_count=False))
        assert time.monotonic() - started < 5
        # The limit is per statement: quick ones on the same connections still run.
        assert datasource.count({"name": "big"}, Query(search="row 99")) == 11
        assert datasource.get_page(view, Query(limit=2, with_count=False)).rows
    finally:
        datasource.close()


def test_a_table_dropped_behind_the_datasource_is_an_error(shop, shop_file):
    shop.get_schema(BOOKS)
    conn = sqlite3.connect(shop_file)
    conn.execute("DROP TABLE books")
    conn.commit()
    conn.close()
    with pytest.raises(DatasourceError, match="could not run the query: no such table") as info:
        shop.get_page(BOOKS, Query())
    assert info.value.status == 400
    assert "SELECT" not in str(info.value)


def test_key_columns_from_the_metadata_must_exist(shop):
    with pytest.raises(InvalidQuery, match="no column 'nope'"):
        shop.get_page({"name": "books", "key_columns": ["nope"]}, Query())


def test_values_are_stored_in_sqlite_forms(shop):
    import datetime as dt
    import uuid
    from decimal import Decimal

    assert shop.to_db("boolean", True) == 1
    assert shop.to_db("datetime", dt.datetime(2024, 1, 2, 3, 4)) == "2024-01-02 03:04:00"
    assert shop.to_db("date", dt.date(2024, 1, 2)) == "2024-01-02"
    assert shop.to_db("time", dt.time(3, 4)) == "03:04:00"
    assert shop.to_db("decimal", Decimal("1.10")) == "1.10"
    assert shop.to_db("uuid", uuid.UUID(int=1)) == "00000000-0000-0000-0000-000000000001"
    assert shop.to_db("json", {"a": 1}) == '{"a": 1}'
    assert shop.to_db("json", '"text"') == '"text"'
    assert shop.to_db("integer", None) is None


def test_a_vanished_table_is_reported_as_not_found(shop):
    from sqlalchemy.exc import NoSuchTableError

    error = shop.translate_error(NoSuchTableError("books"))
    assert isinstance(error, RowNotFound)
    assert "books" in str(error)


# --- the generic SQLAlchemy datasource ---------------------------------------------------------


@pytest.fixture
def generic(shop_file):
    """The dialect-neutral base class on the same file (what other SQL plugins build on)."""
    datasource = SQLAlchemyDatasource(f"sqlite:///{shop_file}")
    yield datasource
    datasource.close()


def test_generic_datasource_reads_schema_and_pages(generic):
    assert generic.test_connection() is True
    assert {t["name"] for t in generic.list_tables()} >= {"authors", "author_names"}
    columns = {c["name"]: c for c in generic.get_schema(AUTHORS)}
    assert columns["name"]["db_type"] == "VARCHAR(10)"
    assert columns["anything"]["kind"] == "other"
    assert generic.key_columns_for({"name": "notes"}) == []
    page = generic.get_page(BOOKS, Query(limit=2, search="ALPHA"))
    assert [v["title"] for _, v in page.rows] == ["Alpha"]


def test_generic_datasource_writes_with_compare_and_set(generic, shop_file):
    assert generic.insert_row({"name": "counters"}, {"n": "30"}) == {"id": 3}
    assert generic.insert_row({"name": "pairs"}, {"a": 5, "b": "q"}) == {"a": 5, "b": "q"}
    generic.update_row({"name": "counters"}, {"id": 1}, {"n": 11}, {"n": "10"})
    with pytest.raises(WriteConflict):
        generic.update_row({"name": "counters"}, {"id": 1}, {"n": 12}, {"n": 10})
    with pytest.raises(WriteConflict):
        generic.update_row({"name": "counters"}, {"id": 1}, {"n": 12}, {"n": "not a number"})
    generic.update_row(AUTHORS, {"id": 2}, {"rating": 2}, {"rating": None, "name": "Bob"})
    assert query(shop_file, "SELECT n FROM counters ORDER BY id") == [(11,), (20,), (30,)]
    assert query(shop_file, "SELECT rating FROM authors WHERE id = 2") == [(2.0,)]


def test_generic_datasource_reports_missing_tables_and_unreachable_files(generic, tmp_path):
    with pytest.raises(RowNotFound):
        generic.get_schema({"name": "nope"})
    missing = SQLAlchemyDatasource(f"sqlite:///{tmp_path}/no/such/dir/x.db")
    with pytest.raises(DatasourceUnavailable, match="cannot be reached"):
        missing.test_connection()
    with pytest.raises(DatasourceUnavailable):
        missing.list_tables()
    with pytest.raises(DatasourceUnavailable):
        missing.get_schema({"name": "t"})
    missing.close()


@pytest.mark.parametrize(
    ("type_", "kind"),
    [
        (sa.Boolean(), "boolean"),
        (sa.BigInteger(), "integer"),
        (sa.Float(), "real"),
        (sa.Numeric(10, 2), "decimal"),
        (sa.DateTime(), "datetime"),
        (sa.Date(), "date"),
        (sa.Time(), "time"),
        (sa.JSON(), "json"),
        (sa.Uuid(), "uuid"),
        (sa.LargeBinary(), "binary"),
        (sa.Enum("a", "b"), "enum"),
        (sa.String(5), "text"),
        (sa.types.NullType(), "other"),
        (sa.ARRAY(sa.Integer), "array"),
        (sa.Interval(), "other"),
    ],
)
def test_kind_of_reflected_types(type_, kind):
    assert SQLAlchemyDatasource("sqlite://").kind_of(type_) == kind


def test_sqlite_treats_untyped_columns_as_text():
    assert SQLiteDatasource("sqlite:///x.db").kind_of(sa.types.NullType()) == "text"
    assert SQLiteDatasource("sqlite:///x.db").kind_of(sa.Interval()) == "other"


def test_type_name_of_an_uncompilable_type_is_empty():
    column = sa.Column("c", sa.ARRAY(sa.Integer))
    assert SQLAlchemyDatasource("sqlite://").type_name(column) == ""


def test_base_datasource_defaults():
    class Memory(BaseDatasource):
        """A minimal datasource: the contract's defaults in action."""

        def get_schema(self, table_config):
            return [{"name": "code", "primary_key": True}, {"name": "v", "primary_key": False}]

        get_table_data = update_cell = insert_row = delete_row = test_connection = None
        list_tables = get_page = count = get_row = update_row = delete_by_key = None

    datasource = Memory("memory://", {"x": 1})
    assert datasource.config == {"x": 1}
    assert datasource.key_columns_for({"name": "t"}) == ["code"]
    assert datasource.forget() is None
    assert datasource.close() is None
    assert Memory.label == "Datasource"
