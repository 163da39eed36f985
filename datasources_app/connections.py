"""One datasource object per configured datasource, kept while its configuration stays the same."""

from __future__ import annotations

import json
import threading

from django.conf import settings

from plugins_app.manager import PluginError, get_manager

from .base import BaseDatasource
from .errors import DatasourceError, DatasourceUnavailable
from .models import DatasourceConfig

_open: dict[int, tuple[tuple, BaseDatasource]] = {}
_lock = threading.Lock()


class DatasourceTypeUnavailable(DatasourceUnavailable):
    """No enabled plugin handles this datasource's type."""


def datasource_for(config: DatasourceConfig) -> BaseDatasource:
    """The live datasource object for a configuration, built by its plugin."""
    if not config.enabled:
        raise DatasourceUnavailable(f"The datasource {config.name!r} is disabled")
    manager = get_manager()
    try:
        cls = manager.get_datasource(config.datasource_type)
    except PluginError as exc:
        raise DatasourceTypeUnavailable(str(exc)) from exc
    options = {
        "connect_timeout": settings.NOCOFLO_CONNECT_TIMEOUT,
        "statement_timeout": settings.NOCOFLO_STATEMENT_TIMEOUT,
        **(config.config_json or {}),
    }
    fingerprint = (cls, config.connection_string, json.dumps(options, sort_keys=True, default=str))
    with _lock:
        cached = _open.get(config.pk)
        if cached is not None and cached[0] == fingerprint:
            return cached[1]
        if cached is not None:
            cached[1].close()
        name = manager.datasource_plugin_name(config.datasource_type)
        try:
            datasource = manager.call(name, cls, config.connection_string, options)
        except PluginError as exc:
            raise DatasourceError(str(exc)) from exc
        _open[config.pk] = (fingerprint, datasource)
        return datasource


def close_all() -> None:
    with _lock:
        for _, datasource in _open.values():
            datasource.close()
        _open.clear()
