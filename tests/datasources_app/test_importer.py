"""CSV import: reading files safely, the mapping, the validation report, and the all-or-nothing
insert with its audit entries and event; `insert_rows` on every backend."""

from __future__ import annotations

import sqlite3

import pytest

from core import events
from core.models import Change, TableMeta
from datasources_app import importer, rows, sql
from datasources_app.errors import DatasourceError, InvalidValue, ReadOnlyTable
from datasources_app.values import encode_key

pytestmark = pytest.mark.django_db


def csv_bytes(*lines: str, encoding: str = "utf-8") -> bytes:
    return ("\n".join(lines) + "\n").encode(encoding)


@pytest.fixture
def authors(shop_source):
    return TableMeta.objects.get(datasource=shop_source, name="authors")


@pytest.fixture
def books(shop_source):
    return TableMeta.objects.get(datasource=shop_source, name="books")


def opened(user, table) -> rows.OpenTable:
    return rows.open_table(user, table.pk)


def count(shop_file, table: str) -> int:
    with sqlite3.connect(shop_file) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608


# --- reading files --------------------------------------------------------------------------------


def test_utf8_with_a_byte_order_mark_and_unicode():
    parsed = importer.read_csv("\ufeffname,city\nZoë,Köln\n".encode())
    assert parsed.header == ["name", "city"]
    assert parsed.preview == [["Zoë", "Köln"]]
    assert parsed.encoding == "utf-8"


def test_a_file_that_is_not_utf8_is_named_as_such_and_latin1_is_a_choice():
    data = csv_bytes("name,city", "Ann,Paris", "Zoë,Köln", encoding="latin-1")
    with pytest.raises(importer.BadFile, match=r"not UTF-8 text \(line 3"):
        importer.read_csv(data)
    parsed = importer.read_csv(data, "latin-1")
    assert parsed.preview[1] == ["Zoë", "Köln"]


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_the_delimiter_is_sniffed(delimiter):
    parsed = importer.read_csv(csv_bytes(delimiter.join(["a", "b", "c"]), delimiter.join("123")))
    assert parsed.delimiter == delimiter
    assert parsed.preview == [["1", "2", "3"]]


def test_semicolons_with_decimal_commas_are_semicolons():
    parsed = importer.read_csv(csv_bytes("name;price", "tea;1,5", "cake;2,25"))
    assert parsed.delimiter == ";"
    assert parsed.preview == [["tea", "1,5"], ["cake", "2,25"]]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty"),
        (b"  \n\n", "The file is empty"),
        (b"name,city\n", "only a header line"),
        (b"name,,city\nx,y,z\n", "Column 2 of the header"),
        (b"name,name\nx,y\n", "names the column 'name' twice"),
        (b"a,b\n1,\x002\n", "Line 2 contains a NUL byte"),
        ("a,b\n1,2\n".encode("utf-16-le"), "Line 1 contains a NUL byte"),
        ("a,b\n1,2\n".encode("utf-16"), "not UTF-8 text"),
    ],
)
def test_bad_files_get_clear_messages(data, message):
    with pytest.raises(importer.BadFile, match=message):
        importer.read_csv(data)


def test_a_file_over_the_size_limit_is_refused(settings):
    settings.NOCOFLO_IMPORT_MAX_MB = 1
    with pytest.raises(importer.FileTooLarge, match="larger than 1 MB"):
        importer.read_csv(b"a,b\n" + b"1,2\n" * 300_000)


def test_preview_is_the_first_twenty_rows():
    parsed = importer.read_csv(csv_bytes("n", *[str(i) for i in range(50)]))
    assert parsed.preview == [[str(i)] for i in range(20)]


def test_ragged_rows_are_reported_with_their_lines(admin_user, authors):
    parsed = importer.read_csv(
        csv_bytes("name,rating", "Ann,1.5", '"Bo\nb",2', "Cy", "Di,1,extra", "", "Ed,3")
    )
    report = importer.check(opened(admin_user, authors), parsed)
    assert report.rows == 5 and report.valid == 3
    assert report.as_dict()["errors"] == [
        {"line": 5, "column": None, "message": "Line 5 has 1 values; the header has 2"},
        {"line": 6, "column": None, "message": "Line 6 has 3 values; the header has 2"},
    ]


# --- mapping --------------------------------------------------------------------------------------


def test_mapping_is_proposed_by_name_ignoring_case_and_spaces(admin_user, authors):
    table = opened(admin_user, authors)
    mapping = importer.propose_mapping(
        ["Name", " BORN", "Rating", "sco re", "photo", "whatever"],
        importer.importable_columns(table),
    )
    assert mapping == {
        "Name": "name", " BORN": "born", "Rating": "rating", "sco re": "score",
        "photo": "", "whatever": "",
    }  # fmt: skip


def test_a_mapping_that_cannot_work_is_refused(admin_user, authors):
    table = opened(admin_user, authors)
    parsed = importer.read_csv(csv_bytes("who,rating", "Ann,1"))
    with pytest.raises(importer.BadMapping, match="name cannot be empty: map a file column"):
        importer.check(table, parsed)
    with pytest.raises(importer.BadMapping, match="no column 'nope'"):
        importer.check(table, parsed, {"who": "name", "rating": "nope"})
    with pytest.raises(importer.BadMapping, match="both mapped to name"):
        importer.check(table, parsed, {"who": "name", "rating": "name"})
    report = importer.check(table, parsed, {"who": "name", "rating": "rating"})
    assert (report.rows, report.valid) == (1, 1)


# --- validation -----------------------------------------------------------------------------------


def test_every_kind_of_problem_is_reported_per_row(admin_user, authors):
    parsed = importer.read_csv(
        csv_bytes(
            "id,name,born,rating",
            "10,Ann,2000-01-02,1.5",
            "11,,2000-01-02,1",  # required
            "12,Bartholomew,,",  # longer than 10
            "13,Cy,yesterday,x",  # a date and a number that are not
            "10,Dup,,",  # the same key as line 2
            "1,Taken,,",  # a key the table has
            "14,Ok,,",
        )
    )
    report = importer.check(opened(admin_user, authors), parsed)
    assert (report.rows, report.valid, report.invalid) == (7, 2, 5)
    errors = [(e["line"], e["column"], e["message"]) for e in report.as_dict()["errors"]]
    assert errors == [
        (3, "name", "name is required"),
        (4, "name", "name takes at most 10 characters (11 given)"),
        (5, "born", "born needs a date like 2024-12-31, not 'yesterday'"),
        (5, "rating", "rating needs a number, not 'x'"),
        (6, "id", "Duplicate key 10: line 2 has it too"),
        (7, "id", "Key 1 is already in the table"),
    ]


def test_existing_keys_are_looked_up_a_batch_at_a_time(admin_user, authors, monkeypatch):
    monkeypatch.setattr(importer, "KEY_BATCH", 3)
    table = opened(admin_user, authors)
    looked_up: list[int] = []
    original = importer.KeyCheck.existing

    def existing(self, keys):
        looked_up.append(len(keys))
        return original(self, keys)

    monkeypatch.setattr(importer.KeyCheck, "existing", existing)
    lines = [f"{i},N{i}" for i in (1, 2, 50, 51, 52, 53, 3)]
    report = importer.check(table, importer.read_csv(csv_bytes("id,name", *lines)))
    assert looked_up == [3, 3, 1]
    assert [e["line"] for e in report.as_dict()["errors"]] == [2, 3, 8]


def test_errors_kept_are_capped(admin_user, authors, monkeypatch):
    monkeypatch.setattr(importer, "MAX_ERRORS", 5)
    lines = [f"x{i},{i}" for i in range(12)]
    report = importer.check(
        opened(admin_user, authors),
        importer.read_csv(csv_bytes("name,born", *lines)),
    )
    assert report.invalid == 12
    assert len(report.errors) == 5 and report.as_dict()["more_errors"] == 7


# --- the import -----------------------------------------------------------------------------------


def test_import_inserts_audits_every_row_and_announces_it(admin_user, authors, shop_file):
    heard: list[dict] = []
    stop = events.subscribe(authors.pk, heard.append)
    before = count(shop_file, "authors")
    progress: list[tuple[int, int]] = []
    parsed = importer.read_csv(csv_bytes("Name,Born,Active", "Ann,1990-05-06,", "Bob,,no"))
    try:
        report = importer.import_csv(
            opened(admin_user, authors), parsed, progress=lambda *p: progress.append(p)
        )
    finally:
        stop()
    assert (report.rows, report.inserted) == (2, 2)
    assert progress[-1] == (2, 2)
    with sqlite3.connect(shop_file) as conn:
        added = conn.execute(
            "SELECT id, name, born, active FROM authors ORDER BY id DESC LIMIT 2"
        ).fetchall()
    assert count(shop_file, "authors") == before + 2
    (bob_id, *bob), (ann_id, *ann) = added
    assert ann == ["Ann", "1990-05-06", 1] and bob == ["Bob", None, 0]  # active: its default
    entries = list(Change.objects.filter(table=authors).order_by("pk"))
    assert [(e.action, e.state, e.column) for e in entries] == [("insert", "done", "")] * 2
    assert [e.row_key for e in entries] == [encode_key([ann_id]), encode_key([bob_id])]
    assert entries[0].new_value == {"id": ann_id, "name": "Ann", "born": "1990-05-06"}
    assert entries[1].new_value == {"id": bob_id, "name": "Bob", "born": None, "active": False}
    assert len({e.batch for e in entries}) == 1
    assert heard == [
        {"type": "rows_imported", "count": 2, "user": admin_user.username, "table": authors.pk}
    ]


def test_keys_from_the_file_are_audited_at_once(admin_user, authors):
    parsed = importer.read_csv(csv_bytes("id,name", "40,Ann", "41,Bob"))
    importer.import_csv(opened(admin_user, authors), parsed)
    entries = Change.objects.filter(table=authors).order_by("pk")
    assert [e.row_key for e in entries] == [encode_key([40]), encode_key([41])]
    assert {e.state for e in entries} == {"done"}


def test_an_invalid_file_writes_nothing(admin_user, authors, shop_file):
    before = count(shop_file, "authors")
    parsed = importer.read_csv(csv_bytes("name,born", "Ann,", "Bob,not a date"))
    with pytest.raises(importer.ImportRefused) as refused:
        importer.import_csv(opened(admin_user, authors), parsed)
    assert refused.value.report.invalid == 1
    assert count(shop_file, "authors") == before
    assert not Change.objects.exists()


def test_a_database_failure_mid_insert_writes_nothing(admin_user, books, shop_file, monkeypatch):
    """The last row names an author that does not exist: only the database's foreign key sees
    it, after two batches went in. The transaction rolls them back; no entry says done."""
    monkeypatch.setattr(sql, "INSERT_BATCH", 2)
    before = count(shop_file, "books")
    lines = [f"1,Book {i},{i}" for i in range(5)] + ["999,Orphan,1"]
    parsed = importer.read_csv(csv_bytes("author_id,title,pages", *lines))
    progress: list[tuple[int, int]] = []
    with pytest.raises(InvalidValue, match="refused"):
        importer.import_csv(
            opened(admin_user, books), parsed, progress=lambda *p: progress.append(p)
        )
    assert progress == [(2, 6), (4, 6)]
    assert count(shop_file, "books") == before
    states = list(Change.objects.filter(table=books).values_list("state", flat=True))
    assert states == ["failed"] * 6


def test_an_unreachable_database_leaves_entries_pending_for_settle(
    admin_user, authors, monkeypatch
):
    from datasources_app.errors import DatasourceUnavailable

    def down(*args, **kwargs):
        raise DatasourceUnavailable("The database cannot be reached")

    table = opened(admin_user, authors)
    monkeypatch.setattr(table.datasource.__class__, "insert_rows", down)
    with pytest.raises(DatasourceUnavailable):
        importer.import_csv(table, importer.read_csv(csv_bytes("name", "Ann")))
    assert list(Change.objects.values_list("state", flat=True)) == ["pending"]


def test_writing_is_needed(reader, authors, shop_file):
    parsed = importer.read_csv(csv_bytes("name", "Ann"))
    with pytest.raises(rows.NotAllowed):
        importer.import_csv(opened(reader, authors), parsed)
    with pytest.raises(rows.NotAllowed):
        importer.check(opened(reader, authors), parsed)


def test_read_only_tables_refuse_imports(admin_user, authors):
    TableMeta.objects.filter(pk=authors.pk).update(read_only_reason="Archived")
    with pytest.raises(ReadOnlyTable):
        importer.import_csv(
            opened(admin_user, authors), importer.read_csv(csv_bytes("name", "Ann"))
        )


# --- insert_rows on every backend -----------------------------------------------------------------


def test_insert_rows_answers_keys_in_order(ds, backend, monkeypatch):
    monkeypatch.setattr(sql, "INSERT_BATCH", 2)
    table = {"name": "typed"}
    batch = [
        {"name": "r1", "qty": "4", "active": "yes"},
        {"name": "r2"},  # fewer columns: active takes its default
        {"name": "r3", "qty": 9, "price": "1.25", "born": "2001-02-03"},
        {"name": "r4", "qty": None},
        {"name": "r5", "note": "last"},
        *[{"name": f"s{i}", "qty": i} for i in range(5)],
    ]
    progress: list[tuple[int, int]] = []
    keys = ds.insert_rows(table, batch, lambda *p: progress.append(p))
    assert progress == [(2, 10), (4, 10), (6, 10), (8, 10), (10, 10)]
    active = backend.q("active")
    found = backend.query(f"SELECT id, name, qty, {active} FROM typed WHERE id > 5")  # noqa: S608
    by_id = {r[0]: r[1:] for r in found}
    expected = ["r1", "r2", "r3", "r4", "r5", "s0", "s1", "s2", "s3", "s4"]
    assert [by_id[k["id"]][0] for k in keys] == expected
    assert [by_id[k["id"]][1] for k in keys[5:]] == [0, 1, 2, 3, 4]
    assert by_id[keys[0]["id"]][1] == 4 and bool(by_id[keys[1]["id"]][2]) is True


def test_insert_rows_with_composite_keys_given(ds, backend):
    keys = ds.insert_rows({"name": "pairs"}, [{"a": 5, "b": "x"}, {"a": 5, "b": "y", "v": "z"}])
    assert keys == [{"a": 5, "b": "x"}, {"a": 5, "b": "y"}]
    assert backend.query("SELECT count(*) FROM pairs WHERE a = 5")[0][0] == 2


def test_insert_rows_is_all_or_nothing(ds, backend, monkeypatch):
    monkeypatch.setattr(sql, "INSERT_BATCH", 2)
    batch = [{"id": 100 + i, "name": f"n{i}"} for i in range(4)] + [{"id": 1, "name": "dup"}]
    with pytest.raises(DatasourceError):
        ds.insert_rows({"name": "typed"}, batch)
    assert backend.query("SELECT count(*) FROM typed WHERE id >= 100")[0][0] == 0
    assert backend.query("SELECT name FROM typed WHERE id = 1")[0][0] == "Ann"


def test_a_value_that_does_not_fit_rolls_back_the_batches_before(ds, backend, monkeypatch):
    monkeypatch.setattr(sql, "INSERT_BATCH", 1)
    with pytest.raises(InvalidValue, match="name cannot be empty"):
        ds.insert_rows({"name": "typed"}, [{"name": "ok"}, {"qty": 1}])
    assert backend.query("SELECT count(*) FROM typed")[0][0] == 5
