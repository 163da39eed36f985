"""Turning what a user typed into a value of the column's type, and stored values into JSON.

Validation happens here, before any SQL, so a wrong value is refused with a message that names
the column, whatever the database would have done with it (SQLite would store text in an integer
column).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import math
import uuid
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from itertools import repeat
from operator import itemgetter, methodcaller
from typing import Any

from .errors import InvalidValue

TRUE_WORDS = {"true", "t", "yes", "y", "1", "on"}
FALSE_WORDS = {"false", "f", "no", "n", "0", "off"}
_BOOLEAN_WORDS = frozenset(TRUE_WORDS | FALSE_WORDS)


@dataclass(frozen=True)
class ColumnSpec:
    """What validation needs to know about a column."""

    name: str
    kind: str
    nullable: bool = True
    max_length: int | None = None
    primary_key: bool = False
    has_default: bool = False
    #: The values an enum column allows (empty: any value of its kind).
    choices: tuple[str, ...] = ()


def coerce(spec: ColumnSpec, raw: Any) -> Any:
    """The Python value for `raw` in this column, or InvalidValue saying why it does not fit."""
    if raw is None or (isinstance(raw, str) and raw == "" and spec.kind != "text"):
        if not spec.nullable:
            raise InvalidValue(f"{spec.name} cannot be empty", spec.name)
        return None
    try:
        value = _CONVERTERS.get(spec.kind, _as_is)(raw)
    # RecursionError: JSON text nested deeper than json can read.
    except (
        ValueError,
        TypeError,
        InvalidOperation,
        ArithmeticError,
        OverflowError,
        RecursionError,
    ):
        raise InvalidValue(
            f"{spec.name} needs {_DESCRIPTIONS.get(spec.kind, 'a value')}, not {_shorten(raw)!r}",
            spec.name,
        ) from None
    if spec.kind == "enum" and spec.choices and value not in spec.choices:
        allowed = ", ".join(map(str, spec.choices))
        raise InvalidValue(
            f"{spec.name} must be one of {allowed}, not {_shorten(raw)!r}", spec.name
        )
    if spec.max_length is not None and isinstance(value, str) and len(value) > spec.max_length:
        raise InvalidValue(
            f"{spec.name} takes at most {spec.max_length} characters ({len(value)} given)",
            spec.name,
        )
    return value


def _shorten(raw: Any) -> str:
    text = str(raw)
    return text if len(text) <= 40 else text[:37] + "..."


def _integer(raw: Any) -> int:
    if isinstance(raw, bool):
        raise ValueError
    if isinstance(raw, float):
        if not raw.is_integer():
            raise ValueError
        return int(raw)
    if isinstance(raw, int):
        return raw
    text = str(raw).strip().replace("_", "")
    number = Decimal(text)
    if number != number.to_integral_value():
        raise ValueError
    return int(number)


def _real(raw: Any) -> float:
    if isinstance(raw, bool):
        raise ValueError
    value = float(str(raw).strip()) if isinstance(raw, str) else float(raw)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError
    return value


def _decimal(raw: Any) -> Decimal:
    if isinstance(raw, bool):
        raise ValueError
    value = Decimal(str(raw).strip())
    if not value.is_finite():
        raise ValueError
    return value


def _boolean(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int) and raw in (0, 1):
        return bool(raw)
    word = str(raw).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError


def _date(raw: Any) -> dt.date:
    if isinstance(raw, dt.datetime):
        return raw.date()
    if isinstance(raw, dt.date):
        return raw
    text = str(raw).strip()
    # Accept a datetime string for a date column: grids often send midnight timestamps.
    return dt.date.fromisoformat(text[:10]) if len(text) > 10 else dt.date.fromisoformat(text)


def _datetime(raw: Any) -> dt.datetime:
    if isinstance(raw, dt.datetime):
        return raw
    if isinstance(raw, dt.date):
        return dt.datetime(raw.year, raw.month, raw.day)
    return dt.datetime.fromisoformat(str(raw).strip().replace("Z", "+00:00"))


def _time(raw: Any) -> dt.time:
    if isinstance(raw, dt.time):
        return raw
    return dt.time.fromisoformat(str(raw).strip())


def _text(raw: Any) -> str:
    if isinstance(raw, dict | list):
        raise TypeError
    return raw if isinstance(raw, str) else str(raw)


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text} is not a number JSON can hold")
    return number


def strict_json(text: str | bytes) -> Any:
    """JSON as the standard has it. Python's parser also takes NaN and Infinity (and turns 1e999
    into infinity), which no other program reads back and no database column holds: ValueError."""
    return json.loads(text, parse_float=_finite, parse_constant=_not_json)


def _json(raw: Any) -> Any:
    return strict_json(raw) if isinstance(raw, str) else raw


def _uuid(raw: Any) -> uuid.UUID:
    return raw if isinstance(raw, uuid.UUID) else uuid.UUID(str(raw).strip())


def _read_only(raw: Any) -> Any:
    raise TypeError  # binary and array columns are shown, never edited


def _as_is(raw: Any) -> Any:
    return raw


_CONVERTERS = {
    "integer": _integer,
    "real": _real,
    "decimal": _decimal,
    "boolean": _boolean,
    "date": _date,
    "datetime": _datetime,
    "time": _time,
    "text": _text,
    "enum": _text,
    "json": _json,
    "uuid": _uuid,
    "binary": _read_only,
    "array": _read_only,
}

_DESCRIPTIONS = {
    "integer": "a whole number",
    "real": "a number",
    "decimal": "a decimal number",
    "boolean": "true or false",
    "date": "a date like 2024-12-31",
    "datetime": "a date and time like 2024-12-31 23:59:00",
    "time": "a time like 23:59:00",
    "text": "text",
    "enum": "one of its choices",
    "json": "valid JSON",
    "uuid": "a UUID",
    "binary": "nothing: binary columns are read-only",
    "array": "nothing: array columns are read-only",
}


def to_json(kind: str, value: Any) -> Any:
    """A stored value as JSON for the grid and the API."""
    # The common case first: this runs for every cell of every page.
    plain = type(value)
    if value is None or (plain is float and math.isfinite(value)):
        return value
    if (plain is str or plain is int) and kind != "boolean":
        return value
    if kind == "boolean" and isinstance(value, int | str):
        return _boolean(value) if str(value).strip().lower() in _BOOLEAN_WORDS else value
    if isinstance(value, bytes | bytearray | memoryview):
        return f"({len(bytes(value))} bytes)"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID | dt.timedelta):
        return str(value)
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return str(value)
    if isinstance(value, list | tuple) and kind != "json":
        # Arrays (PostgreSQL) hold dates, decimals... of their own: each becomes JSON too.
        return [to_json("", v) for v in value]
    return value


# Values that are JSON as they are in any column but a boolean one (to_json's first cases).
_AS_IS = frozenset({int, str, type(None)})
_NUMBERS = frozenset({int, float, type(None)})
_INTEGERS = frozenset({int, type(None)})
_BOOLS = frozenset({bool, type(None)})  # as they are, whatever the column's kind
_SQL_BOOLEANS = {0: False, 1: True, None: None}
# Dates and times as to_json writes them, by their exact type (a subclass may differ).
_ISO_TEXT = {
    dt.datetime: methodcaller("isoformat", " "),
    dt.date: dt.date.isoformat,
    dt.time: dt.time.isoformat,
}


def rows_to_json(names: list[str], kinds: list[str], records: list[Any]) -> list[dict[str, Any]]:
    """Rows' values (each in the order of `names`, whose kinds are `kinds`) as JSON by name.

    It runs for every page: column by column, a column of plain numbers, text or true/false
    (most columns) is taken as it is, its types checked in one pass; a column of dates or times
    is written with one call per cell; only other columns go cell by cell through to_json.
    """
    # map, not a comprehension: no Python frame per row. A record may hold more than `names`
    # (columns the query selected to sort by): zip stops at the names.
    rows = list(map(dict, map(zip, repeat(names), records)))
    for at, (name, kind) in enumerate(zip(names, kinds, strict=True)):
        cells = list(map(itemgetter(at), records))
        types = set(map(type, cells))
        if types <= _BOOLS or (
            kind != "boolean" and (types <= _AS_IS or (types <= _NUMBERS and _all_finite(cells)))
        ):
            continue
        stored = types - {type(None)}
        iso = _ISO_TEXT.get(stored.pop()) if len(stored) == 1 else None
        if kind == "boolean" and types <= _INTEGERS and set(cells) <= _SQL_BOOLEANS.keys():
            cells = list(map(_SQL_BOOLEANS.get, cells))  # 0, 1 and NULL: most boolean columns
        elif iso is not None:
            cells = [value if value is None else iso(value) for value in cells]
        else:
            cells = [to_json(kind, value) for value in cells]
        for row, value in zip(rows, cells, strict=True):
            row[name] = value
    return rows


def _all_finite(numbers: list[Any]) -> bool:
    """Whether no number is NaN or infinite: their sum is finite (None and zeros left out)."""
    try:
        return math.isfinite(sum(filter(None, numbers)))
    except OverflowError:  # an integer too large for a float: let to_json look at each
        return False


_KEY_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_URL_SAFE = bytes.maketrans(b"+/", b"-_")


def encode_key(values: list[Any]) -> str:
    """An opaque, URL-safe row key for the values of a row's key columns."""
    # Runs for every row of every page: an integer key (most tables) is written directly, others
    # with one shared encoder, not json.dumps' set-up each time.
    if len(values) == 1 and type(values[0]) is int:
        raw = b"[%d]" % values[0]
    else:
        raw = _KEY_ENCODER.encode([to_json("", v) for v in values]).encode()
    # base64.urlsafe_b64encode, without its two layers of Python calls.
    return binascii.b2a_base64(raw, newline=False).translate(_URL_SAFE).decode().rstrip("=")


def decode_key(key: str, width: int) -> list[Any]:
    """The key columns' values of an opaque row key; InvalidValue when it is not one."""
    try:
        padded = key + "=" * (-len(key) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # nested too deep
        raise InvalidValue("That is not a row key") from exc
    if not isinstance(values, list) or len(values) != width:
        raise InvalidValue("That is not a row key")
    return values


def key_label(key: str, width: int) -> str:
    """A row key as people read it: its values ("42", or "7, A-12" for two key columns)."""
    try:
        return ", ".join("" if v is None else str(v) for v in decode_key(key, width))
    except InvalidValue:
        return key


def key_from_text(text: str, kinds: list[str]) -> str:
    """A row key from what someone typed: an opaque key, or the key values ("42", "7, A-12")."""
    text = text.strip()
    try:
        decode_key(text, len(kinds))
        return text
    except InvalidValue:
        pass
    parts = [p.strip() for p in text.split(",")] if len(kinds) > 1 else [text]
    if len(parts) != len(kinds):
        return text  # matches nothing: the list says so
    values: list[Any] = []
    for part, kind in zip(parts, kinds, strict=True):
        values.append(int(part) if kind == "integer" and part.lstrip("-").isdigit() else part)
    return encode_key(values)
