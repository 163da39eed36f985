"""The Share dialog: a table's owners give users and groups read, write, delete or owner rights,
and invite people by email.

It loads and saves through core.grants and core.invites, as the API does, asking who the user is
again (from the Django session) and whether they still own the table each time.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.utils import timezone
from nicegui import ui

from core import access, grants, invites
from core.auth import user_for_session

PERMISSIONS = ("read", "write", "delete", "owner")


def _load(user: Any, table: Any) -> tuple[list[dict], list[dict]]:
    if not access.can(user, "owner", table):
        raise grants.NotOwner(f"Only owners may share {table.label}")
    return grants.list_grants(table), _pending(user, table)


def _pending(user: Any, table: Any) -> list[dict]:
    return [
        {
            "id": invite.pk,
            "email": invite.email,
            "permissions": invites.permissions_of(invite),
            "expires": timezone.localtime(invite.expires_at).strftime("%Y-%m-%d %H:%M"),
        }
        for invite in invites.pending_invites(user, table)
    ]


def _invite(user: Any, table: Any, base: str, email: str, chosen: list, days: Any) -> tuple:
    """Invite and email (the link comes back once), then the table's pending invites."""
    sent = invites.invite_by_email(user, base, email, table, chosen, days=days)
    return sent, _pending(user, table)


def _revoke(user: Any, table: Any, invite_id: int) -> list[dict]:
    invites.revoke_invite(user, invite_id)
    return _pending(user, table)


def _whole_days(value: Any) -> Any:
    """ui.number answers floats; a whole number of days becomes an int, anything else is refused
    by core.invites with its own message."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class ShareDialog:
    """The dialog of one table on one page."""

    def __init__(self, context: Any) -> None:
        self.context = context
        self.grants: list[dict] = []
        self.invites: list[dict] = []
        # The link of the invite just made: shown once, in this dialog only.
        self.new_link = ""
        self.inviting = False
        self.dialog: ui.dialog | None = None

    async def open(self) -> None:
        user = await user_for_session(self.context.session_key)
        try:
            self.grants, self.invites = await sync_to_async(_load)(user, self.context.table)
        except grants.NotOwner as exc:
            ui.notify(str(exc), type="negative")
            return
        self.new_link, self.inviting = "", False
        with ui.dialog() as self.dialog, ui.card().classes("min-w-[36rem] share-dialog"):
            ui.label(f"Share {self.context.table.label}").classes("text-h6")
            self.render_grants()
            with ui.row().classes("w-full items-center gap-2 no-wrap"):
                self.kind = ui.select(["user", "group"], value="user").props("dense outlined")
                self.name = ui.input(placeholder="user or group name").props("dense outlined")
                self.name.classes("grow")
                ui.button("Add", icon="person_add", on_click=self.add).props("flat")
            ui.separator()
            self.render_invites()
            with ui.row().classes("justify-end w-full"):
                ui.button("Cancel", on_click=self.dialog.close).props("flat")
                ui.button("Save", on_click=self.save)
        self.dialog.open()

    @ui.refreshable_method
    def render_grants(self) -> None:
        if not self.grants:
            ui.label("Nobody has been given this table yet.").classes("text-grey-7")
            return
        with ui.grid(columns=6).classes("w-full items-center gap-1 share-grants"):
            ui.label("Who").classes("text-weight-bold")
            for permission in PERMISSIONS:
                ui.label(permission).classes("text-weight-bold")
            ui.label("")
            for grant in self.grants:
                kind = "user" if grant["user"] else "group"
                ui.label(f"{kind} {grant['user'] or grant['group']}")
                for permission in PERMISSIONS:
                    ui.checkbox(
                        value=permission in grant["permissions"],
                        on_change=lambda e, g=grant, p=permission: self.toggle(g, p, e.value),
                    ).props(f"aria-label='{permission}'")
                ui.button(icon="delete", on_click=lambda g=grant: self.remove(g)).props(
                    "flat round dense aria-label='Remove'"
                )

    def toggle(self, grant: dict, permission: str, on: bool) -> None:
        chosen = set(grant["permissions"]) - {permission} | ({permission} if on else set())
        grant["permissions"] = [p for p in PERMISSIONS if p in chosen]

    def add(self) -> None:
        name = (self.name.value or "").strip()
        if not name:
            ui.notify("Type a user or group name first", type="warning")
            return
        kind = self.kind.value
        if any(g[kind] == name for g in self.grants):
            ui.notify(f"The {kind} {name!r} is listed already", type="warning")
            return
        other = "group" if kind == "user" else "user"
        self.grants.append({kind: name, other: None, "permissions": ["read"]})
        self.name.value = ""
        self.render_grants.refresh()

    def remove(self, grant: dict) -> None:
        self.grants.remove(grant)
        self.render_grants.refresh()

    async def save(self) -> None:
        user = await user_for_session(self.context.session_key)
        try:
            self.grants = await sync_to_async(grants.replace_grants)(
                user, self.context.table, self.grants
            )
        except (grants.NotOwner, grants.InvalidGrants) as exc:
            ui.notify(str(exc), type="negative", multi_line=True)
            return
        self.dialog.close()
        ui.notify("Saved who may use this table", type="positive")

    # --- invites by email -------------------------------------------------------------------

    @ui.refreshable_method
    def render_invites(self) -> None:
        with ui.row().classes("w-full items-center"):
            ui.label("Invite by email").classes("text-subtitle1")
            ui.space()
            if not self.inviting:
                # The form appears on demand, so the dialog stays about who has the table.
                ui.button("New invite", icon="forward_to_inbox", on_click=self.show_invite_form)
        if self.inviting:
            self.render_invite_form()
        if self.new_link:
            with ui.row().classes("w-full items-center no-wrap gap-1 bg-indigo-1 q-pa-sm rounded"):
                ui.label(self.new_link).classes("grow break-all invite-link").mark("invite-link")
                ui.button(icon="content_copy", on_click=self.copy_link).props(
                    "flat round dense aria-label='Copy the link'"
                )
            ui.label("Copy the link now: it is shown only this once.").classes(
                "text-caption text-grey-7"
            )
        if not self.invites:
            ui.label("No invites are waiting.").classes("text-grey-7")
            return
        with ui.column().classes("w-full gap-0 pending-invites"):
            for pending in self.invites:
                with ui.row().classes("w-full items-center no-wrap"):
                    ui.label(
                        f"{pending['email']}: {', '.join(pending['permissions'])}, "
                        f"until {pending['expires']}"
                    ).classes("grow")
                    ui.button(icon="link_off", on_click=lambda i=pending: self.revoke(i)).props(
                        "flat round dense aria-label='Revoke'"
                    ).mark("revoke-invite")

    def render_invite_form(self) -> None:
        with ui.row().classes("w-full items-center gap-2 no-wrap"):
            self.invite_email = (
                ui.input(label="Email", placeholder="someone@example.com")
                .props("dense outlined type=email")
                .classes("grow")
                .mark("invite-email")
            )
            self.invite_days = (
                ui.number(label="Days", value=7, min=invites.MIN_DAYS, max=invites.MAX_DAYS)
                .props("dense outlined")
                .classes("w-20")
                .mark("invite-days")
            )
        with ui.row().classes("w-full items-center gap-2"):
            self.invite_permissions = {
                permission: ui.checkbox(permission, value=permission == "read").mark(
                    f"invite-{permission}"
                )
                for permission in PERMISSIONS
            }
            ui.space()
            ui.button("Send invite", icon="send", on_click=self.invite).mark("send-invite")

    def show_invite_form(self) -> None:
        self.inviting = True
        self.render_invites.refresh()

    async def invite(self) -> None:
        user = await user_for_session(self.context.session_key)
        chosen = [p for p, box in self.invite_permissions.items() if box.value]
        base = str(ui.context.client.request.base_url)
        try:
            sent, self.invites = await sync_to_async(_invite)(
                user,
                self.context.table,
                base,
                self.invite_email.value or "",
                chosen,
                _whole_days(self.invite_days.value),
            )
        except invites.InviteError as exc:
            ui.notify(str(exc), type="negative", multi_line=True)
            return
        self.new_link = sent.link
        self.inviting = False
        self.render_invites.refresh()
        if sent.emailed:
            ui.notify(f"The invite was emailed to {sent.invite.email}", type="positive")
        else:
            ui.notify(sent.email_problem, type="warning", multi_line=True)

    async def copy_link(self) -> None:
        ui.clipboard.write(self.new_link)
        ui.notify("Link copied")

    async def revoke(self, pending: dict) -> None:
        user = await user_for_session(self.context.session_key)
        try:
            self.invites = await sync_to_async(_revoke)(user, self.context.table, pending["id"])
        except invites.InviteError as exc:
            ui.notify(str(exc), type="negative")
            return
        self.render_invites.refresh()
        ui.notify(f"The invite for {pending['email']} was revoked; its link no longer works")
