"""The server's plugin watcher: it follows the metadata database and reloads edited plugin files."""

from __future__ import annotations

import textwrap
import time

import pytest

from plugins_app import manager as manager_module
from plugins_app import watcher

from .test_manager import builtin_manager
from .test_plugin_contract import PLUGIN_FILE

pytestmark = [pytest.mark.plugin, pytest.mark.integration]


def eventually(check, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check() and time.monotonic() < deadline:
        time.sleep(0.05)
    return check()


@pytest.fixture
def synced(monkeypatch):
    """Counts the watcher's syncs (the real one talks to the metadata database)."""
    calls: list[float] = []
    monkeypatch.setattr(watcher, "sync_plugin_configs", lambda: calls.append(time.monotonic()))
    return calls


@pytest.fixture
def plugin_folder(tmp_path):
    previous = manager_module._current
    (tmp_path / "edited.py").write_text(
        textwrap.dedent(PLUGIN_FILE.format(version="1", priority=2))
    )
    manager = builtin_manager(plugin_dirs=[tmp_path], enabled_plugins=["edited_view"])
    manager_module.set_manager(manager)
    yield tmp_path, manager
    manager_module.set_manager(previous)


def test_an_edited_plugin_file_is_loaded_again(plugin_folder, synced):
    folder, manager = plugin_folder
    running = watcher.PluginWatcher(interval=60, reload_dirs=[folder])
    running.start()
    try:
        time.sleep(0.5)  # the file watcher is up
        (folder / "edited.py").write_text(
            textwrap.dedent(PLUGIN_FILE.format(version="2", priority=7))
        )
        assert eventually(lambda: manager.plugins["edited_view"].version == "2")
        assert manager.plugins["edited_view"].enabled is True
        assert eventually(lambda: len(synced) >= 1)  # and the database hears of it
    finally:
        running.stop()


def test_the_database_is_followed_every_interval(synced):
    running = watcher.PluginWatcher(interval=0.05)
    running.start()
    try:
        assert eventually(lambda: len(synced) >= 3)
    finally:
        running.stop()
    assert running.reload_dirs == []


def test_a_failing_sync_is_logged_and_tried_again(monkeypatch, caplog):
    attempts: list[int] = []

    def unreachable():
        attempts.append(1)
        raise OSError("metadata database away")

    monkeypatch.setattr(watcher, "sync_plugin_configs", unreachable)
    running = watcher.PluginWatcher(interval=0.05)
    running.start()
    try:
        assert eventually(lambda: len(attempts) >= 2)
    finally:
        running.stop()
    assert "syncing plugins with the metadata database failed" in caplog.text


def test_the_server_starts_one_watcher_with_its_settings(settings, tmp_path, synced):
    settings.NOCOFLO_PLUGIN_DIRS = [str(tmp_path), str(tmp_path / "missing")]
    settings.NOCOFLO_RELOAD_PLUGINS = True
    settings.NOCOFLO_PLUGIN_SYNC_SECONDS = 30
    first = watcher.start_watching()
    try:
        assert watcher.start_watching() is first
        assert first.reload_dirs == [tmp_path.resolve()]
        assert first.interval == 30
    finally:
        watcher.stop_watching()
    assert watcher._running is None
