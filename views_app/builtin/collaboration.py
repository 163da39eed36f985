"""Working together in the table view: row locks between editors, others' changes shown live,
who else is here, and a row's history.

`Collaboration` is the part of a TableGrid that deals with other people; the grid calls
`setup_collaboration()` once its AG Grid exists.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from nicegui import background_tasks, ui

from core import events, locks, presence
from datasources_app import rows
from datasources_app.errors import DatasourceError, RowLocked

from ..dialogs import confirm
from .grid_js import (
    EDITABLE_UNLESS_LOCKED,
    KEY_FIELD,
    LOCK_BADGE_RENDERER,
    LOCK_CSS,
    apply_row_js,
    chosen_row_js,
    set_locks_js,
)

log = logging.getLogger("nocoflo.pages")

# How often a page says it is still here (and reads who else is).
HEARTBEAT_SECONDS = 15
# How long what a page may see is trusted before it is asked again (see Collaboration.readable).
ACCESS_RECHECK_SECONDS = 5
# Others' additions, deletions and changes arriving together are shown and told together.
NEWS_DELAY_SECONDS = 0.3


class Collaboration:
    """Locks, live updates and presence of one grid on one page."""

    context: Any
    grid: Any
    can_share: bool

    def __init__(self, context: Any) -> None:
        self.username = context.opened.user.get_username()
        self.client: Any = None
        # Rows this page has an editor open on (it holds their locks).
        self.editing: set[str] = set()
        # Lock, save and release of one page happen in the order the browser asked for them, so
        # a save still holds the lock its editor took.
        self._in_order = asyncio.Lock()
        self._events_in_order = asyncio.Lock()
        self._unsubscribe: Any = None
        self._readable: list[str] | None = context.opened.column_names
        self._checked_at = time.monotonic()
        self._news: Counter = Counter()
        self._news_task: asyncio.Task | None = None
        self._refresh_when_done = False
        self._viewers: list[str] | None = None
        self._connected_before = False

    def refresh(self) -> None:
        """Read the rows again (the grid's)."""
        raise NotImplementedError

    def setup_collaboration(self) -> None:
        """Listen to the grid's editors, the table's events and the page's connection."""
        grid = self.grid
        ui.add_css(LOCK_CSS)
        grid.options["context"] = {"gridId": grid.id}
        grid.on("cellEditingStarted", self.on_editing_started)
        grid.on("cellEditingStopped", self.on_editing_stopped)
        ui.on(f"nocoflo-grid-changed-{grid.id}", self.on_row_shown_changed)
        # While an editor is open its lease is renewed well before it lapses.
        self.renewal = ui.timer(
            settings.NOCOFLO_LOCK_SECONDS / 3, self.renew_locks, active=False, immediate=False
        )
        self.heartbeat = ui.timer(HEARTBEAT_SECONDS, self.beat, immediate=False)
        self.client = ui.context.client
        self.client.on_connect(self.on_connect)
        self.client.on_delete(self.close)
        self._unsubscribe = events.subscribe(self.context.table.pk, self.on_bus_event)

    # --- row locks --------------------------------------------------------------------------------

    async def on_editing_started(self, event: Any) -> None:
        """An editor opened: take the row's lock, or close the editor when someone else has it."""
        key = (event.args.get("data") or {}).get(KEY_FIELD)
        if key is None:
            return
        async with self._in_order:
            try:
                await self.context.run(rows.lock_row, key, self.context.client_id)
            except RowLocked as exc:
                self.grid.run_grid_method("stopEditing", True)
                self.show_locks({key: exc.locked_by})
                self.tell_locked(key, exc.locked_by)
                return
            except Exception as exc:  # refused or failed: nobody edits a row they cannot lock
                self.grid.run_grid_method("stopEditing", True)
                if isinstance(exc, DatasourceError):
                    ui.notify(str(exc), type="negative", multi_line=True)
                else:
                    log.exception("taking a row lock failed")
                    ui.notify("The row could not be locked for editing", type="negative")
                return
            self.editing.add(key)
            self.renewal.activate()

    async def on_editing_stopped(self, event: Any) -> None:
        """An editor closed (saved or cancelled): give the row's lock back."""
        key = (event.args.get("data") or {}).get(KEY_FIELD)
        async with self._in_order:
            if key is None or key not in self.editing:
                return
            self.editing.discard(key)
            if not self.editing:
                self.renewal.deactivate()
            try:
                await self.context.run(rows.unlock_row, key, self.context.client_id)
            except Exception:  # it lapses on its own; the page goes on
                log.exception("releasing a row lock failed")
            if self._refresh_when_done and not self.editing:
                self._refresh_when_done = False
                self.refresh()

    async def renew_locks(self) -> None:
        if self.editing:
            await sync_to_async(locks.renew)(self.context.client_id)

    def tell_locked(self, key: str, username: str) -> None:
        """Someone else is editing the row this page wanted to edit; owners may break the lock."""
        ui.notify(f"{username} is editing this row", type="warning")
        if not self.can_share:
            return

        async def break_it() -> None:
            await self.break_lock(key)

        confirm(
            f"{username} is editing this row",
            "Breaking the lock lets you edit it; their unsaved edit may then fail.",
            "Break lock", break_it, icon="lock_open", cancel="Close", classes="break-lock-dialog",
        )  # fmt: skip

    async def break_lock(self, key: str) -> None:
        ok, _ = await self.context.attempt(rows.unlock_row, key, self.context.client_id)
        if ok:
            self.show_locks({key: None})
            ui.notify("Lock broken: the row can be edited", type="positive")

    def show_locks(self, changes: dict[str, str | None], replace: bool = False) -> None:
        """Show rows as being edited by someone else (a username), or free again (None)."""
        self.grid.client.run_javascript(set_locks_js(self.grid.id, changes, replace))

    # --- live updates and presence ----------------------------------------------------------------

    async def on_connect(self) -> None:
        """The browser (re)connected: show who holds which rows and who is here."""
        with self.client:
            try:
                held = await self.context.run(others_locks, self.username)
            except rows.TableNotFound:
                return
            except Exception:
                log.exception("reading the table's row locks failed")
                held = {}
            if held or self._connected_before:  # a fresh page has nothing to forget
                self.show_locks(held, replace=True)
            self._connected_before = True
            for key in list(self.editing):  # back after a dropped connection: still editing
                await self.context.attempt(rows.lock_row, key, self.context.client_id)
            await self.beat()

    async def beat(self) -> None:
        """Say this page is still here, and read who else is."""
        if self.client is not None and not self.client.has_socket_connection:
            return  # it left (or lost its connection): it is back here when it reconnects
        try:
            columns, names = await self.context.run(heartbeat, self.context.client_id)
        except rows.TableNotFound:
            self.lose_access()
            return
        except Exception:
            log.exception("the page's heartbeat failed")
            return
        self._readable, self._checked_at = columns, time.monotonic()
        self.show_viewers([name for name in names if name != self.username])

    def show_viewers(self, names: list[str]) -> None:
        """ "Also here: …" with everyone else who has the table open."""
        if names == self._viewers:
            return
        self._viewers = names
        self.presence_box.clear()
        if not names:
            return
        with self.presence_box:
            ui.label("Also here:").classes("text-caption text-grey-7")
            for name in names:
                ui.chip(name, icon="person").props("dense outline color=primary").classes(
                    "presence-user q-ma-none"
                )

    def on_bus_event(self, event: dict) -> None:
        """An event on the table's channel (called on this page's event loop)."""
        if self.client is None or self.client.is_deleted:
            self.close()
            return
        if event.get("holder") == self.context.client_id:
            return  # this page's own write, lock or presence coming back
        background_tasks.create(self.on_table_event(event), name="nocoflo table event")

    async def on_table_event(self, event: dict) -> None:
        async with self._events_in_order:
            with self.client:
                await self._on_table_event(event)

    async def _on_table_event(self, event: dict) -> None:
        kind, key, user = event.get("type"), event.get("key"), event.get("user") or "Someone"
        if kind == "presence":
            await self.show_current_viewers()
            return
        columns = await self.readable()
        if columns is None:
            return
        if kind == "lock":
            if key and user != self.username:
                self.show_locks({key: user})
        elif kind == "unlock":
            if key:
                self.show_locks({key: None})
                if event.get("broken") and key in self.editing and user != self.username:
                    self.grid.run_grid_method("stopEditing", True)
                    ui.notify(f"{user} broke your lock on this row", type="warning")
        elif kind == "row_updated" and key:
            values = event.get("values") or {}
            shown = {name: values[name] for name in columns if name in values}
            self.grid.client.run_javascript(apply_row_js(self.grid.id, key, shown, user))
        elif kind in ("row_inserted", "row_deleted"):
            self.tell_news(user, "added" if kind == "row_inserted" else "deleted", 1)
        elif kind == "rows_imported":
            self.tell_news(user, "added", int(event.get("count") or 0))

    async def readable(self) -> list[str] | None:
        """The columns this page's user may see now; None when they may no longer read the table.

        An event carries whole rows, and the user's access may have been revoked (or columns
        hidden) since the page opened. Access is asked again when the last answer is more than a
        few seconds old, not for every event: a burst of changes costs one check, and the page
        shows nothing staler than the rows already in front of its user.
        """
        if self._readable is None:
            return None
        if time.monotonic() - self._checked_at > ACCESS_RECHECK_SECONDS:
            try:
                self._readable = await self.context.run(visible_columns)
            except rows.TableNotFound:
                self.lose_access()
                return None
            except Exception:
                log.exception("checking the page's access failed")
                return None
            self._checked_at = time.monotonic()
        return self._readable

    def lose_access(self) -> None:
        if self._readable is None:
            return
        self._readable = None
        self.close()
        self.show_viewers([])
        ui.notify("You may no longer open this table; reload the page", type="warning")

    async def show_current_viewers(self) -> None:
        try:
            names = await self.context.run(current_viewers, self.context.client_id)
        except Exception:  # the heartbeat tries again
            return
        self.show_viewers([name for name in names if name != self.username])

    def on_row_shown_changed(self, event: Any) -> None:
        """The browser showed someone else's change of a row it has loaded."""
        args = event.args or {}
        self.tell_news(str(args.get("user") or "Someone"), "changed", int(args.get("cells") or 0))

    def tell_news(self, user: str, verb: str, count: int) -> None:
        """Others' changes, told together: "alice changed 3 cells", "bob added 2 rows"."""
        if count <= 0:
            return
        self._news[(user, verb)] += count
        if self._news_task is None or self._news_task.done():
            self._news_task = background_tasks.create(self._tell_news(), name="nocoflo news")

    async def _tell_news(self) -> None:
        await asyncio.sleep(NEWS_DELAY_SECONDS)
        news, self._news = self._news, Counter()
        if self.client is None or self.client.is_deleted:
            return
        with self.client:
            if any(verb != "changed" for _, verb in news):
                if self.editing:
                    self._refresh_when_done = True  # reloading now would close the editor
                else:
                    self.refresh()
            for (user, verb), count in news.items():
                if verb == "changed":
                    what = f"{count} cell" + ("" if count == 1 else "s")
                else:
                    what = "a row" if count == 1 else f"{count} rows"
                ui.notify(f"{user} {verb} {what}", position="bottom-right", timeout=2500)

    def close(self) -> None:
        """The page is gone: stop listening to the table."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    # --- row history ------------------------------------------------------------------------------

    async def chosen_row(self, purpose: str) -> str | None:
        """The key of the one selected row (or the focused cell's row); tells the user and
        answers None when there is none, or several. `purpose` finishes "Select a single row
        to ..."."""
        try:
            chosen = await self.grid.client.run_javascript(chosen_row_js(self.grid.id), timeout=2)
        except TimeoutError:
            chosen = None
        chosen = chosen or {}
        selected = [key for key in chosen.get("selected") or [] if key]
        if len(selected) > 1:
            ui.notify(f"Select a single row to {purpose}", type="warning")
            return None
        key = selected[0] if selected else chosen.get("focused")
        if not key:
            ui.notify("Select a row first", type="warning")
            return None
        return key

    async def open_history(self) -> None:
        """The audit history of the selected row (or the focused cell's row)."""
        key = await self.chosen_row("see its history")
        if key is None:
            return
        from ..history import open_row_history  # on first use: the grid works without it

        await open_row_history(self.context, key)


def lock_aware(column_defs: list[dict]) -> None:
    """Make editable cells wait while someone else edits their row, and mark such rows in the
    row's first cell (the pinned key, where there is one)."""
    for definition in column_defs:
        if definition.get("editable"):
            definition[":editable"] = EDITABLE_UNLESS_LOCKED
    candidates = [d for d in column_defs if d.get("pinned") == "left"] or column_defs
    if candidates and candidates[0].get("cellDataType") != "boolean":
        candidates[0][":cellRenderer"] = LOCK_BADGE_RENDERER


# Row operations for ViewContext.run: each gets the table as the page's user may open it now.


def visible_columns(opened: rows.OpenTable) -> list[str]:
    return opened.column_names


def others_locks(opened: rows.OpenTable, username: str) -> dict[str, str]:
    """The table's rows being edited by anyone but `username`."""
    return {k: who for k, who in locks.locked_rows(opened.table).items() if who != username}


def heartbeat(opened: rows.OpenTable, client: str) -> tuple[list[str], list[str]]:
    """Still here: answers the columns the user may see and who else has the table open."""
    presence.seen(opened.table, opened.user, client)
    return opened.column_names, presence.viewers(opened.table, excluding_client=client)


def current_viewers(opened: rows.OpenTable, client: str) -> list[str]:
    return presence.viewers(opened.table, excluding_client=client)
