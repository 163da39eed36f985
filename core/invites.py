"""Invites: someone registers through a link that works once, and starts with the access it gives.

Admins (superusers, or staff with the *Can add invite* permission) invite anyone, onto any table
and into groups; a table's owners invite people onto their own table. Only the sha256 of a token
is stored, so the link is shown once, to its creator, and mailed to the invitee.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import dateformat, timezone

from . import access
from .models import Invite, TableGrant, TableMeta

log = logging.getLogger("nocoflo.invites")

PERMISSIONS = ("read", "write", "delete", "owner")
_FLAGS = {"read": "can_read", "write": "can_write", "delete": "can_delete", "owner": "is_owner"}
MIN_DAYS, MAX_DAYS = 1, 90


class InviteError(Exception):
    """Something about an invite went wrong; the message is meant for the person who asked."""


class InviteNotAllowed(InviteError):
    """The user may not create (or revoke, or list) this invite."""


class InvalidInvite(InviteError):
    """The invite asked for is malformed: a bad email, an unknown permission, a bad expiry."""


class UnusableInvite(InviteError):
    """A link that cannot be used (any more); `status` is the HTTP status that fits."""

    status = 410


class UnknownInvite(UnusableInvite):
    status = 404


class ExpiredInvite(UnusableInvite):
    pass


class UsedInvite(UnusableInvite):
    pass


class InvalidRegistration(InviteError):
    """The username or password the invitee chose is refused; `field` says which."""

    def __init__(self, field: str, messages: list[str]) -> None:
        super().__init__(" ".join(messages))
        self.field = field
        self.messages = messages


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def is_admin(user: Any) -> bool:
    """Who may invite anyone onto any table and into groups."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    return user.is_superuser or (user.is_staff and user.has_perm("core.add_invite"))


def permissions_of(invite: Invite) -> list[str]:
    """The permissions a table invite gives, as the API names them."""
    return [name for name, field in _FLAGS.items() if getattr(invite, field)]


def _may_invite(user: Any, table: TableMeta | None, groups: list[Group]) -> bool:
    if is_admin(user):
        return True
    return table is not None and not groups and access.can(user, "owner", table)


def _clean_email(email: str) -> str:
    email = get_user_model().objects.normalize_email((email or "").strip())
    try:
        validate_email(email)
    except ValidationError:
        raise InvalidInvite(
            f"{email!r} is not an email address" if email else "Type an email address"
        ) from None
    return email


def _clean_permissions(
    table: TableMeta | None, permissions: Iterable[str] | None
) -> dict[str, bool]:
    chosen = list(permissions or ())
    unknown = [p for p in chosen if p not in _FLAGS]
    if unknown:
        raise InvalidInvite(f"Unknown permission {unknown[0]!r}: use {', '.join(PERMISSIONS)}")
    if table is None:
        if chosen:
            raise InvalidInvite("Permissions are given on a table: choose the table too")
        return {field: False for field in _FLAGS.values()}
    if not chosen:
        raise InvalidInvite("Choose at least one permission")
    flags = {field: name in chosen for name, field in _FLAGS.items()}
    # As with grants, writing, deleting and owning all include reading.
    flags["can_read"] = True
    return flags


def _clean_days(days: Any) -> int:
    if isinstance(days, bool) or not isinstance(days, int) or not MIN_DAYS <= days <= MAX_DAYS:
        raise InvalidInvite(f"An invite expires after {MIN_DAYS} to {MAX_DAYS} days")
    return days


def check_invite(
    created_by: Any,
    email: str,
    table: TableMeta | None = None,
    permissions: Iterable[str] | None = None,
    groups: Iterable[Group] = (),
    days: Any = 7,
) -> tuple[str, dict[str, bool], int]:
    """InviteError when `created_by` may not create this invite or it is malformed; otherwise
    the normalized email, the permission flags and the days."""
    groups = list(groups)
    if permissions is None and table is not None:
        permissions = ["read"]
    if not _may_invite(created_by, table, groups):
        if table is not None and groups and access.can(created_by, "owner", table):
            raise InviteNotAllowed("Only admins may invite people into groups")
        if table is not None:
            raise InviteNotAllowed(f"Only owners and admins may invite people to {table.label}")
        raise InviteNotAllowed("Only admins may invite people without a table")
    email = _clean_email(email)
    flags = _clean_permissions(table, permissions)
    days = _clean_days(days)
    if get_user_model().objects.filter(email__iexact=email).exists():
        raise InvalidInvite(f"{email} already has an account: share the table with them instead")
    return email, flags, days


def create_invite(
    created_by: Any,
    email: str,
    table: TableMeta | None = None,
    permissions: Iterable[str] | None = None,
    groups: Iterable[Group] = (),
    days: int = 7,
) -> tuple[Invite, str]:
    """A new invite and its token (shown once, never stored); InviteError says why not.

    `permissions` default to read on a table invite; an invite without a table gives only what
    its groups have.
    """
    groups = list(groups)
    email, flags, days = check_invite(created_by, email, table, permissions, groups, days)
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        invite = Invite.objects.create(
            email=email,
            token_hash=hash_token(token),
            created_by=created_by,
            expires_at=timezone.now() + timedelta(days=days),
            table=table,
            **flags,
        )
        if groups:
            invite.groups.set(groups)
    return invite, token


def _when(moment: Any) -> str:
    return dateformat.format(timezone.localtime(moment), "j F Y, H:i T")


def _check_usable(invite: Invite | None) -> Invite:
    if invite is None:
        raise UnknownInvite("This invite link is not valid")
    if invite.used_at is not None:
        raise UsedInvite("This invite has been used already")
    if invite.expires_at <= timezone.now():
        raise ExpiredInvite(
            f"This invite expired on {_when(invite.expires_at)}. Ask for a new one."
        )
    # Someone who lost their rights since inviting no longer gives them away.
    if not _may_invite(invite.created_by, invite.table, list(invite.groups.all())):
        raise UnusableInvite(
            "This invite is no longer valid: whoever sent it may no longer give this access."
        )
    return invite


def find_invite(token: str) -> Invite:
    """The invite of a token, if it can still be used; otherwise UnusableInvite says why."""
    if not token:
        raise UnknownInvite("This invite link is not valid")
    found = Invite.objects.select_related("table", "created_by").filter(
        token_hash=hash_token(token)
    )
    return _check_usable(found.first())


def _locked_invite(token: str) -> Invite | None:
    """The invite, locked until the transaction ends (one registration per token)."""
    return (
        # No joins: PostgreSQL cannot lock the nullable side of one, MariaDB has no FOR UPDATE OF.
        Invite.objects.select_for_update().filter(token_hash=hash_token(token)).first()
    )


def check_registration(email: str, username: str, password: str) -> None:
    """InvalidRegistration when the username is taken or malformed, or the password too weak."""
    users = get_user_model()
    username_field = users._meta.get_field(users.USERNAME_FIELD)
    username = users.normalize_username(username or "")
    if not username.strip():
        raise InvalidRegistration("username", ["Choose a username"])
    try:
        username_field.run_validators(username)
    except ValidationError as exc:
        raise InvalidRegistration("username", exc.messages) from None
    if users.objects.filter(**{f"{users.USERNAME_FIELD}__iexact": username}).exists():
        raise InvalidRegistration("username", ["That username is taken: choose another one"])
    try:
        password_validation.validate_password(
            password, users(**{users.USERNAME_FIELD: username, "email": email})
        )
    except ValidationError as exc:
        raise InvalidRegistration("password", exc.messages) from None


def accept_invite(token: str, username: str, password: str) -> Any:
    """Register the invitee and give them the invite's access; answers the new user.

    The invite is claimed inside the same transaction that creates the account, so a token works
    exactly once even when two registrations race, and a failed registration leaves it usable.
    """
    users = get_user_model()
    with transaction.atomic():
        invite = _check_usable(_locked_invite(token))
        check_registration(invite.email, username, password)
        now = timezone.now()
        # The lock above is a no-op on SQLite: claiming only an unused invite decides the race.
        claimed = Invite.objects.filter(pk=invite.pk, used_at__isnull=True).update(used_at=now)
        if not claimed:
            raise UsedInvite("This invite has been used already")
        try:
            with transaction.atomic():
                user = users.objects.create_user(
                    users.normalize_username(username), email=invite.email, password=password
                )
        except IntegrityError:
            raise InvalidRegistration(
                "username", ["That username is taken: choose another one"]
            ) from None
        if invite.table_id is not None:
            _grant(invite, user)
        groups = list(invite.groups.all())
        if groups:
            user.groups.add(*groups)
        Invite.objects.filter(pk=invite.pk).update(used_by=user)
    log.info("%s registered through the invite %s", user.get_username(), invite.pk)
    return user


def _grant(invite: Invite, user: Any) -> None:
    """The invite's permissions on its table, added to any grant the user has there."""
    grant, _ = TableGrant.objects.get_or_create(
        table_id=invite.table_id, user=user, defaults={"can_read": False}
    )
    for field in _FLAGS.values():
        if getattr(invite, field):
            setattr(grant, field, True)
    if grant.can_write or grant.can_delete or grant.is_owner:
        grant.can_read = True
    grant.save()


def invite_link(request_or_base: Any, token: str) -> str:
    """The absolute link of a token, for a Django request, a Starlette request or a base URL."""
    path = reverse("invite", args=[token])
    if hasattr(request_or_base, "build_absolute_uri"):
        return request_or_base.build_absolute_uri(path)
    base = str(getattr(request_or_base, "base_url", request_or_base) or "")
    return base.rstrip("/") + path


def _message(invite: Invite, link: str) -> tuple[str, str]:
    inviter = invite.created_by.get_username() if invite.created_by else "An administrator"
    if invite.table is not None:
        subject = f"You are invited to the table {invite.table.label} on Nocoflo"
        what = f"the table {invite.table.label} ({', '.join(permissions_of(invite))})"
    else:
        subject, what = "You are invited to Nocoflo", "Nocoflo"
    body = (
        f"{inviter} invited you to {what}.\n\n"
        f"Choose a username and a password here to register:\n\n{link}\n\n"
        f"The link works once and expires on {_when(invite.expires_at)}.\n"
    )
    return subject, body


def send_invite_email(invite: Invite, link: str) -> str:
    """Mail the link to the invitee; answers "" when sent, else what to tell the creator."""
    subject, body = _message(invite, link)
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [invite.email])
    except Exception:  # any backend failure: the invite stands and the link is shown instead
        log.exception("could not email the invite %s to %s", invite.pk, invite.email)
        return (
            f"The email to {invite.email} could not be sent (the error has been logged): "
            "copy the link and send it yourself."
        )
    return ""


@dataclass
class SentInvite:
    invite: Invite
    link: str
    # Empty when the email went out; otherwise why it did not.
    email_problem: str

    @property
    def emailed(self) -> bool:
        return not self.email_problem


def invite_by_email(
    created_by: Any,
    request_or_base: Any,
    email: str,
    table: TableMeta | None = None,
    permissions: Iterable[str] | None = None,
    groups: Iterable[Group] = (),
    days: int = 7,
) -> SentInvite:
    """Create an invite and mail its link; a failed email never loses the invite."""
    invite, token = create_invite(created_by, email, table, permissions, groups, days)
    link = invite_link(request_or_base, token)
    return SentInvite(invite, link, send_invite_email(invite, link))


def pending_invites(user: Any, table: TableMeta) -> QuerySet[Invite]:
    """The table's invites nobody used yet and that have not expired (owners and admins)."""
    if not (access.can(user, "owner", table) or is_admin(user)):
        raise InviteNotAllowed(f"Only owners and admins may see the invites to {table.label}")
    return Invite.objects.filter(
        table=table, used_at__isnull=True, expires_at__gt=timezone.now()
    ).select_related("created_by")


def may_revoke(user: Any, invite: Invite) -> bool:
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser or (user.is_staff and user.has_perm("core.delete_invite")):
        return True
    if invite.created_by_id is not None and invite.created_by_id == user.pk:
        return True
    return invite.table is not None and access.can(user, "owner", invite.table)


def revoke_invite(user: Any, invite_id: int) -> Invite:
    """Delete an unused invite, so its link stops working (its creator, table owners, admins).

    UnknownInvite also when `user` may not revoke it, so invites are not probed one id at a time.
    """
    with transaction.atomic():
        invite = Invite.objects.select_for_update().filter(pk=invite_id).first()
        if invite is None or not may_revoke(user, invite):
            raise UnknownInvite("No such invite")
        if invite.used_at is not None:
            raise UsedInvite("This invite has been used already")
        invite.delete()
    return invite
