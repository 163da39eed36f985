"""Keeping PluginConfig rows and the running plugin manager in step."""

from __future__ import annotations

import datetime as dt

from django.db import transaction

from .manager import ESSENTIAL_PLUGINS, PluginManager, get_manager
from .models import PluginConfig


def sync_plugin_configs(manager: PluginManager | None = None) -> list[PluginConfig]:
    """Record every plugin the manager knows, and apply admins' enabled flags to the manager.

    A plugin seen for the first time is recorded with the manager's choice (built-ins and plugins
    named in NOCOFLO_ENABLED_PLUGINS enabled, others disabled); after that the admin's flag wins.
    """
    manager = manager or get_manager()
    configs = []
    with transaction.atomic():
        existing = {c.plugin_name: c for c in PluginConfig.objects.all()}
        for info in manager.list_plugins():
            config = existing.get(info.name) or PluginConfig(
                plugin_name=info.name, enabled=info.enabled
            )
            if config.pk and info.obj is not None and info.name not in ESSENTIAL_PLUGINS:
                manager.set_enabled(info.name, config.enabled)
            if info.obj is not None:
                config.enabled = info.enabled
            # A plugin that failed to load keeps the admin's choice for when it loads again.
            config.kinds = ", ".join(info.kinds)
            config.source = info.source[:255]
            config.version = info.version[:64]
            config.health = info.health
            config.last_error = info.error
            config.last_error_at = (
                dt.datetime.fromtimestamp(info.error_at, tz=dt.UTC) if info.error_at else None
            )
            config.save()
            configs.append(config)
    return configs


def apply_enabled(config: PluginConfig, manager: PluginManager | None = None) -> None:
    """An admin changed `enabled`: take effect now, without a restart."""
    (manager or get_manager()).set_enabled(config.plugin_name, config.enabled)
