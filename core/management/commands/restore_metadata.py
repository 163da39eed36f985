"""`manage.py restore_metadata FILE`: put a `backup_metadata` file back into an empty database.

The file is read through once before anything is touched: a cut or damaged file, or one written by
a newer Nocoflo (migrations this code does not know), is refused and the target stays as it was.
A target holding Nocoflo's rows is refused too: restoring never merges.

The target is then migrated to the migrations the backup was made at, so its tables have exactly
the backup's columns, and every row goes in, keys and timestamps as stored, in one transaction.
The rows of each model are counted against the file's footer before that transaction commits.
A backup from an older Nocoflo is migrated forward afterwards, like any database would be.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.exceptions import IrreversibleError
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.graph import MigrationGraph
from django.db.migrations.loader import MigrationLoader
from django.db.models import Model
from django.db.utils import Error as DatabaseError

from core import metadata_cache
from core.management.commands.backup_metadata import FORMAT, FORMAT_VERSION
from core.metadata_transfer import (
    DEFAULT_CHUNK_SIZE,
    add_file_arguments,
    bulk_load,
    copied_models,
    count_rows,
    create_database,
    decode_value,
    describe,
    holding_rows,
    insert_rows,
    metadata_database,
    report_counts,
    stored_fields,
)

TARGET_ALIAS = "restore_metadata_target"


def _lines(path: Path) -> Iterator[tuple[int, object]]:
    """The decoded JSON lines of a backup file, numbered; damage is a clear CommandError."""
    try:
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                try:
                    yield number, json.loads(line)
                except json.JSONDecodeError:
                    raise CommandError(f"{path} is damaged: line {number} is not JSON") from None
    except FileNotFoundError:
        raise CommandError(f"{path} does not exist") from None
    except EOFError:
        raise CommandError(
            f"{path} is truncated: it ends in the middle (an incomplete copy?)"
        ) from None
    except (gzip.BadGzipFile, zlib.error, UnicodeDecodeError) as error:
        raise CommandError(f"{path} is damaged or not a Nocoflo backup ({error})") from None
    except OSError as error:
        raise CommandError(f"cannot read {path}: {error.strerror or error}") from None


def read_backup(path: Path, size: int) -> Iterator[tuple]:
    """The contents of a backup, checked as they are read.

    Yields ("header", header), then per model ("model", label, fields) and its rows in lists of at
    most `size` as ("rows", label, fields, rows), and last ("end", counts). A file that is cut
    short, has rows its footer does not count or anything after its footer is refused.
    """
    lines = _lines(path)
    first = next(lines, (0, None))[1]
    if not isinstance(first, dict) or first.get("format") != FORMAT:
        raise CommandError(f"{path} is not a Nocoflo metadata backup")
    if first.get("format_version", 0) > FORMAT_VERSION:
        raise CommandError(f"{path} was written by a newer Nocoflo: upgrade Nocoflo first")
    yield ("header", first)
    label, fields, batch = None, [], []
    counted: dict[str, int] = {}
    for number, item in lines:
        if isinstance(item, list) and label is not None and len(item) == len(fields):
            batch.append(item)
            counted[label] += 1
            if len(batch) >= size:
                yield ("rows", label, fields, batch)
                batch = []
            continue
        if batch:
            yield ("rows", label, fields, batch)
            batch = []
        if (
            isinstance(item, dict)
            and isinstance(item.get("model"), str)
            and item["model"] not in counted
        ):
            label, fields = item["model"], item.get("fields") or []
            counted[label] = 0
            yield ("model", label, fields)
        elif isinstance(item, dict) and item.get("end") == FORMAT:
            if item.get("counts") != counted:
                raise CommandError(
                    f"{path} is damaged: its rows do not match the counts at its end"
                )
            if next(lines, None) is not None:
                raise CommandError(f"{path} is damaged: something follows its last line")
            yield ("end", counted)
            return
        else:
            raise CommandError(f"{path} is damaged: line {number} is not what a backup holds")
    raise CommandError(f"{path} is truncated: its last line, with the row counts, is missing")


def backup_leaves(graph: MigrationGraph, applied: set[tuple[str, str]]) -> list[tuple[str, str]]:
    """Per app, the last of the backup's migrations: the state to migrate the target to."""
    return sorted(
        node
        for node in applied
        if not any(
            child in applied and child[0] == node[0] for child in graph.node_map[node].children
        )
    )


def backup_migrations(header: dict) -> set[tuple[str, str]]:
    return {(app, name) for app, names in header.get("migrations", {}).items() for name in names}


def newer_migrations(header: dict) -> None:
    """Refuse a backup made at migrations this code does not have: its tables would not fit."""
    # Read from the migration files alone, so a refused restore never opens the target.
    known = set(MigrationLoader(None, ignore_no_migrations=True).graph.nodes)
    unknown = sorted(f"{app}.{name}" for app, name in backup_migrations(header) - known)
    if unknown:
        shown = ", ".join(unknown[:3]) + (" ..." if len(unknown) > 3 else "")
        raise CommandError(
            f"the backup was made by a newer Nocoflo (its migrations {shown} are unknown here): "
            "upgrade Nocoflo first, then restore"
        )


class Command(BaseCommand):
    help = (__doc__ or "").split("\n\n")[0]  # the first paragraph above

    def add_arguments(self, parser):
        add_file_arguments(parser, "a file written by backup_metadata", "--to", "restore into")

    def handle(self, *args, file, url, chunk_size, **options):
        path = Path(file)
        header, counts = self.check_file(path)
        with ExitStack() as stack:
            target = metadata_database(stack, TARGET_ALIAS, url)
            if target.vendor in ("postgresql", "mysql"):
                create_database(target, self.stdout.write)
            try:
                restored = self.restore(path, header, target, chunk_size)
            except DatabaseError as error:
                raise CommandError(f"the restore failed, no rows were kept: {error}") from None
            where = describe(target)
        rows = [(label, counts[label], restored.get(label, 0)) for label in counts]
        report_counts(self.stdout.write, self.style, rows, "backup", "restored")
        self.stdout.write(
            self.style.SUCCESS(
                f"Restored {sum(counts.values())} rows of {len(counts)} models "
                f"(backup of {header.get('created_at')}) into {where}."
            )
        )

    def check_file(self, path: Path) -> tuple[dict, dict[str, int]]:
        """Read the whole file once, before the target is touched."""
        header, counts = {}, {}
        for event in read_backup(path, DEFAULT_CHUNK_SIZE):
            if event[0] == "header":
                header = event[1]
                newer_migrations(header)
            elif event[0] == "end":
                counts = event[1]
        return header, counts

    def restore(self, path: Path, header: dict, target: BaseDatabaseWrapper, size: int) -> dict:
        executor = MigrationExecutor(target)
        graph = executor.loader.graph
        applied = backup_migrations(header)
        holding = holding_rows(target, copied_models())
        if holding:
            raise CommandError(
                f"the target already holds Nocoflo data: {', '.join(holding[:5])}. "
                "Restore into an empty database."
            )
        leaves = backup_leaves(graph, applied)
        plan = executor.migration_plan(leaves)
        if plan:
            self.stdout.write(f"Migrating {describe(target)} to the backup's migrations")
            try:
                executor.migrate(leaves, plan=plan)
            except IrreversibleError as error:
                raise CommandError(
                    f"cannot migrate the target back to the backup's: {error}"
                ) from None
        # The models as they were at the backup's migrations: their columns are the file's.
        models = copied_models(registry=executor.loader.project_state(leaves, at_end=True).apps)
        restored = self.load(path, target, models, size)
        if MigrationExecutor(target).migration_plan(graph.leaf_nodes()):
            self.stdout.write("Migrating the restored metadata to this version of Nocoflo")
            call_command("migrate", database=target.alias, interactive=False, verbosity=0)
        # Processes serving this database forget what they remember of the state before.
        metadata_cache.changed(target.alias)
        return restored

    def load(self, path: Path, target: BaseDatabaseWrapper, models: list, size: int) -> dict:
        by_label: dict[str, type[Model]] = {model._meta.label: model for model in models}
        restored: dict[str, int] = {}
        with bulk_load(target, models):
            # migrate wrote content types and permissions with ids of its own (and migrations may
            # write rows): the backup's rows, ids and all, replace them.
            for model in reversed(models):
                model._base_manager.using(target.alias).all()._raw_delete(target.alias)
            for event in read_backup(path, size):
                if event[0] == "model":
                    model = self.model_for(by_label, event[1], event[2])
                elif event[0] == "rows":
                    fields = stored_fields(model)
                    positions = [event[2].index(field.attname) for field in fields]
                    rows = [
                        tuple(
                            decode_value(f, row[p]) for f, p in zip(fields, positions, strict=True)
                        )
                        for row in event[3]
                    ]
                    insert_rows(model, rows, target.alias)
                elif event[0] == "end":
                    expected = event[1]
            for label, model in by_label.items():
                restored[label] = count_rows(model, target.alias)
            differ = sorted(
                label for label in by_label if restored[label] != expected.get(label, 0)
            )
            if differ:
                raise CommandError(
                    f"the restored rows do not match the backup's counts ({', '.join(differ)}): "
                    "nothing was kept"
                )
        return restored

    @staticmethod
    def model_for(by_label: dict, label: str, fields: list) -> type[Model]:
        model = by_label.get(label)
        expected = {field.attname for field in stored_fields(model)} if model else set()
        if model is None or set(fields) != expected:
            raise CommandError(
                f"the backup's {label} does not match its own migrations: the file was changed"
            )
        return model
