"""Invites in the admin: adding one shows its link once; used invites are history."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.messages import get_messages

from core import invites
from core.models import Invite
from tests.factories import UserFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

ADD = "/admin/core/invite/add/"
PASSWORD = "a long and unusual passphrase"


def change_url(invite) -> str:
    return f"/admin/core/invite/{invite.pk}/change/"


def the_link(response) -> str:
    texts = [str(m) for m in get_messages(response.wsgi_request)]
    (shown,) = [t for t in texts if "shown only this once" in t]
    return re.search(r'href="([^"]+)"', shown)[1]


def test_users_and_groups_are_managed_in_the_admin(admin_client):
    page = admin_client.get("/admin/").content.decode()
    for model in ("/admin/auth/user/", "/admin/auth/group/", "/admin/core/invite/"):
        assert f'href="{model}"' in page
    assert admin_client.get("/admin/auth/user/add/").status_code == 200
    assert admin_client.get("/admin/auth/group/add/").status_code == 200


def test_the_add_form_asks_no_token(admin_client):
    response = admin_client.get(ADD)
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert set(form.fields) == {"email", "table", "permissions", "groups", "days"}
    assert form.fields["permissions"].initial == ["read"] and form.fields["days"].initial == 7


def test_adding_an_invite_emails_it_and_shows_the_link_once(
    admin_client, admin_user, orders_table, mailoutbox
):
    sales = Group.objects.create(name="sales")
    data = {
        "email": "ann@example.com",
        "table": orders_table.pk,
        "permissions": ["write"],
        "groups": [sales.pk],
        "days": "14",
    }
    response = admin_client.post(ADD, data, follow=True)
    assert response.status_code == 200
    link = the_link(response)
    assert link.startswith("http://testserver/accounts/invite/")
    page = response.content.decode()
    assert f'class="invite-link">{link}</a>' in page
    assert "The invite was emailed to ann@example.com." in page

    invite = Invite.objects.get()
    assert invites.find_invite(link.rstrip("/").rsplit("/", 1)[1]) == invite
    assert invite.created_by == admin_user and invite.table == orders_table
    assert invites.permissions_of(invite) == ["read", "write"]
    assert list(invite.groups.all()) == [sales]
    assert 13.9 < (invite.expires_at - invite.created_at).total_seconds() / 86400 < 14.1
    (message,) = mailoutbox
    assert link in message.body

    # The link is not shown again: neither on the list nor on the invite's page.
    for path in ("/admin/core/invite/", change_url(invite)):
        later = admin_client.get(path).content.decode()
        assert link not in later and invite.token_hash not in later
    assert "ann@example.com" in admin_client.get("/admin/core/invite/").content.decode()


def test_an_invite_into_groups_only(admin_client):
    staff = Group.objects.create(name="staff")
    data = {"email": "ann@example.com", "table": "", "permissions": ["read"], "groups": [staff.pk]}
    response = admin_client.post(ADD, data | {"days": "7"}, follow=True)
    assert response.status_code == 200
    invite = Invite.objects.get()
    assert invite.table is None and invites.permissions_of(invite) == []
    assert list(invite.groups.all()) == [staff]
    assert the_link(response)


def test_a_failed_email_is_a_warning_and_the_invite_stays(admin_client, orders_table, monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("no route to host")

    monkeypatch.setattr(invites, "send_mail", refuse)
    data = {"email": "ann@example.com", "table": orders_table.pk, "permissions": ["read"]}
    response = admin_client.post(ADD, data | {"days": "7"}, follow=True)
    levels = {str(m): m.level_tag for m in get_messages(response.wsgi_request)}
    assert any("could not be sent" in text and tag == "warning" for text, tag in levels.items())
    assert Invite.objects.count() == 1
    assert the_link(response)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"email": "not-an-email"}, "Enter a valid email address."),
        ({"days": "120"}, "Ensure this value is less than or equal to 90."),
        ({"email": "admin@example.com"}, "already has an account"),
    ],
)
def test_bad_invites_are_form_errors(admin_client, orders_table, changes, message):
    data = {"email": "ann@example.com", "table": orders_table.pk, "permissions": ["read"]}
    response = admin_client.post(ADD, data | {"days": "7"} | changes)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Invite.objects.exists()


def test_staff_need_the_add_invite_permission(client, orders_table):
    staff = UserFactory(username="stan", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_invite"))
    client.force_login(staff)
    assert client.get(ADD).status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="add_invite"))
    data = {"email": "ann@example.com", "table": orders_table.pk, "permissions": ["read"]}
    response = client.post(ADD, data | {"days": "7"}, follow=True)
    assert the_link(response)
    assert Invite.objects.get().created_by == staff


def test_a_pending_invite_can_be_extended(admin_client, admin_user, orders_table):
    invite, _ = invites.create_invite(admin_user, "ann@example.com", orders_table)
    later = (invite.expires_at + timedelta(days=7)).replace(microsecond=0)
    data = {
        "can_write": "on",
        "expires_at_0": later.strftime("%Y-%m-%d"),
        "expires_at_1": later.strftime("%H:%M:%S"),
    }
    response = admin_client.post(change_url(invite), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    invite.refresh_from_db()
    assert invite.expires_at == later
    assert invites.permissions_of(invite) == ["read", "write"]  # writing includes reading
    assert invite.email == "ann@example.com"  # not editable


def test_used_invites_are_read_only(admin_client, admin_user, orders_table):
    invite, token = invites.create_invite(admin_user, "ann@example.com", orders_table)
    invites.accept_invite(token, "ann", PASSWORD)
    page = admin_client.get(change_url(invite))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="_save"' not in html and 'name="can_write"' not in html
    assert page.context["has_change_permission"] is False
    before = Invite.objects.values().get(pk=invite.pk)
    response = admin_client.post(change_url(invite), {"can_write": "on", "is_owner": "on"})
    assert response.status_code == 403
    assert Invite.objects.values().get(pk=invite.pk) == before
