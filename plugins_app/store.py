"""Keeping PluginConfig rows and the running plugin manager in step.

The database holds what admins decide (enabled, configuration) and what every server process
reports (health, last error, call counts). `sync_plugin_configs` runs when the server starts,
whenever the admin shows plugins, and every few seconds in each server process (see
`plugins_app.watcher`), so a change made in one process reaches the others.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import F

from .manager import ESSENTIAL_PLUGINS, PluginError, PluginInfo, PluginManager, get_manager
from .models import PluginConfig


def sync_plugin_configs(manager: PluginManager | None = None) -> list[PluginConfig]:
    """Record every plugin the manager knows, apply admins' choices to the manager, and add
    this process's health and call counts to the rows.

    A plugin seen for the first time is recorded with the manager's choice (built-ins and plugins
    named in NOCOFLO_ENABLED_PLUGINS enabled, others disabled); after that the admin's flag wins.
    """
    manager = manager or get_manager()
    configs = []
    with transaction.atomic():
        existing = {c.plugin_name: c for c in PluginConfig.objects.all()}
        for info in manager.list_plugins():
            config = existing.get(info.name)
            if config is None:
                config = PluginConfig(plugin_name=info.name, enabled=info.enabled)
            elif info.obj is not None:
                _apply(manager, info, config)
            # A plugin that failed to load keeps the admin's choice for when it loads again.
            enabled = info.enabled if info.obj is not None else config.enabled
            _record(info, config, enabled)
            configs.append(config)
    return configs


def _apply(manager: PluginManager, info: PluginInfo, config: PluginConfig) -> None:
    """Make the manager do what the row says (enabled, configuration)."""
    try:
        if info.name not in ESSENTIAL_PLUGINS:
            manager.set_enabled(info.name, config.enabled)
        manager.configure(info.name, config.config_json or {})
    except PluginError as exc:  # e.g. a saved configuration the plugin's new version refuses
        manager.mark_failing(info.name, exc)


def _record(info: PluginInfo, config: PluginConfig, enabled: bool) -> None:
    """Save what changed about a plugin, adding this process's new calls to the totals."""
    values = {
        "enabled": enabled,
        "kinds": ", ".join(info.kinds),
        "source": info.source[:255],
        "version": info.version[:64],
        "health": info.health,
        "last_error": info.error,
        "last_error_at": (
            dt.datetime.fromtimestamp(info.error_at, tz=dt.UTC) if info.error_at else None
        ),
    }
    calls, seconds = info.calls - info.recorded_calls, info.seconds - info.recorded_seconds
    if config.pk is None:
        for name, value in values.items():
            setattr(config, name, value)
        config.call_count, config.seconds_spent = calls, seconds
        config.save()
    else:
        changed = {k: v for k, v in values.items() if getattr(config, k) != v}
        if changed or calls:
            PluginConfig.objects.filter(pk=config.pk).update(
                **changed,
                call_count=F("call_count") + calls,
                seconds_spent=F("seconds_spent") + seconds,
            )
            config.refresh_from_db()
    info.recorded_calls += calls
    info.recorded_seconds += seconds


def apply_admin_change(config: PluginConfig, manager: PluginManager | None = None) -> None:
    """An admin changed a plugin's row: enable, disable or configure it now, without a restart."""
    manager = manager or get_manager()
    manager.set_enabled(config.plugin_name, config.enabled)
    manager.configure(config.plugin_name, config.config_json or {})
