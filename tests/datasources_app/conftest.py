"""Fixtures of the datasources_app tests: datasources on small real SQLite files."""

from __future__ import annotations

from pathlib import Path

import pytest

from datasources_app.builtin.sqlite import SQLiteDatasource
from datasources_app.discovery import discover_tables
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
