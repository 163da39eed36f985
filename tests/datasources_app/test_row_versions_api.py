"""Row versions (ETag / If-Match) and row locks through the API, on the demo SQLite file."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from core.models import Change, RowLock
from datasources_app.values import encode_key
from tests.conftest import grant
from tests.factories import UserFactory

pytestmark = pytest.mark.integration

KEY_1 = encode_key([1])


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def ann(db):
    user = UserFactory(username="ann")
    grant(user, "read_rows", "write_rows", "delete_rows")
    return user


@pytest.fixture
def bob(db):
    user = UserFactory(username="bob")
    grant(user, "read_rows", "write_rows", "delete_rows")
    return user


def row_url(table, key: str = KEY_1) -> str:
    return f"/api/tables/{table.pk}/rows/{key}"


def lock_url(table, key: str = KEY_1) -> str:
    return row_url(table, key) + "/lock"


def patch(client, url: str, body: dict, **headers):
    return client.patch(url, json.dumps(body), content_type="application/json", **headers)


def quantity(table, order_id: int = 1) -> int | None:
    path = table.datasource.connection_string.removeprefix("sqlite:///")
    conn = sqlite3.connect(path)
    try:
        row = conn.execute("SELECT quantity FROM orders WHERE id = ?", (order_id,)).fetchone()
    finally:
        conn.close()
    return row[0] if row else None


# --- versions ---------------------------------------------------------------------------------


def test_get_gives_an_etag_that_changes_with_the_row(ann, orders_table):
    client = client_for(ann)
    first = client.get(row_url(orders_table))
    assert first.status_code == 200
    etag = first["ETag"]
    assert etag.startswith('"') and etag.endswith('"') and len(etag) == 34
    assert client.get(row_url(orders_table))["ETag"] == etag

    response = patch(client, row_url(orders_table), {"values": {"quantity": 9}}, HTTP_IF_MATCH=etag)
    assert response.status_code == 200
    assert response.json() == {"key": KEY_1, "values": client.get(row_url(orders_table)).json()}
    assert response.json()["values"]["quantity"] == 9
    assert response["ETag"] != etag
    assert response["ETag"] == client.get(row_url(orders_table))["ETag"]


def test_a_stale_if_match_is_refused_with_the_current_row(ann, orders_table):
    client = client_for(ann)
    etag = client.get(row_url(orders_table))["ETag"]
    assert patch(client, row_url(orders_table), {"values": {"quantity": 9}}).status_code == 200

    response = patch(client, row_url(orders_table), {"values": {"quantity": 3}}, HTTP_IF_MATCH=etag)
    assert response.status_code == 409
    assert response.json()["current"]["quantity"] == 9
    assert "changed by someone else" in response.json()["message"]
    assert quantity(orders_table) == 9
    # A weak ETag names the same version.
    weak = patch(client, row_url(orders_table), {"values": {"quantity": 3}},
                 HTTP_IF_MATCH="W/" + etag)  # fmt: skip
    assert weak.status_code == 409


def test_if_match_star_writes_whatever_the_version(ann, orders_table):
    client = client_for(ann)
    assert patch(client, row_url(orders_table), {"values": {"quantity": 9}}).status_code == 200
    response = patch(client, row_url(orders_table), {"values": {"quantity": 4}}, HTTP_IF_MATCH="*")
    assert response.status_code == 200
    assert quantity(orders_table) == 4


def test_the_version_may_come_in_the_body(ann, orders_table):
    client = client_for(ann)
    version = client.get(row_url(orders_table))["ETag"].strip('"')
    ok = patch(client, row_url(orders_table), {"values": {"quantity": 8}, "version": version})
    assert ok.status_code == 200
    stale = patch(client, row_url(orders_table), {"values": {"quantity": 7}, "version": version})
    assert stale.status_code == 409
    assert stale.json()["current"]["quantity"] == 8
    assert quantity(orders_table) == 8


def test_delete_with_if_match(ann, orders_table):
    client = client_for(ann)
    etag = client.get(row_url(orders_table))["ETag"]
    patch(client, row_url(orders_table), {"values": {"quantity": 9}})
    stale = client.delete(row_url(orders_table), HTTP_IF_MATCH=etag)
    assert stale.status_code == 409
    assert stale.json()["current"]["quantity"] == 9
    assert quantity(orders_table) == 9

    fresh = client.get(row_url(orders_table))["ETag"]
    response = client.delete(row_url(orders_table), HTTP_IF_MATCH=fresh)
    assert response.status_code == 200
    assert response.json() == {"deleted": 1}
    assert quantity(orders_table) is None
    assert client.get(row_url(orders_table)).status_code == 404
    assert client.delete(row_url(orders_table), HTTP_IF_MATCH=fresh).status_code == 404


# --- locks ------------------------------------------------------------------------------------


def test_take_renew_list_and_release_a_lock(ann, orders_table):
    client = client_for(ann)
    taken = client.post(lock_url(orders_table))
    assert taken.status_code == 200
    assert taken.json()["key"] == KEY_1
    assert taken.json()["locked_by"] == "ann"
    RowLock.objects.update(expires_at=timezone.now() + timedelta(seconds=5))
    renewed = client.post(lock_url(orders_table))
    assert renewed.status_code == 200
    assert renewed.json()["expires_at"] > taken.json()["expires_at"]
    assert RowLock.objects.count() == 1

    listed = client.get(f"/api/tables/{orders_table.pk}/locks")
    assert listed.status_code == 200
    assert [(lock["key"], lock["locked_by"]) for lock in listed.json()] == [(KEY_1, "ann")]

    assert client.delete(lock_url(orders_table)).json() == {"released": True}
    assert client.delete(lock_url(orders_table)).json() == {"released": False}
    assert client.get(f"/api/tables/{orders_table.pk}/locks").json() == []


def test_another_user_gets_423_with_the_holder_and_nothing_is_written(ann, bob, orders_table):
    before = quantity(orders_table)
    assert client_for(ann).post(lock_url(orders_table)).status_code == 200
    as_bob = client_for(bob)

    refused = as_bob.post(lock_url(orders_table))
    assert refused.status_code == 423
    assert refused.json()["locked_by"] == "ann"

    etag = as_bob.get(row_url(orders_table))["ETag"]
    for response in (
        patch(as_bob, row_url(orders_table), {"values": {"quantity": 99}}),
        patch(as_bob, row_url(orders_table), {"values": {"quantity": 99}}, HTTP_IF_MATCH=etag),
        as_bob.delete(row_url(orders_table)),
    ):
        assert response.status_code == 423
        assert response.json()["locked_by"] == "ann"
        assert "ann is editing this row" in response.json()["message"]
    assert quantity(orders_table) == before
    assert not Change.objects.exists()

    # Bob may not release Ann's lock; once it lapses, he may write.
    denied = as_bob.delete(lock_url(orders_table))
    assert denied.status_code == 403
    assert RowLock.objects.count() == 1
    RowLock.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert as_bob.get(f"/api/tables/{orders_table.pk}/locks").json() == []
    ok = patch(as_bob, row_url(orders_table), {"values": {"quantity": 99}}, HTTP_IF_MATCH=etag)
    assert ok.status_code == 200
    assert quantity(orders_table) == 99


def test_the_lock_holder_writes_through_their_lock(ann, orders_table):
    client = client_for(ann)
    client.post(lock_url(orders_table))
    assert patch(client, row_url(orders_table), {"values": {"quantity": 6}}).status_code == 200
    assert quantity(orders_table) == 6


def test_an_owner_breaks_another_users_lock(ann, admin_user, orders_table):
    client_for(ann).post(lock_url(orders_table))
    response = client_for(admin_user).delete(lock_url(orders_table))
    assert response.status_code == 200
    assert response.json() == {"released": True}
    assert not RowLock.objects.exists()


def test_a_reader_may_list_but_not_lock(reader, ann, orders_table):
    client_for(ann).post(lock_url(orders_table))
    client = client_for(reader)
    assert client.post(lock_url(orders_table, encode_key([2]))).status_code == 403
    assert [lock["key"] for lock in client.get(f"/api/tables/{orders_table.pk}/locks").json()] \
        == [KEY_1]  # fmt: skip
    assert RowLock.objects.count() == 1


def test_locks_of_a_table_one_may_not_read_are_not_found(plain_user, ann, orders_table):
    client_for(ann).post(lock_url(orders_table))
    client = client_for(plain_user)
    assert client.get(f"/api/tables/{orders_table.pk}/locks").status_code == 404
    assert client.post(lock_url(orders_table)).status_code == 404
    assert client.delete(lock_url(orders_table)).status_code == 404
    assert RowLock.objects.count() == 1
