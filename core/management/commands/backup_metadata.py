"""`manage.py backup_metadata FILE`: a consistent backup of Nocoflo's metadata while it runs.

Every model's rows (accounts, groups, permissions, grants, datasources with their passwords still
encrypted, tables, columns, preferences, audit log, plugins, tokens, invites, sessions) are read
from one snapshot of the metadata database, so the file shows the database at one instant even
while the server goes on writing, and written to FILE as gzip-compressed JSON lines:

    {"format": "nocoflo-metadata-backup", "format_version": 1, "migrations": {...}, ...}
    {"model": "auth.User", "fields": ["id", "password", ...]}
    [1, "pbkdf2_sha256$...", ...]                       one line per row, in primary key order
    ...
    {"end": "nocoflo-metadata-backup", "counts": {"auth.User": 3, ...}}

The footer's counts let `restore_metadata` tell a complete file from a cut one. The file is written
beside FILE under a temporary name and renamed at the end: a backup that fails leaves no FILE.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import tempfile
from contextlib import ExitStack
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.utils import Error as DatabaseError
from django.utils import timezone

from core.metadata_transfer import (
    add_file_arguments,
    applied_migrations,
    check_migrated,
    chunks,
    copied_models,
    encode_value,
    metadata_database,
    snapshot,
    stored_fields,
)

FORMAT = "nocoflo-metadata-backup"
FORMAT_VERSION = 1
SOURCE_ALIAS = "backup_metadata_source"


def nocoflo_version() -> str:
    try:
        return version("nocoflo")
    except PackageNotFoundError:  # running from a checkout that was never installed
        return "unknown"


def dump_line(value) -> str:
    # ensure_ascii=False keeps text readable and short; allow_nan keeps float NaN/inf as stored.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "\n"


def write_backup(out: io.TextIOBase, connection: BaseDatabaseWrapper, size: int) -> dict[str, int]:
    """Write the header, every model's rows and the footer to `out`; return the row counts."""
    models = copied_models()
    counts: dict[str, int] = {}
    with snapshot(connection):
        # The migrations are read in the snapshot too: they describe exactly these rows.
        header = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "nocoflo_version": nocoflo_version(),
            "created_at": timezone.now().isoformat(),
            "vendor": connection.vendor,
            "migrations": applied_migrations(connection),
        }
        out.write(dump_line(header))
        for model in models:
            fields = stored_fields(model)
            label = model._meta.label
            out.write(dump_line({"model": label, "fields": [f.attname for f in fields]}))
            counts[label] = 0
            for rows in chunks(model, connection.alias, size):
                for row in rows:
                    encoded = [encode_value(f, v) for f, v in zip(fields, row, strict=True)]
                    out.write(dump_line(encoded))
                counts[label] += len(rows)
    out.write(dump_line({"end": FORMAT, "counts": counts}))
    return counts


class Command(BaseCommand):
    help = (
        "Write a consistent backup of Nocoflo's metadata (users, groups, grants, datasources, "
        "tables, preferences, audit log, plugins, tokens) to a file, while the server runs."
    )

    def add_arguments(self, parser):
        file_help = "the backup file to write, e.g. nocoflo-backup.jsonl.gz"
        add_file_arguments(parser, file_help, "--from", "back up")

    def handle(self, *args, file, url, chunk_size, **options):
        path = Path(file)
        if not path.parent.is_dir():
            raise CommandError(f"the folder {path.parent} does not exist")
        with ExitStack() as stack:
            connection = metadata_database(stack, SOURCE_ALIAS, url)
            try:
                check_migrated(connection)
                counts = self.write_file(path, connection, chunk_size)
            except DatabaseError as error:
                raise CommandError(f"the backup failed, no file was written: {error}") from None
            except OSError as error:
                raise CommandError(f"cannot write {path}: {error.strerror or error}") from None
        for label, rows in counts.items():
            self.stdout.write(f"  {label:<40} {rows:>10} rows")
        self.stdout.write(
            self.style.SUCCESS(
                f"Backed up {sum(counts.values())} rows of {len(counts)} models to {path}."
            )
        )

    def write_file(self, path: Path, connection: BaseDatabaseWrapper, size: int) -> dict:
        # A temporary name in the same folder, renamed when complete: a failed or interrupted
        # backup never leaves a file under the name a restore would be pointed at. mkstemp makes
        # it readable by its owner only: it holds password hashes and encrypted credentials.
        handle, temporary = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.", suffix=".part"
        )
        try:
            with os.fdopen(handle, "wb") as raw:
                with gzip.GzipFile(fileobj=raw, mode="wb", filename="") as compressed:
                    with io.TextIOWrapper(compressed, encoding="utf-8", newline="\n") as text:
                        counts = write_backup(text, connection, size)
                raw.flush()
                os.fsync(raw.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return counts
