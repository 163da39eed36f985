"""The invites API: POST and GET /api/tables/{id}/invites, DELETE /api/invites/{id}."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from core import invites
from core.models import Invite, TableGrant
from tests.factories import UserFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

PASSWORD = "a long and unusual passphrase"


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def url(table) -> str:
    return f"/api/tables/{table.pk}/invites"


def post(client, table, body):
    return client.post(url(table), body, content_type="application/json")


@pytest.fixture
def owner(orders_table):
    user = UserFactory(username="olga")
    TableGrant.objects.create(table=orders_table, user=user, is_owner=True)
    return user


def token_of(link: str) -> str:
    return link.rstrip("/").rsplit("/", 1)[1]


def test_an_owner_invites_by_email_and_gets_the_link_once(owner, orders_table, mailoutbox):
    client = client_for(owner)
    body = {"email": "ann@example.com", "permissions": ["write"], "days": 3}
    response = post(client, orders_table, body)
    assert response.status_code == 201, response.content
    answer = response.json()
    assert answer["email"] == "ann@example.com"
    assert answer["link"].startswith("http://testserver/accounts/invite/")
    assert (
        answer["emailed"] is True
        and answer["message"] == "The invite was emailed to ann@example.com"
    )
    expires = parse_datetime(answer["expires_at"])
    assert abs(expires - (timezone.now() + timedelta(days=3))) < timedelta(seconds=10)
    invite = invites.find_invite(token_of(answer["link"]))
    assert invite.pk == answer["id"] and invites.permissions_of(invite) == ["read", "write"]
    (message,) = mailoutbox
    assert message.to == ["ann@example.com"] and answer["link"] in message.body

    # The link is never given out again: the listing has no link, token or hash.
    (listed,) = client.get(url(orders_table)).json()
    assert listed == {
        "id": invite.pk,
        "email": "ann@example.com",
        "permissions": ["read", "write"],
        "created_by": "olga",
        "created_at": listed["created_at"],
        "expires_at": answer["expires_at"],
    }
    assert token_of(answer["link"]) not in client.get(url(orders_table)).content.decode()


def test_permissions_default_to_read(owner, orders_table):
    response = post(client_for(owner), orders_table, {"email": "ann@example.com"})
    assert response.status_code == 201
    invite = Invite.objects.get(pk=response.json()["id"])
    assert invites.permissions_of(invite) == ["read"]
    assert invite.expires_at - invite.created_at > timedelta(days=6, hours=23)


def test_a_superuser_invites_to_any_table(admin_client, orders_table):
    response = post(
        admin_client, orders_table, {"email": "ann@example.com", "permissions": ["owner"]}
    )
    assert response.status_code == 201
    assert invites.permissions_of(Invite.objects.get()) == ["read", "owner"]


def test_readers_get_403_and_others_404(orders_table, reader, plain_user, owner):
    body = {"email": "ann@example.com"}
    response = post(client_for(reader), orders_table, body)
    assert response.status_code == 403
    assert response.json() == {"message": "Only owners and admins may invite people to orders"}
    assert client_for(reader).get(url(orders_table)).status_code == 403
    for client in (client_for(plain_user),):
        assert post(client, orders_table, body).status_code == 404
        assert client.get(url(orders_table)).json() == {"message": "No such table"}
    assert post(client_for(owner), type(orders_table)(pk=999_999), body).status_code == 404
    assert post(Client(), orders_table, body).status_code == 401
    assert not Invite.objects.exists()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"email": "nope"}, "'nope' is not an email address"),
        ({"email": "ann@example.com", "permissions": ["admin"]}, "Unknown permission 'admin'"),
        ({"email": "ann@example.com", "permissions": []}, "Choose at least one permission"),
        ({"email": "ann@example.com", "days": 0}, "An invite expires after 1 to 90 days"),
        ({"email": "ann@example.com", "days": 365}, "An invite expires after 1 to 90 days"),
        ({"email": "olga@example.com"}, "already has an account"),
        ({"email": "ann@example.com", "days": "soon"}, "The request is not valid"),
        ({"permissions": ["read"]}, "The request is not valid"),
    ],
)
def test_bad_input_is_422(owner, orders_table, body, message):
    response = post(client_for(owner), orders_table, body)
    assert response.status_code == 422
    assert message in response.json()["message"]
    assert not Invite.objects.exists()


def test_a_failed_email_still_answers_the_link(owner, orders_table, monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("connection refused")

    monkeypatch.setattr(invites, "send_mail", refuse)
    response = post(client_for(owner), orders_table, {"email": "ann@example.com"})
    assert response.status_code == 201
    answer = response.json()
    assert answer["emailed"] is False and "could not be sent" in answer["message"]
    assert invites.find_invite(token_of(answer["link"])).pk == answer["id"]


def test_the_listing_shows_only_pending_invites(owner, orders_table):
    client = client_for(owner)
    pending = post(client, orders_table, {"email": "ann@example.com"}).json()
    used = post(client, orders_table, {"email": "bob@example.com"}).json()
    invites.accept_invite(token_of(used["link"]), "bob", PASSWORD)
    expired = post(client, orders_table, {"email": "cat@example.com"}).json()
    Invite.objects.filter(pk=expired["id"]).update(expires_at=timezone.now())
    assert [i["email"] for i in client.get(url(orders_table)).json()] == [pending["email"]]


def test_revoking_stops_the_link(owner, orders_table, reader, admin_client):
    created = post(client_for(owner), orders_table, {"email": "ann@example.com"}).json()
    # A reader of the table may not revoke, nor learn that the invite exists.
    response = client_for(reader).delete(f"/api/invites/{created['id']}")
    assert response.status_code == 404 and response.json() == {"message": "No such invite"}
    response = client_for(owner).delete(f"/api/invites/{created['id']}")
    assert response.status_code == 204
    assert not Invite.objects.exists()
    with pytest.raises(invites.UnknownInvite):
        invites.find_invite(token_of(created["link"]))
    assert client_for(owner).delete(f"/api/invites/{created['id']}").status_code == 404
    # Admins revoke anyone's invites.
    created = post(client_for(owner), orders_table, {"email": "bob@example.com"}).json()
    assert admin_client.delete(f"/api/invites/{created['id']}").status_code == 204


def test_a_used_invite_cannot_be_revoked(owner, orders_table):
    created = post(client_for(owner), orders_table, {"email": "ann@example.com"}).json()
    invites.accept_invite(token_of(created["link"]), "ann", PASSWORD)
    response = client_for(owner).delete(f"/api/invites/{created['id']}")
    assert response.status_code == 409
    assert response.json() == {"message": "This invite has been used already"}


def test_invites_need_the_csrf_token(owner, orders_table):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    response = post(client, orders_table, {"email": "ann@example.com"})
    assert response.status_code == 403
    assert not Invite.objects.exists()
