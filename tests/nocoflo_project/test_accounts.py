"""Signing in and out: one Django session serves the admin, the API and the pages."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from tests.conftest import PASSWORD

pytestmark = pytest.mark.integration


def test_healthz_needs_no_sign_in(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"status": "ok"}


def test_login_page_is_branded(client, db):
    response = client.get("/accounts/login/", {"next": "/tables/1"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "<title>Sign in · Nocoflo</title>" in page
    assert "<h1>Nocoflo</h1>" in page
    assert 'name="next" value="/tables/1"' in page
    assert 'role="alert"' not in page


def test_a_wrong_password_shows_an_error(client, admin_user):
    response = client.post("/accounts/login/", {"username": "admin", "password": "wrong"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "That username and password do not match" in page
    assert 'value="admin"' in page  # the username is kept
    assert "_auth_user_id" not in client.session


def test_signing_in_redirects_to_next(admin_user):
    client = Client(enforce_csrf_checks=True)
    page = client.get("/accounts/login/?next=/admin/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())
    response = client.post(
        "/accounts/login/",
        {
            "username": "admin",
            "password": PASSWORD,
            "next": "/admin/",
            "csrfmiddlewaretoken": token.group(1),
        },
    )
    assert response.status_code == 302
    assert response["Location"] == "/admin/"


def test_without_next_the_home_page_follows(client, admin_user):
    response = client.post("/accounts/login/", {"username": "admin", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/"
    # Signed in already: the login page sends you on.
    assert client.get("/accounts/login/").status_code == 302


def test_an_outside_next_is_not_followed(client, admin_user):
    response = client.post(
        "/accounts/login/",
        {"username": "admin", "password": PASSWORD, "next": "https://evil.example/"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_one_session_serves_admin_and_api_until_signed_out(client, admin_user, demo_source):
    client.post("/accounts/login/", {"username": "admin", "password": PASSWORD})

    admin = client.get("/admin/")
    assert admin.status_code == 200
    assert "Nocoflo administration" in admin.content.decode()
    tables = client.get("/api/tables")
    assert tables.status_code == 200
    assert {t["name"] for t in tables.json()} == {"customers", "orders", "products"}

    out = client.post("/accounts/logout/")
    assert out.status_code == 302
    assert out["Location"] == "/accounts/login/"
    assert client.get("/api/tables").status_code == 401
    assert client.get("/admin/")["Location"].startswith("/admin/login/")


def test_signing_out_needs_a_post(admin_client):
    assert admin_client.get("/accounts/logout/").status_code == 405
    assert admin_client.get("/api/tables").status_code == 200
