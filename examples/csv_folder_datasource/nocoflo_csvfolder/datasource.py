"""A read-only datasource over a folder of CSV files: `csvfolder:///absolute/path/to/folder`.

Every `*.csv` file of the folder is a table named after the file (without `.csv`). Files are
streamed with the csv module on every read, never held in memory: a page without a sort stops
reading once it has its rows, a sorted page keeps only the best `offset + limit` rows (heapq),
counts and aggregates keep one number per group. Reads longer than the datasource's
`statement_timeout` are stopped.

Options (the datasource's JSON configuration): `encoding` (default `utf-8-sig`: UTF-8, with or
without a byte order mark), `delimiter` (default `,`) and `sample_rows` (how many rows the column
kinds are inferred from, default 1000).
"""

from __future__ import annotations

import base64
import codecs
import csv
import heapq
import json
import operator
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from datasources_app.base import FILTER_OPS, BaseDatasource, Filter, Page, Query
from datasources_app.errors import (
    DatasourceError,
    DatasourceUnavailable,
    InvalidQuery,
    InvalidValue,
    QueryTimeout,
    ReadOnlyTable,
    RowNotFound,
)
from datasources_app.values import ColumnSpec, coerce

from . import cells, grouping
from .cells import Column, Unparsed

SCHEME = "csvfolder"
SUFFIX = ".csv"
READ_ONLY = "CSV files are read-only in Nocoflo: change the file itself to change its rows."
DEFAULT_ENCODING = "utf-8-sig"
DEFAULT_SAMPLE_ROWS = 1000
MAX_SAMPLE_ROWS = 100_000
# Nocoflo keeps table and column names of at most 255 characters.
MAX_NAME = 255
# How often (in rows) a long read looks at the clock.
CLOCK_EVERY = 4096
_COMPARE = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "lte": operator.le,
    "gt": operator.gt,
    "gte": operator.ge,
}


@dataclass(frozen=True)
class CsvTable:
    """One file of the folder, as a table."""

    name: str
    path: Path
    columns: tuple[Column, ...]

    @property
    def by_name(self) -> dict[str, Column]:
        return {c.name: c for c in self.columns}

    def column(self, name: Any) -> Column:
        found = self.by_name.get(name) if isinstance(name, str) else None
        if found is None:
            raise InvalidQuery(f"The table has no column {name!r}")
        return found


def valid_table_name(name: Any) -> bool:
    """A name that can only mean a file directly inside the folder."""
    return (
        isinstance(name, str)
        and 0 < len(name) <= MAX_NAME
        and name not in (".", "..")
        and not name.startswith(".")
        and not any(ch in name for ch in "/\\")
        and not any(ord(ch) < 32 or ord(ch) == 127 for ch in name)
    )


def column_names(header: list[str]) -> list[str]:
    """Unique, non-empty names of at most MAX_NAME characters for a header row (Nocoflo tells
    columns apart by name; "Name" and "name" count as the same)."""
    names: list[str] = []
    used: set[str] = set()
    for position, raw in enumerate(header, start=1):
        base = "".join(ch if ord(ch) >= 32 else " " for ch in raw).strip()[:MAX_NAME]
        base = base or f"column_{position}"
        name, number = base, 2
        while name.casefold() in used:
            suffix = f"_{number}"
            name = base[: MAX_NAME - len(suffix)] + suffix
            number += 1
        used.add(name.casefold())
        names.append(name)
    return names


def encode_cursor(offset: int) -> str:
    raw = json.dumps({"offset": offset}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidQuery("That is not a cursor from this table") from exc
    offset = data.get("offset") if isinstance(data, dict) else None
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise InvalidQuery("That cursor does not fit this table; start from the first page")
    return offset


class _Reverse:
    """A sort key in descending order."""

    __slots__ = ("key",)

    def __init__(self, key: Any) -> None:
        self.key = key

    def __lt__(self, other: _Reverse) -> bool:
        return other.key < self.key

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reverse) and self.key == other.key

    __hash__ = None  # type: ignore[assignment]


class CsvFolderDatasource(BaseDatasource):
    """The CSV files of one folder, read-only."""

    label = "CSV folder"

    def __init__(self, connection_string: str, config: dict | None = None) -> None:
        super().__init__(connection_string, config)
        # A wrong URL or option is told by every call (test_connection first), never raised
        # here: Nocoflo builds datasources while loading pages.
        self._problem = ""
        self.root = Path("/")
        self.encoding = DEFAULT_ENCODING
        self.delimiter = ","
        self.sample_rows = DEFAULT_SAMPLE_ROWS
        try:
            self.root = folder_of(connection_string)
            self._read_options(self.config)
        except DatasourceUnavailable as exc:
            self._problem = str(exc)
        self.timeout = float(self.config.get("statement_timeout") or 10)
        self._schemas: dict[tuple, tuple[Column, ...]] = {}
        self._lock = threading.Lock()

    def _read_options(self, config: dict) -> None:
        encoding = config.get("encoding", DEFAULT_ENCODING)
        try:
            codecs.lookup(str(encoding))
        except LookupError:
            raise DatasourceUnavailable(f"Unknown encoding {encoding!r} in the options") from None
        self.encoding = str(encoding)
        delimiter = config.get("delimiter", ",")
        if not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in '\r\n"':
            raise DatasourceUnavailable("The delimiter option must be one character, like , or ;")
        self.delimiter = delimiter
        sample = config.get("sample_rows", DEFAULT_SAMPLE_ROWS)
        if not isinstance(sample, int) or isinstance(sample, bool):
            raise DatasourceUnavailable("The sample_rows option must be a whole number")
        if not 1 <= sample <= MAX_SAMPLE_ROWS:
            raise DatasourceUnavailable(f"sample_rows must be between 1 and {MAX_SAMPLE_ROWS:,}")
        self.sample_rows = sample

    # --- the folder and its files ---------------------------------------------------------------

    def folder(self) -> Path:
        """The folder, or DatasourceUnavailable saying what is wrong with it."""
        if self._problem:
            raise DatasourceUnavailable(self._problem)
        if not self.root.exists():
            raise DatasourceUnavailable(f"The folder {self.root} does not exist")
        if not self.root.is_dir():
            raise DatasourceUnavailable(f"{self.root} is not a folder")
        if not os.access(self.root, os.R_OK | os.X_OK):
            raise DatasourceUnavailable(f"The folder {self.root} cannot be read (permissions)")
        return self.root

    def _files(self) -> dict[str, Path]:
        """Table name -> file, for every CSV file directly inside the folder."""
        folder = self.folder()
        inside = folder.resolve()
        found: dict[str, Path] = {}
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            raise DatasourceUnavailable(
                f"The folder {folder} cannot be read: {exc.strerror}"
            ) from None
        for entry in entries:
            stem, suffix = os.path.splitext(entry.name)
            if suffix.lower() != SUFFIX or not valid_table_name(stem) or stem in found:
                continue
            path = Path(entry.path)
            if self._inside(path, inside):
                found[stem] = path
        return found

    @staticmethod
    def _inside(path: Path, inside: Path) -> bool:
        """A regular file whose real place is directly in the folder (not a link out of it)."""
        try:
            real = path.resolve(strict=True)
        except (OSError, RuntimeError):
            return False
        return real.parent == inside and real.is_file()

    def _path(self, table_config: dict) -> tuple[str, Path]:
        name = table_config.get("name") if isinstance(table_config, dict) else None
        if not valid_table_name(name):
            raise InvalidQuery(f"{name!r} is not a table of this folder")
        folder = self.folder()
        path = folder / f"{name}{SUFFIX}"
        if not path.exists():  # another spelling of the suffix (.CSV)
            path = self._files().get(name, path)
        if not path.exists():
            raise RowNotFound(f"The table {name!r} does not exist in the folder (any more)")
        if not self._inside(path, folder.resolve()):
            raise InvalidQuery(f"{name!r} is not a table of this folder")
        return name, path

    def _table(self, table_config: dict) -> CsvTable:
        name, path = self._path(table_config)
        try:
            stat = path.stat()
        except OSError as exc:
            raise DatasourceUnavailable(f"{path.name} cannot be read: {exc.strerror}") from None
        ident = (str(path), stat.st_mtime_ns, stat.st_size)
        with self._lock:
            columns = self._schemas.get(ident)
        if columns is None:
            columns = self._infer(name, path)
            with self._lock:
                # Only the file's current version is worth keeping.
                for old in [k for k in self._schemas if k[0] == ident[0]]:
                    del self._schemas[old]
                self._schemas[ident] = columns
        return CsvTable(name=name, path=path, columns=columns)

    def _infer(self, name: str, path: Path) -> tuple[Column, ...]:
        header: list[str] = []
        sample: list[list[str]] = []
        with closing(self._read(path, with_header=True)) as records:
            for number, row in records:
                if number == 0:
                    header = row
                    continue
                sample.append(row)
                if len(sample) >= self.sample_rows:
                    break
        names = column_names(header)
        return tuple(
            cells.infer(name, index, (row[index] if index < len(row) else "" for row in sample))
            for index, name in enumerate(names)
        )

    def _read(self, path: Path, with_header: bool = False) -> Iterator[tuple[int, list[str]]]:
        """The file's records as (row number, cells): the header is number 0 (skipped unless
        asked for), data rows count from 1; blank lines are skipped. Encoding and CSV problems
        become messages naming the file and the line."""
        deadline = time.monotonic() + self.timeout
        try:
            handle = open(path, newline="", encoding=self.encoding, errors="strict")
        except FileNotFoundError:
            raise RowNotFound(f"The file {path.name} no longer exists in the folder") from None
        except OSError as exc:
            raise DatasourceUnavailable(f"{path.name} cannot be read: {exc.strerror}") from None
        with handle:
            reader = csv.reader(handle, delimiter=self.delimiter, strict=False)
            number = 0
            try:
                header = next(reader, None)
                if header is None:
                    return
                if with_header:
                    yield 0, header
                for row in reader:
                    if not row:
                        continue
                    number += 1
                    if number % CLOCK_EVERY == 0 and time.monotonic() > deadline:
                        raise QueryTimeout(
                            f"Reading {path.name} took longer than {self.timeout:g} seconds and "
                            "was stopped"
                        )
                    yield number, row
            except UnicodeDecodeError:
                line = self._undecodable_line(path)
                where = f" (line {line})" if line else ""
                raise DatasourceError(
                    f"{path.name} is not valid {self.encoding} text{where}: save it as UTF-8, "
                    "or set the datasource's encoding option to the file's encoding "
                    "(e.g. latin-1)"
                ) from None
            except csv.Error as exc:
                raise DatasourceError(
                    f"{path.name} cannot be read as CSV (line {reader.line_num}): {exc}"
                ) from None

    def _undecodable_line(self, path: Path) -> int | None:
        """The first line of the file that is not text in the encoding (the decoder reads ahead
        in large blocks, so where it failed says little): one more pass, only after an error."""
        decoder = codecs.getincrementaldecoder(self.encoding)(errors="strict")
        number = 0
        try:
            with open(path, "rb") as handle:
                for line in handle:
                    number += 1
                    decoder.decode(line)
        except UnicodeDecodeError:
            return number
        except OSError:
            return None
        return None

    # --- the contract: schema -------------------------------------------------------------------

    def test_connection(self, connection_config: dict | None = None) -> bool:
        self._files()
        return True

    def list_tables(self) -> list[dict]:
        return [
            {"name": name, "schema": "", "is_view": False, "read_only_reason": READ_ONLY}
            for name in self._files()
        ]

    def get_schema(self, table_config: dict) -> list[dict]:
        return [
            {
                "name": c.name,
                "kind": c.kind,
                "db_type": f"CSV {c.kind}",
                "nullable": c.nullable,
                "primary_key": False,
                "default": "",
                "max_length": None,
                "references": "",
                "choices": [],
            }
            for c in self._table(table_config).columns
        ]

    def key_columns_for(self, table_config: dict) -> list[str]:
        """None: rows of a CSV file have no key, and the tables are read-only."""
        return []

    def forget(self, table_config: dict | None = None) -> None:
        with self._lock:
            self._schemas.clear()

    # --- the contract: reading ------------------------------------------------------------------

    def get_table_data(self, table_config: dict, limit: int = 100) -> tuple[list[str], list[tuple]]:
        page = self.get_page(table_config, Query(limit=limit, with_count=False))
        return page.columns, [tuple(values.values()) for _, values in page.rows]

    def get_page(self, table_config: dict, query: Query) -> Page:
        table = self._table(table_config)
        names = [table.column(n).name for n in query.columns] if query.columns else None
        shown = [table.by_name[n] for n in names] if names else list(table.columns)
        offset = decode_cursor(query.cursor) if query.cursor else max(int(query.offset), 0)
        limit = max(int(query.limit), 0)
        accept = self.matcher(table, query)
        order = self._order(table, query.sort)
        matched = 0
        chosen: list[list[str]]
        with closing(self._read(table.path)) as records:
            if order is not None:

                def candidates() -> Iterator[tuple[tuple, list[str]]]:
                    nonlocal matched
                    for number, row in records:
                        if accept(row):
                            matched += 1
                            yield order(row, number), row

                # The best offset + limit rows, never more: heapq keeps them as rows stream by
                # (the row number ends every key, so rows themselves are never compared).
                best = heapq.nsmallest(offset + limit, candidates())
                chosen = [row for _, row in best[offset:]]
            else:
                chosen = []
                for _, row in records:
                    if not accept(row):
                        continue
                    matched += 1
                    if offset < matched <= offset + limit:
                        chosen.append(row)
                    elif matched > offset + limit and not query.with_count:
                        break
        values = [{c.name: cells.shown(c.kind, _cell(row, c)) for c in shown} for row in chosen]
        return Page(
            columns=[c.name for c in shown],
            rows=[({}, v) for v in values],
            count=matched if query.with_count else None,
            next=encode_cursor(offset + limit) if limit and len(chosen) == limit else None,
        )

    def count(self, table_config: dict, query: Query) -> int | None:
        table = self._table(table_config)
        accept = self.matcher(table, query)
        with closing(self._read(table.path)) as records:
            return sum(1 for _, row in records if accept(row))

    def get_row(self, table_config: dict, key: dict) -> dict | None:
        """The first row holding these values (CSV rows have no key: any columns identify)."""
        table = self._table(table_config)
        if not isinstance(key, dict) or not key:
            raise InvalidQuery("Rows of a CSV file have no key: name the values to look for")
        wanted = [Filter(name, "eq", value) for name, value in key.items()]
        accept = self.matcher(table, Query(filters=wanted))
        with closing(self._read(table.path)) as records:
            for _, row in records:
                if accept(row):
                    return {c.name: cells.shown(c.kind, _cell(row, c)) for c in table.columns}
        return None

    def aggregate(self, table_config: dict, spec: Any) -> dict:
        table = self._table(table_config)
        accept = self.matcher(table, spec.query) if spec.query is not None else _always

        def scan() -> Iterator[list[str]]:
            with closing(self._read(table.path)) as records:
                for _, row in records:
                    if accept(row):
                        yield row

        return grouping.aggregate(table, spec, scan)

    # --- filters, search and sort ---------------------------------------------------------------

    def matcher(self, table: CsvTable, query: Query) -> Callable[[list[str]], bool]:
        """A test of a row for the query's filters and search (all of them must hold)."""
        tests = [self._filter(table, flt) for flt in query.filters]
        if query.search:
            shown = set(query.columns or table.by_name)
            texts = [c for c in table.columns if c.kind == "text" and c.name in shown]
            needle = query.search.lower()
            tests.append(lambda row: any(needle in (_cell(row, c) or "").lower() for c in texts))
        if not tests:
            return _always
        if len(tests) == 1:
            return tests[0]
        return lambda row: all(test(row) for test in tests)

    def _filter(self, table: CsvTable, flt: Filter) -> Callable[[list[str]], bool]:
        if not isinstance(flt, Filter) or flt.op not in FILTER_OPS:
            raise InvalidQuery(f"Unknown filter operator {getattr(flt, 'op', flt)!r}")
        column = table.column(flt.column)
        kind, op = column.kind, flt.op

        def value_of(row: list[str]) -> Any:
            return cells.typed(kind, _cell(row, column))

        if op == "isnull":
            return lambda row: value_of(row) is None
        if op == "notnull":
            return lambda row: value_of(row) is not None
        if op in ("contains", "startswith"):
            needle = str(flt.value if flt.value is not None else "").lower()
            starts = op == "startswith"

            def matches_text(row: list[str]) -> bool:
                text = cells.as_text(cells.shown(kind, _cell(row, column)))
                if text is None:
                    return False
                return text.lower().startswith(needle) if starts else needle in text.lower()

            return matches_text
        if op == "in":
            raw_values = flt.value if isinstance(flt.value, list) else [flt.value]
            allowed = {self._filter_value(column, v) for v in raw_values} - {None}

            def is_in(row: list[str]) -> bool:
                value = value_of(row)
                return _plain(value) and value in allowed

            return is_in
        wanted = self._filter_value(column, flt.value)
        if wanted is None:  # as SQL reads "= NULL" here: empty; any other op: not empty
            if op == "eq":
                return lambda row: value_of(row) is None
            return lambda row: value_of(row) is not None
        compare = _COMPARE[op]

        def compares(row: list[str]) -> bool:
            value = value_of(row)
            if op == "ne":  # a cell that is no value of the kind differs from every value
                return value is not None and (isinstance(value, Unparsed) or value != wanted)
            return _plain(value) and compare(value, wanted)

        return compares

    @staticmethod
    def _filter_value(column: Column, raw: Any) -> Any:
        try:
            value = coerce(ColumnSpec(name=column.name, kind=column.kind), raw)
        except InvalidValue as exc:
            raise InvalidQuery(f"Filter on {column.name}: {exc}") from exc
        return cells.comparable(value)

    def _order(
        self, table: CsvTable, sort: list[tuple[str, bool]]
    ) -> Callable[[list[str], int], tuple] | None:
        """The sort key of a row (ties in file order), or None when unsorted."""
        if not sort:
            return None
        parts = [(table.column(name), bool(desc)) for name, desc in sort]

        def key(row: list[str], number: int) -> tuple:
            found: list[Any] = []
            for column, desc in parts:
                part = cells.sort_key(cells.typed(column.kind, _cell(row, column)))
                found.append(_Reverse(part) if desc else part)
            found.append(number)
            return tuple(found)

        return key

    # --- the contract: writing (refused) --------------------------------------------------------

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise ReadOnlyTable(READ_ONLY)

    def update_cell(self, table_config, pk_col, pk_value, column, new_value) -> bool:
        return self._refuse()

    def insert_row(self, table_config: dict, data: dict) -> dict:
        return self._refuse()

    def insert_rows(self, table_config, rows, progress=None) -> list[dict]:
        return self._refuse()

    def delete_row(self, table_config: dict, pk_col: str, pk_value: Any) -> bool:
        return self._refuse()

    def update_row(self, table_config, key, values, expected=None) -> dict:
        return self._refuse()

    def delete_by_key(self, table_config, key, expected=None) -> bool:
        return self._refuse()


def folder_of(connection_string: str) -> Path:
    """The folder a `csvfolder:///absolute/path` URL names."""
    parts = urlsplit(str(connection_string))
    if parts.scheme.lower() != SCHEME:
        raise DatasourceUnavailable(f"A CSV folder URL starts with {SCHEME}:///")
    if parts.netloc not in ("", "localhost"):
        raise DatasourceUnavailable(
            f"A CSV folder URL names a folder of this server: {SCHEME}:///absolute/path "
            "(three slashes)"
        )
    path = unquote(parts.path)
    if not path.startswith("/") or "\x00" in path:
        raise DatasourceUnavailable(f"Give the folder's absolute path: {SCHEME}:///path/to/folder")
    return Path(path)


def _cell(row: list[str], column: Column) -> str | None:
    return row[column.index] if column.index < len(row) else None


def _plain(value: Any) -> bool:
    """A value of the column's kind (neither empty nor unparsed)."""
    return value is not None and not isinstance(value, Unparsed)


def _always(row: list[str]) -> bool:
    return True
