"""Invites (core.invites): who may invite, the link that works once, and the access it gives."""

from __future__ import annotations

import hashlib
import os
import smtplib
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.test import RequestFactory
from django.utils import timezone

from core import access, invites
from core.models import Invite, TableGrant
from tests.factories import AdminFactory, UserFactory

pytestmark = [pytest.mark.unit, pytest.mark.django_db]

PASSWORD = "a long and unusual passphrase"


@pytest.fixture
def owner(tables):
    user = UserFactory(username="olga")
    TableGrant.objects.create(table=tables["orders"], user=user, is_owner=True)
    return user


@pytest.fixture
def admin(db):
    return AdminFactory()


def staff_with(*codenames: str):
    user = UserFactory(is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return get_user_model().objects.get(pk=user.pk)


# --- creating -----------------------------------------------------------------------------------


def test_only_the_hash_of_the_token_is_stored(admin, tables):
    before = timezone.now()
    invite, token = invites.create_invite(admin, "Ann@Example.COM", tables["orders"])
    assert len(token) >= 43  # 32 random bytes
    stored = Invite.objects.get(pk=invite.pk)
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(Invite.objects.filter(pk=invite.pk).values().get())
    assert stored.email == "Ann@example.com"  # the domain is normalized, not the name
    assert stored.created_by == admin
    assert invites.permissions_of(stored) == ["read"]  # read by default
    assert before + timedelta(days=7) <= stored.expires_at <= timezone.now() + timedelta(days=7)
    _, other = invites.create_invite(admin, "bob@example.com", tables["orders"])
    assert other != token


def test_writing_deleting_and_owning_include_reading(owner, tables):
    invite, _ = invites.create_invite(owner, "ann@example.com", tables["orders"], ["write"], days=3)
    assert invites.permissions_of(invite) == ["read", "write"]
    invite, _ = invites.create_invite(owner, "bob@example.com", tables["orders"], ["owner"])
    assert invites.permissions_of(invite) == ["read", "owner"]
    lifetime = invite.expires_at - invite.created_at
    assert lifetime == pytest.approx(timedelta(days=7), abs=timedelta(seconds=5))


def test_an_owner_invites_only_to_their_own_table_and_into_no_group(owner, tables):
    with pytest.raises(invites.InviteNotAllowed, match="Only owners and admins may invite people"):
        invites.create_invite(owner, "ann@example.com", tables["customers"])
    sales = Group.objects.create(name="sales")
    with pytest.raises(invites.InviteNotAllowed, match="Only admins may invite people into groups"):
        invites.create_invite(owner, "ann@example.com", tables["orders"], groups=[sales])
    with pytest.raises(invites.InviteNotAllowed, match="without a table"):
        invites.create_invite(owner, "ann@example.com")
    assert not Invite.objects.exists()


def test_readers_writers_and_strangers_may_not_invite(tables, reader, plain_user):
    writer = UserFactory(username="walt")
    TableGrant.objects.create(table=tables["orders"], user=writer, can_write=True)
    for user in (reader, writer, plain_user):
        with pytest.raises(invites.InviteNotAllowed, match="Only owners and admins"):
            invites.create_invite(user, "ann@example.com", tables["orders"])
    # Staff status alone is not enough: inviting anyone anywhere takes the add permission.
    with pytest.raises(invites.InviteNotAllowed):
        invites.create_invite(staff_with(), "ann@example.com", tables["orders"])
    assert not Invite.objects.exists()


@pytest.mark.parametrize("make", [AdminFactory, lambda: staff_with("add_invite")])
def test_admins_invite_onto_any_table_and_into_groups(make, tables):
    inviter = make()
    sales = Group.objects.create(name="sales")
    invite, _ = invites.create_invite(
        inviter, "ann@example.com", tables["customers"], ["read", "delete"], [sales], days=90
    )
    assert invites.permissions_of(invite) == ["read", "delete"]
    assert list(invite.groups.all()) == [sales]
    # Without a table, an invite gives only what its groups have.
    invite, _ = invites.create_invite(inviter, "bob@example.com", groups=[sales], days=1)
    assert invite.table is None and invites.permissions_of(invite) == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"email": "not an email"}, "is not an email address"),
        ({"email": " "}, "Type an email address"),
        ({"permissions": ["read", "admin"]}, "Unknown permission 'admin'"),
        ({"permissions": []}, "Choose at least one permission"),
        ({"days": 0}, "expires after 1 to 90 days"),
        ({"days": 91}, "expires after 1 to 90 days"),
        ({"days": 7.5}, "expires after 1 to 90 days"),
        ({"days": True}, "expires after 1 to 90 days"),
        ({"email": "admin@example.com"}, "already has an account"),
        ({"table": None}, "Permissions are given on a table"),
    ],
)
def test_malformed_invites_are_refused(admin, tables, changes, message):
    asked = {"email": "ann@example.com", "table": tables["orders"], "permissions": ["read"]}
    asked |= changes
    with pytest.raises(invites.InvalidInvite, match=message):
        invites.create_invite(admin, **asked)
    assert not Invite.objects.exists()


# --- finding and accepting ----------------------------------------------------------------------


def test_find_invite_answers_usable_invites_and_says_why_others_are_not(admin, tables):
    invite, token = invites.create_invite(admin, "ann@example.com", tables["orders"])
    assert invites.find_invite(token) == invite
    for bad in ("", "nope", token[:-1], token + "x"):
        with pytest.raises(invites.UnknownInvite, match="This invite link is not valid") as raised:
            invites.find_invite(bad)
        assert raised.value.status == 404

    invite.expires_at = timezone.now() - timedelta(minutes=1)
    invite.save()
    with pytest.raises(invites.ExpiredInvite, match="This invite expired on ") as raised:
        invites.find_invite(token)
    assert raised.value.status == 410
    assert str(timezone.localtime(invite.expires_at).year) in str(raised.value)

    invite.expires_at = timezone.now() + timedelta(days=1)
    invite.used_at = timezone.now()
    invite.save()
    with pytest.raises(invites.UsedInvite, match="This invite has been used already"):
        invites.find_invite(token)


def test_accepting_creates_the_user_with_the_invites_access(owner, tables):
    orders = tables["orders"]
    invite, token = invites.create_invite(owner, "ann@example.com", orders, ["write"])
    user = invites.accept_invite(token, "ann", PASSWORD)

    assert user.email == "ann@example.com" and user.check_password(PASSWORD)
    assert not user.is_staff and not user.is_superuser
    grant = TableGrant.objects.get(table=orders, user=user)
    assert grant.permissions == ["read", "write"]
    fresh = get_user_model().objects.get(pk=user.pk)
    assert access.can(fresh, "write", orders) and not access.can(fresh, "delete", orders)
    assert not access.can(fresh, "read", tables["customers"])
    invite.refresh_from_db()
    assert invite.used_by == user
    assert timezone.now() - invite.used_at < timedelta(seconds=5)


def test_accepting_puts_the_user_into_the_invites_groups(admin, tables):
    sales = Group.objects.create(name="sales")
    TableGrant.objects.create(table=tables["customers"], group=sales, can_read=True)
    _, token = invites.create_invite(admin, "ann@example.com", groups=[sales])
    user = invites.accept_invite(token, "ann", PASSWORD)
    assert list(user.groups.all()) == [sales]
    assert not TableGrant.objects.filter(user=user).exists()
    fresh = get_user_model().objects.get(pk=user.pk)
    assert access.can(fresh, "read", tables["customers"])  # through the group
    assert not access.can(fresh, "read", tables["orders"])


def test_a_token_works_once(owner, tables):
    _, token = invites.create_invite(owner, "ann@example.com", tables["orders"])
    invites.accept_invite(token, "ann", PASSWORD)
    with pytest.raises(invites.UsedInvite, match="This invite has been used already"):
        invites.accept_invite(token, "ann2", PASSWORD)
    assert list(get_user_model().objects.filter(email="ann@example.com")) == [
        get_user_model().objects.get(username="ann")
    ]


def test_two_racing_registrations_get_one_account(owner, tables, monkeypatch):
    """The second request read the invite before the first one claimed it: the claim decides."""
    invite, token = invites.create_invite(owner, "ann@example.com", tables["orders"])
    stale = Invite.objects.select_related("table", "created_by").get(pk=invite.pk)
    first = invites.accept_invite(token, "ann", PASSWORD)

    monkeypatch.setattr(invites, "_locked_invite", lambda _token: stale)
    assert stale.used_at is None  # what the late request saw
    with pytest.raises(invites.UsedInvite):
        invites.accept_invite(token, "ann-again", PASSWORD)

    assert not get_user_model().objects.filter(username="ann-again").exists()
    assert TableGrant.objects.filter(table=tables["orders"]).exclude(user=owner).get().user == first
    assert Invite.objects.get(pk=invite.pk).used_by == first


def test_a_refused_registration_leaves_the_invite_usable(owner, tables):
    _, token = invites.create_invite(owner, "ann@example.com", tables["orders"])
    with pytest.raises(invites.InvalidRegistration) as raised:
        invites.accept_invite(token, "ann", "123")
    assert raised.value.field == "password"
    assert "too short" in str(raised.value)
    with pytest.raises(invites.InvalidRegistration, match="That username is taken") as raised:
        invites.accept_invite(token, "OLGA", PASSWORD)  # case does not make a new name
    assert raised.value.field == "username"
    with pytest.raises(invites.InvalidRegistration, match="Enter a valid username"):
        invites.accept_invite(token, "ann smith!", PASSWORD)
    with pytest.raises(invites.InvalidRegistration, match="Choose a username"):
        invites.accept_invite(token, "  ", PASSWORD)
    assert invites.find_invite(token).used_at is None
    assert invites.accept_invite(token, "ann", PASSWORD).username == "ann"


def test_an_expired_invite_cannot_be_accepted(owner, tables):
    invite, token = invites.create_invite(owner, "ann@example.com", tables["orders"])
    Invite.objects.filter(pk=invite.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(invites.ExpiredInvite):
        invites.accept_invite(token, "ann", PASSWORD)
    assert not get_user_model().objects.filter(username="ann").exists()


def test_an_invite_of_someone_who_lost_ownership_no_longer_works(owner, tables):
    _, token = invites.create_invite(owner, "ann@example.com", tables["orders"], ["owner"])
    TableGrant.objects.filter(user=owner).update(is_owner=False, can_read=True)
    with pytest.raises(invites.UnusableInvite, match="no longer valid") as raised:
        invites.accept_invite(token, "ann", PASSWORD)
    assert raised.value.status == 410
    assert not get_user_model().objects.filter(username="ann").exists()


# --- links and email ----------------------------------------------------------------------------


def test_invite_links_from_a_request_a_starlette_request_or_a_base(db, settings):
    settings.ALLOWED_HOSTS = ["nocoflo.example.com"]
    request = RequestFactory().get("/admin/", HTTP_HOST="nocoflo.example.com", secure=True)
    assert invites.invite_link(request, "t0k") == "https://nocoflo.example.com/accounts/invite/t0k/"
    starlette_like = SimpleNamespace(base_url="http://10.0.0.5:8000/")
    assert invites.invite_link(starlette_like, "t0k") == "http://10.0.0.5:8000/accounts/invite/t0k/"
    assert invites.invite_link("http://h/", "t0k") == "http://h/accounts/invite/t0k/"


def test_the_invitee_is_emailed_the_link(owner, tables, mailoutbox, settings):
    settings.DEFAULT_FROM_EMAIL = "Nocoflo <team@example.com>"
    sent = invites.invite_by_email(
        owner, "https://nocoflo.example.com", "ann@example.com", tables["orders"], ["write"]
    )
    assert sent.emailed and sent.email_problem == ""
    assert sent.link.startswith("https://nocoflo.example.com/accounts/invite/")
    (message,) = mailoutbox
    assert message.to == ["ann@example.com"]
    assert message.from_email == "Nocoflo <team@example.com>"
    assert message.subject == "You are invited to the table orders on Nocoflo"
    assert sent.link in message.body
    assert "olga invited you to the table orders (read, write)" in message.body
    token = sent.link.rstrip("/").rsplit("/", 1)[1]
    assert invites.find_invite(token) == sent.invite


def test_a_failed_email_keeps_the_invite_and_says_so(owner, tables, monkeypatch, caplog):
    def refuse(*args, **kwargs):
        raise smtplib.SMTPException("relay refused")

    monkeypatch.setattr(invites, "send_mail", refuse)
    sent = invites.invite_by_email(owner, "http://h", "ann@example.com", tables["orders"])
    assert not sent.emailed
    assert "could not be sent" in sent.email_problem and "copy the link" in sent.email_problem
    assert Invite.objects.filter(pk=sent.invite.pk).exists()
    token = sent.link.rstrip("/").rsplit("/", 1)[1]
    assert invites.find_invite(token) == sent.invite
    assert "could not email the invite" in caplog.text and "relay refused" in caplog.text


def _email_settings(environment: dict) -> list[str]:
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.EMAIL_BACKEND, s.EMAIL_HOST, s.EMAIL_PORT, s.EMAIL_USE_TLS, s.EMAIL_TIMEOUT, "
        "s.DEFAULT_FROM_EMAIL, sep='|')"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOCOFLO_EMAIL")}
    env.pop("NOCOFLO_FROM_EMAIL", None)
    env |= {"DJANGO_SETTINGS_MODULE": "nocoflo_project.settings", **environment}
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip().split("|")


def test_email_settings_come_from_the_environment():
    backend, *_, timeout, sender = _email_settings({})
    assert backend == "django.core.mail.backends.console.EmailBackend"
    assert timeout == "10" and sender == "Nocoflo <nocoflo@localhost>"
    configured = _email_settings(
        {
            "NOCOFLO_EMAIL_URL": "smtp+tls://me:secret@mail.example.com:587?timeout=3",
            "NOCOFLO_FROM_EMAIL": "data@example.com",
        }
    )
    assert configured == [
        "django.core.mail.backends.smtp.EmailBackend",
        "mail.example.com",
        "587",
        "True",
        "3",
        "data@example.com",
    ]


# --- pending and revoked ------------------------------------------------------------------------


def test_pending_invites_leave_out_used_and_expired_ones(owner, tables, reader):
    orders = tables["orders"]
    waiting, _ = invites.create_invite(owner, "ann@example.com", orders)
    used, token = invites.create_invite(owner, "bob@example.com", orders)
    invites.accept_invite(token, "bob", PASSWORD)
    expired, _ = invites.create_invite(owner, "cat@example.com", orders)
    Invite.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    invites.create_invite(AdminFactory(), "dan@example.com", tables["customers"])
    assert list(invites.pending_invites(owner, orders)) == [waiting]
    with pytest.raises(invites.InviteNotAllowed):
        invites.pending_invites(reader, orders)


def test_the_creator_an_owner_or_an_admin_revokes_an_invite(owner, tables, reader):
    orders = tables["orders"]
    co_owner = UserFactory(username="cora")
    TableGrant.objects.create(table=orders, user=co_owner, is_owner=True)
    revokers = [owner, co_owner, AdminFactory(), staff_with("delete_invite")]
    for revoker in revokers:
        invite, token = invites.create_invite(owner, "ann@example.com", orders)
        with pytest.raises(invites.UnknownInvite, match="No such invite"):
            invites.revoke_invite(reader, invite.pk)  # a reader cannot even tell it exists
        invites.revoke_invite(revoker, invite.pk)
        assert not Invite.objects.filter(pk=invite.pk).exists()
        with pytest.raises(invites.UnknownInvite, match="This invite link is not valid"):
            invites.find_invite(token)
    with pytest.raises(invites.UnknownInvite):
        invites.revoke_invite(owner, 999_999)


def test_a_used_invite_cannot_be_revoked(owner, tables):
    invite, token = invites.create_invite(owner, "ann@example.com", tables["orders"])
    invites.accept_invite(token, "ann", PASSWORD)
    with pytest.raises(invites.UsedInvite):
        invites.revoke_invite(owner, invite.pk)
    assert Invite.objects.filter(pk=invite.pk).exists()
