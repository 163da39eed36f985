"""Fixtures of the datasources_app tests: datasources on small real SQLite files, and the same
fixture tables on every backend (SQLite, PostgreSQL, MySQL/MariaDB)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from datasources_app.builtin.sqlite import SQLiteDatasource
from datasources_app.connections import close_all
from datasources_app.discovery import discover_tables
from tests.backends import BACKENDS, Backend, DatabaseSpares
from tests.factories import DatasourceFactory

from .sqlite_files import build_shop


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    """Users are created in most tests here; PBKDF2 would dominate the folder's run time."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def shop_file(tmp_path) -> Path:
    return build_shop(tmp_path / "shop.sqlite3")


@pytest.fixture
def shop(shop_file):
    """A SQLite datasource on a private shop file."""
    datasource = SQLiteDatasource(f"sqlite:///{shop_file}")
    yield datasource
    datasource.close()


@pytest.fixture
def demo_ds(demo_file):
    """A datasource on the session's demo file; tests using it only read."""
    datasource = SQLiteDatasource(f"sqlite:///{demo_file}")
    yield datasource
    datasource.close()


@pytest.fixture
def shop_source(db, shop_file):
    """The shop file registered as a datasource, its tables discovered."""
    config = DatasourceFactory(name="Shop", connection_string=f"sqlite:///{shop_file}")
    discover_tables(config)
    return config


# --- the same fixture tables on SQLite, PostgreSQL and MySQL/MariaDB (see tests/backends.py) ---


@pytest.fixture(scope="session")
def database_spares() -> Iterator[DatabaseSpares]:
    spares = DatabaseSpares()
    yield spares
    spares.close()


@pytest.fixture(params=BACKENDS)
def backend(request, tmp_path, database_spares) -> Iterator[Backend]:
    """A fresh database with the fixture tables on each backend, dropped after the test."""
    created = database_spares.take(request.param, tmp_path)
    yield created
    close_all()  # datasources the test opened through DatasourceConfig
    database_spares.give_back(created)


@pytest.fixture
def ds(backend):
    """A datasource object on the backend's database."""
    return backend.datasource()


@pytest.fixture
def backend_source(db, backend):
    """The backend's database registered as a datasource, its tables discovered."""
    config = DatasourceFactory(
        name=f"{backend.name} backend",
        datasource_type=backend.name,
        connection_string=backend.url,
    )
    discover_tables(config)
    return config
