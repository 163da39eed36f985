"""The API tokens API: a signed-in user lists, makes and revokes their own tokens.

Only a browser session may do this (with CSRF on writes): a token never makes or revokes tokens.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Router, Schema, Status
from ninja.errors import HttpError
from ninja.security import SessionAuth

from . import tokens
from .errors_api import ANY_ERRORS, ErrorOut
from .models import ApiToken


class SessionOnly(SessionAuth):
    """The session, never a bearer token: a request with a token is refused outright."""

    def __call__(self, request: HttpRequest) -> Any:
        if request.headers.get("Authorization", "").lower().startswith("bearer"):
            raise HttpError(403, "API tokens cannot manage tokens: sign in to do that")
        return super().__call__(request)


router = Router(tags=["tokens"], auth=SessionOnly())


class TokenIn(Schema):
    name: str
    scopes: list[Literal["read", "write"]] = ["read"]


class TokenOut(Schema):
    id: int
    name: str
    scopes: list[str]
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked: bool
    revoked_at: datetime | None


class TokenCreated(TokenOut):
    # The only time the token is given out: only its digest is kept.
    token: str


def _out(token: ApiToken) -> dict:
    return {
        "id": token.pk,
        "name": token.name,
        "scopes": token.scopes,
        "prefix": token.prefix,
        "created_at": token.created_at,
        "last_used_at": token.last_used_at,
        "revoked": token.revoked,
        "revoked_at": token.revoked_at,
    }


@router.get("/tokens", response={200: list[TokenOut], **ANY_ERRORS})
def list_tokens(request: HttpRequest):
    """Your tokens, newest first, revoked ones included (never the tokens themselves)."""
    return [_out(token) for token in tokens.tokens_of(request.user)]


@router.post("/tokens", response={201: TokenCreated, **ANY_ERRORS})
def create_token(request: HttpRequest, body: TokenIn):
    """Make a token: `scopes` ["read"] or ["read", "write"]. The answer holds the token, shown
    only this once."""
    try:
        token, plaintext = tokens.create_token(request.user, body.name, "write" in body.scopes)
    except tokens.TokenError as exc:
        raise HttpError(422, str(exc)) from None
    return Status(201, {**_out(token), "token": plaintext})


@router.delete("/tokens/{token_id}", response={204: None, **ANY_ERRORS, 404: ErrorOut})
def revoke_token(request: HttpRequest, token_id: int):
    """Revoke one of your tokens: it stops working at once (404 for anyone else's)."""
    if tokens.revoke_own(request.user, token_id) is None:
        raise HttpError(404, "No such token")
    return Status(204, None)
