"""Moving Nocoflo's metadata rows between databases and files, keys and all.

`manage.py copy_metadata` (database to database), `backup_metadata` (database to file) and
`restore_metadata` (file to database) share what is here: which models hold rows and in which order,
reading a table in keyset chunks so memory stays flat, reading every table from one snapshot,
writing rows as stored (keys, timestamps) in one transaction, resetting sequences, counting.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import decimal
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager

from django.apps import apps as global_apps
from django.contrib.contenttypes.models import ContentType
from django.core.management.base import CommandError
from django.core.management.color import no_style
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.recorder import MigrationRecorder
from django.db.models import Field, JSONField, Model
from django.db.utils import Error as DatabaseError
from django.db.utils import load_backend
from django.utils.connection import ConnectionDoesNotExist
from django.utils.duration import duration_iso_string

from core.database import database_config

DEFAULT_CHUNK_SIZE = 2000
# Rows `migrate` creates by itself in any database; they never count as data already there.
MIGRATE_CREATES = ("contenttypes.ContentType", "auth.Permission")
SESSIONS = "sessions.Session"
# Not data: the token of a state that a copy or restore replaces (core/metadata_cache.py).
NOT_COPIED = ("core.MetadataRevision",)


def add_chunk_size_argument(parser: argparse.ArgumentParser) -> None:
    def at_least_one(text: str) -> int:
        size = int(text)
        if size < 1:
            raise argparse.ArgumentTypeError("must be at least 1")
        return size

    parser.add_argument(
        "--chunk-size",
        type=at_least_one,
        default=DEFAULT_CHUNK_SIZE,
        help=f"rows read or written at a time (default {DEFAULT_CHUNK_SIZE})",
    )


def add_file_arguments(parser: argparse.ArgumentParser, file_help: str, option: str, what: str):
    """The arguments of backup_metadata and restore_metadata: FILE, the database when it is not
    Nocoflo's own (`option` URL, as `url`), and --chunk-size."""
    parser.add_argument("file", help=file_help)
    parser.add_argument(
        option,
        dest="url",
        metavar="DATABASE_URL",
        help=f"{what} this database instead of the one Nocoflo uses (DATABASE_URL)",
    )
    add_chunk_size_argument(parser)


def metadata_database(stack: ExitStack, alias: str, url: str | None) -> BaseDatabaseWrapper:
    """The database `url` names, open as `alias` until `stack` closes; Nocoflo's own without one."""
    if not url:
        return connections[DEFAULT_DB_ALIAS]
    try:
        return stack.enter_context(extra_connection(alias, url))
    except (ValueError, KeyError) as error:
        raise CommandError(f"cannot read the database URL: {error}") from None


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
        # Django keeps PostgreSQL pools by alias: the next database opened under this alias
        # must not be handed this one's connections.
        if hasattr(connection, "close_pool"):
            connection.close_pool()
        del connections[alias]
        ContentType.objects.clear_cache()


def copied_models(include_sessions: bool = True, registry=global_apps) -> list[type[Model]]:
    """Every model with a table of its own (m2m tables included), referenced models first.

    `registry` may be the historical apps of a migration state, to write rows of an older schema.
    """
    models = [
        model
        for model in registry.get_models(include_auto_created=True)
        if model._meta.managed
        and not model._meta.proxy
        and not model._meta.swapped
        and model._meta.label not in NOT_COPIED
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


def stored_fields(model: type[Model]) -> list[Field]:
    """The columns of the model's own table that an INSERT writes (generated ones compute)."""
    return [field for field in model._meta.local_concrete_fields if not field.generated]


def chunks(model: type[Model], using: str, size: int) -> Iterator[list[tuple]]:
    """The rows of `model`'s own table in `using` as tuples of Python values (in the order of
    `stored_fields`), `size` at a time, in primary key order."""
    names = [field.attname for field in stored_fields(model)]
    pk_position = names.index(model._meta.pk.attname)
    rows = model._base_manager.using(using).order_by("pk").values_list(*names)
    last = None
    while True:
        page = rows if last is None else rows.filter(pk__gt=last)
        batch = list(page[:size])
        if not batch:
            return
        last = batch[-1][pk_position]
        yield batch
        if len(batch) < size:
            return


def insert_rows(model: type[Model], rows: list[tuple], target: str) -> None:
    """Insert rows (tuples in the order of `stored_fields`) into `target` exactly as they are."""
    fields = stored_fields(model)
    names = [field.attname for field in fields]
    # from_db builds instances without running defaults or signals; raw=True is what loaddata
    # uses: auto_now and auto_now_add fields keep their stored times instead of becoming "now".
    objs = [model.from_db(target, names, row) for row in rows]
    model._base_manager.using(target)._insert(objs, fields=fields, using=target, raw=True)


@contextmanager
def snapshot(connection: BaseDatabaseWrapper) -> Iterator[None]:
    """Read everything inside the block from one consistent snapshot, while others keep writing.

    Each backend is asked for a read-only snapshot transaction in its own words; Django's
    `atomic` would not do: on SQLite it takes the write lock (BEGIN IMMEDIATE), blocking the server,
    and on MySQL/MariaDB Django's connections read at READ COMMITTED, a new snapshot per statement.
    A caller already inside a transaction (a test, another command) reads in that transaction.
    """
    if connection.in_atomic_block or not connection.get_autocommit():
        yield
        return
    if connection.vendor == "postgresql":
        begin = ["BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"]
    elif connection.vendor == "mysql":
        begin = [
            # Applies to the next transaction only; the consistent snapshot needs REPEATABLE READ.
            "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ",
            "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY",
        ]
    else:
        # A deferred transaction: WAL keeps the snapshot of its first read, writers go on.
        begin = ["BEGIN DEFERRED"]
    with connection.cursor() as cursor:
        for sql in begin:
            cursor.execute(sql)
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ROLLBACK")  # nothing was written; ending the transaction is enough


@contextmanager
def bulk_load(target: BaseDatabaseWrapper, models: list[type[Model]]) -> Iterator[None]:
    """Write rows in one transaction: all or none. Keys are checked once every row is in (rows may
    point at rows of a later table, or of their own), and sequences moved past the written keys."""
    with transaction.atomic(using=target.alias):
        with target.constraint_checks_disabled():
            yield
        target.check_constraints(table_names=[model._meta.db_table for model in models])
        with target.cursor() as cursor:
            for sql in target.ops.sequence_reset_sql(no_style(), models):
                cursor.execute(sql)


def holding_rows(target: BaseDatabaseWrapper, models: Iterable[type[Model]]) -> list[str]:
    """The models whose tables in `target` hold rows (not counting those `migrate` creates)."""
    existing = set(target.introspection.table_names())
    holding = []
    for model in models:
        if model._meta.label in MIGRATE_CREATES or model._meta.db_table not in existing:
            continue
        rows = count_rows(model, target.alias)
        if rows:
            holding.append(f"{model._meta.label} ({rows} rows)")
    return holding


def check_migrated(connection: BaseDatabaseWrapper) -> None:
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        raise CommandError(
            f"the current database has {len(plan)} unapplied migration(s): "
            "run `manage.py migrate` first"
        )


def applied_migrations(connection: BaseDatabaseWrapper) -> dict[str, list[str]]:
    """The migrations applied in `connection` that this code knows, per app."""
    known = set(MigrationExecutor(connection).loader.graph.nodes)
    applied: dict[str, list[str]] = {}
    for app, name in sorted(MigrationRecorder(connection).applied_migrations()):
        if (app, name) in known:  # records of removed migrations describe no table
            applied.setdefault(app, []).append(name)
    return applied


def create_database(target: BaseDatabaseWrapper, write: Callable[[str], object]) -> None:
    """Create the PostgreSQL or MySQL/MariaDB database `target` names when it does not exist."""
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
                write(f"Creating database {name}")
                cursor.execute(create_sql)
    except DatabaseError as error:
        raise CommandError(f"cannot reach the target database server: {error}") from None


def report_counts(write: Callable[[str], object], style, rows: list[tuple[str, int, int]],
                  left: str, right: str) -> int:  # fmt: skip
    """Print one line per model with its two counts; return how many differ."""
    write("")
    header = f"{'model':<40} {left:>10} {right:>10}  check"
    write(header)
    write("-" * len(header))
    differences = 0
    for label, expected, got in rows:
        same = expected == got
        differences += not same
        check = style.SUCCESS("ok") if same else style.ERROR("DIFFERS")
        write(f"{label:<40} {expected:>10} {got:>10}  {check}")
    return differences


def encode_value(field: Field, value):
    """A stored value as JSON: exact and typed by its field, so `decode_value` gives it back."""
    if value is None or isinstance(field, JSONField):
        return value  # a JSON field's value is JSON already
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()  # microseconds and the offset kept
    if isinstance(value, datetime.timedelta):
        return duration_iso_string(value)
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    return value


def decode_value(field: Field, value):
    if value is None or isinstance(field, JSONField):
        return value
    # to_python reads the text forms above (ISO dates and durations, base64 for binary fields);
    # a relation reads its value as the field it points at.
    return field.to_python(value)


def describe(connection: BaseDatabaseWrapper) -> str:
    """Where a database is, for messages (never its URL: that may hold a password)."""
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"SQLite database {settings['NAME']}"
    where = settings.get("HOST") or "localhost"
    if settings.get("PORT"):
        where = f"{where}:{settings['PORT']}"
    return f"{connection.display_name} database {settings['NAME']} on {where}"
