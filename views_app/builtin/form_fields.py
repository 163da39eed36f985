"""The fields of the form view: one input per column, chosen by the column's kind, and the
checks a value passes before anything is written.

The checks reuse the data layer's own conversion (`datasources_app.values.coerce`), so the form
refuses exactly what the datasource would refuse, only earlier and next to the field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from nicegui import ui

from core.models import ColumnMeta, TableMeta
from datasources_app import rows
from datasources_app.base import Filter, Query
from datasources_app.errors import DatasourceError, InvalidValue
from datasources_app.values import ColumnSpec, coerce, to_json

NUMBER_KINDS = ("integer", "real", "decimal")
# Shown, never edited (a size, a JSON list, a type Nocoflo does not know).
READ_ONLY_KINDS = ("binary", "array", "other")
# Text longer than this (or without a limit) gets a text area.
SHORT_TEXT = 255
# Referenced rows offered at once; typing searches for more.
REFERENCE_CHOICES = 20
# Columns whose values read as a row's name, best first.
LABEL_NAMES = ("name", "title", "label", "full_name", "display_name", "email", "username", "code")
LABEL_KINDS = ("text", "enum", "uuid")


@dataclass(frozen=True)
class Reference:
    """A foreign key's target the user may read: where its rows are and how to name them."""

    table_id: int
    column: str
    label_column: str | None


def is_long_text(column: ColumnMeta) -> bool:
    return column.kind == "text" and (column.max_length is None or column.max_length > SHORT_TEXT)


def auto_key(column: ColumnMeta, key_columns: list[str]) -> bool:
    """The database fills this key in itself (an integer primary key, a default, an identity)."""
    if not column.primary_key:
        return False
    return bool(column.default) or (column.kind == "integer" and len(key_columns) == 1)


def required(column: ColumnMeta, key_columns: list[str], inserting: bool) -> bool:
    if column.nullable:
        return False
    if inserting:
        return not column.default and not auto_key(column, key_columns)
    return not column.primary_key


def label_column(opened: rows.OpenTable, exclude: str) -> str | None:
    """The column that names a row of `opened`: name, title, label, email... or the first text."""
    texts = [
        c.name for c in opened.columns
        if c.kind in LABEL_KINDS and not c.primary_key and c.name != exclude
    ]  # fmt: skip
    for wanted in LABEL_NAMES:
        for name in texts:
            if name.lower() == wanted:
                return name
    for wanted in LABEL_NAMES:
        for name in texts:
            if wanted in name.lower():
                return name
    return texts[0] if texts else None


def reference_of(opened: rows.OpenTable, references: str) -> Reference | None:
    """The referenced table of a foreign key, when this user may read it (a row operation)."""
    target, _, column = references.rpartition(".")
    schema, _, name = target.rpartition(".")
    if not name or not column:
        return None
    candidates = TableMeta.objects.filter(datasource=opened.table.datasource, name=name)
    candidates = candidates.filter(schema=schema or opened.table.schema)
    table = candidates.first()
    if table is None:
        return None
    try:
        target_opened = rows.open_table(opened.user, table.pk)
    except rows.TableNotFound:
        return None
    if column not in target_opened.column_names:
        return None
    return Reference(table.pk, column, label_column(target_opened, column))


def reference_choices(
    opened: rows.OpenTable,
    reference: Reference,
    text: str = "",
    values: tuple = (),
    browse: bool = True,
) -> dict[Any, str]:
    """Referenced rows as {key value: readable label}: `values`, and (browsing) the first rows
    matching `text`."""
    target = rows.open_table(opened.user, reference.table_id)
    column, label = reference.column, reference.label_column
    shown = [column] + ([label] if label else [])
    found: dict[Any, str] = {}

    def add(query: Query) -> None:
        query.columns, query.with_count = shown, False
        for row in rows.read_page(target, query)["rows"]:
            values_ = row["values"]
            found[values_[column]] = choice_label(values_[column], values_.get(label))

    for value in values:
        if value is not None and value not in found:
            add(Query(limit=1, filters=[Filter(column, "eq", value)]))
    text = text.strip()
    if not browse:
        return found
    if text:
        try:  # a key typed as such
            add(Query(limit=1, filters=[Filter(column, "eq", text)]))
        except DatasourceError:  # not a value of the key's type: the search below finds text
            pass
    add(Query(limit=REFERENCE_CHOICES, search=text))
    return found


def json_text(value: Any) -> str:
    """A JSON value as readable text; some databases hand it over still encoded."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            pass
    return json.dumps(value, indent=2, ensure_ascii=False)


def choice_label(value: Any, label: Any) -> str:
    return f"{label} · {value}" if label not in (None, "") else str(value)


class FormField:
    """One column's input on the form, and its error message."""

    def __init__(
        self, column: ColumnMeta, key_columns: list[str], reference: Reference | None = None
    ) -> None:
        self.column = column
        self.name = column.name
        self.kind = column.kind
        self.key_columns = key_columns
        self.reference = reference
        self.read_only = self.kind in READ_ONLY_KINDS
        self.on_search: Any = None  # set by the form: searches referenced rows
        self.editable = False
        self.widget = self._build()
        self.widget.mark(f"field-{self.name}")
        self.widget.classes("w-full form-field")
        self.error_label = ui.label().classes("text-negative text-caption field-error")
        self.error_label.set_visibility(False)

    # --- building -------------------------------------------------------------------------------

    def _label(self, inserting: bool = False) -> str:
        star = " *" if required(self.column, self.key_columns, inserting) else ""
        return f"{self.column.label}{star}"

    def _build(self) -> Any:
        column, kind, label = self.column, self.kind, self._label()
        if self.reference is not None:
            widget = ui.select({}, label=label, with_input=True, clearable=column.nullable)
            widget.props("outlined dense use-input input-debounce=300 fill-input hide-selected")
            widget.on("input-value", self._search)
            return widget
        if kind in NUMBER_KINDS:
            return ui.number(label, format="%d" if kind == "integer" else None).props(
                "outlined dense"
            )
        if kind == "boolean":
            if column.nullable:
                options = {None: "(empty)", True: "true", False: "false"}
                return ui.select(options, label=label, value=None).props("outlined dense")
            return ui.switch(label, value=False)
        if kind in ("date", "datetime", "time"):
            return self._picker(label)
        if kind == "enum" and column.choices:
            options = {choice: choice for choice in column.choices}
            if column.nullable:
                options = {None: "(empty)", **options}
            return ui.select(options, label=label, value=None).props("outlined dense")
        if kind == "json" or is_long_text(column):
            widget = ui.textarea(label).props("outlined dense autogrow")
        else:
            widget = ui.input(label).props("outlined dense")
        if column.max_length and kind == "text":
            widget.props(f"maxlength={column.max_length} counter")
        if self.read_only:
            widget.props("readonly")
        return widget

    def _picker(self, label: str) -> ui.input:
        """A text input with calendar and clock pickers: typing a value works too."""
        placeholder = {"date": "YYYY-MM-DD", "time": "HH:MM:SS"}.get(
            self.kind, "YYYY-MM-DD HH:MM:SS"
        )
        widget = ui.input(label, placeholder=placeholder).props("outlined dense")
        with widget.add_slot("append"):
            if self.kind in ("date", "datetime"):
                date_icon = ui.icon("event").classes("cursor-pointer")
                with ui.menu() as date_menu:
                    ui.date(on_change=lambda e: self._picked(date=e.value)).props("minimal")
                date_icon.on("click", lambda: date_menu.open() if self.editable else None)
            if self.kind in ("time", "datetime"):
                time_icon = ui.icon("schedule").classes("cursor-pointer")
                with ui.menu() as time_menu:
                    ui.time(on_change=lambda e: self._picked(time=e.value)).props("format24h")
                time_icon.on("click", lambda: time_menu.open() if self.editable else None)
        return widget

    def _picked(self, date: str | None = None, time: str | None = None) -> None:
        if not self.editable:
            return
        current = str(self.widget.value or "").strip()
        if self.kind == "date":
            self.widget.value = date or current
        elif self.kind == "time":
            self.widget.value = f"{time}:00" if time and len(time) == 5 else time or current
        else:
            day, _, clock = current.partition(" ")
            if date:
                day = date
            if time:
                clock = f"{time}:00" if len(time) == 5 else time
            self.widget.value = f"{day} {clock or '00:00:00'}".strip()

    async def _search(self, event: Any) -> None:
        if self.on_search is not None and self.editable:
            await self.on_search(self, str(event.args or ""))

    # --- values ---------------------------------------------------------------------------------

    def show(self, value: Any, choices: dict | None = None) -> None:
        """Put a stored value (as the rows API gives it) in the input."""
        self.set_error(None)
        widget = self.widget
        if self.reference is not None:
            options = dict(choices or {})
            if value is not None and value not in options:
                options[value] = str(value)
            widget.set_options(options, value=value)
        elif isinstance(widget, ui.number):
            widget.value = None if value is None else float(value)
        elif isinstance(widget, ui.switch):
            widget.value = bool(value)
        elif isinstance(widget, ui.select):
            if value is not None and value not in widget.options:
                widget.set_options({**widget.options, value: str(value)})
            widget.value = value
        elif self.kind == "json":
            widget.value = "" if value is None else json_text(value)
        else:
            widget.value = "" if value is None else str(value)

    def raw(self) -> Any:
        """What the input holds now, before any check."""
        value = self.widget.value
        if isinstance(self.widget, ui.number) and value is not None and self.kind == "integer":
            if isinstance(value, float) and value.is_integer():
                return int(value)
        if isinstance(value, str) and self.kind != "text":
            value = value.strip()
        return value

    def check(self, inserting: bool) -> tuple[Any, str | None]:
        """The input's value as the datasource takes it, or the message saying why not."""
        raw = self.raw()
        empty = raw is None or raw == ""
        if empty:
            if required(self.column, self.key_columns, inserting):
                return None, f"{self.column.label} is required"
            return None, None
        spec = ColumnSpec(
            name=self.column.label,
            kind=self.kind,
            max_length=self.column.max_length if self.kind == "text" else None,
            choices=tuple(self.column.choices or ()),
        )
        try:
            value = coerce(spec, raw)
        except InvalidValue as exc:
            return None, str(exc)
        return to_json(self.kind, value), None

    def same(self, stored: Any, value: Any) -> bool:
        """True when `value` (from check) is what the row already holds."""
        if value is None or value == "":
            return stored is None or stored == ""
        if stored is None:
            return False
        spec = ColumnSpec(name=self.name, kind=self.kind)
        try:
            return coerce(spec, stored) == coerce(spec, value)
        except InvalidValue:
            return stored == value

    # --- state ----------------------------------------------------------------------------------

    def set_error(self, message: str | None) -> None:
        if hasattr(self.widget, "error"):
            self.widget.error = message
        self.error_label.text = message or ""
        # Inputs show their own message; a switch has no place for one.
        self.error_label.set_visibility(bool(message) and not hasattr(self.widget, "error"))

    def set_editable(self, editable: bool, inserting: bool = False) -> None:
        """Let the field be typed into (editing, or a new record's own key), or not."""
        allowed = not self.read_only and (not self.column.primary_key or inserting)
        if self.column.primary_key and inserting:
            allowed = not auto_key(self.column, self.key_columns)
        self.editable = editable and allowed
        if hasattr(self.widget, "props") and not isinstance(self.widget, ui.switch):
            if self.editable:
                self.widget.props(remove="readonly")
            else:
                self.widget.props("readonly")
        if isinstance(self.widget, ui.switch):
            self.widget.set_enabled(self.editable)
        if not isinstance(self.widget, ui.switch):
            self.widget.props["label"] = self._label(inserting)
        if self.column.primary_key and inserting and not self.editable:
            self.widget.props["placeholder"] = "automatic"
            self.widget.props["stack-label"] = True
