"""Fixtures of the fuzz tests: calls through Django's WSGI application inside a test's
transaction."""

from __future__ import annotations

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

# A fresh database per backend with hostile names, as the datasource tests use (tests/backends.py)
from tests.datasources_app.conftest import backend, backend_source, database_spares  # noqa: F401


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    """Users are made in every test here; PBKDF2 would dominate the folder's run time."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def keep_test_transaction():
    """Django closes "old" connections around each request; inside a test's transaction that
    would close the test's own connection (Django's test Client steps aside the same way)."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)
