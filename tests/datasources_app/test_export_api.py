"""`GET /api/tables/{id}/export`: CSV and JSON downloads of what the user may see, streamed."""

from __future__ import annotations

import csv
import io
import json
import sqlite3

import pytest
from django.test import Client

from core.models import ColumnMeta, TableGrant, TableMeta
from datasources_app import export
from tests.factories import UserFactory

pytestmark = pytest.mark.integration


def _body(response) -> str:
    assert response.streaming, "an export is streamed, never built whole in memory"
    return b"".join(response.streaming_content).decode()


def _url(table, **params) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"/api/tables/{table.pk}/export" + (f"?{query}" if query else "")


@pytest.fixture
def customers(demo_source):
    return TableMeta.objects.get(datasource=demo_source, name="customers")


@pytest.mark.django_db
def test_csv_has_every_row_in_key_order_across_pages(admin_client, customers, demo_db, monkeypatch):
    monkeypatch.setattr(export, "PAGE_ROWS", 999)  # many pages: the join between them matters
    response = admin_client.get(_url(customers))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="customers.csv"' in response["Content-Disposition"]
    records = list(csv.reader(io.StringIO(_body(response))))
    with sqlite3.connect(demo_db) as conn:
        expected = conn.execute("SELECT id, name FROM customers ORDER BY id").fetchall()
        names = [r[1] for r in conn.execute("PRAGMA table_info(customers)")]
    assert records[0] == names
    assert len(records) - 1 == len(expected)
    assert [(int(r[0]), r[1]) for r in records[1:]] == expected


@pytest.mark.django_db
def test_json_follows_filters_sort_and_columns(admin_client, customers, demo_db):
    filters = json.dumps([{"column": "city", "op": "eq", "value": "Austin"}])
    response = admin_client.get(
        _url(customers, format="json", filters=filters, sort="-id", columns="id,city")
    )
    assert response.status_code == 200
    rows = json.loads(_body(response))
    with sqlite3.connect(demo_db) as conn:
        expected = [
            r[0]
            for r in conn.execute("SELECT id FROM customers WHERE city = 'Austin' ORDER BY id DESC")
        ]
    assert [r["id"] for r in rows] == expected
    assert all(set(r) == {"id", "city"} for r in rows)


@pytest.mark.django_db
def test_empty_result_is_a_valid_file(admin_client, customers):
    filters = json.dumps([{"column": "city", "op": "eq", "value": "Atlantis"}])
    assert (
        json.loads(_body(admin_client.get(_url(customers, format="json", filters=filters)))) == []
    )
    text = _body(admin_client.get(_url(customers, filters=filters)))
    assert text.splitlines()[0].startswith("id,name")
    assert len(text.splitlines()) == 1


@pytest.mark.django_db
def test_hidden_columns_are_left_out_for_readers(client, customers):
    ColumnMeta.objects.filter(table=customers, name="email").update(visible=False)
    reader = UserFactory(username="reader")
    TableGrant.objects.create(table=customers, user=reader, can_read=True)
    client.force_login(reader)
    header = _body(client.get(_url(customers))).splitlines()[0].split(",")
    assert "email" not in header and "name" in header
    asked = client.get(_url(customers, columns="id,email"))
    assert asked.status_code == 400
    assert "email" in asked.json()["message"]


@pytest.mark.django_db
def test_no_read_permission_is_404_and_bad_input_is_400(client, plain_user, customers, admin_user):
    client.force_login(plain_user)
    assert client.get(_url(customers)).status_code == 404
    admin_client = Client()
    admin_client.force_login(admin_user)
    assert admin_client.get(_url(customers, format="xlsx")).status_code == 400
    bad = admin_client.get(_url(customers, filters="[{"))
    assert bad.status_code == 400 and bad.json()["message"]
