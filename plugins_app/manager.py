"""The plugin manager: finds, registers, enables and guards every view and datasource plugin.

Built-ins are registered by module path exactly like third-party plugins, so this module imports
neither views_app nor datasources_app. Discovery order: built-ins, entry points of group `nocoflo`,
then `.py` files of the configured plugin directories. One broken plugin is logged by name and
recorded as failed; the rest load.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import inspect
import logging
import re
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pluggy

from .hookspecs import HOOKSPECS, PROJECT_NAME

log = logging.getLogger("nocoflo.plugins")

BUILTIN_PLUGINS = (
    "views_app.builtin.table",
    "views_app.builtin.form",
    "views_app.builtin.chart",
    "datasources_app.builtin.sqlite",
    "datasources_app.builtin.postgresql",
    # Needs mysqlclient (the `mysql` extra): without it, this one plugin fails to load.
    "datasources_app.builtin.mysql",
)
# Plugins Nocoflo cannot work without: never disabled.
ESSENTIAL_PLUGINS = frozenset({"table_view", "sqlite_datasource"})

VIEW_HOOKS = ("get_view_class", "get_view_priority")
DATASOURCE_HOOKS = ("get_datasource_class", "get_supported_schemes")


class PluginError(Exception):
    """A plugin failed; the message names the plugin and is fit to show a user."""


class PluginLoadError(PluginError):
    """A plugin could not be loaded (raised only in strict mode)."""


@dataclass
class PluginInfo:
    """What the manager knows about one plugin."""

    name: str
    source: str
    version: str = ""
    kinds: list[str] = field(default_factory=list)
    enabled: bool = True
    builtin: bool = False
    health: str = "ok"
    error: str = ""
    error_at: float | None = None
    obj: Any = None


def plugin_name_for(obj: Any) -> str:
    """A plugin's name: its `name` attribute, else its class name in snake_case without "Plugin"."""
    declared = getattr(obj, "name", None)
    if isinstance(declared, str) and declared:
        return declared
    cls_name = obj.__name__ if inspect.isclass(obj) or inspect.ismodule(obj) else type(obj).__name__
    cls_name = cls_name.rsplit(".", 1)[-1].removeprefix("nocoflo_plugin_dir_")
    if cls_name.endswith("Plugin") and cls_name != "Plugin":
        cls_name = cls_name[: -len("Plugin")]
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", cls_name).lower()


def _has_hookimpls(obj: Any) -> bool:
    marker = f"{PROJECT_NAME}_impl"
    return any(hasattr(getattr(obj, attr, None), marker) for attr in dir(obj))


def plugins_in_module(module: Any) -> list[Any]:
    """The plugin objects a module offers: instances of its classes that implement hooks."""
    found = [
        cls()
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if cls.__module__ == module.__name__ and _has_hookimpls(cls)
    ]
    if not found and _has_hookimpls(module):
        found.append(module)
    return found


class PluginManager:
    """Nocoflo's plugin registry on top of pluggy."""

    def __init__(
        self,
        builtins: Iterable[str] = BUILTIN_PLUGINS,
        plugin_dirs: Iterable[str | Path] = (),
        enabled_plugins: Iterable[str] = (),
        strict: bool = False,
        entry_points: bool = True,
    ) -> None:
        self.pm = pluggy.PluginManager(PROJECT_NAME)
        for spec in HOOKSPECS:
            self.pm.add_hookspecs(spec)
        self.builtins = tuple(builtins)
        self.plugin_dirs = [Path(d) for d in plugin_dirs]
        self.enabled_plugins = set(enabled_plugins)
        self.strict = strict
        self.use_entry_points = entry_points
        self.plugins: dict[str, PluginInfo] = {}

    # --- loading -----------------------------------------------------------------------------

    def load_plugins(self) -> None:
        """Discover and load built-ins, entry points and plugin directories, in that order."""
        for module_path in self.builtins:
            self._load(module_path, lambda p=module_path: importlib.import_module(p), builtin=True)
        if self.use_entry_points:
            for ep in importlib.metadata.entry_points(group=PROJECT_NAME):
                dist = ep.dist
                source = f"entry point {ep.value}" + (f" ({dist.name})" if dist else "")
                version = dist.version if dist else ""
                self._load(ep.name, ep.load, source=source, version=version)
        for directory in self.plugin_dirs:
            for path in sorted(directory.glob("*.py")):
                if not path.name.startswith("_"):
                    self._load(
                        path.stem, lambda p=path: _import_file(p), source=f"directory {path}"
                    )

    def _load(
        self,
        label: str,
        loader: Callable[[], Any],
        builtin: bool = False,
        source: str = "",
        version: str = "",
    ) -> None:
        try:
            loaded = loader()
            objects = plugins_in_module(loaded) if inspect.ismodule(loaded) else [loaded]
            if not objects:
                raise PluginError(f"{label} defines no Nocoflo hook implementations")
        except Exception as exc:  # a plugin can fail in any way while importing
            self._record_load_failure(label, source or f"module {label}", exc)
            return
        for obj in objects:
            if inspect.isclass(obj):
                obj = obj()
            self.register_plugin(
                obj,
                source=source or f"built-in {label}",
                version=version or getattr(obj, "version", "") or _nocoflo_version(),
                builtin=builtin,
            )

    def _record_load_failure(self, label: str, source: str, exc: BaseException) -> None:
        message = f"plugin {label!r} failed to load: {type(exc).__name__}: {exc}"
        log.error(message)
        self.plugins[label] = PluginInfo(
            name=label,
            source=source,
            enabled=False,
            health="failed to load",
            error=message,
            error_at=time.time(),
        )
        if self.strict:
            raise PluginLoadError(message) from exc

    def register_plugin(
        self,
        plugin: Any,
        source: str = "registered at run time",
        version: str = "",
        builtin: bool = False,
        enabled: bool | None = None,
    ) -> PluginInfo | None:
        """Register one plugin object; invalid ones are refused with a message naming them."""
        name = plugin_name_for(plugin)
        if name in self.plugins and self.plugins[name].obj is not None:
            error = PluginError(f"a plugin named {name!r} is already loaded")
            self._record_load_failure(f"{name} (duplicate)", source, error)
            return None
        try:
            self.pm.register(plugin, name=name)
            self.pm.check_pending()
        except Exception as exc:  # pluggy's validation errors and anything a plugin raises
            if self.pm.get_plugin(name) is not None:
                self.pm.unregister(name=name)
            self._record_load_failure(name, source, exc)
            return None
        if enabled is None:
            enabled = builtin or name in self.enabled_plugins or source.startswith("registered")
        info = PluginInfo(
            name=name,
            source=source,
            version=version or getattr(plugin, "version", "") or "",
            kinds=_kinds_of(plugin),
            enabled=enabled,
            builtin=builtin,
            obj=plugin,
        )
        self.plugins[name] = info
        if not enabled:
            self.pm.unregister(name=name)
        log.debug("loaded plugin %s from %s", name, source)
        return info

    # --- enabling ------------------------------------------------------------------------------

    def set_enabled(self, name: str, enabled: bool) -> None:
        """Enable or disable a plugin at once, without a restart."""
        info = self.plugins.get(name)
        if info is None or info.obj is None:
            return
        if not enabled and name in ESSENTIAL_PLUGINS:
            raise PluginError(f"plugin {name!r} is essential and cannot be disabled")
        if enabled and self.pm.get_plugin(name) is None:
            self.pm.register(info.obj, name=name)
        elif not enabled and self.pm.get_plugin(name) is not None:
            self.pm.unregister(name=name)
        info.enabled = enabled

    # --- guarded calls -------------------------------------------------------------------------

    def call(self, name: str, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call into plugin code: an exception is logged with the plugin's name, marks the plugin
        failing and comes back as a PluginError with a message fit for a user."""
        try:
            return func(*args, **kwargs)
        except PluginError:
            raise
        except Exception as exc:
            self.mark_failing(name, exc)
            raise PluginError(f"The plugin {name!r} failed: {exc}") from exc

    def mark_failing(self, name: str, exc: BaseException) -> None:
        log.exception("plugin %s failed", name, exc_info=exc)
        info = self.plugins.get(name)
        if info is not None:
            info.health = "failing"
            info.error = f"{type(exc).__name__}: {exc}"
            info.error_at = time.time()

    def _answers(self, hook_name: str) -> list[tuple[str, Any]]:
        """Each enabled plugin's answer to a hook, paired with the plugin's name."""
        answers = []
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            try:
                answers.append((impl.plugin_name, self.call(impl.plugin_name, impl.function)))
            except PluginError:
                continue
        return answers

    # --- the architecture document's operations ------------------------------------------------

    def view_classes(self) -> list[tuple[str, type, int]]:
        """(plugin name, view class, priority) for every enabled view plugin."""
        priorities = dict(self._answers("get_view_priority"))
        return [
            (name, cls, int(priorities.get(name, 0) or 0))
            for name, cls in self._answers("get_view_class")
            if cls is not None
        ]

    def get_available_views(self, table_meta: dict, datasource: Any = None) -> list[Any]:
        """The views that can show this table, best first (highest priority)."""
        views = []
        for name, cls, priority in self.view_classes():
            try:
                view = self.call(name, cls, table_id=table_meta.get("id"), datasource=datasource)
                if not self.call(name, view.can_handle_table, table_meta):
                    continue
            except PluginError:
                continue
            view.plugin_name = name
            view.priority = priority
            rank = priority  # also for a view written without BaseView's priority_for
            rank_for = getattr(view, "priority_for", None)
            if rank_for is not None:
                try:
                    rank = int(self.call(name, rank_for, table_meta))
                except (PluginError, TypeError, ValueError):
                    pass  # a failing plugin is marked and logged by call(); its hook's rank stands
            views.append((rank, view))
        return [view for _, view in sorted(views, key=lambda pair: -pair[0])]

    def datasource_classes(self) -> dict[str, tuple[str, type]]:
        """Scheme -> (plugin name, datasource class) for every enabled datasource plugin."""
        classes = dict(self._answers("get_datasource_class"))
        found: dict[str, tuple[str, type]] = {}
        for name, schemes in self._answers("get_supported_schemes"):
            if name in classes:
                for scheme in schemes or ():
                    found.setdefault(str(scheme).lower(), (name, classes[name]))
        return found

    def get_datasource(self, datasource_type: str) -> type:
        """The datasource class for a type or URL scheme (`sqlite`, `postgresql+psycopg2`...)."""
        scheme = datasource_type.lower().split("+", 1)[0]
        classes = self.datasource_classes()
        if scheme not in classes:
            known = ", ".join(sorted(classes)) or "none"
            raise PluginError(
                f"No enabled datasource plugin handles {datasource_type!r} (available: {known})"
            )
        return classes[scheme][1]

    def datasource_plugin_name(self, datasource_type: str) -> str:
        scheme = datasource_type.lower().split("+", 1)[0]
        return self.datasource_classes().get(scheme, ("", None))[0]

    def list_plugins(self, plugin_type: str = "all") -> list[PluginInfo]:
        return [
            info
            for info in sorted(self.plugins.values(), key=lambda i: i.name)
            if plugin_type == "all" or plugin_type in info.kinds
        ]


def _kinds_of(plugin: Any) -> list[str]:
    kinds = []
    if any(hasattr(plugin, hook) for hook in VIEW_HOOKS):
        kinds.append("view")
    if any(hasattr(plugin, hook) for hook in DATASOURCE_HOOKS):
        kinds.append("datasource")
    return kinds


def _import_file(path: Path) -> Any:
    module_name = f"nocoflo_plugin_dir_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise PluginError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


def _nocoflo_version() -> str:
    try:
        return importlib.metadata.version("nocoflo")
    except importlib.metadata.PackageNotFoundError:
        return ""


# --- the process's manager --------------------------------------------------------------------

_current: PluginManager | None = None


def build_manager() -> PluginManager:
    """A manager configured from settings, with its plugins loaded."""
    from django.conf import settings

    manager = PluginManager(
        plugin_dirs=settings.NOCOFLO_PLUGIN_DIRS,
        enabled_plugins=settings.NOCOFLO_ENABLED_PLUGINS,
        strict=settings.NOCOFLO_STRICT_PLUGINS,
    )
    manager.load_plugins()
    return manager


def set_manager(manager: PluginManager) -> None:
    global _current
    _current = manager


def get_manager() -> PluginManager:
    if _current is None:
        set_manager(build_manager())
    assert _current is not None
    return _current
