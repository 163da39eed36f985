"""What keeps a server process's plugins in step while it runs.

Every `NOCOFLO_PLUGIN_SYNC_SECONDS` the process applies what admins changed in the metadata
database (in another process, too) and adds its plugins' health and call counts there. With
`serve --reload-plugins` it also watches the plugin directories: a changed file is loaded again
and its plugins re-registered, keeping their enabled flags and configuration.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from django.conf import settings
from django.db import close_old_connections

from .manager import get_manager
from .store import sync_plugin_configs

log = logging.getLogger("nocoflo.plugins")


class PluginWatcher:
    def __init__(self, interval: float, reload_dirs: list[Path] | None = None) -> None:
        self.interval = interval
        self.reload_dirs = [d for d in (reload_dirs or []) if d.is_dir()]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        self._spawn(self._sync_loop, "nocoflo-plugin-sync")
        if self.reload_dirs:
            self._spawn(self._reload_loop, "nocoflo-plugin-reload")

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)

    def _spawn(self, target, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def sync(self) -> None:
        close_old_connections()
        try:
            sync_plugin_configs()
        except Exception:  # the metadata database may be briefly away; try again next time
            log.exception("syncing plugins with the metadata database failed")

    def _sync_loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sync()

    def _reload_loop(self) -> None:
        from watchfiles import Change, PythonFilter, watch

        log.info("reloading plugins when files change in %s", ", ".join(map(str, self.reload_dirs)))
        for changes in watch(*self.reload_dirs, watch_filter=PythonFilter(), stop_event=self._stop):
            for change, path in sorted(changes, key=lambda c: c[1]):
                if Path(path).name.startswith("_") or Path(path).parent not in self.reload_dirs:
                    continue
                try:
                    get_manager().reload_file(path)
                except Exception:
                    log.exception("reloading plugin file %s failed", path)
                if change == Change.deleted:
                    log.info("plugin file %s was removed", path)
            self.sync()


_running: PluginWatcher | None = None


def start_watching() -> PluginWatcher:
    """Start this process's watcher (the server calls this once it runs)."""
    global _running
    if _running is None:
        dirs = [Path(d).resolve() for d in settings.NOCOFLO_PLUGIN_DIRS]
        _running = PluginWatcher(
            settings.NOCOFLO_PLUGIN_SYNC_SECONDS,
            reload_dirs=dirs if settings.NOCOFLO_RELOAD_PLUGINS else [],
        )
        _running.start()
    return _running


def stop_watching() -> None:
    global _running
    if _running is not None:
        _running.stop()
        _running = None
