"""The public plugin contract: hook names, the marker and its stable import path."""

from __future__ import annotations

import inspect
from pathlib import Path

import pluggy
import pytest

from datasources_app.base import BaseDatasource
from plugins_app import hookspecs
from plugins_app.manager import PluginManager
from views_app.base import BaseView

pytestmark = [pytest.mark.plugin, pytest.mark.unit]

ARCHITECTURE_HOOKS = {
    "get_view_class",
    "get_view_priority",
    "get_datasource_class",
    "get_supported_schemes",
}


def hook_names() -> set[str]:
    return {
        name
        for spec in hookspecs.HOOKSPECS
        for name, _ in inspect.getmembers(spec, inspect.isfunction)
    }


def test_the_hooks_are_the_architecture_documents():
    assert hookspecs.PROJECT_NAME == "nocoflo"
    # The architecture document's four, and the two through which a plugin is configured.
    assert hook_names() == ARCHITECTURE_HOOKS | {"get_config_schema", "configure"}
    manager = PluginManager(builtins=(), entry_points=False)
    assert {h for h in dir(manager.pm.hook) if not h.startswith("_")} >= ARCHITECTURE_HOOKS


def test_every_hook_is_documented_and_marked():
    for spec in hookspecs.HOOKSPECS:
        for name, func in inspect.getmembers(spec, inspect.isfunction):
            assert func.__doc__ and func.__doc__.strip(), name
            assert hasattr(func, "nocoflo_spec"), name


def test_stable_import_path_is_the_nocoflo_marker():
    from nocoflo_project.plugins import hookimpl

    assert hookimpl is hookspecs.hookimpl
    assert isinstance(hookimpl, pluggy.HookimplMarker)
    assert hookimpl.project_name == pluggy.HookimplMarker("nocoflo").project_name == "nocoflo"


def test_plugins_marked_either_way_are_the_same_to_the_manager():
    from nocoflo_project.plugins import hookimpl as project_marker

    pluggy_marker = pluggy.HookimplMarker("nocoflo")

    class ViaProjectPlugin:
        @project_marker
        def get_view_priority(self):
            return 3

    class ViaPluggyPlugin:
        @pluggy_marker
        def get_view_priority(self):
            return 4

    def marks(plugin_cls):
        return plugin_cls.get_view_priority.nocoflo_impl

    assert marks(ViaProjectPlugin) == marks(ViaPluggyPlugin)
    manager = PluginManager(builtins=(), entry_points=False)
    manager.register_plugin(ViaProjectPlugin())
    manager.register_plugin(ViaPluggyPlugin())
    assert sorted(manager.pm.hook.get_view_priority()) == [3, 4]
    assert manager.plugins["via_project"].health == manager.plugins["via_pluggy"].health == "ok"


GUIDE = Path(__file__).resolve().parents[2] / "docs" / "plugin-development.md"


def public_methods(cls: type) -> list[str]:
    return [
        name for name, member in vars(cls).items() if callable(member) and not name.startswith("_")
    ]


def test_every_hook_has_its_section_in_the_plugin_guide():
    guide = GUIDE.read_text()
    missing = [name for name in sorted(hook_names()) if f"### `{name}`" not in guide]
    assert missing == [], f"hooks not documented in {GUIDE.name}: {missing}"


@pytest.mark.parametrize("base", [BaseView, BaseDatasource], ids=lambda c: c.__name__)
def test_every_base_class_method_is_in_the_plugin_guide(base):
    guide = GUIDE.read_text()
    missing = [name for name in public_methods(base) if f"| `{name}(" not in guide]
    assert public_methods(base), base
    assert missing == [], f"{base.__name__} methods not documented in {GUIDE.name}: {missing}"
