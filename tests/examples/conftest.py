"""Fixtures of the example plugins' tests (examples/kanban_view, examples/csv_folder_datasource).

The examples are pip-installable packages; here they are made importable by putting their folders
on sys.path, so the tests run without installing them.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from core import events
from plugins_app import manager as manager_module
from plugins_app.manager import PluginManager

# The page helpers the examples' tests use, shared with Nocoflo's own page tests.
from tests.views_app.conftest import page_db, settle, sign_in  # noqa: F401

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
KANBAN_DIR = EXAMPLES / "kanban_view"
CSV_FOLDER_DIR = EXAMPLES / "csv_folder_datasource"
for _folder in (KANBAN_DIR, CSV_FOLDER_DIR):
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))

CORE_BUILTINS = ("views_app.builtin.table", "datasources_app.builtin.sqlite")


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def bus():
    """A fresh in-process event bus for each test."""
    previous = events.set_bus(events.EventBus())
    yield events.get_bus()
    events.set_bus(previous)


@pytest.fixture
def install_manager():
    """Make a plugin manager with the core built-ins and the given plugins the process's
    manager for one test; the previous one is put back afterwards."""
    previous = manager_module._current

    def install(*plugins: Any, builtins: tuple[str, ...] = CORE_BUILTINS) -> PluginManager:
        manager = PluginManager(builtins=builtins, entry_points=False)
        manager.load_plugins()
        for plugin in plugins:
            info = manager.register_plugin(plugin)
            assert info is not None and info.health == "ok", manager.plugins
        manager_module.set_manager(manager)
        return manager

    yield install
    manager_module._current = previous


async def eventually(check: Callable[[], Any], timeout: float = 10.0) -> None:
    """Wait until `check()` stops raising AssertionError (re-raised after `timeout` seconds):
    page work runs in background tasks and threads, at the speed of a busy machine."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            check()
            return
        except AssertionError:
            if asyncio.get_running_loop().time() > deadline:
                raise
        await asyncio.sleep(0.05)


def query(path: Path, sql: str, *params: Any) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql, params).fetchall()
