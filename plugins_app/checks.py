"""`manage.py check` for plugins: each plugin that cannot run is a system check error.

- nocoflo.E001: the plugin failed to load (its import or constructor raised);
- nocoflo.E002: the plugin breaks the contract: an unknown hook, wrong hook arguments, neither
  view nor datasource hooks, an invalid configuration schema;
- nocoflo.E003: the plugin needs a plugin API this Nocoflo does not offer;
- nocoflo.E004: the plugin's saved configuration does not match its schema;
- nocoflo.E005: two plugins have the same name;
- nocoflo.W001: a third-party plugin declares no `plugin_api_version`;
- nocoflo.W002: a built-in plugin could not load (the MySQL one without mysqlclient).
"""

from __future__ import annotations

from typing import Any

from django.core import checks
from django.db import DatabaseError

from .manager import FAILED_TO_LOAD, PluginError, get_manager

CONFIG_INVALID = "nocoflo.E004"
NO_API_VERSION = "nocoflo.W001"
BUILTIN_MISSING = "nocoflo.W002"
PLUGINS_TAG = "nocoflo_plugins"


def check_plugins(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    manager = get_manager()
    found: list[checks.CheckMessage] = []
    for info in manager.list_plugins():
        if info.obj is None and info.builtin:
            found.append(
                checks.Warning(
                    info.error,
                    hint="Install what the built-in plugin needs (see README.md); the rest runs.",
                    obj=info.name,
                    id=BUILTIN_MISSING,
                )
            )
        elif info.obj is None:
            found.append(
                checks.Error(
                    info.error,
                    hint=f"Fix or remove the plugin ({info.source}); the rest of Nocoflo runs.",
                    obj=info.name,
                    id=info.check_id or FAILED_TO_LOAD,
                )
            )
        elif not info.builtin and not info.api_version:
            found.append(
                checks.Warning(
                    f"plugin {info.name!r} declares no plugin_api_version",
                    hint='Add plugin_api_version = "1.0" to the plugin class.',
                    obj=info.name,
                    id=NO_API_VERSION,
                )
            )
    return found + _saved_configurations(manager, kwargs.get("databases"))


def _saved_configurations(manager, databases) -> list[checks.CheckMessage]:
    """Saved configurations are read only when the checks may use the database (as Django's own
    database checks: `check --database default`, `migrate`)."""
    from .models import PluginConfig

    if not databases:
        return []
    try:
        saved = list(PluginConfig.objects.values_list("plugin_name", "config_json"))
    except DatabaseError:  # before `migrate` there is nothing saved to check
        return []
    found = []
    for name, config in saved:
        if name not in manager.plugins or manager.plugins[name].obj is None:
            continue
        try:
            manager.validate_config(name, config or {})
        except PluginError as exc:
            found.append(
                checks.Error(
                    f"plugin {name!r} has an invalid saved configuration: {exc}",
                    hint="Correct it in the admin under Plugins.",
                    obj=name,
                    id=CONFIG_INVALID,
                )
            )
    return found
