"""`manage.py backup_metadata` and `restore_metadata`: a backup taken while others write, restored
into new empty databases (SQLite files, a real PostgreSQL database) row for row, and the files and
targets a restore refuses.

PostgreSQL must be running (127.0.0.1:5432, trust auth): a server that is down fails the test that
restores there, it never skips it.
"""

from __future__ import annotations

import gzip
import io
import json
import threading
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from uuid import UUID

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db import connections, models, transaction
from django.db.utils import OperationalError

from core import crypto, metadata_cache
from core.management.commands import backup_metadata
from core.management.commands.restore_metadata import read_backup
from core.metadata_transfer import (
    copied_models,
    decode_value,
    encode_value,
    extra_connection,
    stored_fields,
)
from core.models import Change, TableMeta
from datasources_app.models import DatasourceConfig
from tests.core import test_copy_metadata as copy_tests
from tests.factories import DatasourceFactory, UserFactory
from views_app.models import UserPreference, ViewPreference

pytestmark = [pytest.mark.integration]

# The test metadata (rows in every model) and throwaway server databases of copy_metadata's tests.
metadata = copy_tests.metadata
new_database = copy_tests.new_database
_rows = copy_tests._rows
CHECK_ALIAS = "backup_restore_check"
DATASOURCE_PASSWORD = "S3cret-pw 🦉"


def _backup(path: Path, *args: str) -> str:
    out = io.StringIO()
    call_command("backup_metadata", str(path), *args, stdout=out)
    return out.getvalue()


def _restore(path: Path, *args: str) -> str:
    out = io.StringIO()
    call_command("restore_metadata", str(path), *args, stdout=out)
    return out.getvalue()


def _lines(path: Path) -> list:
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


def _write_lines(path: Path, lines: list) -> None:
    with gzip.open(path, "wt", encoding="utf-8") as out:
        out.writelines(json.dumps(line) + "\n" for line in lines)


def _assert_same_rows(url: str) -> None:
    """Every row of every model in `url` equals the current database's, field by field."""
    with extra_connection(CHECK_ALIAS, url):
        copy_tests.assert_every_row_copied(CHECK_ALIAS)
        restored = DatasourceConfig.objects.using(CHECK_ALIAS).get(name="Warehouse")
        assert crypto.decrypt(restored.password_encrypted) == DATASOURCE_PASSWORD  # same key
        zoe = User.objects.using(CHECK_ALIAS).get(username="zoë")
        assert zoe.check_password("correct horse battery staple")
        # Sequences were moved past the restored keys: new rows get fresh ones (rolled back, so
        # the database stays a copy).
        with transaction.atomic(using=CHECK_ALIAS):
            assert User.objects.using(CHECK_ALIAS).create(username="new").pk > zoe.pk
            transaction.set_rollback(True, using=CHECK_ALIAS)


def _warehouse() -> DatasourceConfig:
    """A datasource whose password is stored encrypted."""
    config = DatasourceFactory(name="Warehouse")
    config.set_connection("postgresql://ann@db.example/warehouse", password=DATASOURCE_PASSWORD)
    config.save()
    return config


@pytest.fixture
def warehouse(metadata):
    """The test metadata, rows in every model, and the Warehouse datasource."""
    return _warehouse()


@pytest.fixture
def small_metadata(db):
    """Just an account and the Warehouse datasource: enough for what a restore refuses."""
    UserFactory(username="ann")
    return _warehouse()


@pytest.mark.django_db
def test_a_backup_restores_every_row_into_new_databases(warehouse, tmp_path, new_database):
    backup = tmp_path / "nocoflo.jsonl.gz"
    output = _backup(backup, "--chunk-size", "7")  # small chunks: many keyset pages

    assert "core.Change" in output and "views_app.ViewPreference" in output
    assert "core.MetadataRevision" not in output  # not data: a token of this database's state
    # The credentials stay as stored: encrypted in the file, never shown.
    content = gzip.decompress(backup.read_bytes()).decode()
    assert warehouse.password_encrypted in content
    assert "S3cret-pw" not in content and "S3cret-pw" not in output
    assert backup.stat().st_mode & 0o777 == 0o600  # password hashes: for its owner only
    header = _lines(backup)[0]
    assert header["vendor"] == connections["default"].vendor
    assert "0001_initial" in header["migrations"]["core"]

    sqlite_url = f"sqlite:///{tmp_path / 'restored.sqlite3'}"  # a file that does not exist yet
    output = _restore(backup, "--to", sqlite_url, "--chunk-size", "5")
    assert "DIFFERS" not in output and "Restored" in output
    _assert_same_rows(sqlite_url)
    with extra_connection(CHECK_ALIAS, sqlite_url):
        # A revision of its own, not the backed-up database's: what processes remember of the
        # metadata is kept there too, and nothing remembered of another state matches it.
        assert metadata_cache.revision(CHECK_ALIAS) not in (None, metadata_cache.revision())

    postgres_url = new_database("postgresql")
    _restore(backup, "--to", postgres_url)
    _assert_same_rows(postgres_url)

    # SQLite file to SQLite file: a backup of the restored file restores the same rows again.
    second = tmp_path / "second.jsonl.gz"
    _backup(second, "--from", sqlite_url)
    again_url = f"sqlite:///{tmp_path / 'again.sqlite3'}"
    _restore(second, "--to", again_url)
    _assert_same_rows(again_url)


@pytest.mark.unit
@pytest.mark.parametrize(
    ("field", "value"),
    [
        (models.BinaryField(), b"\x00\xff raw bytes"),
        (models.DurationField(), timedelta(days=2, microseconds=7)),
        (models.DecimalField(max_digits=12, decimal_places=6), Decimal("12345.678900")),
        (models.DateTimeField(), datetime.fromisoformat("2026-11-26T15:00:01.123456+01:00")),
        (models.DateField(), date(2026, 2, 28)),
        (models.TimeField(), time(23, 59, 58, 999999)),
        (models.UUIDField(), UUID("12345678-1234-5678-1234-567812345678")),
        (models.FloatField(), 0.1 + 0.2),
        (models.JSONField(), {"a": [1, 2.5, None, "🦉"], "b": {"nested": True}}),
        (models.JSONField(), "2026-11-26T15:00:01"),  # JSON text that looks like a date stays text
    ],
)
def test_every_kind_of_field_survives_the_file_format(field, value):
    """Field kinds no Nocoflo model uses today come back exact too, through real JSON text."""
    back = decode_value(field, json.loads(json.dumps(encode_value(field, value))))
    assert (bytes(back) if isinstance(field, models.BinaryField) else back) == value
    assert type(back) is (memoryview if isinstance(field, models.BinaryField) else type(value))


@pytest.mark.django_db(transaction=True)
def test_a_backup_is_one_snapshot_while_others_write(tmp_path, monkeypatch):
    """After each model is read, another connection commits a new account with its preferences and
    an audit entry. The file still shows the database of the instant the backup began."""
    table = TableMeta.objects.create(datasource=DatasourceFactory(name="Live"), name="orders")
    UserFactory(username="ann")
    written = []

    def write_account():
        try:
            with transaction.atomic():
                user = User.objects.create(username=f"writer{len(written)}")
                UserPreference.objects.create(user=user, dark_mode=True)
                ViewPreference.objects.create(table=table, user=user, preferred_view="table_view")
                Change.objects.create(
                    table=table, table_label="orders", user=user, username=user.username,
                    at="2026-11-26T15:00:00Z", action="update", batch="0" * 32, state="done",
                )  # fmt: skip
            written.append(user.pk)
        finally:
            connections.close_all()

    real_chunks = backup_metadata.chunks

    def chunks_then_a_write(model, using, size):
        yield from real_chunks(model, using, size)
        writer = threading.Thread(target=write_account)
        writer.start()
        writer.join(timeout=15)
        assert not writer.is_alive(), "the backup blocked a writer"

    before = {model._meta.label: model._base_manager.count() for model in copied_models()}
    monkeypatch.setattr(backup_metadata, "chunks", chunks_then_a_write)
    _backup(tmp_path / "busy.jsonl.gz")

    assert len(written) == len(before)  # every write went in while the backup ran
    assert User.objects.count() == before["auth.User"] + len(written)
    rows: dict[str, list[dict]] = {}
    for event in read_backup(tmp_path / "busy.jsonl.gz", 1000):
        if event[0] == "rows":
            rows.setdefault(event[1], []).extend(
                dict(zip(event[2], row, strict=True)) for row in event[3]
            )
        elif event[0] == "end":
            assert event[1] == before  # the footer: every count at one instant
    # No row of the file points at a row the file does not hold.
    for model in copied_models():
        for field in stored_fields(model):
            if not field.is_relation:
                continue
            target = field.related_model._meta
            held = {row[target.pk.attname] for row in rows.get(target.label, [])}
            for row in rows.get(model._meta.label, []):
                value = row[field.attname]
                assert value is None or value in held, f"{model._meta.label}.{field.name}"


@pytest.fixture
def backup(small_metadata, tmp_path):
    path = tmp_path / "backups" / "nocoflo.jsonl.gz"
    path.parent.mkdir()
    _backup(path)
    return path


def _cut_in_half(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _without_footer(path: Path) -> None:
    _write_lines(path, _lines(path)[:-1])


def _without_a_row(path: Path) -> None:
    lines = _lines(path)
    row = next(i for i, line in enumerate(lines) if isinstance(line, list))
    _write_lines(path, lines[:row] + lines[row + 1 :])


def _wrong_checksum(path: Path) -> None:
    """Content that is not what was written: gzip's CRC-32 (in the last 8 bytes) disagrees."""
    data = bytearray(path.read_bytes())
    data[-8] ^= 0xFF
    path.write_bytes(bytes(data))


def _from_the_future(path: Path) -> None:
    lines = _lines(path)
    lines[0]["migrations"]["core"].append("9999_from_a_newer_nocoflo")
    _write_lines(path, lines)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_cut_in_half, "is truncated: it ends in the middle"),
        (_without_footer, "is truncated: its last line, with the row counts, is missing"),
        (_without_a_row, "is damaged: its rows do not match the counts"),
        (_wrong_checksum, "is damaged or not a Nocoflo backup .CRC check failed"),
        (_from_the_future, "newer Nocoflo .*core.9999_from_a_newer_nocoflo.*upgrade Nocoflo first"),
    ],
)
def test_a_damaged_or_newer_file_is_refused_before_the_target_is_touched(
    backup, tmp_path, damage, message
):
    damage(backup)
    target = tmp_path / "target.sqlite3"
    with pytest.raises(CommandError, match=message):
        _restore(backup, "--to", f"sqlite:///{target}")
    assert not target.exists()


@pytest.mark.django_db
def test_a_target_with_data_is_refused_and_left_as_it_was(backup, tmp_path):
    before = {model._meta.label: _rows(model, "default") for model in copied_models()}
    with pytest.raises(CommandError, match=r"already holds Nocoflo data: .*auth.User \(\d+ rows\)"):
        _restore(backup)  # into the database Nocoflo uses: it has accounts
    assert {model._meta.label: _rows(model, "default") for model in copied_models()} == before


@pytest.mark.django_db
def test_a_failed_backup_leaves_the_previous_file(backup, monkeypatch):
    previous = backup.read_bytes()
    real_chunks = backup_metadata.chunks

    def failing_chunks(model, using, size):
        if model is TableMeta:
            raise OperationalError("server closed the connection unexpectedly")
        return real_chunks(model, using, size)

    monkeypatch.setattr(backup_metadata, "chunks", failing_chunks)
    with pytest.raises(CommandError, match="the backup failed, no file was written: server closed"):
        _backup(backup)
    assert backup.read_bytes() == previous
    assert [path.name for path in backup.parent.iterdir()] == [backup.name]  # no partial file


@pytest.mark.django_db
def test_an_older_backup_is_migrated_forward(small_metadata, tmp_path):
    """A backup made before datasource passwords were kept apart: restoring it runs the migration
    that moves them out of the URL, encrypted."""
    path = tmp_path / "old.jsonl.gz"
    _backup(path)
    lines = _lines(path)
    lines[0]["migrations"]["datasources_app"] = ["0001_initial"]
    model = None
    for line in lines:
        if isinstance(line, dict) and "model" in line:
            model, fields = line["model"], line["fields"]
            if model == "datasources_app.DatasourceConfig":
                # The columns of 0001_initial: no password apart, no read_only.
                line["fields"] = [f for f in fields if f not in ("password_encrypted", "read_only")]
        elif isinstance(line, list) and model == "datasources_app.DatasourceConfig":
            row = dict(zip(fields, line, strict=True))
            if row["name"] == "Warehouse":
                row["connection_string"] = "postgresql://ann:0ld-s3cret@db.example/warehouse"
            line[:] = [row[f] for f in fields if f not in ("password_encrypted", "read_only")]
    _write_lines(path, lines)

    target = f"sqlite:///{tmp_path / 'upgraded.sqlite3'}"
    output = _restore(path, "--to", target)

    assert "Migrating the restored metadata to this version of Nocoflo" in output
    with extra_connection(CHECK_ALIAS, target):
        upgraded = DatasourceConfig.objects.using(CHECK_ALIAS).get(name="Warehouse")
        assert upgraded.connection_string == "postgresql://ann@db.example/warehouse"
        assert upgraded.password_encrypted and "0ld-s3cret" not in upgraded.password_encrypted
        assert "0ld-s3cret" in upgraded.connection_url()
        assert User.objects.using(CHECK_ALIAS).count() == User.objects.count()
