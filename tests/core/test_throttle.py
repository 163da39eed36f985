"""Sign-in throttling: accounts and addresses locked after repeated failures, through the real
login pages (the Django test client) and the throttle's own functions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.signals import user_login_failed
from django.test import RequestFactory
from django.utils import timezone

from core import throttle
from core.models import SignInFailure
from tests.conftest import PASSWORD
from tests.factories import UserFactory

pytestmark = pytest.mark.integration

LOCKED = "Too many failed sign-ins. Try again in"


@pytest.fixture
def alice(db):
    return UserFactory(username="alice")


@pytest.fixture
def checked_passwords(monkeypatch):
    """Every password check made by a sign-in, by username."""
    from django.contrib.auth.backends import ModelBackend

    seen: list[str] = []
    original = ModelBackend.authenticate

    def spy(self, request, username=None, password=None, **kwargs):
        seen.append(username)
        return original(self, request, username=username, password=password, **kwargs)

    monkeypatch.setattr(ModelBackend, "authenticate", spy)
    return seen


@pytest.fixture
def clock(monkeypatch):
    """Moves timezone.now() (as the throttle sees it) forward."""
    state = {"offset": timedelta()}
    real_now = timezone.now

    def now():
        return real_now() + state["offset"]

    monkeypatch.setattr(timezone, "now", now)

    def advance(**delta):
        state["offset"] += timedelta(**delta)

    return advance


def sign_in(client, username, password, **extra):
    return client.post("/accounts/login/", {"username": username, "password": password}, **extra)


def fail(client, username, times, **extra):
    for _ in range(times):
        response = sign_in(client, username, "wrong password", **extra)
        assert response.status_code == 200
    return response


def signed_in(response) -> bool:
    return response.status_code == 302


def test_five_failures_lock_the_account_even_with_the_right_password(
    client, alice, checked_passwords
):
    page = fail(client, "alice", 4).content.decode()
    assert "That username and password do not match" in page
    assert LOCKED not in page

    fail(client, "alice", 1)
    assert len(checked_passwords) == 5

    response = sign_in(client, "alice", PASSWORD)
    assert not signed_in(response)
    page = response.content.decode()
    assert "Too many failed sign-ins. Try again in 15 minutes." in page
    assert "That username and password do not match" not in page
    assert "_auth_user_id" not in client.session
    # The refused attempt never reached a password check, and is not counted.
    assert len(checked_passwords) == 5
    assert SignInFailure.objects.filter(username="alice").count() == 5


def test_the_lock_holds_from_every_address_and_any_case(client, alice):
    fail(client, "alice", 5, REMOTE_ADDR="192.0.2.1")
    response = sign_in(client, "alice", PASSWORD, REMOTE_ADDR="198.51.100.9")
    assert LOCKED in response.content.decode()
    assert LOCKED in sign_in(client, "ALICE", PASSWORD).content.decode()


def test_other_accounts_are_not_affected(client, alice, db):
    UserFactory(username="bob")
    fail(client, "alice", 5)
    assert signed_in(sign_in(client, "bob", PASSWORD))


def test_the_lock_expires(client, alice, clock):
    fail(client, "alice", 5)
    clock(minutes=10)
    assert "Try again in 5 minutes." in sign_in(client, "alice", PASSWORD).content.decode()
    clock(minutes=4, seconds=30)
    assert "Try again in 1 minute." in sign_in(client, "alice", PASSWORD).content.decode()
    clock(seconds=31)
    assert signed_in(sign_in(client, "alice", PASSWORD))


def test_failures_older_than_the_period_do_not_count(client, alice, clock):
    fail(client, "alice", 4)
    clock(minutes=16)
    fail(client, "alice", 1)
    assert signed_in(sign_in(client, "alice", PASSWORD))


def test_success_clears_the_account_count(client, alice):
    fail(client, "alice", 4)
    assert signed_in(sign_in(client, "alice", PASSWORD))
    assert not SignInFailure.objects.filter(username="alice").exists()
    client.post("/accounts/logout/")
    fail(client, "alice", 4)
    assert signed_in(sign_in(client, "alice", PASSWORD))


def test_an_address_is_refused_after_twenty_failures_across_accounts(client, alice, db):
    for name in ("carol", "dave", "erin", "frank"):
        UserFactory(username=name)
        fail(client, name, 4, REMOTE_ADDR="203.0.113.5")
    fail(client, "ghost", 4, REMOTE_ADDR="203.0.113.5")  # accounts that do not exist count too

    # No account is locked (4 failures each), but the address is, for every account.
    response = sign_in(client, "alice", PASSWORD, REMOTE_ADDR="203.0.113.5")
    assert "Too many failed sign-ins. Try again in 15 minutes." in response.content.decode()
    # The same accounts from another address are fine.
    assert signed_in(sign_in(client, "alice", PASSWORD, REMOTE_ADDR="203.0.113.6"))


def test_x_forwarded_for_is_honoured_only_from_trusted_proxies(client, alice, settings):
    forwarded = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "203.0.113.7"}
    settings.NOCOFLO_SIGNIN_MAX_FAILURES = 100  # only the address limit matters here

    # Untrusted: the failures count against the proxy's own address.
    fail(client, "alice", 20, **forwarded)
    assert set(SignInFailure.objects.values_list("address", flat=True)) == {"10.0.0.2"}
    assert LOCKED in sign_in(client, "alice", PASSWORD, REMOTE_ADDR="10.0.0.2").content.decode()

    # Trusted: the client behind the proxy is counted, so other clients of the proxy pass.
    SignInFailure.objects.all().delete()
    settings.NOCOFLO_TRUSTED_PROXIES = ["10.0.0.2"]
    fail(client, "alice", 20, **forwarded)
    assert set(SignInFailure.objects.values_list("address", flat=True)) == {"203.0.113.7"}
    assert LOCKED in sign_in(client, "alice", PASSWORD, **forwarded).content.decode()
    other = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "203.0.113.8"}
    assert signed_in(sign_in(client, "alice", PASSWORD, **other))


def test_the_admin_login_is_throttled_too(client, admin_user, checked_passwords):
    for _ in range(5):
        client.post("/admin/login/", {"username": "admin", "password": "wrong"})
    response = client.post(
        "/admin/login/?next=/admin/", {"username": "admin", "password": PASSWORD}
    )
    assert response.status_code == 200
    assert "Too many failed sign-ins. Try again in 15 minutes." in response.content.decode()
    assert len(checked_passwords) == 5
    # ... and the login page honours the same lock.
    assert LOCKED in sign_in(client, "admin", PASSWORD).content.decode()


def test_the_settings_set_the_limits(client, alice, settings):
    settings.NOCOFLO_SIGNIN_MAX_FAILURES = 2
    settings.NOCOFLO_SIGNIN_LOCK_MINUTES = 3
    fail(client, "alice", 2)
    assert "Try again in 3 minutes." in sign_in(client, "alice", PASSWORD).content.decode()


# --- The throttle's functions ---------------------------------------------------------------


def request(remote="192.0.2.10", forwarded=None):
    meta = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().post("/accounts/login/", **meta)


@pytest.mark.parametrize(
    "remote, forwarded, trusted, expected",
    [
        ("192.0.2.10", None, [], "192.0.2.10"),
        ("192.0.2.10", "203.0.113.1", [], "192.0.2.10"),  # not a trusted proxy
        ("10.0.0.2", "203.0.113.1", ["10.0.0.2"], "203.0.113.1"),
        ("10.0.0.2", "203.0.113.1, 10.0.0.3", ["10.0.0.2", "10.0.0.3"], "203.0.113.1"),
        # A client's own X-Forwarded-For, extended by the proxy: the proxy's hop is believed.
        ("10.0.0.2", "198.51.100.66, 203.0.113.1", ["10.0.0.2"], "203.0.113.1"),
        ("10.0.0.2", "", ["10.0.0.2"], "10.0.0.2"),
        ("10.0.0.2", "not-an-address", ["10.0.0.2"], "10.0.0.2"),
        ("::1", "2001:db8::7", ["::1"], "2001:db8::7"),
    ],
)
def test_client_address(settings, remote, forwarded, trusted, expected):
    settings.NOCOFLO_TRUSTED_PROXIES = trusted
    assert throttle.client_address(request(remote, forwarded)) == expected


def test_a_lock_lasts_the_period_from_the_failure_that_caused_it(settings):
    settings.NOCOFLO_SIGNIN_LOCK_MINUTES = 15
    start = timezone.now()
    times = [start + timedelta(minutes=m) for m in (0, 1, 2, 3, 4)]
    assert throttle._locked_until(times, 5) == start + timedelta(minutes=19)
    assert throttle._locked_until(times[:4], 5) is None
    # Spread over more than the period: never five within 15 minutes.
    spread = [start + timedelta(minutes=m) for m in (0, 5, 10, 15, 20, 25)]
    assert throttle._locked_until(spread, 5) is None
    # The failures that caused a lock do not count towards the next one.
    after = times + [start + timedelta(minutes=m) for m in (20, 21, 22, 23)]
    assert throttle._locked_until(after, 5) == start + timedelta(minutes=19)


def test_old_failures_are_pruned(db, clock):
    throttle.record_failure(request(), "alice")
    clock(minutes=29)
    throttle.record_failure(request(), "bob")
    assert SignInFailure.objects.count() == 2
    clock(minutes=2)
    throttle.record_failure(request(), "carol")
    assert sorted(SignInFailure.objects.values_list("username", flat=True)) == ["bob", "carol"]


def test_any_failed_password_check_counts(db):
    user_login_failed.send(
        sender=__name__, credentials={"username": "Alice", "password": "****"}, request=request()
    )
    user_login_failed.send(sender=__name__, credentials={"password": "****"}, request=None)
    failure = SignInFailure.objects.get()
    assert (failure.username, failure.address) == ("alice", "192.0.2.10")


def test_refusal_without_a_request_counts_the_account_only(db, settings):
    settings.NOCOFLO_SIGNIN_MAX_FAILURES = 1
    assert throttle.refusal(None, "alice") is None
    throttle.record_failure(None, "alice")
    assert throttle.refusal(None, "alice").startswith(LOCKED)
    assert throttle.refusal(request(), "bob") is None


def test_registering_by_invite_is_not_a_way_around_a_lock(client, alice):
    """The invite page creates a new account and never checks an existing one's password, so it
    cannot be used to guess one; a locked account stays locked."""
    fail(client, "alice", 5)
    response = client.post(
        "/accounts/invite/not-a-token/",
        {"username": "alice", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code != 302
    assert "_auth_user_id" not in client.session
    assert LOCKED in sign_in(client, "alice", PASSWORD).content.decode()
