"""Sign-in throttling: repeated failed sign-ins lock the account, and the address they come from.

Every failed sign-in is a row of `SignInFailure` in the metadata database, so several server
processes count the same failures. The policy (settings, see README):

- NOCOFLO_SIGNIN_MAX_FAILURES (5) failures for one account within NOCOFLO_SIGNIN_LOCK_MINUTES
  (15) lock that account, from any address, for NOCOFLO_SIGNIN_LOCK_MINUTES;
- NOCOFLO_SIGNIN_MAX_FAILURES_PER_ADDRESS (20) failures from one address within that time, on
  any accounts, refuse that address for as long;
- a successful sign-in clears the account's failures.

A refused attempt is answered before its password is checked (the answer says nothing about the
password) and is not itself counted. Failures are recorded from Django's `user_login_failed`
signal, so every password check (the login page, the admin's login) counts; the two sign-in forms
ask `refusal()` first. Rows too old to matter are deleted as new failures come in.
"""

from __future__ import annotations

import ipaddress
import math
from collections import deque
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.exceptions import ValidationError
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils import timezone

from .models import SignInFailure

ADDRESS_LENGTH = SignInFailure._meta.get_field("address").max_length
USERNAME_LENGTH = SignInFailure._meta.get_field("username").max_length


def _period() -> timedelta:
    return timedelta(minutes=settings.NOCOFLO_SIGNIN_LOCK_MINUTES)


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def client_address(request: HttpRequest | None) -> str:
    """The address a request comes from: REMOTE_ADDR, or, when REMOTE_ADDR is one of
    NOCOFLO_TRUSTED_PROXIES, the client's hop of X-Forwarded-For.

    The hops are read from the right, skipping trusted proxies: the first untrusted one is the
    client the proxies saw. For a proxy that sets the header this is its first hop; addresses a
    client put in front of its own request are never believed.
    """
    if request is None:
        return ""
    remote = (request.META.get("REMOTE_ADDR") or "").strip()
    trusted = set(settings.NOCOFLO_TRUSTED_PROXIES)
    if remote in trusted:
        hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        for hop in reversed([hop for hop in hops if hop]):
            if not _is_ip(hop):
                break
            if hop not in trusted:
                return hop[:ADDRESS_LENGTH]
    return remote[:ADDRESS_LENGTH]


def account_key(username: str) -> str:
    """Failures are counted per account name, whatever its case (MySQL's usernames ignore it)."""
    return (username or "").strip().casefold()[:USERNAME_LENGTH]


def _locked_until(times: Iterable[datetime], limit: int) -> datetime | None:
    """When the lock that `times` (failures, oldest first) caused ends, if they caused one.

    `limit` failures within the period lock for the period from the last of them; the failures
    that caused a lock do not count towards the next one.
    """
    period = _period()
    counted: deque[datetime] = deque()
    until = None
    for at in times:
        while counted and counted[0] <= at - period:
            counted.popleft()
        counted.append(at)
        if len(counted) >= limit:
            until = at + period
            counted.clear()
    return until


def _failure_times(now: datetime, **which: str) -> list[datetime]:
    # A failure older than two periods can neither be counted nor still hold a lock.
    since = now - 2 * _period()
    rows = SignInFailure.objects.filter(at__gt=since, **which).order_by("at", "id")
    return list(rows.values_list("at", flat=True))


def locked_until(request: HttpRequest | None, username: str) -> datetime | None:
    """Until when sign-ins as `username` from this request's address are refused (None: they are
    not)."""
    now = timezone.now()
    ends = [
        _locked_until(
            _failure_times(now, username=account_key(username)),
            settings.NOCOFLO_SIGNIN_MAX_FAILURES,
        )
    ]
    address = client_address(request)
    if address:
        ends.append(
            _locked_until(
                _failure_times(now, address=address),
                settings.NOCOFLO_SIGNIN_MAX_FAILURES_PER_ADDRESS,
            )
        )
    current = [end for end in ends if end is not None and end > now]
    return max(current) if current else None


def refusal(request: HttpRequest | None, username: str) -> str | None:
    """The message refusing this sign-in, or None when it may go ahead."""
    until = locked_until(request, username)
    if until is None:
        return None
    minutes = max(1, math.ceil((until - timezone.now()).total_seconds() / 60))
    unit = "minute" if minutes == 1 else "minutes"
    return f"Too many failed sign-ins. Try again in {minutes} {unit}."


def record_failure(request: HttpRequest | None, username: str) -> None:
    """Count a failed sign-in, and forget failures too old to matter."""
    now = timezone.now()
    SignInFailure.objects.filter(at__lte=now - 2 * _period()).delete()
    SignInFailure.objects.create(
        username=account_key(username), address=client_address(request), at=now
    )


def clear(username: str) -> None:
    """Forget an account's failures (it signed in)."""
    SignInFailure.objects.filter(username=account_key(username)).delete()


@receiver(user_login_failed, dispatch_uid="nocoflo-throttle-failure")
def _on_failure(sender, credentials, request=None, **kwargs) -> None:
    username = credentials.get("username")
    if isinstance(username, str) and username:
        record_failure(request, username)


@receiver(user_logged_in, dispatch_uid="nocoflo-throttle-success")
def _on_success(sender, request, user, **kwargs) -> None:
    clear(user.get_username())


class ThrottledSignIn:
    """Refuses a throttled sign-in before its password is checked; mixed into a sign-in form.

    `throttled` holds the refusal's message (the login page shows it instead of its own).
    """

    throttled: str | None = None

    def clean(self):
        username = self.cleaned_data.get("username")
        if username is not None and self.cleaned_data.get("password"):
            self.throttled = refusal(self.request, username)
            if self.throttled:
                raise ValidationError(self.throttled, code="throttled")
        return super().clean()


class SignInForm(ThrottledSignIn, AuthenticationForm):
    """The login page's form (`/accounts/login/`)."""


class AdminSignInForm(ThrottledSignIn, AdminAuthenticationForm):
    """The admin's login form (`/admin/login/`), throttled like the login page."""
