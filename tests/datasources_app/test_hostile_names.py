"""Table and column names built to break naive SQL: quotes, `;`, `--`, spaces, unicode, keywords.

Everything goes through both the datasource and the API; afterwards the file must still hold
exactly its two tables.
"""

from __future__ import annotations

import json
import runpy
import sqlite3
import sys

import pytest

import datasources_app.hostile_data
from datasources_app.base import Filter, Query
from datasources_app.connections import datasource_for
from datasources_app.discovery import discover_tables
from datasources_app.hostile_data import (
    HOSTILE_COLUMNS,
    HOSTILE_ROWS,
    HOSTILE_TABLE,
    KEYWORD_COLUMNS,
    KEYWORD_ROWS,
    KEYWORD_TABLE,
    build_hostile_database,
    main,
    quote_identifier,
)
from datasources_app.values import encode_key

from .sqlite_files import query

pytestmark = pytest.mark.integration

SELECT, SPACES, UNICODE, SEMI = (name for name, _ in HOSTILE_COLUMNS[1:])
HOSTILE = {"name": HOSTILE_TABLE}
KEYWORD = {"name": KEYWORD_TABLE}


@pytest.fixture
def path(hostile_source):
    return hostile_source.connection_string.removeprefix("sqlite:///")


@pytest.fixture
def ds(hostile_source):
    return datasource_for(hostile_source)


def table_of(source, name):
    return source.tables.get(name=name)


def all_rows(path, table, order="id"):
    sql = f"SELECT * FROM {quote_identifier(table)} ORDER BY {quote_identifier(order)}"  # noqa: S608
    return query(path, sql)


def assert_intact(path):
    tables = query(path, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
    assert tables == [(KEYWORD_TABLE,), (HOSTILE_TABLE,)]


def test_the_names_are_as_hostile_as_promised():
    assert SELECT == '"select"'
    assert ";" in HOSTILE_TABLE and "--" in HOSTILE_TABLE and '"' in HOSTILE_TABLE
    assert " " in SPACES and "--" in SEMI and ";" in SEMI
    assert not UNICODE.isascii()


def test_discovery_keeps_the_exact_names(hostile_source):
    assert sorted(hostile_source.tables.values_list("name", flat=True)) == sorted(
        [HOSTILE_TABLE, KEYWORD_TABLE]
    )
    hostile = table_of(hostile_source, HOSTILE_TABLE)
    assert list(hostile.columns.values_list("name", flat=True)) == [n for n, _ in HOSTILE_COLUMNS]
    assert hostile.key_columns == ["id"]
    kinds = dict(hostile.columns.values_list("name", "kind"))
    assert kinds == {
        "id": "integer",
        SELECT: "text",
        SPACES: "integer",
        UNICODE: "text",
        SEMI: "real",
    }
    keyword = table_of(hostile_source, KEYWORD_TABLE)
    assert keyword.columns.get(name="group").nullable is False
    assert not any(discover_tables(hostile_source).as_dict().values())


def test_reading_every_row(ds):
    page = ds.get_page(HOSTILE, Query())
    assert page.columns == [n for n, _ in HOSTILE_COLUMNS]
    assert [tuple(values.values()) for _, values in page.rows] == list(HOSTILE_ROWS)
    assert page.count == 5
    assert ds.get_row(KEYWORD, {"id": 3}) == {"id": 3, "group": "select * from order", "from": 3}


@pytest.mark.parametrize("column", [SELECT, SPACES, UNICODE, SEMI])
@pytest.mark.parametrize("descending", [False, True])
def test_sorting_by_each_hostile_column(ds, path, column, descending):
    direction = "DESC" if descending else "ASC"
    expected = query(
        path,
        f"SELECT id FROM {quote_identifier(HOSTILE_TABLE)} "  # noqa: S608
        f"ORDER BY {quote_identifier(column)} {direction}, id",
    )
    rows = []
    cursor = None
    while True:  # two rows a page, so the cursor has to carry the hostile column too
        page = ds.get_page(HOSTILE, Query(limit=2, sort=[(column, descending)], cursor=cursor))
        rows += [values["id"] for _, values in page.rows]
        if not page.next:
            break
        cursor = page.next
    assert rows == [r[0] for r in expected]


@pytest.mark.parametrize(
    ("flt", "expected_ids"),
    [
        (Filter(SELECT, "eq", 'it\'s "quoted"'), [2]),
        (Filter(SELECT, "contains", "DROP TABLE"), [3]),
        (Filter(SELECT, "startswith", "<script>"), [4]),
        (Filter(SELECT, "isnull"), [5]),
        (Filter(SPACES, "gt", 0), [1, 5]),
        (Filter(SPACES, "in", [0, -7]), [3, 4]),
        (Filter(UNICODE, "contains", "✓"), [3]),
        (Filter(UNICODE, "eq", "naïve café"), [2]),
        (Filter(SEMI, "lt", 0), [2]),
        (Filter(SEMI, "notnull"), [1, 2, 4, 5]),
    ],
)
def test_filtering_on_hostile_columns(ds, flt, expected_ids):
    page = ds.get_page(HOSTILE, Query(filters=[flt]))
    assert [values["id"] for _, values in page.rows] == expected_ids
    assert page.count == len(expected_ids)


@pytest.mark.parametrize(
    ("text", "expected_ids"),
    [("'; DROP", [3]), ('"quoted"', [2]), ("名前", [3]), ("CAFÉ", []), ("café", [2]), ("--", [3])],
)
def test_searching_hostile_text(ds, text, expected_ids):
    page = ds.get_page(HOSTILE, Query(search=text))
    assert [values["id"] for _, values in page.rows] == expected_ids


def test_editing_inserting_and_deleting_through_the_datasource(ds, path):
    nasty = '\'); DROP TABLE "order"; --'
    stored = ds.update_row(
        HOSTILE,
        {"id": 1},
        {SELECT: nasty, SPACES: "11", UNICODE: "ünï", SEMI: "-0.5"},
        {SELECT: "plain", SPACES: 10, UNICODE: "hello", SEMI: 1.5},
    )
    assert stored == {"id": 1, SELECT: nasty, SPACES: 11, UNICODE: "ünï", SEMI: -0.5}
    assert all_rows(path, HOSTILE_TABLE)[0] == (1, nasty, 11, "ünï", -0.5)

    key = ds.insert_row(HOSTILE, {SELECT: "new; --", SPACES: 3, UNICODE: "名", SEMI: None})
    assert key == {"id": 6}
    assert all_rows(path, HOSTILE_TABLE)[-1] == (6, "new; --", 3, "名", None)
    assert ds.delete_by_key(HOSTILE, {"id": 2}) is True
    assert [r[0] for r in all_rows(path, HOSTILE_TABLE)] == [1, 3, 4, 5, 6]

    ds.update_row(KEYWORD, {"id": 2}, {"group": "gamma", "from": "22"}, {"from": None})
    assert ds.insert_row(KEYWORD, {"group": "delta", "from": 5}) == {"id": 5}
    assert ds.delete_row(KEYWORD, "id", 1) is True
    assert all_rows(path, KEYWORD_TABLE) == [
        (2, "gamma", 22),
        (3, "select * from order", 3),
        (4, "", -4),
        (5, "delta", 5),
    ]
    assert_intact(path)


def test_bad_values_in_hostile_columns_name_the_column(ds, path):
    from datasources_app.errors import InvalidValue

    with pytest.raises(InvalidValue) as info:
        ds.update_row(HOSTILE, {"id": 1}, {SPACES: "ten"})
    assert info.value.column == SPACES
    assert SPACES in str(info.value)
    with pytest.raises(InvalidValue) as info:
        ds.insert_row(KEYWORD, {"from": 1})
    assert info.value.column == "group"
    assert all_rows(path, HOSTILE_TABLE) == list(HOSTILE_ROWS)


# --- through the API --------------------------------------------------------------------------


def rows_url(table, key=None):
    return f"/api/tables/{table.pk}/rows" + (f"/{key}" if key else "")


def send(client, method, url, body):
    return getattr(client, method)(url, json.dumps(body), content_type="application/json")


def test_the_api_lists_hostile_tables_and_columns(admin_client, hostile_source):
    tables = {t["name"]: t for t in admin_client.get("/api/tables").json()}
    assert set(tables) == {HOSTILE_TABLE, KEYWORD_TABLE}
    assert [c["name"] for c in tables[HOSTILE_TABLE]["columns"]] == [n for n, _ in HOSTILE_COLUMNS]


def test_the_api_reads_sorts_filters_and_searches(admin_client, hostile_source):
    table = table_of(hostile_source, HOSTILE_TABLE)
    body = admin_client.get(rows_url(table)).json()
    assert body["columns"] == [n for n, _ in HOSTILE_COLUMNS]
    assert [list(r["values"].values()) for r in body["rows"]] == [list(r) for r in HOSTILE_ROWS]

    by_spaces = admin_client.get(rows_url(table), {"sort": json.dumps([f"-{SPACES}"])}).json()
    assert [r["values"]["id"] for r in by_spaces["rows"]] == [5, 1, 3, 4, 2]
    by_select = admin_client.get(rows_url(table), {"sort": f"{SELECT},-id"}).json()
    expected = query(
        hostile_source.connection_string.removeprefix("sqlite:///"),
        f"SELECT id FROM {quote_identifier(HOSTILE_TABLE)} "  # noqa: S608
        f"ORDER BY {quote_identifier(SELECT)}, id DESC",
    )
    assert [r["values"]["id"] for r in by_select["rows"]] == [r[0] for r in expected]

    filters = json.dumps(
        [{"column": SEMI, "op": "gte", "value": 0}, {"column": UNICODE, "op": "notnull"}]
    )
    filtered = admin_client.get(rows_url(table), {"filters": filters}).json()
    assert [r["values"]["id"] for r in filtered["rows"]] == [1, 5]
    searched = admin_client.get(rows_url(table), {"q": "'; DROP TABLE orders; --"}).json()
    assert [r["values"]["id"] for r in searched["rows"]] == [3]

    keyword = table_of(hostile_source, KEYWORD_TABLE)
    grouped = admin_client.get(rows_url(keyword), {"sort": "-group"}).json()
    assert [r["values"]["group"] for r in grouped["rows"]] == [
        "select * from order",
        "beta",
        "alpha",
        "",
    ]
    nulls = json.dumps([{"column": "from", "op": "isnull"}])
    assert admin_client.get(rows_url(keyword), {"filters": nulls}).json()["count"] == 1


def test_the_api_edits_inserts_and_deletes(admin_client, hostile_source, path):
    table = table_of(hostile_source, HOSTILE_TABLE)
    url = rows_url(table, encode_key([2]))
    response = send(
        admin_client,
        "patch",
        url,
        {
            "values": {SELECT: 'x"; DROP TABLE "order"; --', SPACES: 5},
            "expected": {SELECT: 'it\'s "quoted"', SPACES: None},
        },
    )
    assert response.status_code == 200, response.content
    assert response.json()["values"][SELECT] == 'x"; DROP TABLE "order"; --'
    stale = send(admin_client, "patch", url, {"values": {SPACES: 6}, "expected": {SPACES: None}})
    assert stale.status_code == 409
    assert stale.json()["current"][SPACES] == 5
    wrong = send(admin_client, "patch", url, {"values": {SEMI: "a lot"}})
    assert wrong.status_code == 422
    assert wrong.json()["column"] == SEMI

    created = send(
        admin_client,
        "post",
        rows_url(table),
        {"values": {SELECT: "--", UNICODE: "名前", SEMI: "2"}},
    )
    assert created.status_code == 201
    assert created.json()["values"] == {
        "id": 6,
        SELECT: "--",
        SPACES: None,
        UNICODE: "名前",
        SEMI: 2.0,
    }
    assert admin_client.delete(rows_url(table, created.json()["key"])).json() == {"deleted": 1}
    assert admin_client.delete(rows_url(table, encode_key([3]))).status_code == 200

    keyword = table_of(hostile_source, KEYWORD_TABLE)
    response = send(
        admin_client,
        "patch",
        rows_url(keyword, encode_key([4])),
        {"values": {"group": "from", "from": "-40"}},
    )
    assert response.json()["values"] == {"id": 4, "group": "from", "from": -40}

    assert [r[0] for r in all_rows(path, HOSTILE_TABLE)] == [1, 2, 4, 5]
    assert all_rows(path, HOSTILE_TABLE)[1] == (
        2,
        'x"; DROP TABLE "order"; --',
        5,
        "naïve café",
        -2.25,
    )
    assert all_rows(path, KEYWORD_TABLE)[-1] == (4, "from", -40)
    assert_intact(path)
    assert discover_tables(hostile_source).tables_removed == []


# --- the builder ------------------------------------------------------------------------------


def test_the_builder_replaces_an_old_file(tmp_path):
    target = tmp_path / "sub" / "hostile.sqlite3"
    build_hostile_database(target)
    conn = sqlite3.connect(target)
    with conn:
        conn.execute(f"DELETE FROM {quote_identifier(KEYWORD_TABLE)}")  # noqa: S608
    conn.close()
    assert all_rows(target, KEYWORD_TABLE) == []
    stale = tmp_path / "sub" / "hostile.sqlite3-wal"
    stale.write_bytes(b"stale")
    build_hostile_database(target)
    assert not stale.exists()
    assert len(all_rows(target, KEYWORD_TABLE)) == len(KEYWORD_ROWS)
    assert all_rows(target, HOSTILE_TABLE) == list(HOSTILE_ROWS)
    assert [n for n, _ in KEYWORD_COLUMNS] == ["id", "group", "from"]


def test_the_builder_runs_from_the_command_line(tmp_path, capsys):
    target = tmp_path / "cli.sqlite3"
    main([str(target)])
    assert capsys.readouterr().out.strip() == f"wrote {target}"
    assert_intact(target)


def test_the_builder_runs_as_a_script(tmp_path, monkeypatch, capsys):
    target = tmp_path / "script.sqlite3"
    monkeypatch.setattr(sys, "argv", ["hostile_data.py", str(target)])
    runpy.run_path(datasources_app.hostile_data.__file__, run_name="__main__")
    assert f"wrote {target}" in capsys.readouterr().out
    assert_intact(target)


def test_quote_identifier_doubles_embedded_quotes():
    assert quote_identifier('a"b') == '"a""b"'
    assert quote_identifier(HOSTILE_TABLE) == '"weird ""table""; DROP TABLE x; --"'
