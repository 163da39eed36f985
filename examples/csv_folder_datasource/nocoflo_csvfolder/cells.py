"""What the text of a CSV cell means: column kinds inferred from a sample, typed values for
comparing and sorting, and values as JSON for the grid.

A CSV file has no types: each column's kind (integer, real, boolean, date, datetime or text) is
inferred from the first rows. An empty cell is NULL. A later cell that does not fit its column's
kind (a word in a number column) is shown as it is written, never equals a filter's value, and
sorts after every value that fits.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

KINDS = ("integer", "real", "boolean", "date", "datetime", "text")
# The first kind (in this order) that every sampled value fits is the column's.
_INFERRED = ("integer", "real", "boolean", "date", "datetime")

# ASCII digits only (\d would take other scripts' digits, which int() reads but people do not).
_INTEGER = re.compile(r"[+-]?[0-9]+\Z")
_REAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")
# "007" and "0123" are codes (zip codes, ids), not numbers: they stay text.
_LEADING_ZERO = re.compile(r"[+-]?0[0-9]")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
_DATETIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?"
    r"(?:Z|[+-][0-9]{2}:?[0-9]{2})?\Z"
)
TRUE_WORDS = frozenset({"true", "yes"})
FALSE_WORDS = frozenset({"false", "no"})


@dataclass(frozen=True)
class Unparsed:
    """A cell that does not fit its column's kind, kept as written."""

    text: str


@dataclass(frozen=True)
class Column:
    name: str
    index: int  # position in the file's rows
    kind: str
    nullable: bool


# --- parsing -------------------------------------------------------------------------------------


def _integer(text: str) -> int:
    if not _INTEGER.match(text) or _LEADING_ZERO.match(text):
        raise ValueError(text)
    return int(text)


def _real(text: str) -> float:
    if not _REAL.match(text) or _LEADING_ZERO.match(text):
        raise ValueError(text)
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def _boolean(text: str) -> bool:
    word = text.lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(text)


def _date(text: str) -> dt.date:
    if not _DATE.match(text):
        raise ValueError(text)
    return dt.date.fromisoformat(text)


def _datetime(text: str) -> dt.datetime:
    if _DATE.match(text):
        day = dt.date.fromisoformat(text)
        return dt.datetime(day.year, day.month, day.day)
    if not _DATETIME.match(text):
        raise ValueError(text)
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


_PARSERS = {
    "integer": _integer,
    "real": _real,
    "boolean": _boolean,
    "date": _date,
    "datetime": _datetime,
}


def fits(kind: str, text: str) -> bool:
    try:
        _PARSERS[kind](text)
    except (ValueError, OverflowError):
        return False
    return True


def comparable(value: Any) -> Any:
    """A value as it compares: aware datetimes in UTC without their zone (so they compare with
    naive ones, which are taken as UTC)."""
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def _parsed(kind: str, raw: str | None) -> Any:
    """The cell's value of the column's kind: None (empty), the text itself for text columns,
    or Unparsed when it does not read as that kind."""
    if raw is None or raw == "":
        return None
    if kind == "text":
        return raw
    text = raw.strip()
    if not text:
        return None
    try:
        return _PARSERS[kind](text)
    except (ValueError, OverflowError):
        return Unparsed(raw)


def typed(kind: str, raw: str | None) -> Any:
    """The cell's value for comparing and sorting: None (empty), a value of the column's kind,
    or Unparsed."""
    value = _parsed(kind, raw)
    return value if kind == "text" or isinstance(value, Unparsed) else comparable(value)


def shown(kind: str, raw: str | None) -> Any:
    """The cell as JSON for the grid and the API (what `values.to_json` gives for a database)."""
    value = _parsed(kind, raw)
    if isinstance(value, Unparsed):
        return raw
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def as_text(value: Any) -> str | None:
    """A shown value as the text `contains` and `startswith` look in."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def sort_key(value: Any) -> tuple:
    """Orders a column's typed values: NULL first, then the values, then the unparsed ones."""
    if value is None:
        return (0,)
    if isinstance(value, Unparsed):
        return (2, value.text)
    return (1, value)


# --- inference -----------------------------------------------------------------------------------


def infer(name: str, index: int, sample: Iterable[str]) -> Column:
    """A column's kind and nullability from the texts of its first cells."""
    candidates = list(_INFERRED)
    nullable = False
    seen = False
    for raw in sample:
        text = raw.strip()
        if not text:
            nullable = True
            continue
        seen = True
        candidates = [kind for kind in candidates if fits(kind, text)]
    kind = candidates[0] if seen and candidates else "text"
    return Column(name=name, index=index, kind=kind, nullable=nullable or not seen)
