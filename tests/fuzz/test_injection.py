"""A corpus of hostile input, through the API, against a fresh database of each datasource type
(SQLite, PostgreSQL, MariaDB; tests/backends.py): hostile identifiers in sort, filters, columns
and values; hostile values for every column kind; oversized and broken bodies; broken filters;
broken CSV files to the import.

Every answer is below 500 and is JSON with a `message` a person can read (no traceback); what
is refused writes nothing: the database's tables and the audit log are compared before and after.
A value that is valid however hostile it looks (SQL in a text column) is stored verbatim.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from core.models import ApiToken, Change, TableGrant
from datasources_app.errors import InvalidValue
from datasources_app.values import encode_key
from tests.backends import HOSTILE_TABLE
from tests.factories import UserFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

TABLES = ("typed", "pairs", "Mixed Case", "notes", HOSTILE_TABLE)
SQL = "'; DROP TABLE typed; --"
HUGE = 10_000

HOSTILE_NAMES = [
    SQL, '" OR 1=1 --', "`; DROP TABLE typed; #", "name\x00; DROP TABLE typed", "naïve 名前 🚀",
    "x" * HUGE, " ", "-", ",", "id, name", "*", "(SELECT 1)", "typed.name", "ID", "\\", "`",
    "%", "\u202eeman",
]  # fmt: skip

# Values however hostile a text column must store verbatim.
TEXTS = [SQL, "\\'; SELECT 1; --", "`x` \"y\" 'z'", "%_*?", "名前 ✓ 🚀 \u202e", "x" * HUGE]

# (column, value): values that do not fit the column, to be refused with nothing written.
WRONG = [
    (column, value)
    for column in ("qty", "price", "ratio", "active", "born", "alarm", "seen", "token")
    for value in (SQL, "x" * HUGE, [], {"a": [1, {"b": None}]})
] + [
    ("qty", 10**30), ("qty", -(10**30)), ("qty", 1.5), ("qty", "1e400"), ("qty", True),
    ("price", "NaN"), ("price", "Infinity"), ("price", "-Infinity"),
    ("ratio", "NaN"), ("ratio", "Infinity"), ("ratio", "1e400"), ("ratio", True),
    ("active", "maybe"), ("active", 2), ("born", "2024-02-30"), ("born", 10**12),
    ("alarm", "25:61"), ("seen", "9999999-01-01"), ("name", None), ("name", "x" * 11),
    ("name", ["Ann"]), ("meta", "{not json"), ("meta", "[" * HUGE), ("meta", "NaN"),
    ("id", "1 OR 1=1"), ("photo", "AA=="),
    ("mood", "angry"), ("mood", SQL), ("note", {"nested": "object"}),
    (SQL, 1), ("name\x00", "x"), ("x" * HUGE, 1),
]  # fmt: skip

BROKEN_FILTERS = [
    "[", "{}", "null", '"x"', "1", "[1, 2]", "[null]", '[{"column": "id"}]',
    '[{"column": "id", "op": "nope", "value": 1}]', '[{"column": 1, "op": "eq", "value": 1}]',
    '[{"column": "qty", "op": "gt", "value": "many"}]',
    '[{"column": "qty", "op": "eq", "value": {"a": 1}}]',
    '[{"column": "born", "op": "lt", "value": "yesterday"}]',
    '[{"column": "active", "op": "eq", "value": [true]}]',
    '[{"column": "qty", "op": "in", "value": [1, "x", null, {}]}]',
    "[" * HUGE + "]" * HUGE, '{"column": "' + "x" * HUGE + '"}', "\x00", "\ufeff[]",
]  # fmt: skip

BROKEN_SORTS = ["[", "[1]", "[null]", '[""]', "[" * HUGE + "]" * HUGE, '["id", 2]', ",,", "{}"]

BROKEN_BODIES = [
    b"", b"{", b"[]", b"null", b"1", b'"values"', b'{"values": "x"}', b'{"values": []}',
    b'{"values": null}', b'{"values": {"name": "Ok"}', b"\xff\xfe\x00{", b"\x00" * 100,
    b"[" * HUGE + b"]" * HUGE, b'{"values": ' + b'{"a": ' * HUGE + b"1" + b"}" * HUGE + b"}",
    b'{"values": {"qty": NaN}}', b'{"values": {"ratio": Infinity}}',
    b'{"values": {"ratio": -Infinity}}', b'{"values": {"qty": 1e999}}',
]  # fmt: skip


@pytest.fixture
def world(backend, backend_source):
    """A user who may read, write and delete every table of the backend's datasource (no
    superuser), signed in; and the state to compare after the corpus ran."""
    user = UserFactory(username="prober")
    tables = {t.name: t for t in backend_source.tables.all()}
    for table in tables.values():
        TableGrant.objects.create(
            table=table, user=user, can_read=True, can_write=True, can_delete=True
        )
    client = Client()
    client.force_login(user)
    return {"backend": backend, "client": client, "tables": tables}


def contents(backend) -> dict[str, list[tuple]]:
    """Every fixture table's rows, read with the plain driver."""
    return {
        name: sorted(backend.query(f"SELECT * FROM {backend.q(name)}"), key=repr)  # noqa: S608
        for name in TABLES
    }


def written_changes() -> int:
    return Change.objects.filter(state=Change.State.DONE).count()


def url(world, table: str = "typed", rest: str = "rows") -> str:
    return f"/api/tables/{world['tables'][table].pk}/{rest}"


def refused_clearly(response, *codes: int) -> str | None:
    """None when the answer is one of `codes` (any 4xx when none is given) with a JSON message
    a person can read; else what is wrong with it."""
    body = b"".join(response) if response.streaming else response.content
    if response.status_code >= 500 or (codes and response.status_code not in codes):
        return f"{response.status_code}: {body[:300]!r}"
    if not codes and not 400 <= response.status_code < 500:
        return f"{response.status_code} is no refusal: {body[:300]!r}"
    try:
        message = json.loads(body)["message"]
    except (ValueError, KeyError, TypeError):
        return f"{response.status_code} without a JSON message: {body[:300]!r}"
    if not isinstance(message, str) or not message or "Traceback" in message:
        return f"{response.status_code} with an unclear message: {message!r}"
    if "Something went wrong" in message:
        return f"an unexpected error: {message!r}"
    return None


def answered(response) -> str | None:
    """None when the answer is a success or a clear refusal; else what is wrong with it."""
    if response.status_code < 300:
        return None
    return refused_clearly(response)


def check(problems: list[str], label: Any, problem: str | None) -> None:
    if problem:
        problems.append(f"{label!r:.200}: {problem}")


def send(client, method: str, path: str, body: Any = None, raw: bytes | None = None):
    if method == "get":
        return client.get(path)
    data = raw if raw is not None else (b"" if body is None else json.dumps(body))
    return getattr(client, method)(path, data, content_type="application/json")


def test_hostile_identifiers_are_refused_and_change_nothing(world):
    backend, client = world["backend"], world["client"]
    before, changes = contents(backend), written_changes()
    problems: list[str] = []
    rows, key = url(world), encode_key([1])
    for number, name in enumerate(HOSTILE_NAMES):
        sort = json.dumps([name])
        where = json.dumps([{"column": name, "op": ("eq", "isnull")[number % 2], "value": 1}])
        for params in ({"sort": name}, {"sort": "-" + name}, {"sort": sort}, {"filters": where}):
            # Each endpoint that takes them in turn: they share the parsing, not the SQL.
            rest = ("rows", "export")[number % 2]
            check(problems, (rest, params), refused_clearly(client.get(
                url(world, rest=rest), params), 400))  # fmt: skip
        check(problems, ("columns", name), refused_clearly(client.get(
            url(world, rest="export"), {"columns": sort}), 400))  # fmt: skip
        aggregate = ({"x": name}, {"x": "name", "y": name, "agg": "sum"},
                     {"x": "name", "group": name})[number % 3]  # fmt: skip
        check(problems, aggregate, refused_clearly(client.get(
            url(world, rest="aggregate"), aggregate), 400))  # fmt: skip
        check(problems, ("history", name), answered(client.get(
            url(world, rest="history"), {"column": name, "row": name, "user": name})))  # fmt: skip
        check(problems, ("insert", name), refused_clearly(send(
            client, "post", rows, {"values": {"name": "Ok", name: 1}})))  # fmt: skip
        check(problems, ("update", name), refused_clearly(send(
            client, "patch", f"{rows}/{key}", {"values": {name: 1}})))  # fmt: skip
        check(problems, ("expected", name), refused_clearly(send(
            client, "patch", f"{rows}/{key}",
            {"values": {"qty": 1}, "expected": {name: 1}})))  # fmt: skip
        check(problems, ("q", name), answered(client.get(rows, {"q": name})))
    assert not problems, "\n".join(problems)
    assert contents(backend) == before
    assert written_changes() == changes


def test_hostile_row_keys_and_cursors_are_refused(world):
    backend, client = world["backend"], world["client"]
    before, changes = contents(backend), written_changes()
    problems: list[str] = []
    keys = HOSTILE_NAMES + [
        encode_key([SQL]), encode_key([1, 2]), encode_key([None]), encode_key([10**30]),
        encode_key([{"a": 1}]), encode_key([]), "WzFd" * 2000, "%00",
        base64.urlsafe_b64encode(b"[" * HUGE).decode(),
    ]  # fmt: skip
    for key in keys:
        path = f"{url(world)}/{key}"
        for method, body in (("get", None), ("patch", {"values": {"qty": 1}}), ("delete", None)):
            response = send(client, method, path, body)
            check(problems, (method, key), refused_clearly(response))
        check(problems, ("cursor", key), refused_clearly(client.get(url(world), {"cursor": key})))
    assert not problems, "\n".join(problems)
    assert contents(backend) == before
    assert written_changes() == changes


def test_hostile_values_that_fit_are_stored_verbatim(world):
    backend, client = world["backend"], world["client"]
    problems: list[str] = []
    rows = url(world, HOSTILE_TABLE)
    for number, text in enumerate(TEXTS, start=10):
        response = send(client, "post", url(world), {"values": {"name": "ok", "note": text}})
        check(problems, ("insert", text), None if response.status_code == 201 else (
            f"{response.status_code}: {response.content[:300]!r}"))  # fmt: skip
        created = send(client, "post", rows, {"values": {"id": number, '"select"': text}})
        check(problems, ("hostile table", text), answered(created))
    assert not problems, "\n".join(problems)
    stored = [r[0] for r in backend.query("SELECT note FROM typed WHERE name = 'ok' ORDER BY id")]
    assert stored == TEXTS
    column, table = backend.q('"select"'), backend.q(HOSTILE_TABLE)
    hostile = backend.query(f"SELECT {column} FROM {table} WHERE id >= 10 ORDER BY id")  # noqa: S608
    assert [r[0] for r in hostile] == TEXTS
    # PostgreSQL cannot store a NUL character (nor can the audit log on it): refused everywhere.
    nul = send(client, "post", url(world), {"values": {"name": "nul", "note": "a\x00b"}})
    assert refused_clearly(nul, 400) is None
    assert backend.query("SELECT note FROM typed WHERE name = 'nul'") == []
    # The other tables were not touched.
    assert backend.query("SELECT count(*) FROM notes") == [(3,)]
    assert backend.query("SELECT count(*) FROM pairs") == [(3,)]


def test_values_that_do_not_fit_are_refused_and_nothing_is_written(world):
    backend, client = world["backend"], world["client"]
    before, changes = contents(backend), written_changes()
    problems: list[str] = []
    rows = url(world)
    for column, value in WRONG:
        refused = send(client, "patch", f"{rows}/{encode_key([2])}", {"values": {column: value}})
        check(problems, ("update", column, value), refused_clearly(refused, 400, 422))
        added = send(client, "post", rows, {"values": {"name": "Ok", column: value}})
        if column != "name":
            check(problems, ("insert", column, value), refused_clearly(added, 400, 422))
    assert not problems, "\n".join(problems)
    assert contents(backend) == before
    assert written_changes() == changes


def test_broken_bodies_filters_and_sorts_are_refused(world, settings):
    backend, client = world["backend"], world["client"]
    before, changes = contents(backend), written_changes()
    problems: list[str] = []
    rows, key = url(world), encode_key([2])
    for number, raw in enumerate(BROKEN_BODIES):
        method, path = (("post", rows), ("patch", f"{rows}/{key}"))[number % 2]
        check(problems, (method, raw[:60]), refused_clearly(send(client, method, path, raw=raw)))
        if number % 3 == 0:
            check(problems, ("view", raw[:60]), refused_clearly(send(
                client, "post", url(world, rest="view"), raw=raw)))  # fmt: skip
    oversized = json.dumps({"values": {"note": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)}})
    check(
        problems,
        "oversized",
        refused_clearly(send(client, "post", rows, raw=oversized.encode()), 413),
    )
    for number, filters in enumerate(BROKEN_FILTERS):
        rest = ("rows", "export", "aggregate")[number % 3]
        params = {"filters": filters, "x": "name"}
        check(problems, (rest, filters[:60]), refused_clearly(client.get(
            url(world, rest=rest), params), 400))  # fmt: skip
    for sort in BROKEN_SORTS:
        check(problems, ("sort", sort[:60]), refused_clearly(client.get(rows, {"sort": sort}), 400))
    for params in ({"limit": 10**30}, {"limit": -1}, {"offset": 10**30}, {"offset": -5},
                   {"limit": "NaN"}, {"count": "maybe"}, {"limit": "1\x00"}):  # fmt: skip
        check(problems, params, refused_clearly(client.get(rows, params)))
    assert not problems, "\n".join(problems)
    assert contents(backend) == before
    assert written_changes() == changes


BROKEN_CSV = {
    "empty": (b"", None),
    "header only": (b"name,qty\n", None),
    "ragged rows": (b"name,qty\nAnn,1,2,3\nBob\n", None),
    "binary garbage": (bytes(range(256)) * 40, None),
    "NUL bytes": (b"name,qty\nA\x00nn,1\n", None),
    "UTF-16": ("name,qty\nAnn,1\n".encode("utf-16"), None),
    "Latin-1 read as UTF-8": ("name,qty\nRené,1\n".encode("latin-1"), None),
    "unknown encoding": (b"name,qty\nAnn,1\n", "klingon"),
    "encoding that is code": (b"name,qty\nAnn,1\n", "utf-8'; DROP TABLE typed; --"),
    "huge field": (b"name,note\nAnn," + b"x" * 300_000 + b"\n", None),
    "huge quoted field": (b'name,note\nAnn,"' + b"x" * 300_000 + b'"\n', None),
    "unclosed quote": (b'name,qty\n"Ann,1\nBob,2\n', None),
    "hostile header": (f"{SQL},qty\nAnn,1\n".encode(), None),
    "duplicate header": (b"name,name\nAnn,Bob\n", None),
    "empty header": (b",qty\nAnn,1\n", None),
    "wrong types": (b"name,qty,born,active\nAnn,many,yesterday,maybe\n", None),
    "a value too long": (b"name\n" + b"x" * 11 + b"\n", None),
    "huge header": (b",".join(b"c%d" % i for i in range(20_000)) + b"\n1\n", None),
    "only newlines": (b"\n\n\n\r\n", None),
}


def test_broken_csv_files_are_refused_and_nothing_is_imported(world):
    backend, client = world["backend"], world["client"]
    before, changes = contents(backend), written_changes()
    problems: list[str] = []
    for number, (label, (data, encoding)) in enumerate(BROKEN_CSV.items()):
        dry_run = ("false", "true")[number % 2]  # a check only, and the import itself
        form: dict[str, Any] = {"file": SimpleUploadedFile("x.csv", data, "text/csv"),
                                "dry_run": dry_run}  # fmt: skip
        if encoding:
            form["encoding"] = encoding
        check(problems, label, refused_clearly(client.post(url(world, rest="import"), form)))
    for mapping in ("{", "[]", '{"name": 1}', json.dumps({"name": SQL}), json.dumps({SQL: "name"}),
                    "x" * HUGE, "[" * HUGE):  # fmt: skip
        form = {"file": SimpleUploadedFile("x.csv", b"name\nAnn\n", "text/csv"),
                "mapping": mapping}  # fmt: skip
        check(problems, ("mapping", mapping[:60]), refused_clearly(
            client.post(url(world, rest="import"), form)))  # fmt: skip
    check(problems, "no file", refused_clearly(client.post(url(world, rest="import"), {})))
    assert not problems, "\n".join(problems)
    assert contents(backend) == before
    assert written_changes() == changes


# --- regressions: each a 500 (or a stall) the corpus found -----------------------------------


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    "raw",
    [b'{"values": {"ratio": NaN}}', b'{"values": {"qty": 1e999}}',
     b'{"values": {"name": "a\\u0000b"}}', b'{"values": {"name": "x", "\\u0000": 1}}'],
)  # fmt: skip
def test_nan_infinity_and_nul_in_a_body_are_refused_before_anything_is_recorded(world, raw):
    # Python's json reads them; the audit log's JSON column then refused them (NUL: on
    # PostgreSQL): a 500.
    changes = Change.objects.count()
    response = send(world["client"], "post", url(world), raw=raw)
    assert refused_clearly(response, 400) is None
    assert world["backend"].query("SELECT count(*) FROM typed") == [(5,)]
    assert Change.objects.count() == changes


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_body_larger_than_the_limit_is_413(world, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps({"values": {"name": "big", "note": "x" * 2000}})
    response = send(world["client"], "post", url(world), raw=body.encode())
    assert refused_clearly(response, 413) is None
    assert "MB" in response.json()["message"]
    assert world["backend"].query("SELECT count(*) FROM typed") == [(5,)]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_json_nested_deeper_than_python_reads_is_refused(world):
    client, deep = world["client"], "[" * HUGE + "]" * HUGE
    deep_key = base64.urlsafe_b64encode(deep.encode()).decode()
    answers = [
        client.get(url(world), {"filters": deep}),
        client.get(url(world), {"sort": deep}),
        client.get(url(world), {"cursor": deep_key}),
        client.get(url(world, rest="export"), {"columns": deep}),
        client.get(f"{url(world)}/{deep_key}"),
        send(client, "patch", f"{url(world)}/{encode_key([1])}", {"values": {"meta": deep}}),
        client.post(url(world, rest="import"), {
            "file": SimpleUploadedFile("x.csv", b"name\nAnn\n"), "mapping": deep}),
    ]  # fmt: skip
    assert [refused_clearly(a, 400, 422) for a in answers] == [None] * len(answers)
    assert world["backend"].query("SELECT meta FROM typed WHERE id = 1") == [
        ('{"a": 1, "list": [1, 2]}',)
    ]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_integers_beyond_64_bits_are_refused_by_sqlite_datasources(world):
    # sqlite3 raises OverflowError, not a database error, binding them.
    client, row = world["client"], f"{url(world)}/{encode_key([1])}"
    updated = send(client, "patch", row, {"values": {"qty": 10**30}})
    assert refused_clearly(updated, 422) is None and "too large" in updated.json()["message"]
    assert refused_clearly(client.get(f"{url(world)}/{encode_key([10**30])}"), 400) is None
    where = json.dumps([{"column": "qty", "op": "gt", "value": -(10**30)}])
    assert refused_clearly(client.get(url(world), {"filters": where}), 400) is None
    assert world["backend"].query("SELECT qty FROM typed WHERE id = 1") == [(3,)]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_token_name_with_nul_is_refused(world):
    # PostgreSQL as Nocoflo's database refused the name: a 500.
    tokens = ApiToken.objects.count()
    made = send(world["client"], "post", "/api/tokens", raw=b'{"name": "a\\u0000"}')
    assert refused_clearly(made, 400) is None
    assert ApiToken.objects.count() == tokens


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_nul_character_sent_to_postgresql_is_refused(world):
    # psycopg2 raises ValueError, not a database error, for text with NUL.
    assert refused_clearly(world["client"].get(url(world), {"q": "a\x00b"}), 400) is None
    with pytest.raises(InvalidValue, match="NUL"):
        world["backend"].datasource().update_row({"name": "typed"}, {"id": 1}, {"note": "\x00"})
    assert world["backend"].query("SELECT note FROM typed WHERE id = 1") == [("first note",)]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_nan_text_for_a_json_column_is_refused(world):
    row = f"{url(world)}/{encode_key([1])}"
    for text in ("NaN", "[Infinity]", '{"a": -Infinity}'):
        response = send(world["client"], "patch", row, {"values": {"meta": text}})
        assert refused_clearly(response, 422) is None, text
    assert world["backend"].query("SELECT meta FROM typed WHERE id = 1") == [
        ('{"a": 1, "list": [1, 2]}',)
    ]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_csv_header_of_20000_columns_is_refused_quickly(world):
    # Duplicate names were looked for with list.count per name: half a minute of CPU.
    header = b",".join(b"c%d" % i for i in range(20_000))
    started = time.monotonic()
    response = world["client"].post(url(world, rest="import"), {
        "file": SimpleUploadedFile("wide.csv", header + b"\n1\n")})  # fmt: skip
    assert refused_clearly(response, 422) is None
    assert time.monotonic() - started < 5
