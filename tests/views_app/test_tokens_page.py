"""The API tokens page (/account/tokens) in the simulated browser."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from nicegui import ElementFilter, ui
from nicegui.testing import User
from nicegui.testing.user_interaction import UserInteraction

from core import tokens
from core.models import ApiToken
from tests.factories import UserFactory
from views_app.pages.tokens import SHOWN_ONCE

from .conftest import in_dialog, open_dialog, page_db, record_javascript, settle, sign_in, until

pytestmark = pytest.mark.integration


@sync_to_async
def make_user(name: str):
    return UserFactory(username=name)


@sync_to_async
def stored() -> list[ApiToken]:
    return list(ApiToken.objects.order_by("pk"))


@sync_to_async
def works(plaintext: str) -> bool:
    return tokens.authenticate(plaintext) is not None


def marked(user: User, marker: str) -> list:
    """The page's elements with `marker` (none is no error, unlike `user.find`)."""
    with user:
        return list(ElementFilter(marker=marker, local_scope=False))


def the_token(user: User) -> str:
    (label,) = marked(user, "new-token")
    return label.text


def has_dialog(user: User) -> bool:
    try:
        open_dialog(user)
    except AssertionError:
        return False
    return True


async def create(user: User, name: str, write: bool = False) -> str:
    """Make a token on the page; answers the token the dialog shows."""
    user.find(marker="new-token-button").click()
    await until(lambda: has_dialog(user))
    in_dialog(user, ui.input, "Name").type(name)
    if write:
        in_dialog(user, ui.checkbox).click()
    in_dialog(user, ui.button, "Create").click()
    await until(lambda: bool(marked(user, "new-token")))
    return the_token(user)


async def test_signed_out_the_page_sends_to_sign_in(user: User):
    response = await user.http_client.get("/account/tokens", follow_redirects=False)
    assert response.status_code == 302
    assert response.headers["location"] == "/accounts/login/?next=/account/tokens"


@page_db
async def test_the_user_menu_opens_the_page(user: User, monkeypatch):
    account = await make_user("ann")
    await sign_in(user, account)
    await user.open("/")
    targets: list[str] = []
    monkeypatch.setattr(user.navigate, "to", lambda target, new_tab=False: targets.append(target))
    items = {
        item
        for item in user.find(ui.menu_item).elements
        if any(getattr(child, "text", None) == "API tokens" for child in item.descendants())
    }
    assert items
    UserInteraction(user, items, None).click()
    assert targets == ["/account/tokens"]


@page_db
async def test_a_user_makes_a_token_sees_it_once_and_revokes_it(user: User):
    account = await make_user("ann")
    await sign_in(user, account)
    await user.open("/account/tokens")
    await user.should_see("You have no API tokens yet.")

    plaintext = await create(user, "nightly export", write=True)
    assert plaintext.startswith("nf_")
    await user.should_see(SHOWN_ONCE)
    (token,) = await stored()
    assert token.user_id == account.pk and token.name == "nightly export" and token.can_write
    assert token.prefix == plaintext[:8] and plaintext not in (token.digest, token.prefix)
    assert await works(plaintext)

    # The copy button puts it on the clipboard.
    sent = record_javascript(user)
    user.find(marker="copy-token").click()
    await settle()
    assert any(plaintext in code and "clipboard" in code for code in sent), sent

    # Done: the dialog goes, and the token with it; the list shows only its prefix.
    user.find(marker="token-done").click()
    await until(lambda: not marked(user, "new-token"))
    assert not marked(user, "new-token")
    await user.should_see("nightly export")
    await user.should_see("read, write")
    await user.should_see(f"{plaintext[:8]}…")
    await user.should_not_see(plaintext)

    # A reload shows the token no more.
    await user.open("/account/tokens")
    await user.should_see("nightly export")
    await user.should_not_see(plaintext)

    # Revoke asks first; Cancel keeps it.
    user.find(marker="revoke-token").click()
    await user.should_see("Revoke nightly export?")
    in_dialog(user, ui.button, "Cancel").click()
    await settle()
    assert await works(plaintext)

    user.find(marker="revoke-token").click()
    await user.should_see("Revoke nightly export?")
    in_dialog(user, ui.button, "Revoke").click()
    await user.should_see("nightly export was revoked; it no longer works")
    assert not await works(plaintext)
    (token,) = await stored()
    assert token.revoked_at is not None
    await user.should_see("revoked")
    assert not marked(user, "revoke-token")


@page_db
async def test_a_read_token_and_a_nameless_one(user: User):
    account = await make_user("ann")
    await sign_in(user, account)
    await user.open("/account/tokens")
    user.find(marker="new-token-button").click()
    await until(lambda: has_dialog(user))
    in_dialog(user, ui.button, "Create").click()
    await user.should_see("Give the token a name")
    assert await stored() == []

    in_dialog(user, ui.input, "Name").type("reports")
    in_dialog(user, ui.button, "Create").click()
    await until(lambda: bool(marked(user, "new-token")))
    (token,) = await stored()
    assert not token.can_write and token.scopes == ["read"]


@page_db
async def test_the_page_lists_only_the_users_own_tokens(user: User):
    ann = await make_user("ann")
    bob = await make_user("bob")
    await sync_to_async(tokens.create_token)(ann, "ann's token")
    await sync_to_async(tokens.create_token)(bob, "bob's token")
    await sign_in(user, ann)
    await user.open("/account/tokens")
    await user.should_see("ann's token")
    await user.should_not_see("bob's token")


@page_db
async def test_handlers_ask_who_is_signed_in_again(user: User):
    account = await make_user("ann")
    _, plaintext = await sync_to_async(tokens.create_token)(account, "old")
    await sign_in(user, account)
    await user.open("/account/tokens")
    await user.should_see("old")

    # Deactivated while the page is open: the page does nothing more for them.
    account.is_active = False
    await sync_to_async(account.save)()
    user.find(marker="revoke-token").click()
    await user.should_see("Revoke old?")
    in_dialog(user, ui.button, "Revoke").click()
    await user.should_see("Sign in again to manage your tokens")
    (token,) = await stored()
    assert token.revoked_at is None

    user.find(marker="new-token-button").click()
    await until(lambda: has_dialog(user))
    in_dialog(user, ui.input, "Name").type("new")
    in_dialog(user, ui.button, "Create").click()
    await user.should_see("Sign in again to manage your tokens")
    assert len(await stored()) == 1
