"""The Share dialog: a table's owners give users and groups read, write, delete or owner rights.

It loads and saves through core.grants, as the permissions API does, asking who the user is again
(from the Django session) and whether they still own the table each time.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from nicegui import ui

from core import access, grants
from core.auth import user_for_session

PERMISSIONS = ("read", "write", "delete", "owner")


def _load(user: Any, table: Any) -> list[dict]:
    if not access.can(user, "owner", table):
        raise grants.NotOwner(f"Only owners may share {table.label}")
    return grants.list_grants(table)


class ShareDialog:
    """The dialog of one table on one page."""

    def __init__(self, context: Any) -> None:
        self.context = context
        self.grants: list[dict] = []
        self.dialog: ui.dialog | None = None

    async def open(self) -> None:
        user = await user_for_session(self.context.session_key)
        try:
            self.grants = await sync_to_async(_load)(user, self.context.table)
        except grants.NotOwner as exc:
            ui.notify(str(exc), type="negative")
            return
        with ui.dialog() as self.dialog, ui.card().classes("min-w-[36rem] share-dialog"):
            ui.label(f"Share {self.context.table.label}").classes("text-h6")
            self.render_grants()
            with ui.row().classes("w-full items-center gap-2 no-wrap"):
                self.kind = ui.select(["user", "group"], value="user").props("dense outlined")
                self.name = ui.input(placeholder="user or group name").props("dense outlined")
                self.name.classes("grow")
                ui.button("Add", icon="person_add", on_click=self.add).props("flat")
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
