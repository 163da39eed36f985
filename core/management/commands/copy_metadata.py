"""`manage.py copy_metadata --to URL`: move Nocoflo's metadata to PostgreSQL or MySQL/MariaDB.

Copies every model's rows from the current metadata database (`DATABASE_URL`, SQLite by default)
into another database, keeping primary keys so every relation (users and their groups and
permissions, content types and the admin log pointing at them, tables, columns, datasources,
plugins...) stays intact. Then it resets the target's sequences, counts the rows on both sides and
fails when any count differs. Set `DATABASE_URL` to the target afterwards.

The models are found at run time, so models added later are copied too. Rows are read from one
snapshot of the source in keyset chunks (`WHERE pk > last ORDER BY pk LIMIT n`), so memory stays
flat however big a table is, and written inside one transaction: a copy that fails leaves the
target without Nocoflo's rows. Stop the server first (or accept that writes made during the copy
make the final count check fail). The shared parts live in `core.metadata_transfer`.
"""

from __future__ import annotations

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model
from django.db.utils import Error as DatabaseError

from core.database import MYSQL, POSTGRESQL, database_config, same_database
from core.metadata_transfer import (
    add_chunk_size_argument,
    bulk_load,
    check_migrated,
    chunks,
    copied_models,
    count_rows,
    create_database,
    describe,
    extra_connection,
    holding_rows,
    insert_rows,
    report_counts,
    snapshot,
)

# What other code and tests import from here (the functions live in core.metadata_transfer).
__all__ = ["Command", "copied_models", "count_rows", "copy_model", "extra_connection"]

TARGET_ALIAS = "copy_metadata_target"


def copy_model(model: type[Model], source: str, target: str, size: int) -> int:
    """Insert every row of `model` from `source` into `target`, keys and timestamps as they are."""
    copied = 0
    for rows in chunks(model, source, size):
        insert_rows(model, rows, target)
        copied += len(rows)
    return copied


class Command(BaseCommand):
    help = (
        "Copy Nocoflo's metadata (users, groups, permissions, datasources, tables, columns, "
        "plugins, admin log, sessions) from the current database into a PostgreSQL or "
        "MySQL/MariaDB database, then verify the row counts."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--to",
            required=True,
            metavar="DATABASE_URL",
            help="the target, e.g. postgres://user@host:5432/nocoflo or mysql://user@host/nocoflo",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="replace what the target holds instead of refusing a target that has data",
        )
        parser.add_argument(
            "--skip-sessions",
            action="store_true",
            help="do not copy sign-in sessions (everyone signs in again)",
        )
        add_chunk_size_argument(parser)

    def handle(self, *args, to, force, skip_sessions, chunk_size, **options):
        try:
            target_config = database_config(to)
        except (ValueError, KeyError) as error:
            raise CommandError(f"cannot read the target URL: {error}") from None
        if target_config["ENGINE"] not in (POSTGRESQL, MYSQL):
            raise CommandError("the target must be a PostgreSQL or MySQL/MariaDB database URL")
        if not target_config.get("NAME"):
            raise CommandError("the target URL names no database")
        source = DEFAULT_DB_ALIAS
        if same_database(connections[source].settings_dict, target_config):
            raise CommandError("the target is the database Nocoflo is using now")
        self.check_source_migrated(source)

        models = copied_models(include_sessions=not skip_sessions)
        with extra_connection(TARGET_ALIAS, to) as target:
            try:
                self.prepare_target(target, models, force)
                self.copy(models, source, target, chunk_size)
            except DatabaseError as error:
                raise CommandError(f"the copy failed, no rows were kept: {error}") from error
            differences = self.verify(models, source, target.alias)
        if differences:
            raise CommandError(
                f"{differences} model(s) differ between the source and the target (see above)"
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Copied {len(models)} models. Point DATABASE_URL at the target to use it."
            )
        )

    def check_source_migrated(self, source: str) -> None:
        check_migrated(connections[source])

    def prepare_target(self, target: BaseDatabaseWrapper, models: list, force: bool) -> None:
        """Create the database if needed, refuse one holding Nocoflo's data, migrate, empty it."""
        create_database(target, self.stdout.write)
        holding = holding_rows(target, models)
        if holding and not force:
            shown = ", ".join(holding[:5])
            raise CommandError(
                f"the target already holds Nocoflo data: {shown}. "
                "Use --force to replace it, or choose an empty database."
            )
        self.stdout.write(f"Migrating {describe(target)}")
        call_command("migrate", database=target.alias, interactive=False, verbosity=0)
        # migrate filled in content types and permissions with ids of its own: empty every table
        # so the source's rows, ids and all, go in as they are.
        call_command(
            "flush",
            database=target.alias,
            interactive=False,
            inhibit_post_migrate=True,
            verbosity=0,
        )

    def copy(self, models: list, source: str, target: BaseDatabaseWrapper, size: int) -> None:
        # The source is read from one snapshot while its server may go on writing; the target
        # gets all rows or none.
        with snapshot(connections[source]), bulk_load(target, models):
            for model in models:
                copied = copy_model(model, source, target.alias, size)
                self.stdout.write(f"  {model._meta.label:<40} {copied:>10} rows")

    def verify(self, models: list, source: str, target: str) -> int:
        """Print the row counts of every model on both sides; return how many differ."""
        counts = [
            (model._meta.label, count_rows(model, source), count_rows(model, target))
            for model in models
        ]
        return report_counts(self.stdout.write, self.style, counts, "source", "target")
