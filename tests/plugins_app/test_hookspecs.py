"""The public plugin contract: hook names, the marker and its stable import path."""

from __future__ import annotations

import inspect

import pluggy
import pytest

from plugins_app import hookspecs
from plugins_app.manager import PluginManager

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
    assert hook_names() == ARCHITECTURE_HOOKS
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
