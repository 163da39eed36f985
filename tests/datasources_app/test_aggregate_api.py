"""`GET /api/tables/{id}/aggregate`: chart data of what the user may see, from the database."""

from __future__ import annotations

import json
import sqlite3
from urllib.parse import urlencode

import pytest
from django.test import Client

from core.models import ColumnMeta

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def _get(client: Client, table, **params):
    return client.get(f"/api/tables/{table.pk}/aggregate?{urlencode(params)}")


def _sql(path, statement: str, *args) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute(statement, args).fetchall()


def test_count_by_month(admin_client, orders_table, demo_db):
    response = _get(admin_client, orders_table, x="ordered_at", bucket="month")
    assert response.status_code == 200, response.content
    body = response.json()
    expected = _sql(
        demo_db,
        "SELECT strftime('%Y-%m-01', ordered_at), count(*) FROM orders GROUP BY 1 ORDER BY 1",
    )
    assert body == {
        "x": [m for m, _ in expected],
        "series": [{"name": "count", "y": [n for _, n in expected]}],
        "bin_width": None,
    }


def test_sum_by_status_split_by_gift_with_filters_and_search(admin_client, orders_table, demo_db):
    filters = json.dumps([{"column": "quantity", "op": "gte", "value": 3}])
    response = _get(
        admin_client, orders_table, x="status", y="unit_price", agg="sum", group="gift",
        filters=filters, q="a",
    )  # fmt: skip
    assert response.status_code == 200, response.content
    body = response.json()
    expected = {
        (status, bool(gift)): total
        for status, gift, total in _sql(
            demo_db,
            "SELECT status, gift, sum(unit_price) FROM orders WHERE quantity >= 3 AND "
            "(status LIKE '%a%' OR comment LIKE '%a%') GROUP BY status, gift",
        )
    }
    assert {s["name"] for s in body["series"]} == {"true", "false"}
    for series in body["series"]:
        for status, value in zip(body["x"], series["y"], strict=True):
            want = expected.get((status, series["name"] == "true"))
            assert value == pytest.approx(want) if want is not None else value is None


def test_top_and_other(admin_client, orders_table, demo_db):
    body = _get(admin_client, orders_table, x="status", top=2).json()
    counts = _sql(demo_db, "SELECT status, count(*) FROM orders GROUP BY 1 ORDER BY 2 DESC")
    assert body["x"] == [counts[0][0], counts[1][0], "other"]
    assert body["series"][0]["y"] == [counts[0][1], counts[1][1], sum(n for _, n in counts[2:])]


def test_histogram(admin_client, orders_table):
    body = _get(admin_client, orders_table, x="unit_price", bins=10).json()
    assert len(body["x"]) == len(body["series"][0]["y"]) == 10
    assert sum(body["series"][0]["y"]) == 2000
    assert body["bin_width"] > 0


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"x": "status", "agg": "median"}, "agg must be count, sum, avg, min or max"),
        ({"x": "status", "y": "comment", "agg": "sum"}, "sum needs a numeric column for y"),
        ({"x": "status", "bucket": "month"}, "Date buckets need a date column"),
        ({"x": "nope"}, "Unknown column 'nope' for x"),
        ({"x": "status", "filters": "not json"}, "filters must be a JSON array"),
        ({"x": "status", "top": 0}, "top must be between 1 and 100"),
    ],
)
def test_bad_input_is_a_400_with_a_message(admin_client, orders_table, params, message):
    response = _get(admin_client, orders_table, **params)
    assert response.status_code == 400
    assert message in response.json()["message"]


def test_hidden_columns_are_unknown_to_readers(client, reader, orders_table):
    ColumnMeta.objects.filter(table=orders_table, name="unit_price").update(visible=False)
    client.force_login(reader)
    assert _get(client, orders_table, x="status").status_code == 200
    response = _get(client, orders_table, x="status", y="unit_price", agg="sum")
    assert response.status_code == 400
    assert "Unknown column 'unit_price'" in response.json()["message"]


def test_without_read_access_404_and_signed_out_401(client, plain_user, orders_table):
    assert _get(client, orders_table, x="status").status_code == 401
    client.force_login(plain_user)
    response = _get(client, orders_table, x="status")
    assert response.status_code == 404
