"""The permission matrix through the API: each role times each action.

Allowed actions succeed; refused ones change nothing and answer 403 when the user may read the
table, 404 (not a hint that it exists) when they may not.
"""

from __future__ import annotations

import json
import sqlite3

import pytest

from core.models import TableMeta
from datasources_app.values import encode_key

from .roles import ACTIONS, ALLOWED, ROLES, make_role

pytestmark = pytest.mark.integration

ROW = encode_key([7])


def _orders(demo_db, sql: str, *params):
    with sqlite3.connect(demo_db) as conn:
        return conn.execute(sql, params).fetchall()


def _streamed(response) -> bytes:
    return b"".join(response.streaming_content)


def attempt(client, action: str, table: TableMeta):
    """Do `action` through the API; answers the response (or, for "see", whether it is listed)."""
    base = f"/api/tables/{table.pk}"
    if action == "see":
        return any(t["id"] == table.pk for t in client.get("/api/tables").json())
    if action == "open":
        return client.get(f"{base}/rows?limit=5")
    if action == "edit":
        body = {"values": {"comment": "matrix"}}
        return client.patch(f"{base}/rows/{ROW}", body, content_type="application/json")
    if action == "add":
        body = {
            "values": {
                "customer_id": 1,
                "product_id": 1,
                "quantity": 1,
                "unit_price": 2.5,
                "status": "new",
                "ordered_at": "2026-01-02 03:04:05",
                "gift": False,
            }
        }
        return client.post(f"{base}/rows", body, content_type="application/json")
    if action == "delete":
        return client.delete(f"{base}/rows/{ROW}")
    if action == "export":
        return client.get(f"{base}/export?format=json&columns=id")
    if action == "manage":
        return client.get(f"{base}/permissions")
    raise AssertionError(action)


@pytest.mark.django_db
@pytest.mark.parametrize("role", sorted(ROLES))
def test_each_action_through_the_api(role, client, demo_source, demo_db):
    table = TableMeta.objects.get(datasource=demo_source, name="orders")
    client.force_login(make_role(role, table))
    allowed = ALLOWED[role]
    before = _orders(demo_db, "SELECT count(*), group_concat(comment) FROM orders")
    for action in ACTIONS:
        answer = attempt(client, action, table)
        if action == "see":
            assert answer == (action in allowed), f"{role}: listed {answer}"
            continue
        if action in allowed:
            assert answer.status_code in (200, 201), (role, action, answer.status_code)
            if action == "export":
                assert json.loads(_streamed(answer))[0] == {"id": 1}
            continue
        expected = 403 if "open" in allowed else 404
        assert answer.status_code == expected, (role, action, answer.status_code)
        assert "message" in answer.json()
    if not allowed & {"edit", "add", "delete"}:
        assert _orders(demo_db, "SELECT count(*), group_concat(comment) FROM orders") == before


@pytest.mark.django_db
@pytest.mark.parametrize("role", sorted(ROLES))
def test_owners_alone_change_permissions(role, client, demo_source):
    table = TableMeta.objects.get(datasource=demo_source, name="orders")
    client.force_login(make_role(role, table))
    body = {"grants": [{"user": "superuser" if role != "superuser" else role,
                        "permissions": ["read"]}]}  # fmt: skip
    if role != "superuser":
        make_role("superuser", table)
    answer = client.put(
        f"/api/tables/{table.pk}/permissions", body, content_type="application/json"
    )
    if "manage" in ALLOWED[role]:
        assert answer.status_code == 200
    else:
        assert answer.status_code == (403 if "open" in ALLOWED[role] else 404)
        assert table.grants.filter(user__username="superuser").count() == 0
