"""The built-in form view: one record at a time, registered as a plugin.

Every read and write goes through the same row operations as the grid (access, row locks,
compare-and-set, audit, events), run as the page's user by the ViewContext.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any
from urllib.parse import quote

from asgiref.sync import sync_to_async
from django.conf import settings
from nicegui import background_tasks, ui

from core import events, locks
from datasources_app import rows
from datasources_app.errors import (
    DatasourceError,
    InvalidValue,
    RowLocked,
    RowNotFound,
    WriteConflict,
)  # fmt: skip
from datasources_app.values import key_label
from plugins_app.hookspecs import hookimpl
from plugins_app.manager import PluginError

from ..base import BaseView
from ..counts import approximate
from ..dialogs import confirm
from .form_fields import FormField, Reference, reference_choices, reference_of
from .form_records import find_record, load_record, neighbour

log = logging.getLogger("nocoflo.pages")

# A table with more columns than this is easier to read one record at a time.
WIDE_TABLE_COLUMNS = 10
PREFERRED, OFFERED = 2, 0  # the table view's priority (1) lies between
STEPS = ("first", "previous", "next", "last")
STEP_ICONS = ("first_page", "chevron_left", "chevron_right", "last_page")


class FormView(BaseView):
    """One record at a time, with inputs chosen by column type."""

    def get_view_name(self) -> str:
        return "Form"

    def can_handle_table(self, table_meta: dict) -> bool:
        return True

    def priority_for(self, table_meta: dict) -> int:
        wide = len(table_meta.get("columns") or []) > WIDE_TABLE_COLUMNS
        return PREFERRED if wide else OFFERED

    def render(self) -> None:
        RecordForm(self.context, self.plugin_name or "form_view").build()


class RecordForm:
    """The state of one form on one page: the record shown and what is being done with it."""

    def __init__(self, context: Any, view_name: str) -> None:
        self.context = context
        self.view_name = view_name
        opened = context.opened
        self.table = opened.table
        self.columns = list(opened.columns)
        self.keys = list(opened.table.key_columns)
        self.username = opened.user.get_username()
        writable = bool(self.keys) and not opened.table.read_only
        self.can_write = writable and opened.may("write")
        self.can_delete = writable and opened.may("delete")
        # Going backwards sorts by the key columns: only those the user may see (not SQLite's
        # rowid). Forwards is the rows' own order.
        self.backwards = bool(self.keys) and all(k in opened.column_names for k in self.keys)
        self.key: str | None = None
        self.values: dict[str, Any] = {}
        self.version: str | None = None
        self.mode = "view"  # "edit" (holding the row's lock) or "new"
        self.references: dict[str, Reference] = {}
        self.fields: dict[str, FormField] = {}
        self.empty_label: ui.label | None = None
        self.client: Any = None
        self._unsubscribe: Any = None
        # Lock, save and release happen in the order they were asked for.
        self._in_order = asyncio.Lock()

    # --- building -------------------------------------------------------------------------------

    def build(self) -> None:
        if self.table.read_only:
            with ui.row().classes("w-full items-center bg-amber-1 text-amber-10 q-pa-sm rounded"):
                ui.icon("lock")
                ui.label(f"Read-only: {self.table.read_only_message}").classes("read-only-notice")
        with ui.row().classes("w-full items-center gap-1 form-toolbar"):
            self.nav_buttons = [
                ui.button(icon=icon, on_click=lambda step=step: self.go(step))
                .props("flat dense")
                .tooltip(step.capitalize())
                .mark(f"form-{step}")
                for step, icon in zip(STEPS, STEP_ICONS, strict=True)
            ]
            self.position = ui.label().classes("text-grey-8 q-mx-sm record-position")
            self.jump = (
                ui.input(placeholder="Go to key").props("dense outlined clearable").classes("w-36")
            )
            self.jump.on("keydown.enter", self.go_to_key)
            self.jump_button = ui.button("Go", on_click=self.go_to_key).props("flat dense")
            ui.space()
            self.history_button = ui.button(
                "Row history", icon="history", on_click=self.open_history
            ).props("flat")
            self.edit_button = ui.button("Edit", icon="edit", on_click=self.start_editing)
            self.save_button = ui.button("Save", icon="save", on_click=self.save)
            self.cancel_button = ui.button("Cancel", on_click=self.cancel).props("flat")
            self.new_button = ui.button("New record", icon="add", on_click=self.start_new).props(
                "outline"
            )
            self.delete_button = ui.button(
                "Delete", icon="delete", on_click=self.confirm_delete
            ).props("color=negative outline")
        self.notice = ui.label().classes(
            "w-full bg-amber-1 text-amber-10 q-pa-sm rounded form-notice"
        )
        self.notice.set_visibility(False)
        self.body = ui.card().classes("w-full record-form")
        with self.body:
            ui.label("Loading…").classes("text-grey-7")
        self.renewal = ui.timer(
            settings.NOCOFLO_LOCK_SECONDS / 3, self.renew_lock, active=False, immediate=False
        )
        self.set_mode("view")
        self.client = ui.context.client
        self.client.on_delete(self.close)
        self._unsubscribe = events.subscribe(self.table.pk, self.on_bus_event)
        background_tasks.create(self.start(), name="nocoflo form")

    async def start(self) -> None:
        with self.client:
            await self._start()

    async def _start(self) -> None:
        for column in self.columns:
            if column.references:
                try:
                    reference = await self.context.run(reference_of, column.references)
                except Exception:  # without its target, a foreign key is typed in as a value
                    log.exception("reading a foreign key's target failed")
                    reference = None
                if reference is not None:
                    self.references[column.name] = reference
        self.body.clear()
        with self.body:
            if not self.keys:
                ui.label(
                    "This table's rows have no key, so they cannot be shown one at a time: "
                    "use the table view."
                ).classes("text-grey-8")
                return
            with ui.grid().classes("w-full gap-x-6 gap-y-1 grid-cols-1 md:grid-cols-2"):
                for column in self.columns:
                    with ui.column().classes("gap-0"):
                        field = FormField(column, self.keys, self.references.get(column.name))
                        field.on_search = self.search_references
                        self.fields[column.name] = field
            self.empty_label = ui.label("No records yet.").classes("text-grey-8")
            self.empty_label.set_visibility(False)
        wanted = self.context.params.get("row")
        if wanted:
            try:
                record = await self.context.run(load_record, wanted, self.references)
            except (RowNotFound, InvalidValue, rows.ReadOnlyTable):
                ui.notify("That record does not exist (any more)", type="warning")
            except Exception as exc:
                self.tell(exc)
            else:
                self.show(record)
                return
        await self.go("first")

    # --- showing a record -----------------------------------------------------------------------

    def show(self, record: dict | None) -> None:
        """Put a record (from load_record) on the form, or say there is none."""
        if record is None:
            self.key, self.values, self.version = None, {}, None
            for field in self.fields.values():
                field.show(None)
            self.position.text = "No records"
            if self.empty_label is not None:
                self.empty_label.set_visibility(True)
        else:
            self.key, self.values, self.version = record["key"], record["values"], record["version"]
            for name, field in self.fields.items():
                field.show(self.values.get(name), record["choices"].get(name))
            if self.empty_label is not None:
                self.empty_label.set_visibility(False)
            self.position.text = position_text(record, len(self.keys))
            self.show_lock(record.get("locked_by"))
            ui.navigate.history.replace(self.url())
        self.set_mode("view")

    def url(self) -> str:
        row = f"&row={quote(self.key, safe='')}" if self.key else ""
        return f"/tables/{self.table.pk}?view={quote(self.view_name)}{row}"

    def show_lock(self, username: str | None) -> None:
        self.set_notice(f"{username} is editing this record" if username else "")

    def set_notice(self, text: str) -> None:
        self.notice.text = text
        self.notice.set_visibility(bool(text))

    def set_mode(self, mode: str) -> None:
        self.mode = mode
        viewing, has_row = mode == "view", self.key is not None
        for step, button in zip(STEPS, self.nav_buttons, strict=True):
            backwards = step in ("previous", "last")
            button.set_enabled(viewing and bool(self.keys) and (self.backwards or not backwards))
        self.jump.set_enabled(viewing and bool(self.keys))
        self.jump_button.set_enabled(viewing and bool(self.keys))
        self.history_button.set_visibility(viewing and has_row)
        self.edit_button.set_visibility(viewing and has_row and self.can_write)
        self.new_button.set_visibility(viewing and self.can_write)
        self.delete_button.set_visibility(viewing and has_row and self.can_delete)
        self.save_button.set_visibility(not viewing)
        self.cancel_button.set_visibility(not viewing)
        for field in self.fields.values():
            field.set_editable(not viewing, inserting=mode == "new")

    def tell(self, exc: Exception) -> None:
        """Say what went wrong: the data layer's own message, never a traceback."""
        if isinstance(exc, DatasourceError | PluginError):
            ui.notify(str(exc), type="negative", multi_line=True)
        else:
            log.error("form operation failed", exc_info=exc)
            ui.notify("Something went wrong on the server; it has been logged", type="negative")

    # --- moving between records ------------------------------------------------------------------

    async def go(self, step: str) -> None:
        if self.mode != "view" or not self.fields:
            return
        if step in ("previous", "last") and not self.backwards:
            return
        if step in ("next", "previous") and self.key is None:
            step = "first" if step == "next" else "last"
        ok, record = await self.context.attempt(neighbour, self.key, step, self.references)
        if not ok:
            return
        if record is None:
            if self.key is None or step in ("first", "last"):
                self.show(None)
            else:
                ui.notify(f"This is the {'last' if step == 'next' else 'first'} record")
            return
        self.show(record)

    async def go_to_key(self) -> None:
        text = str(self.jump.value or "").strip()
        if self.mode != "view" or not text:
            return
        try:
            record = await self.context.run(find_record, text, self.references)
        except (RowNotFound, InvalidValue):
            ui.notify(f"No record with key {text}", type="warning")
            return
        except Exception as exc:
            self.tell(exc)
            return
        self.jump.value = ""
        self.show(record)

    async def search_references(self, field: FormField, text: str) -> None:
        reference = self.references.get(field.name)
        if reference is None:
            return
        current = field.widget.value
        ok, choices = await self.context.attempt(
            reference_choices, reference, text, (current,) if current is not None else ()
        )
        if ok:
            field.widget.set_options(choices, value=current)

    # --- editing --------------------------------------------------------------------------------

    async def start_editing(self) -> None:
        """Take the row's lock and make the fields editable; someone else's lock is told."""
        if self.mode != "view" or self.key is None or not self.can_write:
            return
        key = self.key
        async with self._in_order:
            try:
                await self.context.run(rows.lock_row, key, self.context.client_id)
            except RowLocked as exc:
                self.show_lock(exc.locked_by)
                ui.notify(f"{exc.locked_by} is editing this record", type="warning")
                return
            except Exception as exc:
                self.tell(exc)
                return
            self.renewal.activate()
            # Edit what is stored now, not what was shown when the record was opened.
            try:
                record = await self.context.run(load_record, key, self.references)
            except Exception as exc:
                self.tell(exc)
                await self._release(key)
                return
            self.show(record)
            self.set_notice("")
            self.set_mode("edit")
        for field in self.fields.values():
            if field.reference is not None:
                await self.search_references(field, "")

    async def renew_lock(self) -> None:
        if self.mode == "edit":
            await sync_to_async(locks.renew)(self.context.client_id)

    async def _release(self, key: str | None) -> None:
        self.renewal.deactivate()
        if key is None:
            return
        try:
            await self.context.run(rows.unlock_row, key, self.context.client_id)
        except Exception:  # it lapses on its own; the page goes on
            log.exception("releasing a row lock failed")

    def collect(self, inserting: bool) -> tuple[dict[str, Any], bool]:
        """The fields' values as the datasource takes them; marks each field that is wrong."""
        values: dict[str, Any] = {}
        valid = True
        for name, field in self.fields.items():
            if not field.editable:
                field.set_error(None)
                continue
            value, error = field.check(inserting)
            field.set_error(error)
            if error:
                valid = False
            elif inserting:
                if value not in (None, ""):
                    values[name] = value
            elif not field.same(self.values.get(name), value):
                values[name] = value
        return values, valid

    async def save(self) -> None:
        if self.mode == "new":
            await self.insert()
            return
        if self.mode != "edit" or self.key is None:
            return
        changed, valid = self.collect(inserting=False)
        if not valid:
            ui.notify("Some fields need a correction", type="warning")
            return
        if not changed:
            ui.notify("Nothing changed")
            await self.stop_editing()
            return
        await self.write(changed, {name: self.values.get(name) for name in changed})

    async def write(self, changed: dict, expected: dict) -> None:
        """Compare-and-set write of the changed fields against the values they were read with."""
        key = self.key
        async with self._in_order:
            try:
                stored = await self.context.run(
                    rows.update_row, key, changed, expected, holder=self.context.client_id
                )
            except WriteConflict as exc:
                self.show_conflict(changed, exc.current)
                return
            except InvalidValue as exc:
                self.field_error(exc)
                return
            except Exception as exc:
                self.tell(exc)
                return
        ui.notify("Saved", type="positive", timeout=1500)
        self.values = {**self.values, **stored}
        await self.stop_editing()

    def field_error(self, exc: InvalidValue) -> None:
        field = self.fields.get(exc.column or "")
        if field is not None:
            field.set_error(str(exc))
        ui.notify(str(exc), type="negative", multi_line=True)

    def show_conflict(self, changed: dict, current: dict) -> None:
        """Someone changed the record since it was read: theirs and mine, field by field."""
        with ui.dialog() as dialog, ui.card().classes("min-w-96 conflict-dialog"):
            ui.label("Someone else changed this record").classes("text-h6")
            ui.label("Nothing was written. Choose which values to keep.")
            with ui.grid(columns=3).classes("w-full q-my-md"):
                for heading in ("Field", "Your value", "Current value"):
                    ui.label(heading).classes("text-weight-bold")
                for name, mine in changed.items():
                    ui.label(self.fields[name].column.label)
                    ui.label(shown(mine)).classes("conflict-mine")
                    ui.label(shown(current.get(name))).classes("conflict-current")
            with ui.row().classes("justify-end w-full"):

                async def keep_current() -> None:
                    dialog.close()
                    self.values = current
                    await self.stop_editing()

                async def use_mine() -> None:
                    dialog.close()
                    self.values = current
                    await self.write(changed, {name: current.get(name) for name in changed})

                ui.button("Keep current", on_click=keep_current).props("flat")
                ui.button("Use mine", on_click=use_mine)
        dialog.on("hide", dialog.delete)
        dialog.open()

    async def stop_editing(self) -> None:
        """Back to reading: the lock goes and the form shows the stored values."""
        key = self.key
        async with self._in_order:
            await self._release(key)
        self.set_notice("")
        ok, record = await self.context.attempt(load_record, key, self.references)
        self.mode = "view"
        if ok:
            self.show(record)
        else:
            self.set_mode("view")

    async def cancel(self) -> None:
        if self.mode == "new":
            self.mode = "view"
            if self.key is None:
                self.show(None)
            else:
                ok, record = await self.context.attempt(load_record, self.key, self.references)
                self.show(record if ok else None)
            return
        if self.mode == "edit":
            await self.stop_editing()

    # --- new and deleted records ----------------------------------------------------------------

    async def start_new(self) -> None:
        if self.mode != "view" or not self.can_write or not self.fields:
            return
        self.set_notice("")
        for field in self.fields.values():
            field.show(None)
        self.set_mode("new")
        self.position.text = "New record"
        for field in self.fields.values():
            if field.reference is not None:
                await self.search_references(field, "")

    async def insert(self) -> None:
        values, valid = self.collect(inserting=True)
        if not valid:
            ui.notify("Some fields need a correction", type="warning")
            return
        try:
            added = await self.context.run(rows.insert_row, values, holder=self.context.client_id)
        except InvalidValue as exc:
            self.field_error(exc)
            return
        except Exception as exc:
            self.tell(exc)
            return
        ui.notify("Record added", type="positive")
        self.mode = "view"
        ok, record = await self.context.attempt(load_record, added["key"], self.references)
        self.show(record if ok else None)

    def confirm_delete(self) -> None:
        if self.mode != "view" or self.key is None or not self.can_delete:
            return
        label = key_label(self.key, len(self.keys))
        confirm(
            f"Delete record {label}?", "This cannot be undone from here.", "Delete",
            self.delete, classes="delete-dialog",
        )  # fmt: skip

    async def delete(self) -> None:
        key = self.key
        if key is None:
            return
        try:
            deleted = await self.context.run(
                rows.delete_rows, [key], version=self.version, holder=self.context.client_id
            )
        except WriteConflict:
            ui.notify("The record changed since you read it: here it is again", type="warning")
            ok, record = await self.context.attempt(load_record, key, self.references)
            if ok:
                self.show(record)
            return
        except Exception as exc:
            self.tell(exc)
            return
        ui.notify("Record deleted" if deleted else "The record was already gone")
        await self.after_removal(key)

    async def after_removal(self, key: str) -> None:
        """Show the record after a removed one (or the one before, or none)."""
        self.mode = "view"
        ok, record = await self.context.attempt(neighbour, key, "next", self.references)
        if ok and record is None and self.backwards:
            ok, record = await self.context.attempt(neighbour, key, "previous", self.references)
        self.show(record if ok else None)

    async def open_history(self) -> None:
        if self.key is None:
            return
        from ..history import open_row_history  # on first use: the form works without it

        await open_row_history(self.context, self.key)

    # --- others' changes ------------------------------------------------------------------------

    def on_bus_event(self, event: dict) -> None:
        """An event on the table's channel (called on this page's event loop)."""
        if self.client is None or self.client.is_deleted:
            self.close()
            return
        if event.get("holder") == self.context.client_id or event.get("key") != self.key:
            return  # this page's own write, or another record
        if self.key is None:
            return
        background_tasks.create(self.on_record_event(event), name="nocoflo form event")

    async def on_record_event(self, event: dict) -> None:
        with self.client:
            kind, user = event.get("type"), event.get("user") or "Someone"
            if kind == "lock" and user != self.username:
                self.show_lock(user)
            elif kind == "unlock":
                if event.get("broken") and self.mode == "edit" and user != self.username:
                    ui.notify(f"{user} broke your lock on this record", type="warning")
                    await self.stop_editing()
                elif self.mode == "view":
                    self.set_notice("")
            elif kind == "row_updated":
                if self.mode == "edit":
                    self.set_notice(
                        f"{user} changed this record while you are editing it: saving shows "
                        "both versions of what you changed"
                    )
                    return
                try:
                    record = await self.context.run(load_record, self.key, self.references)
                except Exception:  # gone, or no longer readable: say so without the values
                    self.set_notice(f"{user} changed this record; reload to see it")
                    return
                self.show(record)
                ui.notify(f"{user} changed this record", position="bottom-right", timeout=2500)
            elif kind == "row_deleted":
                ui.notify(f"{user} deleted this record", type="warning")
                if self.mode == "view":
                    await self.after_removal(self.key)
                else:
                    self.set_notice(f"{user} deleted this record while you are editing it")

    def close(self) -> None:
        """The page is gone: stop listening to the table."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None


def shown(value: Any) -> str:
    if value is None:
        return "∅"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def position_text(record: dict, width: int) -> str:
    label = key_label(record["key"], width)
    if record.get("total") is None:
        return f"Key {label}"
    total = approximate(record["total"], record.get("total_accuracy", "exact"))
    if record.get("position"):
        return f"Record {record['position']:,} of {total} · key {label}"
    return f"Key {label} · one of {total} records"


class FormViewPlugin:
    @hookimpl
    def get_view_class(self):
        return FormView

    @hookimpl
    def get_view_priority(self):
        return OFFERED  # priority_for prefers the form for wide tables
