"""`/tables/<id>/import`: add the rows of a CSV file to a table.

Upload, preview, map file columns to table columns, check every row (nothing written), then
import them all in one transaction with a progress bar. Each step runs the data layer's import
functions as the current user, so the websocket never skips an access check.
"""

from __future__ import annotations

import asyncio
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from fastapi import Request
from nicegui import ui

from core.auth import session_key_of
from datasources_app import importer, rows
from datasources_app.errors import DatasourceError

from ..context import ViewContext
from ..layout import frame
from .common import open_table_page

SKIP = ""


class ImportState:
    """One open import page: the uploaded file, its mapping, and the last report."""

    def __init__(self, context: ViewContext, columns: dict[str, str]) -> None:
        self.context = context
        self.columns = columns  # table column -> label, for the mapping selects
        self.data: bytes = b""
        self.filename = ""
        self.latin1 = False
        self.parsed: importer.CsvFile | None = None
        self.mapping: dict[str, str] = {}
        self.problem = ""
        self.report: dict | None = None
        self.done: int | None = None
        self.busy = False
        self.progress: ui.linear_progress | None = None

    @property
    def table(self):
        return self.context.table

    async def on_upload(self, event: Any) -> None:
        self.data = await event.file.read()
        self.filename = event.file.name
        await self.read()

    async def set_latin1(self, value: bool) -> None:
        self.latin1 = value
        if self.data:
            await self.read()

    async def read(self) -> None:
        self.parsed, self.problem, self.report, self.done = None, "", None, None
        try:
            self.parsed = await sync_to_async(importer.read_csv, thread_sensitive=False)(
                self.data, "latin-1" if self.latin1 else None
            )
        except DatasourceError as exc:
            self.problem = str(exc)
        if self.parsed is not None:
            self.mapping = importer.propose_mapping(
                self.parsed.header, [_Column(n, label) for n, label in self.columns.items()]
            )
        self.show.refresh()

    def map(self, source: str, target: str | None) -> None:
        self.mapping[source] = target or SKIP
        self.report = None
        self.show_report.refresh()

    async def check(self) -> None:
        if self.parsed is None or self.busy:
            return
        self.busy = True
        self.show_report.refresh()
        try:
            ok, result = await self.context.attempt(importer.check, self.parsed, self.mapping)
            self.report = result.as_dict() if ok else None
        finally:
            self.busy = False
        self.show_report.refresh()

    async def run_import(self) -> None:
        if self.parsed is None or self.busy:
            return
        self.busy, self.report = True, None
        self.show_report.refresh()
        loop = asyncio.get_running_loop()
        bar = self.progress

        def progress(done: int, total: int) -> None:
            # Called from the import's thread: the element is updated on the page's loop.
            if bar is not None:
                loop.call_soon_threadsafe(bar.set_value, done / max(total, 1))

        try:
            ok, result = await self.context.attempt(_import, self.parsed, self.mapping, progress)
        finally:
            self.busy = False
        if ok:
            self.report = result.as_dict()
            self.done = result.inserted
            ui.notify(f"Imported {result.inserted} rows into {self.table.label}", type="positive")
        elif isinstance(result, importer.ImportRefused):
            self.report = result.report.as_dict()
        self.show_report.refresh()

    @ui.refreshable_method
    def show(self) -> None:
        if self.problem:
            ui.label(self.problem).classes("text-red-10 import-problem")
            return
        if self.parsed is None:
            return
        parsed = self.parsed
        ui.label(
            f"{self.filename}: {len(parsed.header)} columns, separated by "
            f"{_DELIMITER_NAMES.get(parsed.delimiter, parsed.delimiter)}; the first "
            f"{len(parsed.preview)} rows"
        ).classes("text-subtitle1 q-mt-md")
        columns = [
            {"name": f"c{i}", "label": name, "field": f"c{i}", "align": "left"}
            for i, name in enumerate(parsed.header)
        ]
        preview = [
            {"_line": n, **{f"c{i}": value for i, value in enumerate(values)}}
            for n, values in enumerate(parsed.preview)
        ]
        ui.table(columns=columns, rows=preview, row_key="_line").props(
            "dense flat bordered"
        ).classes("w-full import-preview")
        ui.label("Map the file's columns to the table's").classes("text-subtitle1 q-mt-md")
        ui.label(
            "Unmapped table columns take their defaults; empty cells are empty (NULL)."
        ).classes("text-caption text-grey-7")
        options = {SKIP: "(leave out)", **self.columns}
        with ui.row().classes("gap-4 import-mapping"):
            for name in parsed.header:
                ui.select(
                    options, value=self.mapping.get(name, SKIP), label=name,
                    on_change=lambda e, n=name: self.map(n, e.value),
                ).classes("min-w-[12rem]")  # fmt: skip
        with ui.row().classes("items-center gap-2 q-mt-md"):
            ui.button("Check", icon="rule", on_click=self.check).props("outline")
            ui.button("Import", icon="upload", on_click=self.run_import)
        self.progress = ui.linear_progress(value=0, show_value=False).classes("import-progress")
        self.show_report()

    @ui.refreshable_method
    def show_report(self) -> None:
        if self.busy:
            ui.label("Working…").classes("text-grey-8 import-busy")
        if self.progress is not None:
            self.progress.set_visibility(self.busy or self.done is not None)
        report = self.report
        if report is None:
            return
        with ui.column().classes("gap-1 q-mt-sm import-report"):
            if self.done is not None:
                ui.label(f"Imported {self.done} rows").classes("text-h6 text-positive")
                ui.link(f"Back to {self.table.label}", f"/tables/{self.table.pk}").classes(
                    "back-to-table"
                )
                return
            ui.label(
                f"{report['rows']} rows: {report['valid']} fit, {report['invalid']} do not"
            ).classes("text-subtitle1 import-counts")
            if not report["errors"]:
                ui.label("Every row fits: ready to import.").classes("text-positive")
                return
            ui.label("Nothing was written. Fix these rows and upload the file again.").classes(
                "text-red-10"
            )
            if report["more_errors"]:
                ui.label(
                    f"The first {len(report['errors'])} problems; "
                    f"{report['more_errors']} more not shown."
                ).classes("text-caption")
            ui.table(
                columns=[
                    {"name": "line", "label": "Line", "field": "line", "align": "left"},
                    {"name": "column", "label": "Column", "field": "column", "align": "left"},
                    {"name": "message", "label": "Problem", "field": "message", "align": "left"},
                ],
                rows=[{**e, "id": i} for i, e in enumerate(report["errors"])],
                row_key="id",
            ).props("dense flat bordered").classes("w-full import-errors")


class _Column:
    """A table column as `propose_mapping` matches it (name and label)."""

    def __init__(self, name: str, label: str) -> None:
        self.name, self.label = name, label


_DELIMITER_NAMES = {",": "commas", ";": "semicolons", "\t": "tabs"}


def _import(opened: rows.OpenTable, parsed, mapping, progress) -> importer.Report:
    return importer.import_csv(opened, parsed, mapping, progress)


def _may_import(opened: rows.OpenTable) -> str:
    """Why the user cannot import into the table, or empty when they can."""
    if opened.table.read_only:
        return opened.table.read_only_message
    if not opened.may("write"):
        return f"You may not add rows to {opened.table.label}."
    return ""


async def import_page(request: Request, table_id: str):
    user, tables, opened, redirect = await open_table_page(request, table_id)
    if opened is None:
        return redirect
    table = opened.table
    refusal = await sync_to_async(_may_import)(opened)
    columns = {c.name: c.label for c in importer.importable_columns(opened)}
    state = ImportState(ViewContext(session_key=session_key_of(request), opened=opened), columns)
    limit = settings.NOCOFLO_IMPORT_MAX_MB

    with frame(user, tables, f"{table.label} · Import", current=table) as right:
        with right:
            ui.label("Table").classes("text-overline text-grey-7")
            ui.link("Open the table", f"/tables/{table.pk}").classes("block no-underline q-py-xs")
        with ui.row().classes("w-full items-center justify-between"):
            ui.label(f"Import rows into {table.label}").classes("text-h5")
            ui.link(f"Back to {table.label}", f"/tables/{table.pk}").classes("back-to-table")
        if refusal:
            ui.label(refusal).classes("text-amber-10 import-refused")
            return None
        ui.label(
            f"A CSV file (UTF-8, up to {limit} MB) with a header line naming its columns; "
            "commas, semicolons or tabs between values. Rows are checked before anything is "
            "written, then added all together or not at all."
        ).classes("text-grey-8")
        with ui.row().classes("items-center gap-4"):
            ui.upload(
                label="CSV file", auto_upload=True, max_file_size=limit * 1024 * 1024,
                on_upload=state.on_upload,
                on_rejected=lambda: ui.notify(
                    f"The file is larger than {limit} MB", type="negative"
                ),
            ).props("accept=.csv,.tsv,.txt,text/csv").classes("import-upload")  # fmt: skip
            ui.checkbox(
                "The file is Latin-1, not UTF-8",
                on_change=lambda e: state.set_latin1(e.value),
            ).classes("import-latin1")
        state.show()
    return None
