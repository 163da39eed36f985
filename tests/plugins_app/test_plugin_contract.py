"""What loading checks about a plugin (API version, hooks, configuration schema), configuring a
plugin at run time, telling pages about changes, counting calls and reloading a plugin file."""

from __future__ import annotations

import textwrap

import pytest

from plugins_app.hookspecs import PLUGIN_API_VERSION, hookimpl
from plugins_app.manager import (
    DUPLICATE_NAME,
    FAILED_TO_LOAD,
    INCOMPATIBLE_API,
    INVALID,
    ConfigInvalid,
    PluginManager,
)
from tests.plugins.chart_view_plugin import ExampleChartView

from .test_manager import NUMERIC_TABLE, builtin_manager

pytestmark = [pytest.mark.plugin, pytest.mark.unit]


def view_plugin(name: str, **attributes):
    """A view plugin class named `name` with the given class attributes."""

    class Plugin:
        @hookimpl
        def get_view_class(self):
            return ExampleChartView

        @hookimpl
        def get_view_priority(self):
            return 3

    Plugin.name = name
    for key, value in attributes.items():
        setattr(Plugin, key, value)
    return Plugin()


def refused(manager: PluginManager, name: str) -> tuple[str, str]:
    info = manager.plugins[name]
    assert (info.health, info.enabled, info.obj) == ("failed to load", False, None)
    return info.check_id, info.error


# --- the plugin API version --------------------------------------------------------------------


@pytest.mark.parametrize("declared", [PLUGIN_API_VERSION, "1", "1.0"])
def test_a_plugin_written_for_this_api_loads(declared):
    manager = builtin_manager()
    info = manager.register_plugin(view_plugin("fits", plugin_api_version=declared))
    assert info is not None and info.health == "ok"
    assert info.api_version == declared


@pytest.mark.parametrize(
    ("declared", "why"),
    [
        ("2.0", "it needs Nocoflo plugin API 2.0; this Nocoflo offers 1.0"),
        ("1.7", "it needs Nocoflo plugin API 1.7; this Nocoflo offers 1.0"),
        ("0.9", "it needs Nocoflo plugin API 0.9; this Nocoflo offers 1.0"),
        ("latest", "its plugin_api_version 'latest' is not a version like '1.0'"),
    ],
)
def test_a_plugin_for_another_api_is_refused_by_name(declared, why):
    manager = builtin_manager()
    assert manager.register_plugin(view_plugin("future", plugin_api_version=declared)) is None
    check_id, error = refused(manager, "future")
    assert check_id == INCOMPATIBLE_API
    assert error == f"plugin 'future' failed to load: {why}"
    assert manager.pm.get_plugin("future") is None


def test_a_plugin_without_a_declared_api_loads_and_says_so():
    info = builtin_manager().register_plugin(view_plugin("old_style"))
    assert info is not None and info.api_version == ""


# --- hooks and schemas -------------------------------------------------------------------------


def test_a_hook_with_arguments_the_spec_lacks_is_refused():
    class WrongArguments:
        name = "wrong_arguments"

        @hookimpl
        def get_view_class(self, table):  # the hook takes no arguments
            return ExampleChartView

    manager = builtin_manager()
    assert manager.register_plugin(WrongArguments()) is None
    check_id, error = refused(manager, "wrong_arguments")
    assert check_id == INVALID
    assert "table" in error and "wrong_arguments" in error


def test_a_plugin_with_only_configuration_hooks_is_refused():
    class ConfigOnly:
        name = "config_only"

        @hookimpl
        def configure(self, config):
            pass

    manager = builtin_manager()
    assert manager.register_plugin(ConfigOnly()) is None
    check_id, error = refused(manager, "config_only")
    assert check_id == INVALID
    assert "implements neither the view hooks" in error


def test_an_invalid_configuration_schema_is_refused():
    class BadSchema:
        name = "bad_schema"

        @hookimpl
        def get_view_class(self):
            return ExampleChartView

        @hookimpl
        def get_config_schema(self):
            return {"type": "object", "properties": {"size": {"type": "huge"}}}

    manager = builtin_manager()
    assert manager.register_plugin(BadSchema()) is None
    check_id, error = refused(manager, "bad_schema")
    assert check_id == INVALID
    assert "its configuration schema is invalid" in error


def test_load_failures_and_duplicates_carry_their_check_ids(plugin_dir):
    folder = plugin_dir("broken_import_plugin", "chart_view_plugin")
    (folder / "chart_copy.py").write_text((folder / "chart_view_plugin.py").read_text())
    manager = builtin_manager(plugin_dirs=[folder])
    assert manager.plugins["broken_import_plugin"].check_id == FAILED_TO_LOAD
    assert manager.plugins["example_chart_view (duplicate)"].check_id == DUPLICATE_NAME


def test_a_view_hook_answering_no_view_class_marks_the_plugin_failing():
    class NotAView:
        pass

    class Odd:
        name = "odd_view"

        @hookimpl
        def get_view_class(self):
            return NotAView

    manager = builtin_manager()
    manager.register_plugin(Odd())
    assert "odd_view" not in [name for name, _, _ in manager.view_classes()]
    info = manager.plugins["odd_view"]
    assert info.health == "failing"
    assert "lacks render, get_view_name, can_handle_table" in info.error


# --- configuration -----------------------------------------------------------------------------


class ConfigurablePlugin:
    name = "configurable_view"
    plugin_api_version = "1.0"

    def __init__(self) -> None:
        self.received: list[dict] = []

    @hookimpl
    def get_view_class(self):
        return ExampleChartView

    @hookimpl
    def get_config_schema(self):
        return {
            "type": "object",
            "properties": {"bins": {"type": "integer", "minimum": 1}},
            "additionalProperties": False,
        }

    @hookimpl
    def configure(self, config):
        self.received.append(config)


def test_a_valid_configuration_reaches_the_plugin_and_its_views():
    manager = builtin_manager()
    plugin = ConfigurablePlugin()
    manager.register_plugin(plugin)

    manager.configure("configurable_view", {"bins": 12})

    assert plugin.received == [{"bins": 12}]
    assert manager.plugins["configurable_view"].config == {"bins": 12}
    view = next(
        v for v in manager.get_available_views(NUMERIC_TABLE) if v.plugin_name == plugin.name
    )
    assert view.plugin_config == {"bins": 12}
    manager.configure("configurable_view", {"bins": 12})  # unchanged: not handed over again
    assert len(plugin.received) == 1


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"bins": 0}, "bins: 0 is less than the minimum of 1"),
        ({"bins": "many"}, "bins: 'many' is not of type 'integer'"),
        ({"colour": "red"}, "Additional properties are not allowed ('colour' was unexpected)"),
        (["bins"], "The configuration must be a JSON object"),
    ],
)
def test_an_invalid_configuration_is_refused_saying_where(config, message):
    manager = builtin_manager()
    plugin = ConfigurablePlugin()
    manager.register_plugin(plugin)
    with pytest.raises(ConfigInvalid) as caught:
        manager.configure("configurable_view", config)
    assert message in str(caught.value)
    assert plugin.received == [] and manager.plugins["configurable_view"].config == {}


def test_a_disabled_plugin_is_configured_too_and_keeps_it_when_enabled():
    manager = builtin_manager()
    plugin = ConfigurablePlugin()
    manager.register_plugin(plugin, enabled=False)
    manager.configure("configurable_view", {"bins": 3})
    manager.set_enabled("configurable_view", True)
    assert plugin.received == [{"bins": 3}]
    assert manager.config_schema("configurable_view")["properties"]["bins"]["minimum"] == 1


def test_a_plugin_without_a_schema_takes_any_object():
    manager = builtin_manager()
    manager.register_plugin(view_plugin("schemaless"))
    manager.configure("schemaless", {"anything": [1, 2]})
    assert manager.plugins["schemaless"].config == {"anything": [1, 2]}
    assert manager.config_schema("schemaless") is None


# --- changes and counts ------------------------------------------------------------------------


def test_listeners_hear_every_change_until_they_stop():
    manager = builtin_manager()
    heard: list[str] = []
    stop = manager.subscribe(heard.append)

    manager.register_plugin(ConfigurablePlugin())
    manager.set_enabled("configurable_view", False)
    manager.set_enabled("configurable_view", False)  # no change: nobody is told
    manager.configure("configurable_view", {"bins": 2})
    stop()
    manager.set_enabled("configurable_view", True)

    assert heard == ["configurable_view"] * 3


def test_a_failing_listener_does_not_stop_the_others(caplog):
    manager = builtin_manager()
    heard: list[str] = []
    manager.subscribe(lambda name: 1 / 0)
    manager.subscribe(heard.append)
    manager.register_plugin(view_plugin("noticed"))
    assert heard == ["noticed"]
    assert "a listener of plugin changes failed" in caplog.text


def test_calls_into_a_plugin_are_counted_and_timed():
    manager = builtin_manager()
    manager.register_plugin(view_plugin("counted"))
    before = manager.plugins["counted"].calls

    manager.get_available_views(NUMERIC_TABLE)

    info = manager.plugins["counted"]
    # its class, its priority, the view's constructor, can_handle_table, get_view_name, rank
    assert info.calls - before == 6
    assert info.seconds > 0


# --- reloading a plugin file -------------------------------------------------------------------

PLUGIN_FILE = """
from nocoflo_project.plugins import hookimpl
from tests.plugins.chart_view_plugin import ExampleChartView


class EditedViewPlugin:
    version = "{version}"

    @hookimpl
    def get_view_class(self):
        return ExampleChartView

    @hookimpl
    def get_view_priority(self):
        return {priority}
"""


def test_reloading_a_changed_file_re_registers_its_plugin_keeping_the_admins_choices(tmp_path):
    path = tmp_path / "edited.py"
    path.write_text(textwrap.dedent(PLUGIN_FILE.format(version="1", priority=4)))
    manager = builtin_manager(plugin_dirs=[tmp_path], enabled_plugins=["edited_view"])
    manager.configure("edited_view", {"label": "Edited"})
    manager.set_enabled("edited_view", False)
    heard: list[str] = []
    manager.subscribe(heard.append)

    path.write_text(textwrap.dedent(PLUGIN_FILE.format(version="2", priority=9)))
    assert manager.reload_file(path) == ["edited_view"]

    info = manager.plugins["edited_view"]
    assert (info.version, info.enabled, info.config) == ("2", False, {"label": "Edited"})
    manager.set_enabled("edited_view", True)
    assert ("edited_view", ExampleChartView, 9) in manager.view_classes()
    assert "edited_view" in heard


def test_a_file_that_breaks_or_goes_away_takes_its_plugin_with_it(tmp_path):
    path = tmp_path / "edited.py"
    path.write_text(textwrap.dedent(PLUGIN_FILE.format(version="1", priority=4)))
    manager = builtin_manager(plugin_dirs=[tmp_path], enabled_plugins=["edited_view"])

    path.write_text("raise ImportError('half saved')\n")
    assert manager.reload_file(path) == ["edited"]
    assert manager.plugins["edited"].health == "failed to load"
    assert "edited_view" not in [name for name, _, _ in manager.view_classes()]

    path.unlink()
    assert manager.reload_file(path) == []
    assert "edited" not in manager.plugins


# --- a plugin that raises in each hook ---------------------------------------------------------


class Exploding:
    """A view and datasource plugin whose hook named `broken` raises."""

    name = "exploding"

    def __init__(self, broken: str) -> None:
        self.broken = broken

    def _answer(self, hook: str, value):
        if hook == self.broken:
            raise RuntimeError(f"{hook} exploded")
        return value

    @hookimpl
    def get_view_class(self):
        return self._answer("get_view_class", ExampleChartView)

    @hookimpl
    def get_view_priority(self):
        return self._answer("get_view_priority", 99)

    @hookimpl
    def get_datasource_class(self):
        from tests.plugins.geo_datasource_plugin import GeoDatasource

        return self._answer("get_datasource_class", GeoDatasource)

    @hookimpl
    def get_supported_schemes(self):
        return self._answer("get_supported_schemes", ["boom"])

    @hookimpl
    def get_config_schema(self):
        return self._answer("get_config_schema", {"type": "object"})

    @hookimpl
    def configure(self, config):
        self._answer("configure", None)


@pytest.mark.parametrize(
    "hook",
    ["get_view_class", "get_view_priority", "get_datasource_class", "get_supported_schemes",
     "configure"],
)  # fmt: skip
def test_a_hook_that_raises_leaves_the_rest_working(hook, caplog):
    manager = builtin_manager()
    assert manager.register_plugin(Exploding(hook)) is not None

    try:
        manager.configure("exploding", {"x": 1})
    except Exception as exc:  # only configure itself may refuse, as a PluginError
        assert hook == "configure" and "configure exploded" in str(exc)
    views = [v.plugin_name for v in manager.get_available_views(NUMERIC_TABLE)]
    schemes = manager.datasource_classes()

    assert "table_view" in views and "sqlite" in schemes  # the others still answer
    info = manager.plugins["exploding"]
    assert info.health == "failing"
    assert info.error == f"RuntimeError: {hook} exploded"
    assert "plugin exploding failed" in caplog.text
    offered_view = "exploding" in views
    offered_source = "boom" in schemes
    assert offered_view == (hook in ("get_view_priority", "get_datasource_class",
                                     "get_supported_schemes", "configure"))  # fmt: skip
    assert offered_source == (hook in ("get_view_class", "get_view_priority", "configure"))


def test_a_schema_hook_that_raises_refuses_the_plugin_at_load():
    manager = builtin_manager()
    assert manager.register_plugin(Exploding("get_config_schema")) is None
    check_id, error = refused(manager, "exploding")
    assert check_id == "nocoflo.E001"
    assert "get_config_schema exploded" in error
