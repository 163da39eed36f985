"""A datasource plugin's object as Nocoflo calls it.

Every call is counted and timed for the plugin's admin page. A third-party plugin is also kept
from harming the rest: its calls have a time limit (`NOCOFLO_PLUGIN_CALL_TIMEOUT`; the built-in
SQL datasources stop their own statements after `NOCOFLO_STATEMENT_TIMEOUT` instead), and what it
raises besides Nocoflo's datasource errors is logged with its name, marks it failing, and reaches
users as a plain message.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as CallTimedOut
from typing import Any

from plugins_app.manager import PluginManager

from .errors import DatasourceError, DatasourcePluginFailed, QueryTimeout

# Threads in which third-party datasource calls run, so a page can stop waiting on one that hangs.
_workers = ThreadPoolExecutor(max_workers=16, thread_name_prefix="nocoflo-datasource-plugin")


class GuardedDatasource:
    """Forwards everything to the plugin's datasource object, guarding its method calls."""

    def __init__(
        self, inner: Any, plugin_name: str, manager: PluginManager, time_limit: float | None
    ) -> None:
        self._inner = inner
        self._plugin = plugin_name
        self._manager = manager
        self._time_limit = time_limit

    @property
    def inner(self) -> Any:
        return self._inner

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # isinstance() sees the plugin's class, as Django's LazyObject
        return type(self._inner)

    def __getattr__(self, attr: str) -> Any:
        value = getattr(self._inner, attr)
        if attr.startswith("_") or not callable(value):
            return value

        def guarded(*args: Any, **kwargs: Any) -> Any:
            return self._call(value, args, kwargs)

        return guarded

    def _call(self, func: Any, args: tuple, kwargs: dict) -> Any:
        started = time.perf_counter()
        try:
            if self._time_limit is None:
                return func(*args, **kwargs)
            return self._call_with_limit(func, args, kwargs)
        except DatasourceError:
            raise
        except Exception as exc:
            if self._time_limit is None:
                raise  # Nocoflo's own datasources: the usual handlers log their bugs
            self._manager.mark_failing(self._plugin, exc)
            raise DatasourcePluginFailed(
                f"The datasource plugin {self._plugin!r} failed; the error is logged and shown "
                "to administrators on the plugin's page"
            ) from exc
        finally:
            self._manager.count_call(self._plugin, time.perf_counter() - started)

    def _call_with_limit(self, func: Any, args: tuple, kwargs: dict) -> Any:
        future = _workers.submit(func, *args, **kwargs)
        try:
            return future.result(timeout=self._time_limit)
        except CallTimedOut:
            future.cancel()
            problem = TimeoutError(f"a call took longer than {self._time_limit:g} seconds")
            self._manager.mark_failing(self._plugin, problem)
            raise QueryTimeout(
                f"The datasource plugin {self._plugin!r} did not answer within "
                f"{self._time_limit:g} seconds"
            ) from None
