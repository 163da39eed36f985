"""Importing a CSV file into an existing table.

Read the upload safely (encoding, delimiter, header), propose which file column fills which table
column, check every row against the columns (type, required, length, duplicate keys in the file
and in the table) before anything is written, then insert all rows in one transaction, or none.
Every inserted row is audited, pending before the insert and confirmed after, like any write.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core import events
from core.models import Change

from .base import Filter, Query
from .errors import DatasourceError, InvalidValue
from .rows import OpenTable, _require
from .values import ColumnSpec, coerce, encode_key, to_json

PREVIEW_ROWS = 20
MAX_ERRORS = 200
# Keys looked up in the table per query, and audit entries written per statement.
KEY_BATCH = 1000
AUDIT_BATCH = 1000
DELIMITERS = (",", ";", "\t")
# Rows read to tell which delimiter a file uses.
SNIFF_ROWS = 20
# Kinds Nocoflo shows but never writes (the grid does not edit them either).
UNWRITABLE = {"binary", "array", "other"}

Progress = Callable[[int, int], None]


class BadFile(DatasourceError):
    """The upload is not a CSV file Nocoflo can read; nothing was written."""

    status = 400


class FileTooLarge(BadFile):
    status = 413


class BadMapping(DatasourceError):
    """The mapping of file columns to table columns cannot work; nothing was written."""

    status = 422


class ImportRefused(DatasourceError):
    """Some rows do not fit the table; nothing was written. `report` says which and why."""

    status = 422

    def __init__(self, report: Report) -> None:
        super().__init__(
            f"{report.invalid} of {report.rows} rows cannot be imported; nothing was written"
        )
        self.report = report


def max_bytes() -> int:
    return settings.NOCOFLO_IMPORT_MAX_MB * 1024 * 1024


# --- reading the file -----------------------------------------------------------------------------


@dataclass
class CsvFile:
    """An uploaded CSV file, decoded, its delimiter and header known."""

    text: str
    delimiter: str
    encoding: str
    header: list[str]
    preview: list[list[str]]

    def records(self) -> Iterator[tuple[int, list[str]]]:
        """Each row under the header with the line it starts on (blank lines are skipped)."""
        reader = csv.reader(io.StringIO(self.text), delimiter=self.delimiter)
        first = True
        while True:
            line = reader.line_num + 1
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise BadFile(f"Line {line} cannot be read as CSV: {exc}") from None
            if first:
                first = False
                continue
            if values:
                yield line, values


def read_csv(data: bytes, encoding: str | None = None) -> CsvFile:
    """The upload as a CSV file, or BadFile saying plainly what is wrong with it.

    `encoding`: None or "utf-8" (a byte-order mark is allowed), or "latin-1" when the user says
    the file is Latin-1 (every byte is valid Latin-1, so it is never guessed)."""
    if len(data) > max_bytes():
        raise FileTooLarge(
            f"The file is larger than {settings.NOCOFLO_IMPORT_MAX_MB} MB, the most an import "
            "takes; split it into smaller files"
        )
    text, encoding = _decode(data, encoding)
    if not text.strip():
        raise BadFile("The file is empty")
    nul = text.find("\x00")
    if nul >= 0:  # UTF-16 text or a binary file, which decode as "valid" UTF-8 all the same
        raise BadFile(
            f"Line {text.count(chr(10), 0, nul) + 1} contains a NUL byte: this is not a CSV text "
            "file (a spreadsheet, or UTF-16 text?); save it as CSV UTF-8"
        )
    delimiter = _sniff(text)
    parsed = CsvFile(text=text, delimiter=delimiter, encoding=encoding, header=[], preview=[])
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        header = next(reader)
    except csv.Error as exc:
        raise BadFile(f"Line 1 cannot be read as CSV: {exc}") from None
    parsed.header = [name.strip() for name in header]
    for number, name in enumerate(parsed.header, start=1):
        if not name:
            raise BadFile(
                f"Column {number} of the header (line 1) has no name; the first line of the "
                "file must name every column"
            )
    # Counted once, not with list.count per name: a header of 20,000 columns took half a minute.
    duplicated = next((n for n, times in Counter(parsed.header).items() if times > 1), None)
    if duplicated is not None:
        raise BadFile(f"The header (line 1) names the column {duplicated!r} twice")
    for _, values in parsed.records():
        parsed.preview.append(values)
        if len(parsed.preview) == PREVIEW_ROWS:
            break
    if not parsed.preview:
        raise BadFile("The file has only a header line: there are no rows to import")
    return parsed


def _decode(data: bytes, encoding: str | None) -> tuple[str, str]:
    chosen = (encoding or "utf-8").lower().replace("_", "-")
    if chosen in ("utf-8", "utf8", "utf-8-sig"):
        try:
            return data.decode("utf-8-sig"), "utf-8"
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise BadFile(
                f"The file is not UTF-8 text (line {line} has a byte UTF-8 does not allow). "
                'Save it as UTF-8 ("CSV UTF-8" in spreadsheets), or import it as Latin-1 if '
                "that is what it is"
            ) from None
    if chosen in ("latin-1", "latin1", "iso-8859-1"):
        return data.decode("latin-1"), "latin-1"
    raise BadFile(f"Unknown encoding {encoding!r}: choose utf-8 or latin-1")


def _sniff(text: str) -> str:
    """The delimiter that splits the header into the most columns with every sampled row the
    same width (a semicolon file's decimal commas do not fool it); comma when none splits."""
    best, best_score = ",", (False, 1)
    for delimiter in DELIMITERS:
        reader = csv.reader(io.StringIO(text), delimiter=delimiter)
        widths = []
        try:
            for values in reader:
                if values:
                    widths.append(len(values))
                if len(widths) > SNIFF_ROWS:
                    break
        except csv.Error:
            continue
        if not widths or widths[0] < 2:
            continue
        score = (all(w == widths[0] for w in widths), widths[0])
        if score > best_score:
            best, best_score = delimiter, score
    return best


# --- mapping file columns to table columns --------------------------------------------------------


def _normal(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", name).casefold()


def importable_columns(opened: OpenTable) -> list[Any]:
    """The table's columns (as the user sees them) an import can fill."""
    return [c for c in opened.columns if c.kind not in UNWRITABLE]


def propose_mapping(header: list[str], columns: list[Any]) -> dict[str, str]:
    """File column -> table column, matched by name or label ignoring case and spaces; "" for a
    file column that matches none (it is left out)."""
    known: dict[str, str] = {}
    for column in columns:
        known.setdefault(_normal(column.name), column.name)
    for column in columns:
        known.setdefault(_normal(column.label), column.name)
    mapping, used = {}, set()
    for name in header:
        target = known.get(_normal(name), "")
        if target in used:
            target = ""
        used.add(target)
        mapping[name] = target
    return mapping


def specs_of(opened: OpenTable) -> dict[str, ColumnSpec]:
    """What validation knows about each column: from the database when the datasource can say,
    else from Nocoflo's metadata."""
    specs = getattr(opened.datasource, "specs", None)
    if callable(specs):
        return specs(opened.config)
    return {
        c.name: ColumnSpec(
            name=c.name,
            kind=c.kind,
            nullable=c.nullable,
            max_length=c.max_length,
            primary_key=c.primary_key,
            has_default=bool(c.default),
            choices=tuple(c.choices or ()),
        )  # fmt: skip
        for c in opened.table.columns.all()
    }


def checked_mapping(
    opened: OpenTable, parsed: CsvFile, mapping: dict[str, str] | None, specs: dict
) -> list[tuple[int, ColumnSpec]]:
    """(position in the file, table column) of each mapped file column; BadMapping when the
    mapping names what does not exist, fills a column twice, or leaves a required one out."""
    if mapping is None:
        mapping = propose_mapping(parsed.header, importable_columns(opened))
    allowed = {c.name for c in importable_columns(opened)}
    pairs: list[tuple[int, ColumnSpec]] = []
    filled: dict[str, str] = {}
    for source, target in mapping.items():
        if not target:
            continue
        if source not in parsed.header:
            raise BadMapping(f"The file has no column {source!r}")
        if target not in allowed or target not in specs:
            raise BadMapping(f"The table has no column {target!r} an import can fill")
        if target in filled:
            raise BadMapping(f"{filled[target]!r} and {source!r} are both mapped to {target}")
        filled[target] = source
        pairs.append((parsed.header.index(source), specs[target]))
    if not pairs:
        raise BadMapping("Map at least one file column to a table column")
    missing = [
        s.name for s in specs.values() if not s.nullable and not s.has_default
        and s.name not in filled
    ]  # fmt: skip
    if missing:
        raise BadMapping(
            f"{', '.join(missing)} cannot be empty: map a file column to "
            + ("it" if len(missing) == 1 else "each")
        )
    return pairs


# --- validation -----------------------------------------------------------------------------------


@dataclass
class Report:
    """What an import found (and did): rows read, rows that fit, the first errors."""

    rows: int = 0
    valid: int = 0
    inserted: int = 0
    errors: list[dict] = field(default_factory=list)
    error_count: int = 0

    @property
    def invalid(self) -> int:
        return self.rows - self.valid

    def add(self, line: int, column: str | None, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append({"line": line, "column": column, "message": message})

    def as_dict(self) -> dict:
        return {
            "rows": self.rows,
            "valid": self.valid,
            "invalid": self.invalid,
            "inserted": self.inserted,
            "errors": sorted(self.errors, key=lambda e: e["line"]),
            "more_errors": self.error_count - len(self.errors),
        }


def validate(
    opened: OpenTable,
    parsed: CsvFile,
    mapping: dict[str, str] | None = None,
    *,
    keep: bool = False,
) -> tuple[Report, list[dict]]:
    """Check every row, streaming through the file; answers the report and (with `keep`) the
    rows to insert: {column: text from the file, or None}, columns left to their defaults out."""
    specs = specs_of(opened)
    pairs = checked_mapping(opened, parsed, mapping, specs)
    width = len(parsed.header)
    keys = KeyCheck(opened, [s.name for _, s in pairs])
    report, kept = Report(), []
    for line, values in parsed.records():
        report.rows += 1
        if len(values) != width:
            report.add(line, None, f"Line {line} has {len(values)} values; the header has {width}")
            continue
        row, typed, ok = {}, {}, True
        for index, spec in pairs:
            raw = values[index]
            if raw == "":
                if spec.has_default:
                    continue  # left out: the database fills in its default
                if not spec.nullable:
                    report.add(line, spec.name, f"{spec.name} is required")
                    ok = False
                    continue
                row[spec.name] = None
                continue
            try:
                typed[spec.name] = coerce(spec, raw)
            except InvalidValue as exc:
                report.add(line, spec.name, str(exc))
                ok = False
                continue
            row[spec.name] = raw
        if ok and keys.duplicate(report, line, typed, specs):
            ok = False
        if ok:
            report.valid += 1
            if keep:
                kept.append(row)
        keys.flush(report, final=False)
    keys.flush(report, final=True)
    return report, kept


class KeyCheck:
    """Duplicate keys: within the file as rows are read, against the table a batch at a time
    (one query per batch of keys, never one per row)."""

    def __init__(self, opened: OpenTable, mapped: list[str]) -> None:
        self.opened = opened
        self.names = list(opened.table.key_columns)
        # A key the file does not give (an auto-increment id) is the database's to choose.
        self.active = bool(self.names) and all(n in mapped for n in self.names)
        self.seen: dict[tuple, int] = {}
        self.batch: list[tuple[tuple, int]] = []

    def duplicate(self, report: Report, line: int, typed: dict, specs: dict) -> bool:
        if not self.active or any(typed.get(n) is None for n in self.names):
            return False
        key = tuple(to_json(specs[n].kind, typed[n]) for n in self.names)
        first = self.seen.get(key)
        if first is not None:
            report.add(line, self.names[0], f"Duplicate key {_label(key)}: line {first} has it too")
            return True
        self.seen[key] = line
        self.batch.append((key, line))
        return False

    def flush(self, report: Report, final: bool) -> None:
        if not self.batch or (len(self.batch) < KEY_BATCH and not final):
            return
        batch, self.batch = self.batch, []
        existing = self.existing([key for key, _ in batch])
        for key, line in batch:
            if key in existing:
                report.add(line, self.names[0], f"Key {_label(key)} is already in the table")
                report.valid -= 1

    def existing(self, keys: list[tuple]) -> set[tuple]:
        """Which of these keys the table holds already."""
        filters = [
            Filter(name, "in", list({key[i] for key in keys})) for i, name in enumerate(self.names)
        ]
        query = Query(limit=KEY_BATCH, filters=filters, columns=self.names, with_count=False)
        source, config = self.opened.datasource, self.opened.config
        found: set[tuple] = set()
        while True:
            page = source.get_page(config, query)
            found |= {tuple(values[n] for n in self.names) for _, values in page.rows}
            if not page.next:
                return found
            query.cursor = page.next


def _label(key: tuple) -> str:
    return ", ".join(str(v) for v in key)


# --- the import -----------------------------------------------------------------------------------


def check(opened: OpenTable, parsed: CsvFile, mapping: dict[str, str] | None = None) -> Report:
    """The validation report, nothing written (needs write access all the same)."""
    _require(opened, "write", "import rows")
    return validate(opened, parsed, mapping)[0]


def import_csv(
    opened: OpenTable,
    parsed: CsvFile,
    mapping: dict[str, str] | None = None,
    progress: Progress | None = None,
) -> Report:
    """Check every row, then insert them all in one transaction; ImportRefused (nothing
    written) when any row does not fit. Audited per row and announced to open views."""
    _require(opened, "write", "import rows")
    report, rows = validate(opened, parsed, mapping, keep=True)
    if report.invalid:
        raise ImportRefused(report)
    if not rows:
        return report
    audit = ImportAudit(opened, rows)
    audit.begin()
    try:
        keys = opened.datasource.insert_rows(opened.config, rows, progress)
    except DatasourceError as exc:
        if exc.status < 500:  # refused (a constraint): the transaction rolled back
            audit.fail()
        raise  # unreachable or timed out: it may have happened; left to settle()
    audit.confirm(keys)
    report.inserted = len(keys)
    events.publish(
        opened.table.pk,
        {"type": "rows_imported", "count": len(keys), "user": opened.user.get_username()},
    )
    return report


class ImportAudit:
    """One audit entry per imported row (action insert, the whole row as its new value), all
    pending before the insert and confirmed after: written in bulk, a batch at a time."""

    def __init__(self, opened: OpenTable, rows: list[dict]) -> None:
        self.opened = opened
        self.rows = rows
        self.batch = uuid.uuid4()
        self.specs = specs_of(opened)
        self.key_names = list(opened.table.key_columns)
        # Keys given by the file are known before the insert: confirming is then one UPDATE.
        self.keys_known = bool(self.key_names) and all(
            all(row.get(k) is not None for k in self.key_names) for row in rows
        )
        self.ids: list[int] = []

    def typed(self, row: dict) -> dict:
        return {
            n: None if v is None else to_json(self.specs[n].kind, coerce(self.specs[n], v))
            for n, v in row.items()
        }

    def row_key(self, values: dict) -> str:
        return encode_key([values.get(k) for k in self.key_names]) if self.key_names else ""

    def begin(self) -> None:
        # One prepared INSERT run per batch (executemany): building a model instance per row
        # for bulk_create costs more than the user's own insert.
        table, user = self.opened.table, self.opened.user
        constant = {
            "table": table.pk, "table_label": table.label, "user": user.pk,
            "username": user.get_username(), "at": timezone.now(),
            "action": Change.Action.INSERT.value, "column": "", "old_value": None,
            "state": Change.State.PENDING.value, "batch": self.batch,
        }  # fmt: skip
        meta = Change._meta
        names = [*constant, "row_key", "new_value"]
        fields = {n: meta.get_field(n) for n in names}
        prepared = {n: fields[n].get_db_prep_save(v, connection) for n, v in constant.items()}
        quote = connection.ops.quote_name
        sql = (
            f"INSERT INTO {quote(meta.db_table)} "  # noqa: S608
            f"({', '.join(quote(fields[n].column) for n in names)}) "
            f"VALUES ({', '.join(['%s'] * len(names))})"
        )
        new_value = fields["new_value"]
        for start in range(0, len(self.rows), AUDIT_BATCH):
            params = []
            for row in self.rows[start : start + AUDIT_BATCH]:
                values = self.typed(row)
                row_key = self.row_key(values) if self.keys_known else ""
                params.append(
                    (*prepared.values(), row_key, new_value.get_db_prep_save(values, connection))
                )
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.executemany(sql, params)
        # Ids in insertion order: confirming matches them to the keys the insert answers.
        self.ids = list(
            Change.objects.filter(batch=self.batch).order_by("pk").values_list("pk", flat=True)
        )

    def entries(self):
        return Change.objects.filter(batch=self.batch)

    def fail(self) -> None:
        self.entries().update(state=Change.State.FAILED)

    def confirm(self, keys: list[dict]) -> None:
        if self.keys_known:
            self.entries().update(state=Change.State.DONE)
            return
        # Each entry learns its own key: one prepared UPDATE run per batch (executemany), as
        # bulk_update's CASE per field costs seconds per thousand entries.
        meta = Change._meta
        quote = connection.ops.quote_name
        new_value = meta.get_field("new_value")
        state, row_key = (quote(meta.get_field(n).column) for n in ("state", "row_key"))
        sql = (
            f"UPDATE {quote(meta.db_table)} SET {state} = %s, {row_key} = %s, "  # noqa: S608
            f"{quote(new_value.column)} = %s WHERE {quote(meta.pk.column)} = %s"
        )
        for start in range(0, len(self.rows), AUDIT_BATCH):
            params = []
            stop = start + AUDIT_BATCH
            for pk, row, key in zip(self.ids[start:stop], self.rows[start:stop], keys[start:stop],
                                    strict=True):  # fmt: skip
                values = {**self.typed(row), **{k: to_json("", v) for k, v in key.items()}}
                params.append(
                    (Change.State.DONE.value, self.row_key(values),
                     new_value.get_db_prep_value(values, connection), pk)
                )  # fmt: skip
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.executemany(sql, params)
