"""`manage.py copy_metadata --to URL`: move Nocoflo's metadata to PostgreSQL or MySQL/MariaDB.

Copies every model's rows from the current metadata database (`DATABASE_URL`, SQLite by default)
into another database, keeping primary keys so every relation (users and their groups and
permissions, content types and the admin log pointing at them, tables, columns, datasources,
plugins...) stays intact. Then it resets the target's sequences, counts the rows on both sides and
fails when any count differs. Set `DATABASE_URL` to the target afterwards.

The models are found at run time, so models added later are copied too. Rows are read in keyset
chunks (`WHERE pk > last ORDER BY pk LIMIT n`), so memory stays flat however big a table is, and
written inside one transaction: a copy that fails leaves the target without Nocoflo's rows.
Stop the server first (or accept that writes made during the copy make the check fail).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.core.management.color import no_style
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.executor import MigrationExecutor
from django.db.models import Model
from django.db.utils import Error as DatabaseError
from django.db.utils import load_backend
from django.utils.connection import ConnectionDoesNotExist

from core.database import MYSQL, POSTGRESQL, database_config, same_database

TARGET_ALIAS = "copy_metadata_target"
DEFAULT_CHUNK_SIZE = 2000
# Rows `migrate` creates by itself in any database; they never count as data already there.
MIGRATE_CREATES = ("contenttypes.ContentType", "auth.Permission")
SESSIONS = "sessions.Session"


@contextmanager
def extra_connection(alias: str, url: str) -> Iterator[BaseDatabaseWrapper]:
    """Open `url` as Django connection `alias` for the duration of the block, then forget it.

    The connection is handed to this thread's connection handler without joining the settings,
    so the ORM, `migrate` and `flush` reach it by its alias while nothing else (the test runner,
    `close_old_connections`) mistakes it for one of Nocoflo's databases.
    """
    try:
        connections[alias]
    except ConnectionDoesNotExist:
        pass
    else:
        raise CommandError(f"a database named {alias!r} is already open")
    settings = connections.configure_settings({DEFAULT_DB_ALIAS: {}, alias: database_config(url)})
    connection = load_backend(settings[alias]["ENGINE"]).DatabaseWrapper(settings[alias], alias)
    connections[alias] = connection
    try:
        yield connection
    finally:
        connection.close()
        del connections[alias]
        ContentType.objects.clear_cache()


def copied_models(include_sessions: bool = True) -> list[type[Model]]:
    """Every model with a table of its own (m2m tables included), referenced models first."""
    models = [
        model
        for model in apps.get_models(include_auto_created=True)
        if model._meta.managed and not model._meta.proxy and not model._meta.swapped
    ]
    if not include_sessions:
        models = [model for model in models if model._meta.label != SESSIONS]
    ordered: list[type[Model]] = []
    seen: set[type[Model]] = set()

    def visit(model: type[Model], path: tuple) -> None:
        if model in seen or model in path:  # a cycle is fine: constraints are checked at the end
            return
        for field in model._meta.local_concrete_fields:
            target = field.related_model if field.is_relation else None
            if target is not None and target is not model:
                target = target._meta.concrete_model
                if target in models:
                    visit(target, (*path, model))
        seen.add(model)
        ordered.append(model)

    for model in sorted(models, key=lambda m: m._meta.label):
        visit(model, ())
    return ordered


def count_rows(model: type[Model], using: str) -> int:
    return model._base_manager.using(using).count()


def stored_fields(model: type[Model]) -> list:
    """The columns of the model's own table that an INSERT writes (generated ones compute)."""
    return [field for field in model._meta.local_concrete_fields if not field.generated]


def chunks(model: type[Model], using: str, size: int) -> Iterator[list[Model]]:
    """The rows of `model`'s own table in `using`, `size` at a time, in primary key order."""
    fields = stored_fields(model)
    names = [field.attname for field in fields]
    pk_position = names.index(model._meta.pk.attname)
    rows = model._base_manager.using(using).order_by("pk").values_list(*names)
    last = None
    while True:
        page = rows if last is None else rows.filter(pk__gt=last)
        batch = list(page[:size])
        if not batch:
            return
        last = batch[-1][pk_position]
        # from_db builds instances without running defaults or signals; values are Python values
        # already (the source's converters ran), ready for the target's own adaptation.
        yield [model.from_db(using, names, row) for row in batch]
        if len(batch) < size:
            return


def copy_model(model: type[Model], source: str, target: str, size: int) -> int:
    """Insert every row of `model` from `source` into `target`, keys and timestamps as they are."""
    fields = stored_fields(model)
    copied = 0
    for objs in chunks(model, source, size):
        # raw=True is what loaddata uses: values are written as they are, so auto_now and
        # auto_now_add fields keep their stored times instead of becoming "now".
        model._base_manager.using(target)._insert(objs, fields=fields, using=target, raw=True)
        copied += len(objs)
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
        parser.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE)

    def handle(self, *args, to, force, skip_sessions, chunk_size, **options):
        if chunk_size < 1:
            raise CommandError("--chunk-size must be at least 1")
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
        executor = MigrationExecutor(connections[source])
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        if plan:
            raise CommandError(
                f"the current database has {len(plan)} unapplied migration(s): "
                "run `manage.py migrate` first"
            )

    def prepare_target(self, target: BaseDatabaseWrapper, models: list, force: bool) -> None:
        """Create the database if needed, refuse one holding Nocoflo's data, migrate, empty it."""
        self.create_database(target)
        existing = set(target.introspection.table_names())
        holding = []
        for model in models:
            if model._meta.label in MIGRATE_CREATES or model._meta.db_table not in existing:
                continue
            rows = count_rows(model, target.alias)
            if rows:
                holding.append(f"{model._meta.label} ({rows} rows)")
        if holding and not force:
            shown = ", ".join(holding[:5])
            raise CommandError(
                f"the target already holds Nocoflo data: {shown}. "
                "Use --force to replace it, or choose an empty database."
            )
        self.stdout.write(f"Migrating {self.describe(target)}")
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

    def create_database(self, target: BaseDatabaseWrapper) -> None:
        name = target.settings_dict["NAME"]
        if target.vendor == "postgresql":
            exists_sql = "SELECT 1 FROM pg_database WHERE datname = %s"
            create_sql = f"CREATE DATABASE {target.ops.quote_name(name)} ENCODING 'UTF8'"
        else:
            exists_sql = "SELECT 1 FROM information_schema.schemata WHERE schema_name = %s"
            create_sql = (
                f"CREATE DATABASE {target.ops.quote_name(name)} "
                "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
            )
        try:
            # The server's maintenance connection, the one Django uses to create test databases.
            with target._nodb_cursor() as cursor:
                cursor.execute(exists_sql, [name])
                if cursor.fetchone() is None:
                    self.stdout.write(f"Creating database {name}")
                    cursor.execute(create_sql)
        except DatabaseError as error:
            raise CommandError(f"cannot reach the target database server: {error}") from None

    def copy(self, models: list, source: str, target: BaseDatabaseWrapper, size: int) -> None:
        # One transaction per side: the source is read as one snapshot (SQLite, and PostgreSQL
        # per statement), and the target gets all rows or none.
        with transaction.atomic(using=source), transaction.atomic(using=target.alias):
            with target.constraint_checks_disabled():
                for model in models:
                    copied = copy_model(model, source, target.alias, size)
                    self.stdout.write(f"  {model._meta.label:<40} {copied:>10} rows")
            target.check_constraints(table_names=[model._meta.db_table for model in models])
            with target.cursor() as cursor:
                for sql in target.ops.sequence_reset_sql(no_style(), models):
                    cursor.execute(sql)

    def verify(self, models: list, source: str, target: str) -> int:
        """Print the row counts of every model on both sides; return how many differ."""
        self.stdout.write("")
        header = f"{'model':<40} {'source':>10} {'target':>10}  check"
        self.stdout.write(header)
        self.stdout.write("-" * len(header))
        differences = 0
        for model in models:
            expected, got = count_rows(model, source), count_rows(model, target)
            same = expected == got
            differences += not same
            check = self.style.SUCCESS("ok") if same else self.style.ERROR("DIFFERS")
            self.stdout.write(f"{model._meta.label:<40} {expected:>10} {got:>10}  {check}")
        return differences

    @staticmethod
    def describe(target: BaseDatabaseWrapper) -> str:
        settings = target.settings_dict
        where = settings.get("HOST") or "localhost"
        if settings.get("PORT"):
            where = f"{where}:{settings['PORT']}"
        return f"{target.display_name} database {settings['NAME']} on {where}"
