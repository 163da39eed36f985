"""Fixtures for the plugin-system tests: sample plugin directories and a fresh process manager."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from plugins_app import manager as manager_module
from plugins_app.manager import PluginManager

SAMPLES = Path(__file__).resolve().parent.parent / "plugins"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Admin and API tests create accounts; a cheap hasher keeps the folder fast."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def plugin_dir(tmp_path):
    """Build a plugin directory holding copies of the named sample plugins of tests/plugins/."""

    def build(*names: str, files: dict[str, str] | None = None) -> Path:
        directory = tmp_path / "plugin_dir"
        directory.mkdir(exist_ok=True)
        for name in names:
            shutil.copy(SAMPLES / f"{name}.py", directory / f"{name}.py")
        for filename, text in (files or {}).items():
            (directory / filename).write_text(text)
        return directory

    return build


@pytest.fixture
def live_manager(plugin_dir):
    """A fresh manager installed as the process's manager (admin, API and store use it); the
    previous one is put back afterwards."""
    previous = manager_module._current
    manager = PluginManager(
        plugin_dirs=[
            plugin_dir("chart_view_plugin", "geo_datasource_plugin", "broken_import_plugin")
        ],
        enabled_plugins=["example_chart_view", "geo_datasource"],
        entry_points=False,
    )
    manager.load_plugins()
    manager_module.set_manager(manager)
    yield manager
    manager_module.set_manager(previous)
