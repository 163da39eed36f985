"""Invites in the Share dialog: an owner invites by email, sees the link once, revokes invites."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from nicegui import ui
from nicegui.testing import User

from core import invites
from core.models import Invite, TableGrant
from tests.factories import UserFactory

from .conftest import (
    dialog_texts,
    in_dialog,
    page_db,
    record_javascript,
    settle,
    sign_in,
    until,
)

pytestmark = pytest.mark.integration


def _owner(table, username: str = "olga"):
    user = UserFactory(username=username)
    TableGrant.objects.create(table=table, user=user, is_owner=True)
    return user


@pytest.fixture
def orders(demo_source):
    return demo_source.tables.get(name="orders")


async def open_share(user: User, table) -> None:
    await user.open(f"/tables/{table.pk}")
    user.find(kind=ui.button, content="Share").click()
    # The dialog opens once the grants are read (in a thread): wait for it, however busy.
    await user.should_see(f"Share {table.label}")


async def start_invite(user: User, email: str) -> None:
    in_dialog(user, ui.button, "New invite").click()
    await settle()
    user.find(marker="invite-email").type(email)


def the_link(user: User) -> str:
    (label,) = user.find(marker="invite-link").elements
    return label.text


@page_db
async def test_an_owner_invites_by_email_and_sees_the_link_once(user: User, orders, mailoutbox):
    owner = await sync_to_async(_owner)(orders)
    await sign_in(user, owner)
    await open_share(user, orders)
    await user.should_see("Invite by email")
    await user.should_see("No invites are waiting.")
    await start_invite(user, "ann@example.com")
    boxes = {p: user.find(marker=f"invite-{p}").elements.pop() for p in invites.PERMISSIONS}
    assert {p: b.value for p, b in boxes.items()} == {
        "read": True,
        "write": False,
        "delete": False,
        "owner": False,
    }
    boxes["write"].value = True
    user.find(marker="invite-days").elements.pop().value = 3.0
    user.find(marker="send-invite").click()
    await settle(0.3)

    invite = await sync_to_async(Invite.objects.get)()
    assert invite.email == "ann@example.com" and invite.created_by_id == owner.pk
    assert invites.permissions_of(invite) == ["read", "write"]
    assert 2.9 < (invite.expires_at - invite.created_at).total_seconds() / 86400 < 3.1
    link = the_link(user)
    assert "/accounts/invite/" in link
    token = link.rstrip("/").rsplit("/", 1)[1]
    assert (await sync_to_async(invites.find_invite)(token)).pk == invite.pk
    (message,) = mailoutbox
    assert message.to == ["ann@example.com"] and link in message.body
    await user.should_see("The invite was emailed to ann@example.com")
    await user.should_see("Copy the link now: it is shown only this once.")
    await user.should_see("ann@example.com: read, write, until")  # pending

    sent = record_javascript(user)
    user.find(kind=ui.button, content="content_copy").click()
    await settle()
    assert any(link in code and "clipboard" in code for code in sent)

    # Opened again, the dialog lists the invite but no longer holds its link.
    in_dialog(user, ui.button, "Cancel").click()
    await settle()
    user.find(kind=ui.button, content="Share").click()
    await settle()
    # The dialog reads its invites when it opens; a busy machine shows them later.
    await until(
        lambda: any(t.startswith("ann@example.com: read, write") for t in dialog_texts(user)), 10
    )
    texts = dialog_texts(user)
    assert any(text.startswith("ann@example.com: read, write") for text in texts)
    assert not any(link in text for text in texts)


@page_db
async def test_a_bad_invite_says_why_and_creates_nothing(user: User, orders, mailoutbox):
    owner = await sync_to_async(_owner)(orders)
    await sign_in(user, owner)
    await open_share(user, orders)
    await start_invite(user, "not an email")
    user.find(marker="send-invite").click()
    await user.should_see("'not an email' is not an email address")
    user.find(marker="invite-email").elements.pop().value = "ann@example.com"
    user.find(marker="invite-read").elements.pop().value = False
    user.find(marker="send-invite").click()
    await user.should_see("Choose at least one permission")
    user.find(marker="invite-read").elements.pop().value = True
    user.find(marker="invite-days").elements.pop().value = 91
    user.find(marker="send-invite").click()
    await user.should_see("An invite expires after 1 to 90 days")
    assert await sync_to_async(Invite.objects.count)() == 0
    assert mailoutbox == []


@page_db
async def test_a_failed_email_still_shows_the_link(user: User, orders, monkeypatch, caplog):
    def refuse(*args, **kwargs):
        raise OSError("connection refused")

    monkeypatch.setattr(invites, "send_mail", refuse)
    owner = await sync_to_async(_owner)(orders)
    await sign_in(user, owner)
    await open_share(user, orders)
    await start_invite(user, "ann@example.com")
    user.find(marker="send-invite").click()
    await settle(0.3)
    await user.should_see("The email to ann@example.com could not be sent")
    assert "/accounts/invite/" in the_link(user)
    assert await sync_to_async(Invite.objects.count)() == 1
    assert any("could not email the invite" in r.getMessage() for r in caplog.records)
    caplog.clear()  # logged on purpose


@page_db
async def test_an_owner_revokes_a_pending_invite(user: User, orders):
    owner = await sync_to_async(_owner)(orders)
    _, token = await sync_to_async(invites.create_invite)(owner, "ann@example.com", orders)
    await sign_in(user, owner)
    await open_share(user, orders)
    await user.should_see("ann@example.com: read, until")
    user.find(marker="revoke-invite").click()
    await settle(0.2)
    await user.should_see("The invite for ann@example.com was revoked; its link no longer works")
    await user.should_see("No invites are waiting.")
    assert await sync_to_async(Invite.objects.count)() == 0
    with pytest.raises(invites.UnknownInvite):
        await sync_to_async(invites.find_invite)(token)


@page_db
async def test_inviting_rechecks_ownership(user: User, orders):
    owner = await sync_to_async(_owner)(orders)
    await sign_in(user, owner)
    await open_share(user, orders)
    await start_invite(user, "ann@example.com")
    await sync_to_async(TableGrant.objects.filter(user=owner).update)(is_owner=False)
    user.find(marker="send-invite").click()
    await user.should_see("Only owners and admins may invite people to orders")
    assert await sync_to_async(Invite.objects.count)() == 0
