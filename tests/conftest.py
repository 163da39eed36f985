"""Shared fixtures: small real SQLite databases registered as datasources, users and clients."""

from __future__ import annotations

import pytest
from asgiref.sync import SyncToAsync
from django.contrib.auth.models import Permission
from django.db import connections

from core.models import TableMeta
from datasources_app.connections import close_all
from datasources_app.demo_data import build_demo_database
from datasources_app.discovery import discover_tables
from datasources_app.hostile_data import build_hostile_database
from tests.factories import AdminFactory, DatasourceFactory, UserFactory

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _close_datasources():
    yield
    close_all()


@pytest.fixture(autouse=True)
def _close_worker_thread_connections():
    """ORM calls of async tests run in asgiref's worker thread, whose connections outlive the test:
    PostgreSQL then refuses to drop the test database. Close them after every test."""
    yield
    SyncToAsync.single_thread_executor.submit(connections.close_all).result()


@pytest.fixture(scope="session")
def demo_file(tmp_path_factory):
    """A demo database with 2,000 orders, built once; tests that write copy it."""
    path = tmp_path_factory.mktemp("demo") / "demo.sqlite3"
    build_demo_database(path, orders=2000)
    return path


@pytest.fixture
def demo_db(demo_file, tmp_path):
    """A private copy of the demo database that a test may change."""
    import shutil

    path = tmp_path / "demo.sqlite3"
    shutil.copy(demo_file, path)
    return path


@pytest.fixture
def demo_source(db, demo_db):
    """The demo database registered as a datasource, its tables discovered."""
    config = DatasourceFactory(name="Demo", connection_string=f"sqlite:///{demo_db}")
    discover_tables(config)
    return config


@pytest.fixture
def hostile_source(db, tmp_path):
    path = tmp_path / "hostile.sqlite3"
    build_hostile_database(path)
    config = DatasourceFactory(name="Hostile", connection_string=f"sqlite:///{path}")
    discover_tables(config)
    return config


@pytest.fixture
def orders_table(demo_source) -> TableMeta:
    return demo_source.tables.get(name="orders")


@pytest.fixture
def admin_user(db):
    return AdminFactory()


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def grant(user, *codenames: str) -> None:
    """Give a user Nocoflo's row permissions (read_rows, write_rows, delete_rows)."""
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))


@pytest.fixture
def reader(db):
    user = UserFactory(username="reader")
    grant(user, "read_rows")
    return user


@pytest.fixture
def plain_user(db):
    return UserFactory(username="nobody")
