"""`manage.py copy_metadata`: the test metadata copied into real PostgreSQL and MariaDB databases.

The servers must be running (127.0.0.1:5432 trust auth, 127.0.0.1:3306 root without password);
a server that is down fails these tests, it never skips them. Each test creates its own target
database and drops it afterwards.
"""

from __future__ import annotations

import io
import os
import uuid
from datetime import timedelta

import MySQLdb
import psycopg2
import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Group, Permission, User
from django.contrib.contenttypes.models import ContentType
from django.contrib.sessions.models import Session
from django.core.management import CommandError, call_command, execute_from_command_line
from django.db import DataError, connections
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone
from django.utils.connection import ConnectionDoesNotExist

from core.database import database_config, same_database
from core.management.commands import copy_metadata
from core.management.commands.copy_metadata import copied_models, extra_connection
from core.models import ApiToken, Change, Invite, RowLock, TableGrant, TableMeta, Viewer
from datasources_app.models import DatasourceConfig
from plugins_app.models import PluginConfig
from tests.conftest import grant
from tests.factories import UserFactory
from views_app.models import UserPreference, ViewPreference

pytestmark = [pytest.mark.integration]

SERVERS = {
    "postgresql": "postgres://postgres@127.0.0.1:5432/{name}",
    "mariadb": "mysql://root@127.0.0.1:3306/{name}",
}
CHECK_ALIAS = "copy_metadata_check"


def _admin_connection(server: str):
    if server == "postgresql":
        conn = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres")
        conn.autocommit = True
        return conn
    return MySQLdb.connect(host="127.0.0.1", port=3306, user="root")


def _drop(server: str, name: str) -> None:
    conn = _admin_connection(server)
    try:
        with conn.cursor() as cursor:
            if server == "postgresql":
                cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            else:
                cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        conn.close()


def _create(server: str, name: str) -> None:
    conn = _admin_connection(server)
    try:
        with conn.cursor() as cursor:
            if server == "postgresql":
                cursor.execute(f'CREATE DATABASE "{name}"')
            else:
                cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    finally:
        conn.close()


@pytest.fixture
def new_database():
    """`new_database(server)`: the URL of a new, empty database there, dropped after the test."""
    made = []

    def make(server: str) -> str:
        name = f"nocoflo_copytest_{len(made)}_{os.getpid()}"
        _drop(server, name)
        _create(server, name)
        made.append((server, name))
        return SERVERS[server].format(name=name)

    yield make
    for server, name in made:
        _drop(server, name)


both_servers = pytest.mark.parametrize("server", sorted(SERVERS))


@pytest.fixture
def metadata(demo_source, admin_user, client):
    """Test metadata with rows in every model: accounts, groups, permissions, a session, the admin
    log, datasources with their tables and columns, plugins; unicode beyond three bytes too."""
    editors = Group.objects.create(name="Éditeurs 🦉")
    editors.permissions.add(*Permission.objects.filter(codename__in=["read_rows", "write_rows"]))
    zoe = UserFactory(username="zoë", first_name="Zoë 🦉")
    zoe.groups.add(editors)
    grant(zoe, "delete_rows")
    client.force_login(zoe)  # a session row
    orders = TableMeta.objects.get(datasource=demo_source, name="orders")
    orders.display_name = "Commandes 📦"
    orders.save()
    # An old timestamp shows auto_now fields are copied as stored, not set to "now".
    TableMeta.objects.filter(pk=orders.pk).update(
        discovered_at=timezone.now() - timedelta(days=400)
    )
    LogEntry.objects.create(
        user=admin_user,
        content_type=ContentType.objects.get_for_model(TableMeta),
        object_id=str(orders.pk),
        object_repr=str(orders),
        action_flag=CHANGE,
        change_message='[{"changed": {"fields": ["Display name"]}}]',
    )
    # Grants, to a user and to a group (nullable keys on both sides).
    TableGrant.objects.create(table=orders, user=zoe, can_write=True)
    TableGrant.objects.create(table=orders, group=editors, is_owner=True)
    PluginConfig.objects.create(
        plugin_name="stats_view", kinds="view", enabled=False, config_json={"bins": [1, 2, 3]}
    )
    # Governance: an audited change, a row lock, a viewer and an invite.
    now = timezone.now()
    Change.objects.create(
        table=orders, table_label=orders.label, user=zoe, username=zoe.username, at=now,
        action="update", row_key="[1]", column="status", old_value="neu 🦉",
        new_value={"a": [1, 2]}, state="done", batch=uuid.uuid4(),
    )  # fmt: skip
    RowLock.objects.create(
        table=orders, row_key="[1]", user=zoe, holder="page-1", acquired_at=now,
        expires_at=now + timedelta(minutes=1),
    )  # fmt: skip
    Viewer.objects.create(table=orders, user=zoe, client="page-1", seen_at=now)
    invite = Invite.objects.create(
        email="new@example.com", token_hash="0" * 64, created_by=admin_user,
        expires_at=now + timedelta(days=7), table=orders, can_write=True,
    )  # fmt: skip
    invite.groups.add(editors)
    from core import tokens  # an API token (core/tokens.py), used and revoked

    token, _ = tokens.create_token(zoe, "Zoë's script 🦉", write=True)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=now, revoked_at=now)
    ViewPreference.objects.create(
        table=orders, user=zoe, preferred_view="table_view",
        view_config_json={"table_view": {"sort": [["id", True]], "hidden": ["comment"]}},
    )  # fmt: skip
    UserPreference.objects.create(user=zoe, dark_mode=True)
    from core.models import SignInFailure  # a failed sign-in (core/throttle.py)

    SignInFailure.objects.create(username="zoë", address="2001:db8::1", at=now)
    return demo_source


def _copy(url: str, *args: str) -> str:
    out = io.StringIO()
    call_command("copy_metadata", "--to", url, *args, stdout=out)
    return out.getvalue()


def _rows(model, using: str) -> dict:
    """Every row of the model's table by primary key (collations may order keys differently)."""
    names = [field.attname for field in model._meta.local_concrete_fields]
    key = names.index(model._meta.pk.attname)
    return {row[key]: row for row in model._base_manager.using(using).values_list(*names)}


def assert_every_row_copied(alias: str) -> None:
    """Every model has test rows, and `alias` holds each of them, field by field."""
    for model in copied_models():
        source = _rows(model, "default")
        assert source, f"the test metadata has no {model._meta.label}"
        assert _rows(model, alias) == source, model._meta.label


@pytest.mark.django_db
@both_servers
def test_every_row_is_copied_with_its_keys(metadata, new_database, server):
    target_url = new_database(server)
    output = _copy(target_url, "--chunk-size", "7")  # small chunks: many keyset pages

    assert "DIFFERS" not in output
    assert "core.ColumnMeta" in output and "sessions.Session" in output
    with extra_connection(CHECK_ALIAS, target_url):
        assert_every_row_copied(CHECK_ALIAS)
        copied = TableMeta.objects.using(CHECK_ALIAS).get(display_name="Commandes 📦")
        assert copied.discovered_at < timezone.now() - timedelta(days=399)
        zoe = User.objects.using(CHECK_ALIAS).get(username="zoë")
        assert zoe.check_password("correct horse battery staple")
        assert {g.name for g in zoe.groups.all()} == {"Éditeurs 🦉"}
        assert zoe.user_permissions.get().codename == "delete_rows"
        # Sequences were moved past the copied keys: new rows get fresh ones.
        assert User.objects.using(CHECK_ALIAS).create(username="new").pk > zoe.pk
        content_type = ContentType.objects.using(CHECK_ALIAS).create(app_label="x", model="y")
        assert content_type.pk > ContentType.objects.order_by("pk").last().pk
        # Strict on both servers: a value that does not fit is refused, never cut short.
        with pytest.raises(DataError):
            DatasourceConfig.objects.using(CHECK_ALIAS).create(name="x" * 300, datasource_type="y")
    with pytest.raises(ConnectionDoesNotExist):
        connections[CHECK_ALIAS]


@pytest.mark.django_db
@both_servers
def test_a_target_with_data_is_refused_unless_forced(metadata, new_database, server):
    target_url = new_database(server)
    _copy(target_url, "--skip-sessions")
    User.objects.create(username="added after the first copy")

    with pytest.raises(CommandError, match="already holds Nocoflo data.*--force"):
        _copy(target_url)
    output = _copy(target_url, "--force")

    assert "DIFFERS" not in output
    with extra_connection(CHECK_ALIAS, target_url):
        for model in copied_models():
            assert _rows(model, CHECK_ALIAS) == _rows(model, "default"), model._meta.label


@pytest.mark.django_db
def test_skipped_sessions_are_left_out(metadata, new_database):
    target_url = new_database("postgresql")
    output = _copy(target_url, "--skip-sessions")

    assert "sessions.Session" not in output
    with extra_connection(CHECK_ALIAS, target_url):
        assert Session.objects.using(CHECK_ALIAS).count() == 0
        assert User.objects.using(CHECK_ALIAS).count() == User.objects.count()


@pytest.mark.django_db
@both_servers
def test_a_missing_database_is_created(metadata, server):
    name = f"nocoflo_copytest_new_{os.getpid()}"
    _drop(server, name)
    try:
        output = _copy(SERVERS[server].format(name=name))
        assert f"Creating database {name}" in output
        assert "DIFFERS" not in output
    finally:
        _drop(server, name)


@pytest.mark.django_db
def test_a_difference_fails_the_command(metadata, new_database, monkeypatch):
    target_url = new_database("postgresql")
    real_count = copy_metadata.count_rows

    def lying_count(model, using):
        extra = using == copy_metadata.TARGET_ALIAS and model is TableMeta
        return real_count(model, using) + extra

    monkeypatch.setattr(copy_metadata, "count_rows", lying_count)
    out = io.StringIO()
    with pytest.raises(CommandError, match="1 model"):
        call_command("copy_metadata", "--to", target_url, stdout=out)
    assert "core.TableMeta" in out.getvalue() and "DIFFERS" in out.getvalue()


@pytest.mark.django_db
@both_servers
def test_a_failed_copy_leaves_no_rows(metadata, new_database, server, monkeypatch):
    target_url = new_database(server)
    real_copy = copy_metadata.copy_model

    def failing_copy(model, source, target, size):
        if model is TableMeta:
            raise DataError("value too long for type character varying(255)")
        return real_copy(model, source, target, size)

    monkeypatch.setattr(copy_metadata, "copy_model", failing_copy)
    with pytest.raises(CommandError, match="the copy failed, no rows were kept: value too long"):
        _copy(target_url)
    with extra_connection(CHECK_ALIAS, target_url):
        assert not User.objects.using(CHECK_ALIAS).exists()
        assert not DatasourceConfig.objects.using(CHECK_ALIAS).exists()


def test_the_exit_status_is_not_zero_on_failure(capsys):
    with pytest.raises(SystemExit) as exit_:
        execute_from_command_line(["manage.py", "copy_metadata", "--to", "sqlite:////tmp/x.db"])
    assert exit_.value.code == 1
    assert "PostgreSQL or MySQL/MariaDB" in capsys.readouterr().err


@pytest.mark.django_db
@pytest.mark.filterwarnings("ignore:Normally Django will use a connection:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:Engine not recognized:UserWarning")
@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite:////tmp/copy.sqlite3", "PostgreSQL or MySQL/MariaDB"),
        ("not a url", "cannot read the target URL"),
        ("postgres://postgres@127.0.0.1:port/x", "cannot read the target URL"),
        ("postgres://postgres@127.0.0.1:5432/", "names no database"),
        ("postgres://postgres@127.0.0.1:1/nocoflo_nowhere", "cannot reach"),
        ("mysql://root@127.0.0.1:1/nocoflo_nowhere", "cannot reach"),
    ],
)
def test_unusable_targets_are_refused(url, message):
    with pytest.raises(CommandError, match=message):
        _copy(url)


@pytest.mark.django_db
def test_the_current_database_is_refused(monkeypatch):
    monkeypatch.setattr(copy_metadata, "same_database", lambda one, other: True)
    with pytest.raises(CommandError, match="the database Nocoflo is using now"):
        _copy("postgres://postgres@127.0.0.1:5432/whatever")


@pytest.mark.django_db
def test_unapplied_migrations_in_the_source_are_refused(monkeypatch):
    monkeypatch.setattr(MigrationExecutor, "migration_plan", lambda self, targets: [("x", False)])
    with pytest.raises(CommandError, match="1 unapplied migration"):
        _copy("postgres://postgres@127.0.0.1:5432/whatever")


def test_a_chunk_size_below_one_is_refused():
    with pytest.raises(CommandError, match="--chunk-size"):
        _copy("postgres://postgres@127.0.0.1:5432/whatever", "--chunk-size", "0")


@pytest.mark.unit
@pytest.mark.parametrize(
    ("one", "other", "same"),
    [
        ("postgres://a@127.0.0.1:5432/n", "postgresql://b@localhost/n", True),
        ("postgres://a@127.0.0.1:5432/n", "postgres://a@127.0.0.1:5433/n", False),
        ("postgres://a@127.0.0.1/n", "postgres://a@127.0.0.1/m", False),
        ("mysql://r@127.0.0.1/n", "mariadb://r@localhost:3306/n", True),
        ("mysql://r@db.example/n", "mysql://r@127.0.0.1/n", False),
        ("postgres://a@127.0.0.1/n", "mysql://a@127.0.0.1/n", False),
        ("sqlite:////tmp/a/../b.db", "sqlite:////tmp/b.db", True),
    ],
)
def test_same_database(one, other, same):
    assert same_database(database_config(one), database_config(other)) is same


@pytest.mark.unit
def test_backend_options():
    mysql = database_config("mysql://root@127.0.0.1:3306/nocoflo")
    assert mysql["OPTIONS"]["charset"] == "utf8mb4"
    assert "STRICT_TRANS_TABLES" in mysql["OPTIONS"]["init_command"]
    assert mysql["TEST"] == {
        "NAME": "test_nocoflo",
        "CHARSET": "utf8mb4",
        "COLLATION": "utf8mb4_unicode_ci",
    }
    assert database_config("mariadb://root@127.0.0.1/n")["ENGINE"] == "django.db.backends.mysql"
    postgres = database_config("postgres://postgres@127.0.0.1:5432/nocoflo")
    assert postgres["TEST"] == {"NAME": "test_nocoflo"}
    assert "init_command" not in postgres["OPTIONS"]
    # Requests reuse open connections from a pool, checked before each is handed out.
    assert postgres["OPTIONS"]["pool"]["max_size"] >= 10
    assert postgres["CONN_HEALTH_CHECKS"] is True
    sqlite = database_config("sqlite:////tmp/nocoflo.sqlite3")
    assert "journal_mode=WAL" in sqlite["OPTIONS"]["init_command"]
    assert sqlite["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    # Tests use a file beside it, not Django's in-memory database: threads must wait, not fail.
    assert sqlite["TEST"]["NAME"] == "/tmp/test_nocoflo.sqlite3"
    url = "mysql://root@127.0.0.1/nocoflo?charset=utf8mb3"
    assert database_config(url)["OPTIONS"]["charset"] == "utf8mb3"  # the URL wins


@pytest.mark.unit
def test_referenced_models_come_first():
    order = [model._meta.label for model in copied_models()]
    assert order.index("contenttypes.ContentType") < order.index("auth.Permission")
    assert order.index("auth.User") < order.index("auth.User_groups")
    assert order.index("datasources_app.DatasourceConfig") < order.index("core.TableMeta")
    assert order.index("core.TableMeta") < order.index("core.ColumnMeta")
    assert "sessions.Session" not in [m._meta.label for m in copied_models(False)]
