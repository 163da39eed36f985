"""The invites API: owners and admins invite people onto a table by email, list, revoke."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Router, Schema, Status
from ninja.errors import HttpError

from . import access, invites
from .errors_api import ANY_ERRORS, ErrorOut
from .models import TableMeta

router = Router(tags=["invites"])


class InviteIn(Schema):
    email: str
    permissions: list[str] = ["read"]
    days: int = 7


class InviteCreated(Schema):
    id: int
    email: str
    expires_at: datetime
    # The only time the link is given out: only its hash is kept.
    link: str
    emailed: bool
    message: str


class PendingInvite(Schema):
    id: int
    email: str
    permissions: list[str]
    created_by: str | None
    created_at: datetime
    expires_at: datetime


def _table_to_invite_to(request: HttpRequest, table_id: int) -> TableMeta:
    """The table if the user may invite to it: 404 when they may not read it, 403 when they only
    may read it."""
    table = TableMeta.objects.select_related("datasource").filter(pk=table_id).first()
    if table is None or not table.visible or not access.can(request.user, "read", table):
        raise HttpError(404, "No such table")
    if not (access.can(request.user, "owner", table) or invites.is_admin(request.user)):
        raise HttpError(403, f"Only owners and admins may invite people to {table.label}")
    return table


@router.post(
    "/tables/{table_id}/invites", response={201: InviteCreated, **ANY_ERRORS, 404: ErrorOut}
)
def create_invite(request: HttpRequest, table_id: int, body: InviteIn):
    """Invite someone by email onto the table; the answer holds the link, shown only this once.

    The invite is kept even when the email cannot be sent (`emailed` false, `message` says why).
    """
    table = _table_to_invite_to(request, table_id)
    try:
        sent = invites.invite_by_email(
            request.user, request, body.email, table, body.permissions, days=body.days
        )
    except invites.InviteNotAllowed as exc:
        raise HttpError(403, str(exc)) from None
    except invites.InviteError as exc:
        raise HttpError(422, str(exc)) from None
    message = sent.email_problem or f"The invite was emailed to {sent.invite.email}"
    return Status(
        201,
        {
            "id": sent.invite.pk,
            "email": sent.invite.email,
            "expires_at": sent.invite.expires_at,
            "link": sent.link,
            "emailed": sent.emailed,
            "message": message,
        },
    )


@router.get(
    "/tables/{table_id}/invites", response={200: list[PendingInvite], **ANY_ERRORS, 404: ErrorOut}
)
def list_invites(request: HttpRequest, table_id: int):
    """The table's invites nobody has used yet and that have not expired (no links: never kept)."""
    table = _table_to_invite_to(request, table_id)
    return [
        {
            "id": invite.pk,
            "email": invite.email,
            "permissions": invites.permissions_of(invite),
            "created_by": invite.created_by.get_username() if invite.created_by else None,
            "created_at": invite.created_at,
            "expires_at": invite.expires_at,
        }
        for invite in invites.pending_invites(request.user, table)
    ]


@router.delete(
    "/invites/{invite_id}", response={204: None, **ANY_ERRORS, 404: ErrorOut, 409: ErrorOut}
)
def revoke_invite(request: HttpRequest, invite_id: int):
    """Revoke an unused invite, so its link stops working (its creator, table owners, admins)."""
    try:
        invites.revoke_invite(request.user, invite_id)
    except invites.UsedInvite as exc:
        raise HttpError(409, str(exc)) from None
    except invites.UnknownInvite as exc:
        raise HttpError(404, str(exc)) from None
    return Status(204, None)
