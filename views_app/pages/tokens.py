"""`/account/tokens`: the signed-in user's API tokens: make one (shown once), list, revoke.

Every handler asks who is signed in again (the websocket passes no Django middleware), so a
user signed out or deactivated meanwhile can do nothing here.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.utils import timezone
from fastapi import Request
from nicegui import ui

from core import tokens
from core.auth import session_key_of, user_for_session

from ..dialogs import confirm
from ..layout import frame
from .common import navigation_tables, signed_in_user

SHOWN_ONCE = "Copy the token now: it will not be shown again."


def _when(moment: Any) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment else "never"


def _listing(user: Any) -> list[dict]:
    return [
        {
            "id": token.pk,
            "name": token.name,
            "scopes": ", ".join(token.scopes),
            "prefix": f"{token.prefix}…",
            "created": _when(token.created_at),
            "last_used": _when(token.last_used_at),
            "revoked": _when(token.revoked_at) if token.revoked else "",
        }
        for token in tokens.tokens_of(user)
    ]


def _create(user: Any, name: str, write: bool) -> tuple[str, list[dict]]:
    _, plaintext = tokens.create_token(user, name, write)
    return plaintext, _listing(user)


def _revoke(user: Any, token_id: int) -> tuple[bool, list[dict]]:
    revoked = tokens.revoke_own(user, token_id) is not None
    return revoked, _listing(user)


class TokensPage:
    """One open tokens page: the list, and the dialogs to make and revoke tokens."""

    def __init__(self, session_key: str | None, listing: list[dict]) -> None:
        self.session_key = session_key
        self.listing = listing
        self.name: ui.input | None = None
        self.write: ui.checkbox | None = None
        self.form: ui.dialog | None = None

    async def _user(self) -> Any | None:
        user = await user_for_session(self.session_key)
        if not user.is_authenticated:
            ui.notify("Sign in again to manage your tokens", type="negative")
            return None
        return user

    @ui.refreshable_method
    def render(self) -> None:
        if not self.listing:
            ui.label("You have no API tokens yet.").classes("text-grey-7")
            return
        with ui.column().classes("w-full gap-1 token-list"):
            for token in self.listing:
                with ui.card().classes("w-full q-pa-sm").props("flat bordered"):
                    with ui.row().classes("w-full items-center no-wrap gap-4"):
                        ui.label(token["name"]).classes("text-subtitle1 text-weight-medium")
                        ui.badge(token["scopes"]).props("outline")
                        ui.label(token["prefix"]).classes("font-mono text-grey-8")
                        ui.space()
                        if token["revoked"]:
                            ui.badge(f"revoked {token['revoked']}", color="grey")
                        else:
                            ui.button(
                                "Revoke",
                                icon="block",
                                on_click=lambda t=token: self.confirm_revoke(t),
                            ).props("flat dense color=negative").mark("revoke-token")
                    ui.label(
                        f"Created {token['created']} · last used {token['last_used']}"
                    ).classes("text-caption text-grey-7")

    def open_form(self) -> None:
        with ui.dialog() as self.form, ui.card().classes("min-w-[24rem] token-form"):
            ui.label("New API token").classes("text-h6")
            self.name = (
                ui.input(label="Name", placeholder="what uses it, e.g. nightly export")
                .props("outlined dense maxlength=100 autofocus")
                .classes("w-full")
                .mark("token-name")
            )
            self.write = ui.checkbox("May also write (edit, add and delete rows)").mark(
                "token-write"
            )
            ui.label(
                "A token reads (and writes) only what you may; a read token only reads."
            ).classes("text-caption text-grey-7")
            with ui.row().classes("w-full justify-end"):
                ui.button("Cancel", on_click=self.form.close).props("flat")
                ui.button("Create", icon="key", on_click=self.create).mark("create-token")
        self.form.open()

    async def create(self) -> None:
        user = await self._user()
        if user is None:
            return
        assert self.name is not None and self.write is not None
        try:
            plaintext, self.listing = await sync_to_async(_create)(
                user, self.name.value or "", bool(self.write.value)
            )
        except tokens.TokenError as exc:
            ui.notify(str(exc), type="negative")
            return
        if self.form is not None:
            self.form.close()
        self.render.refresh()
        self.show_once(plaintext)

    def show_once(self, plaintext: str) -> None:
        """The new token in a dialog; closing it removes the dialog, and the token with it."""
        with ui.dialog().props("persistent") as shown, ui.card().classes("min-w-[28rem]"):
            ui.label("Your new API token").classes("text-h6")
            with ui.row().classes("w-full items-center no-wrap gap-1 bg-indigo-1 q-pa-sm rounded"):
                ui.label(plaintext).classes("grow break-all font-mono").mark("new-token")
                ui.button(icon="content_copy", on_click=lambda: self.copy(plaintext)).props(
                    "flat round dense aria-label='Copy the token'"
                ).mark("copy-token")
            with ui.row().classes("items-center no-wrap gap-2 text-warning"):
                ui.icon("warning")
                ui.label(SHOWN_ONCE)
            ui.label("Send it as `Authorization: Bearer <token>` to the API under /api/.").classes(
                "text-caption text-grey-7"
            )
            with ui.row().classes("w-full justify-end"):

                def done() -> None:
                    shown.close()
                    shown.delete()

                ui.button("Done", on_click=done).mark("token-done")
        shown.open()

    def copy(self, plaintext: str) -> None:
        ui.clipboard.write(plaintext)
        ui.notify("Token copied")

    def confirm_revoke(self, token: dict) -> None:

        async def revoke() -> None:
            await self.revoke(token)

        confirm(
            f"Revoke {token['name']}?",
            "Programs using it stop working at once. This cannot be undone.",
            "Revoke", revoke, icon="block",
        ).mark("confirm-revoke")  # fmt: skip

    async def revoke(self, token: dict) -> None:
        user = await self._user()
        if user is None:
            return
        revoked, self.listing = await sync_to_async(_revoke)(user, token["id"])
        self.render.refresh()
        if revoked:
            ui.notify(f"{token['name']} was revoked; it no longer works", type="positive")
        else:
            ui.notify("No such token", type="negative")


async def tokens_page(request: Request):
    user, redirect = await signed_in_user(request)
    if redirect:
        return redirect
    tables = await navigation_tables(user)
    page = TokensPage(session_key_of(request), await sync_to_async(_listing)(user))
    with frame(user, tables, "API tokens"):
        with ui.row().classes("w-full items-center"):
            ui.label("API tokens").classes("text-h5")
            ui.space()
            ui.button("New token", icon="add", on_click=page.open_form).mark("new-token-button")
        ui.label(
            "Programs use a token to call the API as you, with your rights on each table. "
            "Revoke a token you no longer need."
        ).classes("text-grey-8 q-mb-sm")
        page.render()
    return None
