"""API tokens: programs send `Authorization: Bearer nf_...` and act as the token's user.

A token is `nf_` and 32 random bytes (URL-safe base64). Only its SHA-256 digest is kept: a fast
hash is enough for a secret that long (nobody can guess it), and a lookup by digest compares
nothing character by character, so it leaks no timing. The token is shown once, when made.

A read token may only read (GET, HEAD, OPTIONS); a write token may do whatever its user may.
Either way the user's own table rights apply (core.access), as if they were signed in.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja.errors import HttpError
from ninja.security import HttpBearer

from .models import ApiToken

TOKEN_PREFIX = "nf_"
NAME_LENGTH = ApiToken._meta.get_field("name").max_length
# `last_used_at` is written at most this often per token, not on every request.
LAST_USED_EVERY = timedelta(minutes=1)
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class TokenError(Exception):
    """A token cannot be made or changed as asked; the message says why."""


def digest_of(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def create_token(user: Any, name: str, write: bool = False) -> tuple[ApiToken, str]:
    """A new token for `user`: (the stored token, the plaintext to show once)."""
    name = (name or "").strip()
    if not name:
        raise TokenError("Give the token a name")
    if len(name) > NAME_LENGTH:
        raise TokenError(f"A token's name has at most {NAME_LENGTH} characters")
    if user is None or not user.is_authenticated or not user.is_active:
        raise TokenError("Only active users have tokens")
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name,
        can_write=bool(write),
        prefix=plaintext[:8],
        digest=digest_of(plaintext),
    )
    return token, plaintext


def tokens_of(user: Any) -> list[ApiToken]:
    """The user's tokens, newest first, revoked ones included."""
    return list(ApiToken.objects.filter(user=user))


def revoke(token: ApiToken, by: Any) -> ApiToken:
    """Revoke `token` (its user, or an admin: a superuser or whoever may change tokens in the
    admin); revoking twice keeps the first time."""
    if by is None or not by.is_authenticated or not by.is_active:
        raise TokenError("Sign in first")
    if token.user_id != by.pk and not by.has_perm("core.change_apitoken"):
        raise TokenError("You may only revoke your own tokens")
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=token.revoked_at
        )
    return token


def revoke_own(user: Any, token_id: int) -> ApiToken | None:
    """Revoke one of `user`'s own tokens by id; None when they have no such token."""
    token = ApiToken.objects.filter(pk=token_id, user=user).first()
    if token is None:
        return None
    return revoke(token, user)


def authenticate(plaintext: str) -> ApiToken | None:
    """The live token `plaintext` is (with its user), or None: unknown, revoked, or its user
    is inactive. Notes when it was used, at most once a minute."""
    if not plaintext or not plaintext.startswith(TOKEN_PREFIX) or len(plaintext) > 200:
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(digest=digest_of(plaintext), revoked_at__isnull=True)
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_EVERY:
        token.last_used_at = now
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


def token_of(request: HttpRequest) -> ApiToken | None:
    """The token a request of the API was authenticated by (None for a browser session)."""
    auth = getattr(request, "auth", None)
    return auth if isinstance(auth, ApiToken) else None


class TokenAuth(HttpBearer):
    """The API's bearer authentication: the request acts as the token's user.

    Without an `Authorization: Bearer` header it steps aside, for the session (and its CSRF
    check). With one, a token that does not work is refused (401) rather than falling back to
    the session; a read token is refused any method but GET, HEAD and OPTIONS (403). Token
    requests need no CSRF token: no browser sends one by itself.
    """

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken:
        found = authenticate(token.strip())
        if found is None:
            raise HttpError(401, "This API token is not valid: it is unknown or revoked")
        if not found.can_write and request.method not in READ_METHODS:
            raise HttpError(403, "This token may only read")
        request.user = found.user
        return found
