"""API tokens in the API: bearer requests act as the token's user, and /api/tokens."""

from __future__ import annotations

import json
import sqlite3

import pytest
from django.test import Client
from django.utils import timezone

from core import tokens
from core.models import ApiToken, Change, TableGrant
from datasources_app.values import encode_key
from tests.factories import UserFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

CSRF = "abcdefghijklmnopqrstuvwxyzABCDEF"  # a CSRF secret: 32 letters or digits


def rows_url(table, key: str | None = None) -> str:
    return f"/api/tables/{table.pk}/rows" + (f"/{key}" if key is not None else "")


def send(client, method: str, url: str, body: dict | None = None, **headers):
    data = json.dumps(body) if body is not None else ""
    return getattr(client, method)(url, data, content_type="application/json", **headers)


def bearer(plaintext: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"}


def quantity(table, order_id: int) -> int:
    path = table.datasource.connection_string.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT quantity FROM orders WHERE id = ?", (order_id,)).fetchone()[0]


def order_count(table) -> int:
    path = table.datasource.connection_string.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT count(*) FROM orders").fetchone()[0]


def session_client(user, enforce_csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=enforce_csrf)
    client.force_login(user)
    return client


@pytest.fixture
def customers_table(demo_source):
    return demo_source.tables.get(name="customers")


@pytest.fixture
def rita(orders_table):
    """May read the orders table, and nothing else."""
    user = UserFactory(username="rita")
    TableGrant.objects.create(table=orders_table, user=user, can_read=True)
    return user


@pytest.fixture
def wes(orders_table):
    """May read and write the orders table."""
    user = UserFactory(username="wes")
    TableGrant.objects.create(table=orders_table, user=user, can_read=True, can_write=True)
    return user


NEW_ORDER = {
    "customer_id": 1,
    "product_id": 1,
    "quantity": 2,
    "unit_price": 9.5,
    "status": "new",
    "ordered_at": "2024-05-01T10:00:00",
    "gift": False,
}


# --- a token acts as its user -------------------------------------------------------------------


def test_a_token_reads_what_its_user_may_read(rita, orders_table, customers_table):
    _, plaintext = tokens.create_token(rita, "reports")
    client = Client()  # no session at all
    listed = client.get("/api/tables", **bearer(plaintext))
    assert listed.status_code == 200, listed.content
    assert [t["name"] for t in listed.json()] == ["orders"]
    page = client.get(rows_url(orders_table) + "?limit=3", **bearer(plaintext))
    assert page.status_code == 200 and len(page.json()["rows"]) == 3
    one = client.get(rows_url(orders_table, encode_key([1])), **bearer(plaintext))
    assert one.status_code == 200 and one.json()["id"] == 1
    refused = client.get(rows_url(customers_table), **bearer(plaintext))
    assert refused.status_code == 404
    assert refused.json() == {"message": "No such table"}


def test_a_read_token_may_not_write(wes, orders_table):
    _, plaintext = tokens.create_token(wes, "read only", write=False)
    client = Client(enforce_csrf_checks=True)
    url = rows_url(orders_table, encode_key([3]))
    before = quantity(orders_table, 3)
    answers = [
        send(client, "patch", url, {"values": {"quantity": before + 1}}, **bearer(plaintext)),
        send(client, "post", rows_url(orders_table), {"values": NEW_ORDER}, **bearer(plaintext)),
        send(client, "delete", url, **bearer(plaintext)),
        send(client, "post", url + "/lock", **bearer(plaintext)),
    ]
    for answer in answers:
        assert answer.status_code == 403
        assert answer.json() == {"message": "This token may only read"}
    assert quantity(orders_table, 3) == before and order_count(orders_table) == 2000
    assert client.get(url, **bearer(plaintext)).status_code == 200


def test_a_write_token_writes_as_its_user_without_csrf(wes, orders_table):
    _, plaintext = tokens.create_token(wes, "sync", write=True)
    client = Client(enforce_csrf_checks=True)
    url = rows_url(orders_table, encode_key([3]))
    before = quantity(orders_table, 3)
    answer = send(client, "patch", url, {"values": {"quantity": before + 1}}, **bearer(plaintext))
    assert answer.status_code == 200, answer.content
    assert quantity(orders_table, 3) == before + 1
    (change,) = Change.objects.filter(table=orders_table)
    assert change.user == wes and change.username == "wes"
    added = send(client, "post", rows_url(orders_table), {"values": NEW_ORDER}, **bearer(plaintext))
    assert added.status_code == 201, added.content


def test_a_write_token_has_only_its_users_rights(rita, orders_table):
    _, plaintext = tokens.create_token(rita, "too much", write=True)
    url = rows_url(orders_table, encode_key([3]))
    before = quantity(orders_table, 3)
    answer = send(Client(), "patch", url, {"values": {"quantity": before + 1}}, **bearer(plaintext))
    assert answer.status_code == 403
    assert quantity(orders_table, 3) == before


def test_the_token_decides_who_acts_not_the_session(rita, wes, orders_table):
    """A program that also carries someone's session cookie acts as the token's user."""
    _, plaintext = tokens.create_token(rita, "x", write=True)
    client = session_client(wes)
    url = rows_url(orders_table, encode_key([3]))
    answer = send(client, "patch", url, {"values": {"quantity": 1}}, **bearer(plaintext))
    assert answer.status_code == 403  # rita may only read


# --- tokens that do not work --------------------------------------------------------------------


def test_unknown_revoked_and_inactive_tokens_get_401(rita, orders_table):
    token, plaintext = tokens.create_token(rita, "x")
    client = Client()
    url = rows_url(orders_table)
    assert client.get(url, **bearer(plaintext)).status_code == 200

    for wrong in ("nf_" + "x" * 43, "not-even-a-token", plaintext + "x"):
        answer = client.get(url, **bearer(wrong))
        assert answer.status_code == 401
        assert "unknown or revoked" in answer.json()["message"]

    tokens.revoke(token, rita)
    answer = client.get(url, **bearer(plaintext))
    assert answer.status_code == 401 and "message" in answer.json()

    _, other = tokens.create_token(rita, "y")
    rita.is_active = False
    rita.save()
    assert client.get(url, **bearer(other)).status_code == 401


def test_a_bad_token_does_not_fall_back_to_the_session(rita, orders_table):
    _, plaintext = tokens.create_token(rita, "x")
    ApiToken.objects.update(revoked_at=timezone.now())
    client = session_client(rita)
    assert client.get(rows_url(orders_table), **bearer(plaintext)).status_code == 401
    assert client.get(rows_url(orders_table)).status_code == 200


def test_no_token_and_no_session_is_401(orders_table):
    answer = Client().get(rows_url(orders_table))
    assert answer.status_code == 401 and answer.json() == {"message": "Sign in first"}


def test_using_a_token_notes_when(rita, orders_table):
    token, plaintext = tokens.create_token(rita, "x")
    Client().get(rows_url(orders_table), **bearer(plaintext))
    token.refresh_from_db()
    assert token.last_used_at is not None


# --- CSRF on session writes ---------------------------------------------------------------------


def test_session_writes_need_the_csrf_token(wes, orders_table):
    client = session_client(wes, enforce_csrf=True)
    client.cookies["csrftoken"] = CSRF
    url = rows_url(orders_table, encode_key([3]))
    before = quantity(orders_table, 3)
    body = {"values": {"quantity": before + 1}}

    refused = send(client, "patch", url, body)
    assert refused.status_code == 403 and "CSRF" in refused.json()["message"]
    refused = send(client, "post", "/api/tokens", {"name": "x"})
    assert refused.status_code == 403 and "CSRF" in refused.json()["message"]
    assert quantity(orders_table, 3) == before and not ApiToken.objects.exists()

    accepted = send(client, "patch", url, body, HTTP_X_CSRFTOKEN=CSRF)
    assert accepted.status_code == 200, accepted.content
    assert quantity(orders_table, 3) == before + 1
    made = send(client, "post", "/api/tokens", {"name": "x"}, HTTP_X_CSRFTOKEN=CSRF)
    assert made.status_code == 201, made.content


# --- /api/tokens ----------------------------------------------------------------------------------


def test_a_user_makes_a_token_and_sees_it_once(rita, orders_table):
    client = session_client(rita)
    made = send(client, "post", "/api/tokens", {"name": "nightly", "scopes": ["read", "write"]})
    assert made.status_code == 201, made.content
    answer = made.json()
    plaintext = answer.pop("token")
    assert plaintext.startswith("nf_")
    stored = ApiToken.objects.get()
    assert answer == {
        "id": stored.pk,
        "name": "nightly",
        "scopes": ["read", "write"],
        "prefix": plaintext[:8],
        "created_at": answer["created_at"],
        "last_used_at": None,
        "revoked": False,
        "revoked_at": None,
    }
    assert tokens.authenticate(plaintext).user == rita

    listing = client.get("/api/tokens")
    assert listing.status_code == 200
    assert plaintext not in listing.content.decode()
    assert plaintext[8:] not in listing.content.decode()
    (listed,) = listing.json()
    assert listed["id"] == stored.pk and listed["scopes"] == ["read", "write"]
    assert listed["last_used_at"] is not None  # authenticate() above used it


def test_scopes_default_to_read(rita):
    made = send(session_client(rita), "post", "/api/tokens", {"name": "r"})
    assert made.status_code == 201 and made.json()["scopes"] == ["read"]


@pytest.mark.parametrize(
    "body", [{"name": ""}, {"name": "x" * 101}, {"name": "x", "scopes": ["admin"]}, {}]
)
def test_a_bad_token_request_is_422(rita, body):
    answer = send(session_client(rita), "post", "/api/tokens", body)
    assert answer.status_code == 422 and answer.json()["message"]
    assert not ApiToken.objects.exists()


def test_a_user_lists_and_revokes_only_their_own(rita, wes):
    mine, plaintext = tokens.create_token(rita, "mine")
    theirs, _ = tokens.create_token(wes, "theirs")
    client = session_client(rita)
    assert [t["name"] for t in client.get("/api/tokens").json()] == ["mine"]

    assert client.delete(f"/api/tokens/{theirs.pk}").status_code == 404
    assert not ApiToken.objects.get(pk=theirs.pk).revoked

    assert client.delete(f"/api/tokens/{mine.pk}").status_code == 204
    assert tokens.authenticate(plaintext) is None
    (listed,) = client.get("/api/tokens").json()
    assert listed["revoked"] is True and listed["revoked_at"]


def test_tokens_cannot_manage_tokens(wes):
    token, plaintext = tokens.create_token(wes, "powerful", write=True)
    client = Client()
    answers = [
        client.get("/api/tokens", **bearer(plaintext)),
        send(client, "post", "/api/tokens", {"name": "more"}, **bearer(plaintext)),
        client.delete(f"/api/tokens/{token.pk}", **bearer(plaintext)),
    ]
    for answer in answers:
        assert answer.status_code == 403
        assert answer.json() == {"message": "API tokens cannot manage tokens: sign in to do that"}
    assert ApiToken.objects.count() == 1 and not ApiToken.objects.get().revoked
    # Not with a session cookie beside it either.
    made = send(session_client(wes), "post", "/api/tokens", {"name": "x"}, **bearer(plaintext))
    assert made.status_code == 403 and ApiToken.objects.count() == 1


def test_signed_out_token_management_is_401():
    answer = Client().get("/api/tokens")
    assert answer.status_code == 401 and answer.json() == {"message": "Sign in first"}
