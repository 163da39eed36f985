"""API tokens (core.tokens): made hashed, shown once, authenticated by digest, revoked."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from core import tokens
from core.models import ApiToken
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_a_token_is_stored_as_a_digest_only(ann):
    token, plaintext = tokens.create_token(ann, "  backup script ", write=False)
    assert plaintext.startswith("nf_") and len(plaintext) >= 3 + 43
    stored = ApiToken.objects.get()
    assert stored.pk == token.pk and stored.user == ann and stored.name == "backup script"
    assert stored.digest == hashlib.sha256(plaintext.encode()).hexdigest()
    assert stored.prefix == plaintext[:8] and stored.scopes == ["read"]
    # The plaintext is nowhere in the row.
    for value in ApiToken.objects.values_list().get():
        assert plaintext not in str(value)
    assert plaintext[8:] not in str(list(ApiToken.objects.values_list()))


def test_each_token_is_different_and_write_is_a_scope(ann):
    _, first = tokens.create_token(ann, "one")
    token, second = tokens.create_token(ann, "two", write=True)
    assert first != second
    assert token.scopes == ["read", "write"] and token.can_write


@pytest.mark.parametrize(
    "name, message", [("", "Give the token a name"), ("x" * 101, "at most 100 characters")]
)
def test_a_token_needs_a_name(ann, name, message):
    with pytest.raises(tokens.TokenError, match=message):
        tokens.create_token(ann, name)
    assert not ApiToken.objects.exists()


def test_an_inactive_user_gets_no_token(ann):
    ann.is_active = False
    ann.save()
    with pytest.raises(tokens.TokenError):
        tokens.create_token(ann, "x")


def test_authenticate_finds_the_live_token(ann):
    token, plaintext = tokens.create_token(ann, "x")
    found = tokens.authenticate(plaintext)
    assert found.pk == token.pk and found.user == ann
    assert tokens.authenticate(plaintext + "x") is None
    assert tokens.authenticate(plaintext[:-1]) is None
    assert tokens.authenticate("nf_unknown") is None
    assert tokens.authenticate("") is None
    assert tokens.authenticate(plaintext.removeprefix("nf_")) is None


def test_a_revoked_token_stops_working(ann):
    token, plaintext = tokens.create_token(ann, "x")
    tokens.revoke(token, ann)
    assert tokens.authenticate(plaintext) is None
    revoked_at = ApiToken.objects.get().revoked_at
    assert revoked_at is not None
    # Revoking again keeps the first time.
    tokens.revoke(ApiToken.objects.get(), ann)
    assert ApiToken.objects.get().revoked_at == revoked_at


def test_an_inactive_users_token_stops_working(ann):
    _, plaintext = tokens.create_token(ann, "x")
    ann.is_active = False
    ann.save()
    assert tokens.authenticate(plaintext) is None


def test_only_the_user_or_an_admin_revokes(ann, bob, admin_user):
    token, plaintext = tokens.create_token(ann, "x")
    with pytest.raises(tokens.TokenError, match="only revoke your own"):
        tokens.revoke(token, bob)
    assert tokens.revoke_own(bob, token.pk) is None
    assert tokens.authenticate(plaintext) is not None
    tokens.revoke(token, admin_user)
    assert tokens.authenticate(plaintext) is None


def test_staff_who_may_change_tokens_revoke_them(ann):
    staff = UserFactory(username="staff", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="change_apitoken"))
    token, _ = tokens.create_token(ann, "x")
    assert tokens.revoke(token, staff).revoked


def test_last_used_is_written_at_most_once_a_minute(ann, django_assert_num_queries):
    token, plaintext = tokens.create_token(ann, "x")
    assert token.last_used_at is None
    with django_assert_num_queries(2):  # the lookup and the note
        tokens.authenticate(plaintext)
    first = ApiToken.objects.get().last_used_at
    assert first is not None and timezone.now() - first < timedelta(seconds=10)
    with django_assert_num_queries(1):  # the lookup only
        tokens.authenticate(plaintext)
    assert ApiToken.objects.get().last_used_at == first
    ApiToken.objects.update(last_used_at=first - timedelta(minutes=2))
    tokens.authenticate(plaintext)
    assert ApiToken.objects.get().last_used_at > first - timedelta(minutes=2)


def test_tokens_of_lists_a_users_own_newest_first(ann, bob):
    older, _ = tokens.create_token(ann, "older")
    newer, _ = tokens.create_token(ann, "newer")
    tokens.create_token(bob, "bob's")
    assert [t.name for t in tokens.tokens_of(ann)] == ["newer", "older"]


# --- the admin ----------------------------------------------------------------------------------


def test_the_admin_lists_tokens_without_digests_and_revokes(admin_client, ann):
    token, plaintext = tokens.create_token(ann, "ann's script", write=True)
    listing = admin_client.get("/admin/core/apitoken/")
    assert listing.status_code == 200
    page = listing.content.decode()
    assert "ann&#x27;s script" in page and token.prefix in page and "read, write" in page
    assert token.digest not in page and plaintext not in page
    detail = admin_client.get(f"/admin/core/apitoken/{token.pk}/change/").content.decode()
    assert token.digest not in detail and plaintext not in detail
    assert admin_client.get("/admin/core/apitoken/add/").status_code == 403

    answer = admin_client.post(
        "/admin/core/apitoken/",
        {"action": "revoke_tokens", "_selected_action": [token.pk]},
        follow=True,
    )
    assert answer.status_code == 200 and "Revoked 1 token." in answer.content.decode()
    assert tokens.authenticate(plaintext) is None
