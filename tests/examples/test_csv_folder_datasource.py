"""The CSV folder datasource example (examples/csv_folder_datasource): schema inference, paging,
sorting, filters, search and counts checked against the same data computed in Python, aggregates
checked against SQLite's answers for the same rows, read-only writes, hostile names and files,
and the whole way through Nocoflo (discovery, the rows API, export, pages)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import random
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.test import Client
from nicegui.testing import User

# Importable without installing: conftest.py put the examples' folders on sys.path.
from nocoflo_csvfolder.datasource import READ_ONLY, CsvFolderDatasource
from nocoflo_csvfolder.plugin import CsvFolderDatasourcePlugin
from nocoflo_kanban.board import BoardElement, KanbanCard, KanbanLane
from nocoflo_kanban.plugin import KanbanViewPlugin

from core.models import Change, TableGrant
from datasources_app import rows
from datasources_app.aggregate import AggregateSpec
from datasources_app.base import FILTER_OPS, Filter, Query
from datasources_app.builtin.sqlite import SQLiteDatasource
from datasources_app.connections import probe
from datasources_app.discovery import discover_tables
from datasources_app.errors import (
    DatasourceError,
    DatasourceUnavailable,
    InvalidQuery,
    QueryTimeout,
    ReadOnlyTable,
)
from datasources_app.values import encode_key
from plugins_app.manager import PluginManager
from tests.factories import AdminFactory, DatasourceFactory, UserFactory

from .conftest import eventually, page_db, settle, sign_in

ROWS = 5000
HEADER = ["id", "name", "city", "amount", "qty", "active", "day", "at", "code"]
CITIES = ["Berlin", "Lisbon", "Oslo", "Paris", "Rome", "São Paulo", "Zürich", ""]
CITY_WEIGHTS = [30, 22, 16, 11, 8, 6, 4, 3]
FIRST = ["Ann", "Bob", "Chloé", "Dev", "Emma", "Jonas", "Mia", "Noor"]
LAST = ["Anderson", "Berg", "Chen", "Dubois", "Eriksson", "Larsen", "Okafor"]
PEOPLE = {"name": "people", "schema": None, "key_columns": []}


# --- the data, once as a CSV file and once as Python values -------------------------------------


def generate(count: int = ROWS, seed: int = 7) -> list[list[str]]:
    """Data rows as a CSV file holds them (text), deterministic."""
    rng = random.Random(seed)
    start = dt.datetime(2024, 1, 1)
    records = []
    for i in range(1, count + 1):
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        if i % 97 == 0:  # quotes, commas and line breaks inside a cell
            name = f'{name} "the {i}th", Jr.\nsecond line'
        amount = "" if rng.random() < 0.05 else f"{rng.uniform(-50, 500):.2f}"
        moment = start + dt.timedelta(minutes=rng.randint(0, 500_000))
        records.append(
            [
                str(i),
                name,
                rng.choices(CITIES, CITY_WEIGHTS)[0],
                amount,
                str(rng.randint(0, 40)),
                rng.choice(["true", "false"]),
                (dt.date(2023, 1, 1) + dt.timedelta(days=rng.randint(0, 700))).isoformat(),
                moment.strftime("%Y-%m-%d %H:%M:%S"),
                f"{rng.randint(0, 99999):05d}",
            ]
        )
    return records


def write_csv(path: Path, header: list[str], records: list[list[str]], **options) -> Path:
    with open(path, "w", newline="", encoding=options.pop("encoding", "utf-8")) as handle:
        writer = csv.writer(handle, **options)
        writer.writerow(header)
        writer.writerows(records)
    return path


def typed(record: list[str]) -> dict[str, Any]:
    """A row as Python values (None for empty cells)."""
    i, name, city, amount, qty, active, day, at, code = record
    return {
        "id": int(i),
        "name": name,
        "city": city or None,
        "amount": float(amount) if amount else None,
        "qty": int(qty),
        "active": active == "true",
        "day": dt.date.fromisoformat(day),
        "at": dt.datetime.fromisoformat(at),
        "code": code,
    }


def as_json(row: dict[str, Any]) -> dict[str, Any]:
    """A typed row as the datasource shows it."""
    shown = dict(row)
    shown["day"] = row["day"].isoformat()
    shown["at"] = row["at"].isoformat(sep=" ")
    return shown


@pytest.fixture(scope="module")
def records() -> list[list[str]]:
    return generate()


@pytest.fixture(scope="module")
def expected(records) -> list[dict[str, Any]]:
    return [typed(r) for r in records]


@pytest.fixture
def folder(tmp_path, records) -> Path:
    folder = tmp_path / "exports"
    folder.mkdir()
    write_csv(folder / "people.csv", HEADER, records)
    return folder


@pytest.fixture
def ds(folder):
    return CsvFolderDatasource(f"csvfolder://{folder}", {"statement_timeout": 30})


def ids(page) -> list[int]:
    return [values["id"] for _, values in page.rows]


def sort_rows(data: list[dict], sort: list[tuple[str, bool]]) -> list[dict]:
    """Python's answer: empty values first ascending, last descending; ties in file order."""
    result = list(data)
    for name, desc in reversed(sort):
        empty = [r for r in result if r[name] is None]
        present = sorted((r for r in result if r[name] is not None), key=lambda r: r[name],
                         reverse=desc)  # fmt: skip
        result = present + empty if desc else empty + present
    return result


# --- schema --------------------------------------------------------------------------------------


@pytest.mark.unit
def test_tables_and_inferred_schema(ds, folder):
    (folder / "notes.txt").write_text("not a table")
    write_csv(folder / "Shouting.CSV", ["a"], [["1"]])
    assert [t["name"] for t in ds.list_tables()] == ["Shouting", "people"]
    assert all(t["schema"] == "" and t["is_view"] is False for t in ds.list_tables())
    schema = ds.get_schema(PEOPLE)
    assert [(c["name"], c["kind"], c["nullable"]) for c in schema] == [
        ("id", "integer", False),
        ("name", "text", False),
        ("city", "text", True),
        ("amount", "real", True),
        ("qty", "integer", False),
        ("active", "boolean", False),
        ("day", "date", False),
        ("at", "datetime", False),
        ("code", "text", False),  # zip-code-like numbers keep their leading zeros
    ]
    assert not any(c["primary_key"] for c in schema)
    assert ds.key_columns_for(PEOPLE) == []
    assert ds.test_connection() is True
    assert ds.get_schema({"name": "Shouting"})[0]["kind"] == "integer"


@pytest.mark.unit
def test_inference_uses_a_bounded_sample_and_keeps_odd_cells(folder):
    records = [[str(i), f"{i}.5" if i > 1 else "1"] for i in range(1, 6)] + [["x", "oops"]]
    write_csv(folder / "odd.csv", ["n", "r"], records)
    sampled = CsvFolderDatasource(f"csvfolder://{folder}", {"sample_rows": 5})
    assert [c["kind"] for c in sampled.get_schema({"name": "odd"})] == ["integer", "real"]
    page = sampled.get_page({"name": "odd"}, Query(sort=[("n", False)]))
    # A cell that does not fit its column is shown as written, and sorts after the values.
    assert [v["n"] for _, v in page.rows] == [1, 2, 3, 4, 5, "x"]
    assert page.rows[-1][1]["r"] == "oops"
    assert sampled.count({"name": "odd"}, Query(filters=[Filter("n", "gt", 0)])) == 5
    everything = CsvFolderDatasource(f"csvfolder://{folder}")
    assert [c["kind"] for c in everything.get_schema({"name": "odd"})] == ["text", "text"]


@pytest.mark.unit
def test_kinds_of_cells():
    from nocoflo_csvfolder.cells import infer

    def kind(*cells: str) -> tuple[str, bool]:
        column = infer("c", 0, cells)
        return column.kind, column.nullable

    assert kind("1", "-2", "+3") == ("integer", False)
    assert kind("1", "2.5", "1e3") == ("real", False)
    assert kind("007", "12") == ("text", False)
    assert kind("0", "0.25") == ("real", False)
    assert kind("nan", "1") == ("text", False)
    assert kind("TRUE", "no", "") == ("boolean", True)
    assert kind("1", "0") == ("integer", False)
    assert kind("2024-02-29", "2023-01-01") == ("date", False)
    assert kind("2024-02-30") == ("text", False)
    assert kind("2024-01-01", "2024-01-01T10:00:00Z") == ("datetime", False)
    assert kind("", "") == ("text", True)
    assert kind() == ("text", True)


# --- reading -------------------------------------------------------------------------------------


@pytest.mark.integration
def test_offset_pages_and_cursors_cover_the_file_in_order(ds, expected):
    first = ds.get_page(PEOPLE, Query(limit=100))
    assert first.count == ROWS
    assert first.columns == HEADER
    assert [v for _, v in first.rows] == [as_json(r) for r in expected[:100]]
    assert all(key == {} for key, _ in first.rows)
    middle = ds.get_page(PEOPLE, Query(limit=50, offset=2500, with_count=False))
    assert middle.count is None
    assert ids(middle) == list(range(2501, 2551))
    # Following `next` (as the grid and exports do) reads every row once.
    seen, cursor = [], None
    while True:
        page = ds.get_page(PEOPLE, Query(limit=1000, cursor=cursor, with_count=False))
        seen += ids(page)
        if not page.next:
            break
        cursor = page.next
    assert seen == list(range(1, ROWS + 1))
    assert ds.get_page(PEOPLE, Query(limit=10, offset=ROWS)).rows == []
    with pytest.raises(InvalidQuery):
        ds.get_page(PEOPLE, Query(cursor="not a cursor"))


@pytest.mark.integration
@pytest.mark.parametrize(
    "sort",
    [
        [("amount", True)],
        [("amount", False)],
        [("city", False), ("qty", True)],
        [("active", True), ("day", False), ("name", False)],
        [("at", True)],
        [("code", False)],
    ],
)
def test_sorted_pages_agree_with_python(ds, expected, sort):
    want = sort_rows(expected, sort)
    for offset, limit in ((0, 25), (1234, 100), (ROWS - 30, 100)):
        page = ds.get_page(PEOPLE, Query(limit=limit, offset=offset, sort=sort))
        assert [v for _, v in page.rows] == [as_json(r) for r in want[offset : offset + limit]]
        assert page.count == ROWS
    columns = ["id", sort[0][0]]
    page = ds.get_page(PEOPLE, Query(limit=10, sort=sort, columns=columns))
    assert page.columns == columns
    assert [list(v) for _, v in page.rows] == [columns] * 10


FILTERS = [
    (Filter("city", "eq", "Oslo"), lambda r: r["city"] == "Oslo"),
    (Filter("city", "ne", "Oslo"), lambda r: r["city"] is not None and r["city"] != "Oslo"),
    (Filter("amount", "lt", "100"), lambda r: r["amount"] is not None and r["amount"] < 100),
    (Filter("qty", "lte", 10), lambda r: r["qty"] <= 10),
    (Filter("day", "gt", "2024-01-01"), lambda r: r["day"] > dt.date(2024, 1, 1)),
    (
        Filter("at", "gte", "2024-06-01 12:00:00"),
        lambda r: r["at"] >= dt.datetime(2024, 6, 1, 12),
    ),
    (Filter("name", "contains", "SON"), lambda r: "son" in r["name"].lower()),
    (Filter("city", "startswith", "s"), lambda r: (r["city"] or "").lower().startswith("s")),
    (Filter("amount", "isnull"), lambda r: r["amount"] is None),
    (Filter("city", "notnull"), lambda r: r["city"] is not None),
    (Filter("qty", "in", [1, 2, "3"]), lambda r: r["qty"] in (1, 2, 3)),
    (Filter("city", "in", ["Rome", "Paris"]), lambda r: r["city"] in ("Rome", "Paris")),
    (Filter("active", "eq", "true"), lambda r: r["active"]),
    (
        Filter("amount", "contains", ".5"),
        lambda r: r["amount"] is not None and ".5" in str(r["amount"]),
    ),  # fmt: skip
    (Filter("city", "eq", None), lambda r: r["city"] is None),
]


@pytest.mark.integration
def test_every_filter_operator_is_covered():
    assert {flt.op for flt, _ in FILTERS} == set(FILTER_OPS)


@pytest.mark.integration
@pytest.mark.parametrize(("flt", "keep"), FILTERS, ids=lambda f: getattr(f, "op", ""))
def test_filters_agree_with_python(ds, expected, flt, keep):
    want = [r for r in expected if keep(r)]
    assert 0 < len(want) < ROWS
    assert ds.count(PEOPLE, Query(filters=[flt])) == len(want)
    page = ds.get_page(PEOPLE, Query(limit=40, offset=5, filters=[flt]))
    assert page.count == len(want)
    assert ids(page) == [r["id"] for r in want[5:45]]
    ordered = sort_rows(want, [("qty", True)])
    page = ds.get_page(PEOPLE, Query(limit=40, filters=[flt], sort=[("qty", True)]))
    assert ids(page) == [r["id"] for r in ordered[:40]]


@pytest.mark.integration
def test_search_and_filters_together(ds, expected):
    def found(r: dict, text: str) -> bool:
        return any(text in (r[c] or "").lower() for c in ("name", "city", "code"))

    want = [r for r in expected if found(r, "ber")]
    assert 0 < len(want) < ROWS
    assert ds.count(PEOPLE, Query(search="BER")) == len(want)
    assert ids(ds.get_page(PEOPLE, Query(search="BER", limit=30))) == [r["id"] for r in want[:30]]
    # Search looks only in the text columns the user is shown.
    only_city = [r for r in expected if "ber" in (r["city"] or "").lower()]
    assert ds.count(PEOPLE, Query(search="ber", columns=["id", "city"])) == len(only_city)
    both = [r for r in want if r["qty"] > 20]
    query = Query(search="ber", filters=[Filter("qty", "gt", 20)], sort=[("amount", True)])
    assert ds.count(PEOPLE, query) == len(both)
    page = ds.get_page(PEOPLE, query)
    assert ids(page) == [r["id"] for r in sort_rows(both, [("amount", True)])[:100]]
    assert ds.count(PEOPLE, Query(search="no such text anywhere")) == 0


@pytest.mark.unit
def test_bad_queries_are_refused_with_messages(ds):
    cases = [
        (Query(sort=[("nope", False)]), "no column 'nope'"),
        (Query(filters=[Filter("nope", "eq", 1)]), "no column 'nope'"),
        (Query(filters=[Filter("qty", "between", 1)]), "Unknown filter operator"),
        (Query(filters=[Filter("qty", "eq", "many")]), "Filter on qty: qty needs a whole number"),
        (Query(filters=[Filter("day", "lt", "yesterday")]), "Filter on day"),
        (Query(columns=["id", "nope"]), "no column 'nope'"),
    ]
    for query, message in cases:
        with pytest.raises(InvalidQuery, match=message):
            ds.get_page(PEOPLE, query)


@pytest.mark.unit
def test_get_row_and_table_data(ds, expected):
    assert ds.get_row(PEOPLE, {"id": 42}) == as_json(expected[41])
    assert ds.get_row(PEOPLE, {"id": "4242"}) == as_json(expected[4241])
    assert ds.get_row(PEOPLE, {"id": ROWS + 1}) is None
    with pytest.raises(InvalidQuery):
        ds.get_row(PEOPLE, {})
    columns, data = ds.get_table_data(PEOPLE, limit=3)
    assert columns == HEADER
    assert data == [tuple(as_json(r).values()) for r in expected[:3]]


# --- aggregates: the same answers as SQLite gives for the same rows ------------------------------


@pytest.fixture(scope="module")
def sqlite_twin(tmp_path_factory, expected):
    """The same rows in a SQLite table, to ask the SQL datasource the same questions."""
    path = tmp_path_factory.mktemp("twin") / "people.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL, city TEXT, "
            "amount REAL, qty INTEGER NOT NULL, active BOOLEAN NOT NULL, day DATE NOT NULL, "
            "at DATETIME NOT NULL, code TEXT NOT NULL)"
        )
        conn.executemany(
            "INSERT INTO people VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    r["id"],
                    r["name"],
                    r["city"],
                    r["amount"],
                    r["qty"],
                    int(r["active"]),
                    r["day"].isoformat(),
                    r["at"].isoformat(sep=" "),
                    r["code"],
                )
                for r in expected
            ],  # fmt: skip
        )
    datasource = SQLiteDatasource(f"sqlite:///{path}")
    yield datasource
    datasource.close()


SPECS = [
    dict(x="city"),
    dict(x="city", top_n=3),
    dict(x="city", y="amount", agg="sum", top_n=4),
    dict(x="active", y="qty", agg="avg"),
    dict(x="qty"),
    dict(x="day", bucket="month"),
    dict(x="at", bucket="week", y="amount", agg="max"),
    dict(x="day", bucket="year", y="code", agg="min"),
    dict(x="city", group="active"),
    dict(x="city", group="active", y="amount", agg="avg", top_n=3),
    dict(x="active", group="city", y="qty", agg="sum", top_n=2),
    dict(x="city", y="day", agg="min"),
    dict(x="city", y="amount", agg="count"),
    dict(x="amount", bins=10),
    dict(x="qty", bins=5, group="city", top_n=2),
    dict(x="city", query=Query(filters=[Filter("qty", "gt", 20)], search="an")),
    dict(x="amount", bins=4, query=Query(filters=[Filter("city", "eq", "Nowhere")])),
]


def same_numbers(mine: list, theirs: list) -> bool:
    return len(mine) == len(theirs) and all(
        a == b
        if a is None or b is None or isinstance(a, str) or isinstance(b, str)
        else math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
        for a, b in zip(mine, theirs, strict=True)
    )


@pytest.mark.integration
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: "-".join(f"{k}={v}" for k, v in s.items()))
def test_aggregates_agree_with_sqlite(ds, sqlite_twin, spec):
    def ask(datasource, table_config) -> dict:
        options = dict(spec)
        if "query" in options:
            query = options["query"]
            options["query"] = Query(filters=list(query.filters), search=query.search,
                                     with_count=False)  # fmt: skip
        return datasource.aggregate(table_config, AggregateSpec(**options))

    mine = ask(ds, PEOPLE)
    theirs = ask(sqlite_twin, {"name": "people", "schema": None, "key_columns": ["id"]})
    assert mine["x"] == pytest.approx(theirs["x"]) if spec.get("bins") else mine["x"] == theirs["x"]
    assert [s["name"] for s in mine["series"]] == [s["name"] for s in theirs["series"]]
    for ours, sqls in zip(mine["series"], theirs["series"], strict=True):
        assert same_numbers(ours["y"], sqls["y"]), (ours, sqls)
    if spec.get("bins"):
        assert mine["bin_width"] == pytest.approx(theirs["bin_width"])


@pytest.mark.integration
def test_aggregate_counts_agree_with_python(ds, expected):
    answer = ds.aggregate(PEOPLE, AggregateSpec(x="city", top_n=3))
    counts: dict[Any, int] = {}
    for r in expected:
        counts[r["city"]] = counts.get(r["city"], 0) + 1
    ranked = sorted(counts.items(), key=lambda item: -item[1])
    assert answer["x"] == [city for city, _ in ranked[:3]] + ["other"]
    assert answer["series"] == [
        {"name": "count", "y": [n for _, n in ranked[:3]] + [sum(n for _, n in ranked[3:])]}
    ]


@pytest.mark.unit
def test_aggregates_refuse_what_sql_refuses(ds):
    cases = [
        (AggregateSpec(x="city", y="name", agg="sum"), "sum needs a numeric column"),
        (AggregateSpec(x="city", bucket="month"), "Date buckets need a date column"),
        (AggregateSpec(x="city", bins=5), "A histogram needs a numeric column"),
        (AggregateSpec(x="city", y="active", agg="max"), "max cannot compare active"),
        (AggregateSpec(x="nope"), "no column 'nope'"),
        (AggregateSpec(x="city", agg="median"), "The aggregation must be one of"),
    ]
    for spec, message in cases:
        with pytest.raises(InvalidQuery, match=message):
            ds.aggregate(PEOPLE, spec)


@pytest.mark.unit
def test_too_many_points_are_refused(folder):
    write_csv(folder / "many.csv", ["n"], [[str(i)] for i in range(5001)])
    ds = CsvFolderDatasource(f"csvfolder://{folder}")
    with pytest.raises(InvalidQuery, match="more than 5,000 distinct values"):
        ds.aggregate({"name": "many"}, AggregateSpec(x="n"))
    assert len(ds.aggregate({"name": "many"}, AggregateSpec(x="n", bins=10))["x"]) == 10


# --- read-only -----------------------------------------------------------------------------------


@pytest.mark.unit
def test_every_write_is_refused(ds):
    writes = [
        lambda: ds.update_row(PEOPLE, {"id": 1}, {"name": "x"}, {"name": "y"}),
        lambda: ds.update_cell(PEOPLE, "id", 1, "name", "x"),
        lambda: ds.insert_row(PEOPLE, {"id": 9999}),
        lambda: ds.insert_rows(PEOPLE, [{"id": 9999}]),
        lambda: ds.delete_row(PEOPLE, "id", 1),
        lambda: ds.delete_by_key(PEOPLE, {"id": 1}),
    ]
    before = ds.get_row(PEOPLE, {"id": 1})
    for write in writes:
        with pytest.raises(ReadOnlyTable) as refused:
            write()
        assert str(refused.value) == READ_ONLY
        assert refused.value.status == 403
    assert ds.get_row(PEOPLE, {"id": 1}) == before


# --- the folder, its files and hostile names -----------------------------------------------------


@pytest.mark.unit
def test_a_missing_folder_is_unavailable(tmp_path):
    gone = CsvFolderDatasource(f"csvfolder://{tmp_path}/missing")
    for call in (gone.test_connection, gone.list_tables, lambda: gone.get_page(PEOPLE, Query())):
        with pytest.raises(DatasourceUnavailable, match="does not exist"):
            call()
    (tmp_path / "file").write_text("x")
    with pytest.raises(DatasourceUnavailable, match="is not a folder"):
        CsvFolderDatasource(f"csvfolder://{tmp_path}/file").test_connection()


@pytest.mark.unit
@pytest.mark.parametrize(
    ("url", "config", "message"),
    [
        ("csvfolder://relative/path", {}, "three slashes"),
        ("csvfolder:relative", {}, "absolute path"),
        ("sqlite:///x.db", {}, "starts with csvfolder"),
        ("csvfolder:///tmp", {"encoding": "klingon"}, "Unknown encoding"),
        ("csvfolder:///tmp", {"delimiter": ";;"}, "one character"),
        ("csvfolder:///tmp", {"sample_rows": 0}, "sample_rows must be between"),
    ],
)
def test_bad_urls_and_options_are_told(url, config, message):
    datasource = CsvFolderDatasource(url, config)  # never raises while being built
    with pytest.raises(DatasourceUnavailable, match=message):
        datasource.test_connection()


@pytest.fixture
def hostile_folder(folder, tmp_path):
    """A file next to the folder, a link to it from inside, a hidden file, a directory."""
    write_csv(tmp_path / "outside.csv", ["secret"], [["s3cr3t"]])
    (folder / "link.csv").symlink_to(tmp_path / "outside.csv")
    write_csv(folder / ".hidden.csv", ["a"], [["1"]])
    (folder / "dir.csv").mkdir()
    return folder


@pytest.mark.unit
@pytest.mark.parametrize(
    "name",
    [
        "../outside",
        "..",
        ".",
        "exports/../people",
        "/etc/passwd",
        ".hidden",
        "link",
        "a\\b",
        "x\x00y",
        "",
        None,
        5,
        "dir",
    ],  # fmt: skip
)
def test_names_outside_the_folder_are_refused(hostile_folder, name):
    ds = CsvFolderDatasource(f"csvfolder://{hostile_folder}")
    assert [t["name"] for t in ds.list_tables()] == ["people"]
    table = {"name": name, "schema": None}
    calls = [
        lambda: ds.get_schema(table),
        lambda: ds.get_page(table, Query()),
        lambda: ds.count(table, Query()),
        lambda: ds.get_row(table, {"secret": "s3cr3t"}),
        lambda: ds.aggregate(table, AggregateSpec(x="secret")),
    ]
    for call in calls:
        with pytest.raises(InvalidQuery, match="is not a table of this folder") as refused:
            call()
        assert "s3cr3t" not in str(refused.value)


@pytest.mark.unit
def test_hostile_column_names_become_unique_names(folder):
    header = ["id", "", "name", "Name", "x" * 300, '"; DROP TABLE t; --', "a\nb", "id"]
    write_csv(folder / "odd.csv", header, [["1", "2", "n", "N", "long", "drop", "ab", "9"]])
    ds = CsvFolderDatasource(f"csvfolder://{folder}")
    names = [c["name"] for c in ds.get_schema({"name": "odd"})]
    assert names == ["id", "column_2", "name", "Name_2", "x" * 255, '"; DROP TABLE t; --',
                     "a b", "id_2"]  # fmt: skip
    page = ds.get_page(
        {"name": "odd"}, Query(filters=[Filter('"; DROP TABLE t; --', "eq", "drop")])
    )
    assert page.rows[0][1]["id_2"] == 9


@pytest.mark.unit
def test_encoding_problems_are_told_with_the_file_and_line(folder):
    with open(folder / "latin.csv", "w", encoding="latin-1", newline="") as handle:
        handle.write("city,n\nZürich,1\nMálaga,2\n")
    ds = CsvFolderDatasource(f"csvfolder://{folder}")
    with pytest.raises(DatasourceError, match=r"latin\.csv is not valid utf-8-sig text") as bad:
        ds.get_schema({"name": "latin"})
    assert "(line 2)" in str(bad.value) and "encoding option" in str(bad.value)
    latin = CsvFolderDatasource(f"csvfolder://{folder}", {"encoding": "latin-1"})
    page = latin.get_page({"name": "latin"}, Query())
    assert [v["city"] for _, v in page.rows] == ["Zürich", "Málaga"]
    # A byte order mark is not part of the first column's name.
    (folder / "bom.csv").write_bytes("\ufeffid;label\n1;un\n".encode())
    semicolons = CsvFolderDatasource(f"csvfolder://{folder}", {"delimiter": ";"})
    assert semicolons.get_page({"name": "bom"}, Query()).rows == [({}, {"id": 1, "label": "un"})]


@pytest.mark.unit
def test_broken_csv_is_told(folder):
    (folder / "huge.csv").write_text("a\n" + "x" * 200_000 + "\n")
    ds = CsvFolderDatasource(f"csvfolder://{folder}")
    with pytest.raises(DatasourceError, match=r"huge\.csv cannot be read as CSV \(line 2\)"):
        ds.count({"name": "huge"}, Query())


@pytest.mark.integration
def test_files_are_streamed_not_loaded(folder, records):
    """A page without a sort stops reading when it has its rows: a broken end of the file is
    only met by what reads the whole file (counts, sorts)."""
    with open(folder / "people.csv", "ab") as handle:
        handle.write(b"9999,Bj\xf6rn,Oslo,1,1,true,2024-01-01,2024-01-01 00:00:00,00001\n")
    ds = CsvFolderDatasource(f"csvfolder://{folder}")
    page = ds.get_page(PEOPLE, Query(limit=20, with_count=False))
    assert ids(page) == list(range(1, 21))
    line = ROWS + 2  # after the header and every generated row (some span two lines)
    line += sum(1 for r in records if "\n" in r[1])
    with pytest.raises(DatasourceError, match=rf"not valid utf-8-sig text \(line {line}\)"):
        ds.get_page(PEOPLE, Query(limit=20))
    with pytest.raises(DatasourceError, match="not valid utf-8-sig text"):
        ds.get_page(PEOPLE, Query(limit=20, sort=[("id", True)], with_count=False))


@pytest.mark.unit
def test_long_reads_are_stopped(folder):
    slow = CsvFolderDatasource(f"csvfolder://{folder}", {"statement_timeout": 1e-9})
    with pytest.raises(QueryTimeout, match="took longer than"):
        slow.count(PEOPLE, Query())


@pytest.mark.unit
def test_a_changed_file_is_read_again(ds, folder):
    assert ds.get_schema(PEOPLE)[0]["kind"] == "integer"
    write_csv(folder / "people.csv", ["id", "extra"], [["A-1", "x"]])
    assert [(c["name"], c["kind"]) for c in ds.get_schema(PEOPLE)] == [
        ("id", "text"),
        ("extra", "text"),
    ]


# --- through Nocoflo -----------------------------------------------------------------------------


@pytest.mark.unit
def test_the_plugin_registers_cleanly():
    manager = PluginManager(builtins=(), entry_points=False)
    info = manager.register_plugin(CsvFolderDatasourcePlugin())
    assert info is not None
    assert (info.name, info.health, info.kinds, info.version) == (
        "csv_folder_datasource", "ok", ["datasource"], "0.1.0",
    )  # fmt: skip
    assert manager.get_datasource("csvfolder") is CsvFolderDatasource
    assert manager.datasource_plugin_name("CSVFOLDER") == "csv_folder_datasource"


@pytest.fixture
def csv_manager(install_manager):
    return install_manager(CsvFolderDatasourcePlugin(), KanbanViewPlugin())


@pytest.fixture
def csv_source(db, csv_manager, folder):
    config = DatasourceFactory(
        name="Exports", datasource_type="csvfolder", connection_string=f"csvfolder://{folder}"
    )
    discover_tables(config)
    return config


@pytest.fixture
def people_table(csv_source):
    return csv_source.tables.get(name="people")


def api_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.integration
def test_discovery_makes_read_only_tables(csv_source, people_table):
    probe(csv_source)
    assert [t.name for t in csv_source.tables.all()] == ["people"]
    columns = list(people_table.columns.values_list("name", "kind", "nullable"))
    assert columns[:4] == [
        ("id", "integer", False),
        ("name", "text", False),
        ("city", "text", True),
        ("amount", "real", True),
    ]
    assert people_table.key_columns == []
    assert people_table.read_only and people_table.read_only_message


@pytest.mark.integration
def test_writes_through_nocoflo_are_refused_and_nothing_is_audited(
    csv_source, people_table, admin_user, folder
):
    before = (folder / "people.csv").read_bytes()
    opened = rows.open_table(admin_user, people_table.pk)
    message = people_table.read_only_message
    attempts = [
        lambda: rows.update_row(opened, encode_key([1]), {"name": "x"}, {"name": "y"}),
        lambda: rows.insert_row(opened, {"name": "x"}),
        lambda: rows.delete_rows(opened, [encode_key([1])]),
    ]
    for attempt in attempts:
        with pytest.raises(ReadOnlyTable) as refused:
            attempt()
        assert str(refused.value) == message
    assert not Change.objects.exists()
    assert (folder / "people.csv").read_bytes() == before


@pytest.mark.integration
def test_the_rows_api_reads_a_csv_table_for_a_reader(
    csv_source, people_table, expected, plain_user
):
    TableGrant.objects.create(table=people_table, user=plain_user, can_read=True)
    client = api_client(plain_user)
    url = f"/api/tables/{people_table.pk}/rows"
    response = client.get(url, {"limit": 100})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == ROWS
    assert body["columns"] == HEADER
    assert [r["values"] for r in body["rows"]] == [as_json(r) for r in expected[:100]]
    assert all(r["key"] is None for r in body["rows"])
    # The next page through the cursor the API answered.
    second = client.get(url, {"limit": 100, "cursor": body["next"]}).json()
    assert [r["values"]["id"] for r in second["rows"]] == list(range(101, 201))

    filters = [{"column": "qty", "op": "gte", "value": 30}, {"column": "city", "op": "notnull"}]
    params = {"limit": 50, "offset": 10, "sort": "-amount,id", "filters": json.dumps(filters),
              "q": "an", "count": "true"}  # fmt: skip
    body = client.get(url, params).json()
    want = [
        r
        for r in expected
        if r["qty"] >= 30
        and r["city"] is not None
        and any("an" in (r[c] or "").lower() for c in ("name", "city", "code"))
    ]
    want = sort_rows(want, [("amount", True), ("id", False)])
    assert body["count"] == len(want)
    assert [r["values"]["id"] for r in body["rows"]] == [r["id"] for r in want[10:60]]

    refused = client.get(
        url, {"filters": json.dumps([{"column": "qty", "op": "eq", "value": "x"}])}
    )
    assert refused.status_code == 400
    assert "qty needs a whole number" in refused.json()["message"]
    # Someone without a grant is told there is no such table.
    stranger = UserFactory(username="stranger")
    assert api_client(stranger).get(url).status_code == 404


@pytest.mark.integration
def test_export_streams_every_row(csv_source, people_table, expected, admin_user):
    response = api_client(admin_user).get(
        f"/api/tables/{people_table.pk}/export", {"format": "csv", "sort": "-qty"}
    )
    assert response.status_code == 200
    assert response.streaming

    text = b"".join(response.streaming_content).decode()
    exported = list(csv.reader(io.StringIO(text)))
    assert exported[0] == HEADER
    want = sort_rows(expected, [("qty", True)])
    assert len(exported) == ROWS + 1
    assert [int(r[0]) for r in exported[1:]] == [r["id"] for r in want]
    assert exported[1][1] == want[0]["name"]


@pytest.mark.integration
def test_a_vanished_folder_is_told_by_the_api(csv_source, people_table, admin_user, folder):
    shutil.rmtree(folder)
    response = api_client(admin_user).get(f"/api/tables/{people_table.pk}/rows")
    assert response.status_code == 503
    assert "does not exist" in response.json()["message"]


@pytest.mark.integration
def test_hostile_names_survive_discovery(csv_manager, db, folder):
    header = ["id", "", "Name", "name", '"; DROP TABLE t; --']
    write_csv(folder / "odd names; DROP.csv", header, [["1", "2", "A", "b", "c"]])
    config = DatasourceFactory(
        name="Odd", datasource_type="csvfolder", connection_string=f"csvfolder://{folder}"
    )
    discover_tables(config)
    table = config.tables.get(name="odd names; DROP")
    assert list(table.columns.values_list("name", flat=True)) == [
        "id", "column_2", "Name", "name_2", '"; DROP TABLE t; --',
    ]  # fmt: skip
    opened = rows.open_table(AdminFactory(), table.pk)
    page = rows.read_page(opened, Query(filters=[Filter('"; DROP TABLE t; --', "eq", "c")]))
    assert page["rows"][0]["values"]["name_2"] == "b"


# --- on a page: the grid, and the kanban board on a CSV table ----------------------------------


TICKETS = [["1", "Login fails", "open"], ["2", "Slow export", "open"], ["3", "Typo", "closed"]]


@page_db
async def test_a_csv_table_on_a_page_and_on_a_kanban_board(
    user: User, csv_manager, folder, admin_user
):
    write_csv(folder / "tickets.csv", ["id", "title", "status"], TICKETS)

    def register():
        config = DatasourceFactory(
            name="Tickets", datasource_type="csvfolder", connection_string=f"csvfolder://{folder}"
        )
        discover_tables(config)
        return config.tables.get(name="tickets")

    table = await sync_to_async(register)()
    await sign_in(user, admin_user)
    await user.open(f"/tables/{table.pk}")
    await settle(0.3)
    await user.should_see("Read-only:")
    await user.open(f"/tables/{table.pk}?view=kanban_view")
    await eventually(lambda: _drawn(user))
    (element,) = user.find(kind=BoardElement).elements
    lanes = [e for e in element.descendants() if isinstance(e, KanbanLane)]
    assert [(lane.value, lane.count) for lane in lanes] == [("closed", 1), ("open", 2)]
    cards = [e for e in element.descendants() if isinstance(e, KanbanCard)]
    assert sorted(c.title for c in cards) == ["Login fails", "Slow export", "Typo"]
    # Rows of a CSV file have no key and cannot be written: nothing can be dragged.
    assert all(c.key is None and "draggable" not in c.props for c in cards)
    await user.should_see("Read-only:")


def _drawn(user: User) -> None:
    (element,) = user.find(kind=BoardElement).elements
    assert element.board.loads >= 1
