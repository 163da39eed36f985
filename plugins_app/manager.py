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
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pluggy

from .hookspecs import HOOKSPECS, PLUGIN_API_VERSION, PROJECT_NAME

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
# Plugins Nocoflo cannot work without: always loaded, never disabled.
ESSENTIAL_PLUGINS = frozenset({"table_view", "sqlite_datasource"})
ESSENTIAL_MODULES = ("views_app.builtin.table", "datasources_app.builtin.sqlite")

VIEW_HOOKS = ("get_view_class", "get_view_priority")
DATASOURCE_HOOKS = ("get_datasource_class", "get_supported_schemes")
# What a view or datasource class returned by a plugin must offer.
VIEW_METHODS = ("render", "get_view_name", "can_handle_table")
DATASOURCE_METHODS = (
    "test_connection", "list_tables", "get_schema", "get_page", "count", "get_row",
)  # fmt: skip

# The system check ids of `manage.py check` for plugin problems (see plugins_app.checks).
FAILED_TO_LOAD = "nocoflo.E001"
INVALID = "nocoflo.E002"
INCOMPATIBLE_API = "nocoflo.E003"
DUPLICATE_NAME = "nocoflo.E005"


class PluginError(Exception):
    """A plugin failed; the message names the plugin and is fit to show a user."""


class PluginLoadError(PluginError):
    """A plugin could not be loaded (raised only in strict mode)."""


class PluginInvalid(PluginError):
    """A plugin breaks the plugin contract; `check_id` says how (nocoflo.E002, E003, ...)."""

    def __init__(self, message: str, check_id: str = INVALID) -> None:
        super().__init__(message)
        self.check_id = check_id


class PluginDisabled(PluginError):
    """What was asked for is provided by a plugin that an administrator turned off."""


class ConfigInvalid(PluginError):
    """A plugin configuration does not match the schema the plugin declares."""


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
    # The system check a plugin that could not be loaded fails (nocoflo.E001, ...).
    check_id: str = ""
    obj: Any = None
    # The file a plugin directory's plugin came from (reloaded when it changes).
    path: str = ""
    api_version: str = ""
    config: dict = field(default_factory=dict)
    # Calls into the plugin's code in this process, and the seconds they took.
    calls: int = 0
    seconds: float = 0.0
    # How much of that has been added to the plugin's row in the metadata database.
    recorded_calls: int = 0
    recorded_seconds: float = 0.0


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
        self._listeners: list[Callable[[str], None]] = []
        self._stats_lock = threading.Lock()

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
                    self._load_file(path)

    def _load_file(self, path: Path, keep: dict[str, PluginInfo] | None = None) -> None:
        self._load(
            path.stem, lambda: _import_file(path), source=f"directory {path}", path=str(path),
            keep=keep,
        )  # fmt: skip

    def _load(
        self,
        label: str,
        loader: Callable[[], Any],
        builtin: bool = False,
        source: str = "",
        version: str = "",
        path: str = "",
        keep: dict[str, PluginInfo] | None = None,
    ) -> None:
        try:
            loaded = loader()
            objects = plugins_in_module(loaded) if inspect.ismodule(loaded) else [loaded]
            if not objects:
                raise PluginInvalid(f"{label} defines no Nocoflo hook implementations")
        except Exception as exc:  # a plugin can fail in any way while importing
            self._record_load_failure(
                label, source or f"module {label}", exc, path=path, builtin=builtin
            )
            return
        for obj in objects:
            if inspect.isclass(obj):
                obj = obj()
            before = (keep or {}).get(plugin_name_for(obj))
            info = self.register_plugin(
                obj,
                source=source or f"built-in {label}",
                version=version or getattr(obj, "version", "") or _nocoflo_version(),
                builtin=builtin,
                enabled=before.enabled if before else None,
            )
            if info is not None:
                info.path = path
                if before is not None and before.config:
                    try:
                        self.configure(info.name, before.config)
                    except PluginError:
                        pass  # marked failing by configure(); the plugin still loads

    def _record_load_failure(
        self, label: str, source: str, exc: BaseException, path: str = "", builtin: bool = False
    ) -> None:
        check_id = getattr(exc, "check_id", "")
        if not check_id:
            check_id = INVALID if isinstance(exc, pluggy.PluginValidationError) else FAILED_TO_LOAD
        message = f"plugin {label!r} failed to load: {type(exc).__name__}: {exc}"
        if isinstance(exc, PluginInvalid):
            message = f"plugin {label!r} failed to load: {exc}"
        log.error(message)
        self.plugins[label] = PluginInfo(
            name=label,
            source=source,
            enabled=False,
            health="failed to load",
            error=message,
            error_at=time.time(),
            check_id=check_id,
            path=path,
            builtin=builtin,
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
            error = PluginInvalid(f"a plugin named {name!r} is already loaded", DUPLICATE_NAME)
            self._record_load_failure(f"{name} (duplicate)", source, error)
            return None
        try:
            api_version = _check_api_version(name, plugin)
            self.pm.register(plugin, name=name)
            self.pm.check_pending()
            kinds = _kinds_of(plugin)
            if not kinds:
                raise PluginInvalid(
                    f"it implements neither the view hooks ({', '.join(VIEW_HOOKS)}) nor the "
                    f"datasource hooks ({', '.join(DATASOURCE_HOOKS)})"
                )
            _check_config_schema(plugin)
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
            kinds=kinds,
            enabled=enabled,
            builtin=builtin,
            obj=plugin,
            api_version=api_version,
        )
        self.plugins[name] = info
        if not enabled:
            self.pm.unregister(name=name)
        log.debug("loaded plugin %s from %s", name, source)
        self._changed(name)
        return info

    def reload_file(self, path: str | Path) -> list[str]:
        """Load a plugin directory's file again after it changed, keeping its plugins' enabled
        flags and configuration; answers the names of the plugins it holds now."""
        path = Path(path)
        before = {n: i for n, i in self.plugins.items() if i.path == str(path)}
        for name, info in before.items():
            if info.obj is not None and self.pm.get_plugin(name) is not None:
                self.pm.unregister(name=name)
            del self.plugins[name]
        if path.exists():
            self._load_file(path, keep=before)
        now = [n for n, i in self.plugins.items() if i.path == str(path)]
        for name in set(before) - set(now):
            self._changed(name)  # gone with its file
        log.info("reloaded plugin file %s: %s", path, ", ".join(now) or "no plugins")
        return now

    # --- enabling and configuring ------------------------------------------------------------

    def set_enabled(self, name: str, enabled: bool) -> None:
        """Enable or disable a plugin at once, without a restart."""
        info = self.plugins.get(name)
        if info is None or info.obj is None:
            return
        if not enabled and name in ESSENTIAL_PLUGINS:
            raise PluginError(f"plugin {name!r} is essential and cannot be disabled")
        if info.enabled == enabled and (self.pm.get_plugin(name) is not None) == enabled:
            return
        if enabled and self.pm.get_plugin(name) is None:
            self.pm.register(info.obj, name=name)
        elif not enabled and self.pm.get_plugin(name) is not None:
            self.pm.unregister(name=name)
        info.enabled = enabled
        log.info("plugin %s %s", name, "enabled" if enabled else "disabled")
        self._changed(name)

    def config_schema(self, name: str) -> dict | None:
        """The JSON Schema a plugin declares for its configuration, if any."""
        info = self.plugins.get(name)
        hook = _own_hook(info.obj if info else None, "get_config_schema")
        return self.call(name, hook) if hook else None

    def validate_config(self, name: str, config: Any) -> None:
        """ConfigInvalid, saying where and why, when `config` does not match the schema."""
        import jsonschema

        if not isinstance(config, dict):
            raise ConfigInvalid("The configuration must be a JSON object")
        schema = self.config_schema(name)
        if not schema:
            return
        error = jsonschema.exceptions.best_match(
            jsonschema.validators.validator_for(schema)(schema).iter_errors(config)
        )
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "the configuration"
            raise ConfigInvalid(f"{where}: {error.message}")

    def configure(self, name: str, config: dict) -> None:
        """Validate a plugin's configuration and hand it to the plugin, at once."""
        info = self.plugins.get(name)
        if info is None or info.obj is None:
            return
        self.validate_config(name, config)
        config = dict(config)
        if config == info.config:
            return
        hook = _own_hook(info.obj, "configure")
        if hook is not None:
            self.call(name, hook, config=config)
        info.config = config
        self._changed(name)

    # --- watching changes ----------------------------------------------------------------------

    def subscribe(self, listener: Callable[[str], None]) -> Callable[[], None]:
        """Call `listener(plugin_name)` whenever a plugin is enabled, disabled, configured or
        reloaded; answers a function that stops it. Listeners run in the thread that made the
        change."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def _changed(self, name: str) -> None:
        for listener in list(self._listeners):
            try:
                listener(name)
            except Exception:
                log.exception("a listener of plugin changes failed")

    # --- guarded calls -------------------------------------------------------------------------

    def call(
        self,
        name: str,
        func: Callable[..., Any],
        *args: Any,
        expected: tuple[type[BaseException], ...] = (),
        **kwargs: Any,
    ) -> Any:
        """Call into plugin code: counted and timed; an exception is logged with the plugin's
        name, marks the plugin failing and comes back as a PluginError fit for a user. Exceptions
        of the `expected` types are the caller's to handle: they pass as they are, unmarked."""
        started = time.perf_counter()
        try:
            return func(*args, **kwargs)
        except (PluginError, *expected):
            raise
        except Exception as exc:
            self.mark_failing(name, exc)
            raise PluginError(f"The plugin {name!r} failed: {exc}") from exc
        finally:
            self.count_call(name, time.perf_counter() - started)

    def count_call(self, name: str, seconds: float) -> None:
        info = self.plugins.get(name)
        if info is not None:
            with self._stats_lock:
                info.calls += 1
                info.seconds += seconds

    def mark_failing(self, name: str, exc: BaseException) -> None:
        log.error("plugin %s failed: %s: %s", name, type(exc).__name__, exc, exc_info=exc)
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

    def _checked_classes(self, hook_name: str, methods: tuple[str, ...]) -> dict[str, type]:
        """Each enabled plugin's class from a hook, if it offers what the contract asks."""
        classes = {}
        for name, cls in self._answers(hook_name):
            if cls is None:
                continue
            missing = [m for m in methods if not callable(getattr(cls, m, None))]
            if not inspect.isclass(cls) or missing:
                what = f"lacks {', '.join(missing)}" if inspect.isclass(cls) else "is no class"
                problem = PluginInvalid(f"{hook_name} answered {cls!r}, which {what}")
                self.mark_failing(name, problem)
                continue
            classes[name] = cls
        return classes

    # --- the architecture document's operations ------------------------------------------------

    def view_classes(self) -> list[tuple[str, type, int]]:
        """(plugin name, view class, priority) for every enabled view plugin."""
        priorities = dict(self._answers("get_view_priority"))
        return [
            (name, cls, int(priorities.get(name, 0) or 0))
            for name, cls in self._checked_classes("get_view_class", VIEW_METHODS).items()
        ]

    def get_available_views(self, table_meta: dict, datasource: Any = None) -> list[Any]:
        """The views that can show this table, best first (highest priority).

        Each view carries `plugin_name`, `priority`, `view_label` (its name for the switcher, asked
        once) and `plugin_config` (its plugin's configuration)."""
        views = []
        for name, cls, priority in self.view_classes():
            try:
                view = self.call(name, cls, table_id=table_meta.get("id"), datasource=datasource)
                if not self.call(name, view.can_handle_table, table_meta):
                    continue
                view.view_label = str(self.call(name, view.get_view_name))
            except PluginError:
                continue
            view.plugin_name = name
            view.priority = priority
            view.plugin_config = dict(self.plugins[name].config)
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
        classes = self._checked_classes("get_datasource_class", DATASOURCE_METHODS)
        found: dict[str, tuple[str, type]] = {}
        for name, schemes in self._answers("get_supported_schemes"):
            if name in classes:
                for scheme in schemes or ():
                    found.setdefault(str(scheme).lower(), (name, classes[name]))
        return found

    def get_datasource(self, datasource_type: str) -> type:
        """The datasource class for a type or URL scheme (`sqlite`, `postgresql+psycopg2`...)."""
        return self.datasource_plugin(datasource_type)[1]

    def datasource_plugin(self, datasource_type: str) -> tuple[str, type]:
        """(plugin name, datasource class) for a type or URL scheme, from one look at the
        enabled plugins; PluginError saying why there is none."""
        scheme = _scheme(datasource_type)
        classes = self.datasource_classes()
        if scheme not in classes:
            disabled = self._disabled_plugin_for(scheme)
            if disabled:
                raise PluginDisabled(
                    f"The datasource type {scheme!r} is disabled: an administrator turned off "
                    f"its plugin {disabled!r} (Admin › Plugins)"
                )
            known = ", ".join(sorted(classes)) or "none"
            raise PluginError(
                f"No enabled datasource plugin handles {datasource_type!r} (available: {known})"
            )
        return classes[scheme]

    def _disabled_plugin_for(self, scheme: str) -> str:
        for info in self.plugins.values():
            hook = _own_hook(info.obj, "get_supported_schemes")
            if info.enabled or hook is None:
                continue
            try:
                if scheme in [str(s).lower() for s in hook() or ()]:
                    return info.name
            except Exception:  # a disabled plugin failing here changes nothing
                continue
        return ""

    def datasource_plugin_name(self, datasource_type: str) -> str:
        return self.datasource_classes().get(_scheme(datasource_type), ("", None))[0]

    def list_plugins(self, plugin_type: str = "all") -> list[PluginInfo]:
        return [
            info
            for info in sorted(self.plugins.values(), key=lambda i: i.name)
            if plugin_type == "all" or plugin_type in info.kinds
        ]


def _scheme(datasource_type: str) -> str:
    """The URL scheme a datasource type names: `postgresql+psycopg2` is `postgresql`."""
    return datasource_type.lower().split("+", 1)[0]


def _own_hook(plugin: Any, hook_name: str) -> Callable[..., Any] | None:
    """A plugin object's own implementation of a hook (enabled or not), or None."""
    func = getattr(plugin, hook_name, None)
    return func if func is not None and hasattr(func, f"{PROJECT_NAME}_impl") else None


def _check_api_version(name: str, plugin: Any) -> str:
    """The plugin API version a plugin declares; PluginInvalid when this Nocoflo cannot run it."""
    declared = getattr(plugin, "plugin_api_version", None)
    if declared is None:
        return ""
    ours = tuple(int(part) for part in PLUGIN_API_VERSION.split("."))
    match = re.fullmatch(r"(\d+)(?:\.(\d+))?", str(declared).strip())
    if match is None:
        raise PluginInvalid(
            f"its plugin_api_version {declared!r} is not a version like {PLUGIN_API_VERSION!r}",
            INCOMPATIBLE_API,
        )
    major, minor = int(match.group(1)), int(match.group(2) or 0)
    if major != ours[0] or minor > ours[1]:
        raise PluginInvalid(
            f"it needs Nocoflo plugin API {declared}; this Nocoflo offers {PLUGIN_API_VERSION}",
            INCOMPATIBLE_API,
        )
    return str(declared)


def _check_config_schema(plugin: Any) -> None:
    """PluginInvalid when the schema a plugin declares for its configuration is no JSON Schema."""
    hook = _own_hook(plugin, "get_config_schema")
    if hook is None:
        return
    import jsonschema

    schema = hook()
    if not isinstance(schema, dict):
        raise PluginInvalid(f"get_config_schema answered {type(schema).__name__}, not an object")
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.exceptions.SchemaError as exc:
        raise PluginInvalid(f"its configuration schema is invalid: {exc.message}") from None


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

    builtins = BUILTIN_PLUGINS
    if settings.NOCOFLO_BUILTIN_PLUGINS:
        chosen = set(settings.NOCOFLO_BUILTIN_PLUGINS) | set(ESSENTIAL_MODULES)
        builtins = tuple(path for path in BUILTIN_PLUGINS if path in chosen)
    manager = PluginManager(
        builtins=builtins,
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
