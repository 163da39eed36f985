"""Chart aggregates on SQLite, PostgreSQL and MariaDB: each compared with plain SQL on the same
database (or with the rows themselves, for date buckets and bins)."""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict

import pytest

from core.models import ColumnMeta
from datasources_app import rows as row_ops
from datasources_app.aggregate import AggregateSpec, aggregate_rows
from datasources_app.base import BaseDatasource, Filter, Query
from datasources_app.discovery import discover_tables
from datasources_app.errors import DatasourceError, InvalidQuery
from tests.factories import DatasourceFactory

pytestmark = pytest.mark.integration

SALES = {"name": "sales"}
REGIONS = {"north": 12, "south": 9, "east": 7, "west": 5, "centre": 4, "island": 3}
START = dt.datetime(2023, 12, 20, 0, 0, 0)


def sales_rows() -> list[tuple]:
    """(id, region, channel, qty, amount, sold_at): no two regions have the same count."""
    regions = [name for name, n in REGIONS.items() for _ in range(n)]
    made = []
    for i, region in enumerate(regions, start=1):
        amount = None if i % 10 == 0 else round(i * 1.25 + (i % 3) * 7.5, 2)
        sold_at = START + dt.timedelta(days=i * 4, hours=i % 24)
        made.append((i, region, "web" if i % 3 else "shop", i % 7, amount, sold_at))
    return made


DDL = {
    "sqlite": "CREATE TABLE sales (id INTEGER PRIMARY KEY, region TEXT, channel TEXT, "
    "qty INTEGER, amount REAL, sold_at DATETIME, secret TEXT)",
    "postgresql": "CREATE TABLE sales (id INTEGER PRIMARY KEY, region TEXT, channel TEXT, "
    "qty INTEGER, amount DOUBLE PRECISION, sold_at TIMESTAMP, secret TEXT)",
    "mysql": "CREATE TABLE sales (id INTEGER PRIMARY KEY, region VARCHAR(20), "
    "channel VARCHAR(10), qty INTEGER, amount DOUBLE, sold_at DATETIME, secret TEXT)",
}


@pytest.fixture
def sales(backend):
    backend.execute_script([DDL[backend.name]])
    with backend._raw() as conn:
        cursor = conn.cursor()
        mark = "?" if backend.name == "sqlite" else "%s"
        cursor.executemany(
            f"INSERT INTO sales VALUES ({', '.join([mark] * 7)})",  # noqa: S608
            [
                (*r[:5], r[5].isoformat(sep=" ") if backend.name == "sqlite" else r[5], "x")
                for r in sales_rows()
            ],
        )
        conn.commit()
    return backend


def run(ds, **kwargs) -> dict:
    return ds.aggregate(SALES, AggregateSpec(**kwargs))


def as_dict(answer: dict, series: int = 0) -> dict:
    return dict(zip(answer["x"], answer["series"][series]["y"], strict=True))


def close(a, b) -> bool:
    if a is None or b is None:
        return a is b
    # MySQL averages integers as DECIMAL with four places.
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-4)


# --- aggregations and groups ---------------------------------------------------------------------


@pytest.mark.parametrize("agg", ["count", "sum", "avg", "min", "max"])
def test_each_aggregation_matches_sql(sales, agg):
    ds = sales.datasource()
    answer = run(ds, x="region", y="amount", agg=agg)
    sql = f"SELECT region, {agg}(amount) FROM sales GROUP BY region"  # noqa: S608 - fixed names
    expected = dict(sales.query(sql))
    assert set(answer["x"]) == set(expected)
    assert answer["series"][0]["name"] == agg
    got = as_dict(answer)
    for region, value in expected.items():
        assert close(got[region], value), (region, got[region], value)
    # Largest first.
    values = answer["series"][0]["y"]
    assert values == sorted(values, reverse=True)


def test_count_of_rows_without_y(sales):
    answer = run(sales.datasource(), x="region")
    assert answer == {
        "x": list(REGIONS),
        "series": [{"name": "count", "y": list(REGIONS.values())}],
    }


def test_groups_are_series_aligned_to_x_with_nulls_where_missing(sales):
    sales.execute_script(["UPDATE sales SET channel = 'phone' WHERE id = 1"])
    ds = sales.datasource()
    answer = run(ds, x="region", y="qty", agg="sum", group="channel")
    expected = {
        (region, channel): value
        for region, channel, value in sales.query(
            "SELECT region, channel, sum(qty) FROM sales GROUP BY region, channel"
        )
    }
    names = [s["name"] for s in answer["series"]]
    assert set(names) == {"web", "shop", "phone"}
    assert names[-1] == "phone"  # the smallest total comes last
    for series in answer["series"]:
        for region, value in zip(answer["x"], series["y"], strict=True):
            assert close(value, expected.get((region, series["name"])))
    phone = next(s for s in answer["series"] if s["name"] == "phone")
    assert phone["y"].count(None) == len(REGIONS) - 1


@pytest.mark.parametrize("bucket", ["day", "week", "month", "year"])
def test_date_buckets(sales, bucket):
    answer = run(sales.datasource(), x="sold_at", bucket=bucket)
    expected: dict[str, int] = defaultdict(int)
    for row in sales_rows():
        day = row[5].date()
        start = {
            "day": day,
            "week": day - dt.timedelta(days=day.weekday()),  # ISO weeks start on Monday
            "month": day.replace(day=1),
            "year": day.replace(month=1, day=1),
        }[bucket]
        expected[start.isoformat()] += 1
    assert answer["x"] == sorted(expected)  # in time order
    assert as_dict(answer) == dict(expected)


def test_a_week_starts_on_monday(sales):
    # 2024-01-07 is a Sunday, 2024-01-08 a Monday.
    sales.execute_script(
        [
            "DELETE FROM sales",
            "INSERT INTO sales (id, region, sold_at) VALUES (1, 'a', '2024-01-07 23:00:00'), "
            "(2, 'a', '2024-01-08 00:00:00'), (3, 'a', '2024-01-01 12:00:00')",
        ]
    )
    answer = run(sales.datasource(), x="sold_at", bucket="week")
    assert as_dict(answer) == {"2024-01-01": 2, "2024-01-08": 1}


def test_top_n_merges_the_rest_into_other_computed_in_sql(sales):
    ds = sales.datasource()
    answer = run(ds, x="region", top_n=3)
    assert answer["x"] == ["north", "south", "east", "other"]
    assert answer["series"][0]["y"] == [12, 9, 7, 5 + 4 + 3]

    # An average of "other" is the average of its rows, not of the regions' averages.
    answer = run(ds, x="region", y="amount", agg="avg", top_n=2)
    top = answer["x"][:2]
    (other,) = sales.query(
        "SELECT avg(amount) FROM sales WHERE region NOT IN (%s, %s)", [top[0], top[1]]
    )[0:1]
    assert answer["x"][-1] == "other"
    assert close(answer["series"][0]["y"][-1], other[0])
    (largest,) = sales.query(
        "SELECT max(amount) FROM sales WHERE region NOT IN (%s, %s)", [top[0], top[1]]
    )[0]
    maxed = run(ds, x="region", y="amount", agg="max", top_n=2)
    assert maxed["x"][-1] == "other"
    expected_top = [r[0] for r in sales.query(
        "SELECT region FROM sales GROUP BY region ORDER BY max(amount) DESC"
    )][:2]  # fmt: skip
    assert maxed["x"][:2] == expected_top
    if maxed["x"][:2] == top:
        assert close(maxed["series"][0]["y"][-1], largest)


def test_top_n_applies_to_groups_too(sales):
    answer = run(sales.datasource(), x="channel", group="region", top_n=2)
    assert [s["name"] for s in answer["series"]] == ["north", "south", "other"]
    totals = [sum(v or 0 for v in s["y"]) for s in answer["series"]]
    assert totals == [12, 9, 40 - 21]


def test_histogram_counts_equal_width_bins(sales):
    answer = run(sales.datasource(), x="amount", bins=4)
    values = [r[4] for r in sales_rows() if r[4] is not None]
    low, high = min(values), max(values)
    width = (high - low) / 4
    counts = [0] * 4
    for v in values:
        counts[min(int(math.floor((v - low) / width)), 3)] += 1
    assert answer["series"] == [{"name": "count", "y": counts}]
    assert answer["x"] == pytest.approx([low + i * width for i in range(4)])
    assert answer["bin_width"] == pytest.approx(width)
    assert sum(counts) == len(values)


def test_histogram_split_by_group(sales):
    answer = run(sales.datasource(), x="qty", bins=7, group="channel")
    assert {s["name"] for s in answer["series"]} == {"web", "shop"}
    web = [r[3] for r in sales_rows() if r[2] == "web"]
    by_name = {s["name"]: s["y"] for s in answer["series"]}
    assert sum(by_name["web"]) == len(web)
    assert by_name["web"][0] == web.count(0)


def test_filters_and_search_apply(sales):
    ds = sales.datasource()
    query = Query(filters=[Filter("channel", "eq", "web"), Filter("qty", "gte", 2)])
    answer = ds.aggregate(SALES, AggregateSpec(x="region", y="qty", agg="sum", query=query))
    expected = dict(
        sales.query(
            "SELECT region, sum(qty) FROM sales WHERE channel = 'web' AND qty >= 2 GROUP BY region"
        )
    )
    assert {k: float(v) for k, v in as_dict(answer).items()} == {
        k: float(v) for k, v in expected.items()
    }
    searched = ds.aggregate(SALES, AggregateSpec(x="channel", query=Query(search="NORTH")))
    assert sum(searched["series"][0]["y"]) == REGIONS["north"]


def test_no_rows_no_points(sales):
    query = Query(filters=[Filter("region", "eq", "nowhere")])
    ds = sales.datasource()
    assert ds.aggregate(SALES, AggregateSpec(x="region", query=query))["x"] == []
    assert ds.aggregate(SALES, AggregateSpec(x="amount", bins=3, query=query))["x"] == []


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"x": "region", "y": "channel", "agg": "sum"}, "sum needs a numeric column for y"),
        ({"x": "region", "y": "channel", "agg": "avg"}, "avg needs a numeric column for y"),
        ({"x": "region", "agg": "sum"}, "sum needs a column for y"),
        ({"x": "region", "agg": "median"}, "aggregation must be one of"),
        ({"x": "region", "bucket": "month"}, "Date buckets need a date column for x"),
        ({"x": "sold_at", "bucket": "hour"}, "date bucket must be one of"),
        ({"x": "region", "bins": 5}, "A histogram needs a numeric column for x"),
        ({"x": "amount", "bins": 0}, "bins must be between 1 and 200"),
        ({"x": "region", "top_n": 0}, "top must be between 1 and 100"),
        ({"x": "no_such"}, "The table has no column 'no_such'"),
        ({"x": "region", "group": "region"}, "Group by another column than x"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(sales, spec, message):
    with pytest.raises(InvalidQuery, match=message):
        run(sales.datasource(), **spec)


def test_too_many_points_ask_for_a_bucket(sales, monkeypatch):
    from datasources_app import aggregate

    monkeypatch.setattr(aggregate, "MAX_POINTS", 5)
    with pytest.raises(InvalidQuery, match="choose a date bucket"):
        run(sales.datasource(), x="sold_at")


def test_a_datasource_without_aggregates_says_so():
    class Plain(BaseDatasource):
        get_table_data = update_cell = insert_row = delete_row = get_schema = None
        test_connection = list_tables = get_page = count = get_row = update_row = None
        delete_by_key = None

    Plain.__abstractmethods__ = frozenset()
    with pytest.raises(DatasourceError, match="This datasource cannot aggregate"):
        Plain("x://").aggregate({"name": "t"}, AggregateSpec(x="a"))


# --- the row operation: access and hidden columns -------------------------------------------------


@pytest.fixture
def sales_table(db, sales):
    config = DatasourceFactory(
        name=f"{sales.name} sales", datasource_type=sales.name, connection_string=sales.url
    )
    discover_tables(config)
    table = config.tables.get(name="sales")
    ColumnMeta.objects.filter(table=table, name="secret").update(visible=False)
    return table


def test_hidden_columns_and_filters_on_them_are_refused(sales_table, reader):
    opened = row_ops.open_table(reader, sales_table.pk)
    answer = aggregate_rows(opened, AggregateSpec(x="region", y="amount", agg="max"))
    assert len(answer["x"]) == len(REGIONS)
    for spec in (
        AggregateSpec(x="secret"),
        AggregateSpec(x="region", y="secret", agg="max"),
        AggregateSpec(x="region", group="secret"),
        AggregateSpec(x="region", query=Query(filters=[Filter("secret", "eq", "x")])),
    ):
        with pytest.raises(InvalidQuery, match="unknown column 'secret'|Unknown column 'secret'"):
            aggregate_rows(opened, spec)
    # A search never matches text the user is not shown.
    found = aggregate_rows(opened, AggregateSpec(x="region", query=Query(search="x")))
    assert found["x"] == []


def test_without_read_access_the_table_is_not_found(sales_table, plain_user):
    with pytest.raises(row_ops.TableNotFound):
        row_ops.open_table(plain_user, sales_table.pk)


@pytest.mark.parametrize("agg", ["sum", "avg", "min"])
def test_buckets_split_by_group(sales, agg):
    answer = run(sales.datasource(), x="sold_at", bucket="month", y="qty", agg=agg, group="channel")
    cells: dict[tuple, list] = defaultdict(list)
    for _, _, channel, qty, _, sold_at in sales_rows():
        cells[(sold_at.date().replace(day=1).isoformat(), channel)].append(qty)
    months = sorted({m for m, _ in cells})
    assert answer["x"] == months
    pick = {"sum": sum, "avg": lambda v: sum(v) / len(v), "min": min}[agg]
    for series in answer["series"]:
        for month, value in zip(months, series["y"], strict=True):
            found = cells.get((month, series["name"]))
            assert close(value, pick(found) if found else None)
    # Largest first (ties by name): by the sum, average or minimum of the group's rows.
    totals = {
        name: pick([v for (_, c), vs in cells.items() if c == name for v in vs])
        for name in ("web", "shop")
    }
    assert [s["name"] for s in answer["series"]] == sorted(totals, key=lambda c: (-totals[c], c))
