"""The registration page of an invite link, through Django's test client."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone
from django.utils.html import escape

from core import invites
from core.models import Invite, TableGrant
from tests.factories import UserFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

PASSWORD = "a long and unusual passphrase"


@pytest.fixture
def owner(orders_table):
    user = UserFactory(username="olga")
    TableGrant.objects.create(table=orders_table, user=user, is_owner=True)
    return user


@pytest.fixture
def invited(owner, orders_table):
    """An invite to write on the demo orders table, and its link's path."""
    invite, token = invites.create_invite(owner, "ann@example.com", orders_table, ["write"])
    return invite, f"/accounts/invite/{token}/"


def register(client, path, username="ann", password1=PASSWORD, password2=PASSWORD):
    data = {"username": username, "password1": password1, "password2": password2}
    return client.post(path, data)


def test_the_link_opens_a_registration_form(client, invited):
    invite, path = invited
    response = client.get(path)
    assert response.status_code == 200
    page = response.content.decode()
    assert 'value="ann@example.com" readonly' in page  # shown, not chosen
    assert "olga invited you" in page and "<strong>orders</strong> (read, write)" in page
    for name in ("username", "password1", "password2"):
        assert f'name="{name}"' in page
    assert "csrfmiddlewaretoken" in page
    assert '<meta name="referrer" content="no-referrer">' in page
    assert "no-cache" in response["Cache-Control"]
    assert Invite.objects.get(pk=invite.pk).used_at is None  # looking uses nothing


def test_registering_signs_in_and_opens_the_table(client, invited, orders_table):
    invite, path = invited
    response = register(client, path)
    assert response.status_code == 302
    assert response["Location"] == f"/tables/{orders_table.pk}"

    user = get_user_model().objects.get(username="ann")
    assert user.email == "ann@example.com" and user.check_password(PASSWORD)
    assert client.session["_auth_user_id"] == str(user.pk)
    assert TableGrant.objects.get(table=orders_table, user=user).permissions == ["read", "write"]
    invite.refresh_from_db()
    assert invite.used_by == user

    # The new account reads the table through the rows API, with the session just made.
    rows = client.get(f"/api/tables/{orders_table.pk}/rows", {"limit": 3})
    assert rows.status_code == 200
    assert len(rows.json()["rows"]) == 3
    assert client.get("/api/tables").json()[0]["name"] == "orders"
    assert len(client.get("/api/tables").json()) == 1  # only the table of the invite


def test_an_invite_without_a_table_lands_on_the_home_page(client, admin_user):
    staff = Group.objects.create(name="staff")
    _, token = invites.create_invite(admin_user, "ann@example.com", groups=[staff])
    response = register(client, f"/accounts/invite/{token}/")
    assert response.status_code == 302 and response["Location"] == "/"
    assert list(get_user_model().objects.get(username="ann").groups.all()) == [staff]


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"password1": "short", "password2": "short"}, "password2", "too short"),
        ({"password1": "12345678901", "password2": "12345678901"}, "password2", "entirely numeric"),
        ({"password1": "password123", "password2": "password123"}, "password2", "too common"),
        ({"password1": "ann@example.com!"}, "password2", "didn’t match"),
        (
            {"password1": "ann.example.com", "password2": "ann.example.com"},
            "password2",
            "too similar to the email address",
        ),
        ({"username": "olga"}, "username", "already exists"),
        ({"username": "ann smith"}, "username", "Enter a valid username"),
        ({"username": ""}, "username", "This field is required"),
    ],
)
def test_bad_usernames_and_passwords_show_field_errors(client, invited, fields, field, message):
    invite, path = invited
    data = {"username": "ann", "password1": PASSWORD, "password2": PASSWORD} | fields
    response = client.post(path, data)
    assert response.status_code == 200
    assert any(message in error for error in response.context["form"].errors[field])
    page = response.content.decode()
    assert f'id="{field}-errors"' in page and escape(message) in page
    assert 'name="password1"' in page  # the form again, to try once more
    assert Invite.objects.get(pk=invite.pk).used_at is None
    assert not get_user_model().objects.filter(email="ann@example.com").exists()
    if field != "username":
        assert 'value="ann"' in page  # what was typed stays


@pytest.mark.parametrize(
    ("spoil", "status", "message"),
    [
        ("expire", 410, "This invite expired on "),
        ("use", 410, "This invite has been used already"),
        ("forget", 404, "This invite link is not valid"),
    ],
)
def test_unusable_links_say_why_and_show_no_form(client, invited, spoil, status, message):
    invite, path = invited
    if spoil == "expire":
        Invite.objects.filter(pk=invite.pk).update(expires_at=timezone.now() - timedelta(hours=1))
    elif spoil == "use":
        register(Client(), path, username="first")
    else:
        invite.delete()
    for response in (client.get(path), register(client, path, username="late")):
        assert response.status_code == status
        page = response.content.decode()
        assert message in page
        assert "<form" not in page and "Traceback" not in page
        assert 'href="/accounts/login/"' in page
    assert not get_user_model().objects.filter(username="late").exists()


def test_a_made_up_token_is_404(client):
    response = client.get("/accounts/invite/made-up/")
    assert response.status_code == 404
    assert "This invite link is not valid" in response.content.decode()


def test_registration_needs_the_csrf_token(invited):
    _, path = invited
    client = Client(enforce_csrf_checks=True)
    assert register(client, path).status_code == 403
    assert not get_user_model().objects.filter(username="ann").exists()
    client.get(path)  # the form sets the cookie
    token = client.cookies[settings.CSRF_COOKIE_NAME].value
    data = {"username": "ann", "password1": PASSWORD, "password2": PASSWORD}
    response = client.post(path, data | {"csrfmiddlewaretoken": token})
    assert response.status_code == 302
