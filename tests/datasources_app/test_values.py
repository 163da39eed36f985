"""Validation and JSON conversion of cell values, and opaque row keys."""

import base64
import datetime as dt
import json
import uuid
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from datasources_app.errors import InvalidValue
from datasources_app.values import (
    ColumnSpec,
    coerce,
    decode_key,
    encode_key,
    rows_to_json,
    to_json,
)

pytestmark = pytest.mark.unit


def spec(kind, **kwargs):
    return ColumnSpec(name="col", kind=kind, **kwargs)


@pytest.mark.parametrize(
    ("kind", "raw", "expected"),
    [
        ("integer", 42, 42),
        ("integer", "42", 42),
        ("integer", " 1_000 ", 1000),
        ("integer", "3.0", 3),
        ("integer", 7.0, 7),
        ("real", "2.5", 2.5),
        ("real", 3, 3.0),
        ("decimal", "12.30", Decimal("12.30")),
        ("decimal", 4, Decimal(4)),
        ("boolean", True, True),
        ("boolean", 0, False),
        ("boolean", "Yes", True),
        ("boolean", " off ", False),
        ("date", "2024-02-29", dt.date(2024, 2, 29)),
        ("date", "2024-02-29 00:00:00", dt.date(2024, 2, 29)),
        ("date", dt.datetime(2024, 1, 2, 3, 4), dt.date(2024, 1, 2)),
        ("date", dt.date(2024, 1, 2), dt.date(2024, 1, 2)),
        ("datetime", "2024-12-31 23:59:00", dt.datetime(2024, 12, 31, 23, 59)),
        ("datetime", "2024-12-31T23:59:00Z", dt.datetime(2024, 12, 31, 23, 59, tzinfo=dt.UTC)),
        ("datetime", dt.date(2024, 1, 2), dt.datetime(2024, 1, 2)),
        ("datetime", dt.datetime(2024, 1, 2, 5), dt.datetime(2024, 1, 2, 5)),
        ("time", "23:59:01", dt.time(23, 59, 1)),
        ("time", dt.time(1, 2), dt.time(1, 2)),
        ("text", "hello", "hello"),
        ("text", 12, "12"),
        ("text", "", ""),
        ("json", '{"a": [1, 2]}', {"a": [1, 2]}),
        ("json", [1, 2], [1, 2]),
        (
            "uuid",
            "12345678-1234-5678-1234-567812345678",
            uuid.UUID(int=0x12345678123456781234567812345678),
        ),
        ("other", object, object),
    ],
)
def test_coerce_accepts_values_of_the_column_kind(kind, raw, expected):
    assert coerce(spec(kind), raw) == expected


def test_coerce_keeps_uuid_objects():
    value = uuid.uuid4()
    assert coerce(spec("uuid"), value) is value


@pytest.mark.parametrize(
    ("kind", "raw"),
    [
        ("integer", "abc"),
        ("integer", "1.5"),
        ("integer", 1.5),
        ("integer", True),
        ("integer", [1]),
        ("real", "nan"),
        ("real", "inf"),
        ("real", False),
        ("real", "one"),
        ("decimal", "Infinity"),
        ("decimal", True),
        ("decimal", "x"),
        ("boolean", "maybe"),
        ("boolean", 2),
        ("date", "2024-02-30"),
        ("datetime", "yesterday"),
        ("time", "25:00"),
        ("text", {"a": 1}),
        ("text", [1]),
        ("json", "{not json"),
        ("uuid", "not-a-uuid"),
        ("binary", "abc"),
    ],
)
def test_coerce_refuses_values_that_do_not_fit(kind, raw):
    with pytest.raises(InvalidValue) as info:
        coerce(spec(kind), raw)
    assert info.value.column == "col"
    assert str(info.value).startswith("col needs ")


def test_coerce_message_shortens_long_values():
    with pytest.raises(InvalidValue) as info:
        coerce(spec("integer"), "x" * 100)
    assert "x" * 37 + "..." in str(info.value)
    assert "x" * 41 not in str(info.value)


def test_empty_values_become_null_only_where_allowed():
    assert coerce(spec("integer"), "") is None
    assert coerce(spec("date"), None) is None
    with pytest.raises(InvalidValue, match="col cannot be empty") as info:
        coerce(spec("integer", nullable=False), "")
    assert info.value.column == "col"
    with pytest.raises(InvalidValue, match="cannot be empty"):
        coerce(spec("text", nullable=False), None)
    # An empty string is a value in a text column, not a NULL.
    assert coerce(spec("text", nullable=False), "") == ""


def test_max_length_is_enforced_for_text():
    assert coerce(spec("text", max_length=3), "abc") == "abc"
    with pytest.raises(InvalidValue, match=r"at most 3 characters \(4 given\)"):
        coerce(spec("text", max_length=3), "abcd")


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("integer", None, None),
        ("boolean", 1, True),
        ("boolean", "0", False),
        ("boolean", "perhaps", "perhaps"),
        ("", b"\x00\x01\x02", "(3 bytes)"),
        ("", memoryview(b"ab"), "(2 bytes)"),
        ("", dt.datetime(2024, 1, 2, 3, 4, 5), "2024-01-02 03:04:05"),
        ("", dt.date(2024, 1, 2), "2024-01-02"),
        ("", dt.time(3, 4), "03:04:00"),
        ("", Decimal("1.50"), "1.50"),
        ("", uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
        ("", dt.timedelta(hours=1), "1:00:00"),
        ("", float("nan"), "nan"),
        ("", float("inf"), "inf"),
        ("", 2.5, 2.5),
        ("text", "plain", "plain"),
        ("", True, True),
        ("json", [1, {"a": 2}], [1, {"a": 2}]),
        ("integer", 7, 7),
        ("boolean", None, None),
    ],
)
def test_to_json(kind, value, expected):
    assert to_json(kind, value) == expected


@pytest.mark.parametrize(
    "values", [[1], ["a/b+c=?", 2], ["naïve 名前", None], [dt.date(2024, 1, 2)], [""]]
)
def test_row_keys_round_trip_and_are_url_safe(values):
    key = encode_key(values)
    assert all(ch.isalnum() or ch in "-_" for ch in key)
    assert decode_key(key, len(values)) == [to_json("", v) for v in values]


@pytest.mark.parametrize(
    "key", ["%%%", "////", "bm90IGpzb24", encode_key([1, 2]), "eyJhIjoxfQ", "_w"]
)
def test_garbage_row_keys_are_refused(key):
    with pytest.raises(InvalidValue, match="not a row key"):
        decode_key(key, 1)


def test_enums_take_only_their_choices():
    mood = spec("enum", choices=("happy", "sad"), nullable=False)
    assert coerce(mood, "sad") == "sad"
    with pytest.raises(InvalidValue, match="col must be one of happy, sad, not 'Sad'") as refused:
        coerce(mood, "Sad")
    assert refused.value.column == "col"
    with pytest.raises(InvalidValue, match="cannot be empty"):
        coerce(mood, "")
    assert coerce(spec("enum"), "anything") == "anything"  # choices unknown: any text
    assert ColumnSpec("c", "text").choices == ()


@pytest.mark.parametrize("kind", ["array", "binary"])
def test_arrays_and_binary_values_are_never_written(kind):
    with pytest.raises(InvalidValue, match="read-only"):
        coerce(spec(kind), [1, 2])


def test_arrays_are_shown_as_json_lists_of_json_values():
    value = [Decimal("1.50"), dt.date(2024, 1, 2), [uuid.UUID(int=1), None], "x"]
    assert to_json("array", value) == [
        "1.50", "2024-01-02", ["00000000-0000-0000-0000-000000000001", None], "x",
    ]  # fmt: skip
    assert to_json("json", [1, {"a": None}]) == [1, {"a": None}]  # JSON documents stay as they are
    assert to_json("decimal", Decimal("12345678901234.5678")) == "12345678901234.5678"


def test_key_label_and_key_from_text():
    from datasources_app.values import encode_key, key_from_text, key_label

    assert key_label(encode_key([42]), 1) == "42"
    assert key_label(encode_key([7, "A-12"]), 2) == "7, A-12"
    assert key_label("not-a-key", 1) == "not-a-key"
    assert key_from_text(" 42 ", ["integer"]) == encode_key([42])
    assert key_from_text("7, A-12", ["integer", "text"]) == encode_key([7, "A-12"])
    assert key_from_text(encode_key([42]), ["integer"]) == encode_key([42])
    assert key_from_text("abc", ["text"]) == encode_key(["abc"])
    assert key_from_text("1, 2, 3", ["integer", "integer"]) == "1, 2, 3"  # matches no row


# --- whole pages: rows_to_json is to_json, cell by cell ---------------------------------------

KINDS = ["integer", "real", "text", "boolean", "datetime", "json", "decimal", "blob", ""]
CELLS = [
    None, 0, 1, -7, 2**63 - 1, 2**70, 0.0, 1.5, -2.25, 1e308, float("nan"), float("inf"),
    float("-inf"), "", "text", "0", "yes", True, False, b"\x00\x01", Decimal("1.10"),
    dt.datetime(2026, 1, 2, 3, 4, 5), dt.date(2026, 1, 2), [1, dt.date(2026, 1, 2)],
    dt.time(3, 4, 5, 6), dt.datetime(2026, 1, 2, tzinfo=dt.UTC),
    {"a": 1}, uuid.UUID(int=5),
]  # fmt: skip


@given(
    st.lists(st.sampled_from(KINDS), min_size=1, max_size=5).flatmap(
        lambda kinds: st.tuples(
            st.just(kinds),
            st.lists(
                st.lists(st.sampled_from(CELLS), min_size=len(kinds), max_size=len(kinds)),
                max_size=6,
            ),
        )
    )
)
def test_rows_to_json_converts_each_cell_as_to_json_does(page):
    kinds, records = page
    names = [f"c{i}" for i in range(len(kinds))]
    expected = [
        {n: to_json(k, v) for n, k, v in zip(names, kinds, record, strict=True)}
        for record in records
    ]
    got = rows_to_json(names, kinds, records)
    # NaN is not equal to itself: compare as text.
    assert repr(got) == repr(expected)


def test_rows_to_json_takes_plain_columns_as_they_are():
    names, kinds = ["id", "price", "paid", "when"], ["integer", "real", "boolean", "datetime"]
    records = [(1, 2.5, 1, dt.datetime(2026, 1, 2, 3, 4)), (2, None, 0, None)]
    assert rows_to_json(names, kinds, records) == [
        {"id": 1, "price": 2.5, "paid": True, "when": "2026-01-02 03:04:00"},
        {"id": 2, "price": None, "paid": False, "when": None},
    ]
    inf = rows_to_json(["price"], ["real"], [(1.0,), (float("inf"),)])
    assert inf == [{"price": 1.0}, {"price": "inf"}]


class Stamp(dt.datetime):
    """A datetime of a type of its own (as drivers may give), written its own way."""

    def isoformat(self, sep: str = "T", timespec: str = "auto") -> str:
        return f"stamp {self.day}"


def test_rows_to_json_writes_date_and_time_columns_as_to_json_does():
    utc = dt.UTC
    columns = {
        "when": [dt.datetime(2026, 1, 2, 3, 4, 5, 6), None, dt.datetime(2026, 1, 2, tzinfo=utc)],
        "day": [dt.date(2026, 1, 2), dt.date(1999, 12, 31), None],
        "at": [dt.time(3, 4), None, dt.time(23, 59, 59, 999999)],
        "stamp": [Stamp(2026, 1, 2), None, Stamp(2026, 1, 3)],
    }
    kinds = ["datetime", "date", "time", "datetime"]
    records = list(zip(*columns.values(), strict=True))
    assert rows_to_json(list(columns), kinds, records) == [
        {"when": "2026-01-02 03:04:05.000006", "day": "2026-01-02", "at": "03:04:00",
         "stamp": "stamp 2"},
        {"when": None, "day": "1999-12-31", "at": None, "stamp": None},
        {"when": "2026-01-02 00:00:00+00:00", "day": None, "at": "23:59:59.999999",
         "stamp": "stamp 3"},
    ]  # fmt: skip


@pytest.mark.parametrize("values", [[42], [-1], [0], [2**70], ["a"], [1, "b"], [None], [True]])
def test_an_integer_key_is_the_same_key_written_the_short_way(values):
    # Keys are stored (the audit log's row_key): the short way must write the very same text.
    long_way = json.dumps([to_json("", v) for v in values], separators=(",", ":"))
    assert encode_key(values) == base64.urlsafe_b64encode(long_way.encode()).decode().rstrip("=")
    assert decode_key(encode_key(values), len(values)) == [to_json("", v) for v in values]
