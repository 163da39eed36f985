"""`/api/tables/{id}/permissions`: a table's owners read and replace who may use it."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from core.models import TableGrant
from tests.factories import UserFactory

pytestmark = pytest.mark.integration


def url(table) -> str:
    pk = table if isinstance(table, int) else table.pk
    return f"/api/tables/{pk}/permissions"


def put(client, table, body):
    return client.put(url(table), json.dumps(body), content_type="application/json")


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def owner(orders_table):
    user = UserFactory(username="olga")
    TableGrant.objects.create(table=orders_table, user=user, is_owner=True)
    return user


@pytest.fixture
def sales(db):
    return Group.objects.create(name="sales")


def test_signed_out_is_401(client, orders_table):
    assert client.get(url(orders_table)).status_code == 401
    assert put(client, orders_table, {"grants": []}).status_code == 401


def test_an_owner_reads_the_grants(owner, orders_table, sales):
    TableGrant.objects.create(table=orders_table, group=sales, can_write=True)
    response = client_for(owner).get(url(orders_table))
    assert response.status_code == 200
    assert response.json() == {
        "grants": [
            {"user": "olga", "group": None, "permissions": ["read", "owner"]},
            {"user": None, "group": "sales", "permissions": ["read", "write"]},
        ]
    }


def test_an_owner_replaces_the_grants(owner, orders_table, sales, plain_user):
    body = {
        "grants": [
            {"user": "olga", "permissions": ["owner"]},
            {"user": "nobody", "group": None, "permissions": ["read", "delete"]},
            {"group": "sales", "permissions": ["write"]},
        ]
    }
    client = client_for(owner)
    response = put(client, orders_table, body)
    assert response.status_code == 200, response.content
    assert response.json()["grants"][1] == {
        "user": "olga",
        "group": None,
        "permissions": ["owner"],
    }
    assert client.get(url(orders_table)).json() == response.json()
    # The new reader can open the table now.
    assert client_for(plain_user).get(f"/api/tables/{orders_table.pk}/rows").status_code == 200


def test_a_superuser_may_manage_any_table(admin_client, orders_table, reader):
    response = put(
        admin_client, orders_table, {"grants": [{"user": "reader", "permissions": ["owner"]}]}
    )
    assert response.status_code == 200
    assert admin_client.get(url(orders_table)).json()["grants"][0]["user"] == "reader"
    assert put(admin_client, orders_table, {"grants": []}).json() == {"grants": []}
    assert not TableGrant.objects.exists()


def test_readers_who_are_not_owners_get_403(orders_table, sales):
    writer = UserFactory(username="writer")
    sales.user_set.add(writer)
    TableGrant.objects.create(table=orders_table, group=sales, can_write=True)
    client = client_for(writer)
    response = client.get(url(orders_table))
    assert response.status_code == 403
    assert response.json()["message"] == "Only owners may see and change who may use orders"
    assert put(client, orders_table, {"grants": []}).status_code == 403
    assert TableGrant.objects.count() == 1


def test_users_who_cannot_read_the_table_get_404(owner, orders_table, plain_user):
    client = client_for(plain_user)
    for response in (
        client.get(url(orders_table)),
        put(client, orders_table, {"grants": []}),
        client_for(owner).get(url(999999)),
    ):
        assert response.status_code == 404
        assert response.json()["message"] == "No such table"
    assert TableGrant.objects.count() == 1


@pytest.mark.parametrize(
    ("grant", "message"),
    [
        ({"user": "ghost", "permissions": ["read"]}, "No user named 'ghost'"),
        ({"group": "ghosts", "permissions": ["read"]}, "No group named 'ghosts'"),
        (
            {"user": "olga", "group": "sales", "permissions": ["read"]},
            "Grant 2 must name either a user or a group",
        ),
        ({"permissions": ["read"]}, "Grant 2 must name either a user or a group"),
        ({"user": "olga", "permissions": ["admin"]}, "Unknown permission 'admin'"),
    ],
)
def test_invalid_grants_are_422_and_change_nothing(owner, orders_table, sales, grant, message):
    client = client_for(owner)
    before = client.get(url(orders_table)).json()
    body = {"grants": [{"group": "sales", "permissions": ["read"]}, grant]}
    response = put(client, orders_table, body)
    assert response.status_code == 422
    assert message in response.json()["message"]
    assert client.get(url(orders_table)).json() == before


def test_a_body_without_grants_is_422(owner, orders_table):
    response = put(client_for(owner), orders_table, {"users": []})
    assert response.status_code == 422
    assert TableGrant.objects.count() == 1
