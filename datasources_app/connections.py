"""One datasource object per configured datasource, kept while its configuration stays the same."""

from __future__ import annotations

import json
import threading

from django.conf import settings

from core.crypto import SecretUnreadable
from plugins_app.manager import PluginError, get_manager

from .base import BaseDatasource
from .errors import DatasourceError, DatasourceUnavailable
from .guard import GuardedDatasource
from .models import DatasourceConfig

_open: dict[int, tuple[tuple, BaseDatasource]] = {}
_lock = threading.Lock()


class DatasourceTypeUnavailable(DatasourceUnavailable):
    """No enabled plugin handles this datasource's type."""


def _blueprint(config: DatasourceConfig) -> tuple[str, type, str, dict]:
    """(plugin name, datasource class, URL with password, options) for a configuration."""
    manager = get_manager()
    try:
        name, cls = manager.datasource_plugin(config.datasource_type)
    except PluginError as exc:
        raise DatasourceTypeUnavailable(str(exc)) from exc
    options = {
        "connect_timeout": settings.NOCOFLO_CONNECT_TIMEOUT,
        "statement_timeout": settings.NOCOFLO_STATEMENT_TIMEOUT,
        **(config.config_json or {}),
    }
    try:
        url = config.connection_url()
    except SecretUnreadable as exc:
        raise DatasourceUnavailable(str(exc)) from exc
    return name, cls, url, options


def _build(name: str, cls: type, url: str, options: dict) -> BaseDatasource:
    manager = get_manager()
    try:
        # A datasource error (an option it cannot take, a database it cannot reach) is the
        # configuration's, told as it is; anything else is the plugin's failure.
        datasource = manager.call(name, cls, url, options, expected=(DatasourceError,))
    except PluginError as exc:
        raise DatasourceError(str(exc)) from exc
    info = manager.plugins.get(name)
    limit = None if info is None or info.builtin else settings.NOCOFLO_PLUGIN_CALL_TIMEOUT
    return GuardedDatasource(datasource, name, manager, limit)  # type: ignore[return-value]


def datasource_for(config: DatasourceConfig) -> BaseDatasource:
    """The live datasource object for a configuration, built by its plugin."""
    if not config.enabled:
        raise DatasourceUnavailable(f"The datasource {config.name!r} is disabled")
    name, cls, url, options = _blueprint(config)
    fingerprint = (cls, url, json.dumps(options, sort_keys=True, default=str))
    with _lock:
        cached = _open.get(config.pk)
        if cached is not None and cached[0] == fingerprint:
            return cached[1]
        if cached is not None:
            cached[1].close()
        datasource = _build(name, cls, url, options)
        _open[config.pk] = (fingerprint, datasource)
        return datasource


def probe(config: DatasourceConfig) -> None:
    """Test a configuration that may not be saved yet; raises DatasourceError saying why."""
    datasource = _build(*_blueprint(config))
    try:
        datasource.test_connection()
    finally:
        datasource.close()


def check_options(config: DatasourceConfig) -> None:
    """Build a configuration's datasource without connecting, then close it: raises the
    DatasourceError of an option its plugin cannot take."""
    _build(*_blueprint(config)).close()


def close_datasource(pk: int) -> None:
    """Close the pool of a datasource that was changed or deleted."""
    with _lock:
        cached = _open.pop(pk, None)
    if cached is not None:
        cached[1].close()


def close_all() -> None:
    with _lock:
        for _, datasource in _open.values():
            datasource.close()
        _open.clear()
