"""The plugin manager: built-ins, registration, discovery, pairing, health and enabling."""

from __future__ import annotations

import importlib.metadata
import logging
import types

import pluggy
import pytest

from datasources_app.builtin.mysql import MySQLDatasource
from datasources_app.builtin.postgresql import PostgreSQLDatasource
from datasources_app.builtin.sqlite import SQLiteDatasource
from plugins_app import manager as manager_module
from plugins_app.manager import (
    BUILTIN_PLUGINS,
    ESSENTIAL_PLUGINS,
    PluginDisabled,
    PluginError,
    PluginLoadError,
    PluginManager,
    _import_file,
    plugin_name_for,
    plugins_in_module,
)
from tests.plugins.chart_view_plugin import ExampleChartView, ExampleChartViewPlugin
from tests.plugins.form_view_plugin import ExampleFormViewPlugin, FormView
from tests.plugins.geo_datasource_plugin import GeoDatasource, GeoDatasourcePlugin
from tests.plugins.plain_view_plugin import PlainView, PlainViewPlugin
from tests.plugins.typo_hook_plugin import TypoViewPlugin
from views_app.builtin.chart import ChartView
from views_app.builtin.table import TableView

from .conftest import SAMPLES

pytestmark = pytest.mark.plugin

NUMERIC_TABLE = {
    "id": 7,
    "name": "orders",
    "columns": [
        {"name": "id", "type": "integer"},
        {"name": "total", "type": "real"},
        {"name": "status", "type": "text"},
    ],
}
TEXT_TABLE = {"id": 8, "name": "notes", "columns": [{"name": "body", "type": "text"}]}
WIDE_TABLE = {
    "id": 9,
    "name": "wide",
    "columns": [{"name": f"c{i}", "type": "integer"} for i in range(12)],
}


# The table view and the datasources: the built-ins the sample plugins are ranked against (the
# other built-in views have tests of their own).
CORE_BUILTINS = tuple(
    p for p in BUILTIN_PLUGINS if p == "views_app.builtin.table" or not p.startswith("views_app.")
)


def builtin_manager(**kwargs) -> PluginManager:
    kwargs.setdefault("builtins", CORE_BUILTINS)
    manager = PluginManager(entry_points=False, **kwargs)
    manager.load_plugins()
    return manager


def summary(views) -> list[tuple[str, type, int]]:
    return [(v.plugin_name, type(v), v.priority) for v in views]


# --- built-ins -----------------------------------------------------------------------------------


@pytest.mark.unit
def test_builtins_are_registered_like_any_plugin():
    manager = PluginManager()
    manager.load_plugins()

    table = manager.plugins["table_view"]
    sqlite = manager.plugins["sqlite_datasource"]
    assert (table.kinds, table.builtin, table.enabled, table.health) == (["view"], True, True, "ok")
    assert (sqlite.kinds, sqlite.builtin, sqlite.enabled, sqlite.health) == (
        ["datasource"],
        True,
        True,
        "ok",
    )
    assert table.source == "built-in views_app.builtin.table"
    assert table.version == importlib.metadata.version("nocoflo")
    views = manager.view_classes()
    assert ("table_view", TableView, 1) in views
    assert ("chart_view", ChartView, 0) in views
    assert manager.plugins["chart_view"].source == "built-in views_app.builtin.chart"
    assert manager.datasource_classes() == {
        "sqlite": ("sqlite_datasource", SQLiteDatasource),
        "sqlite3": ("sqlite_datasource", SQLiteDatasource),
        "postgresql": ("postgresql", PostgreSQLDatasource),
        "postgres": ("postgresql", PostgreSQLDatasource),
        "mysql": ("mysql", MySQLDatasource),
        "mariadb": ("mysql", MySQLDatasource),
    }
    for name in ("postgresql", "mysql"):  # built-in too, but not essential
        info = manager.plugins[name]
        assert (info.kinds, info.builtin, info.enabled, info.health) == (
            ["datasource"], True, True, "ok",
        )  # fmt: skip
        assert name not in ESSENTIAL_PLUGINS
    assert set(ESSENTIAL_PLUGINS) <= set(manager.plugins)


@pytest.mark.unit
@pytest.mark.parametrize("datasource_type", ["sqlite", "SQLite3", "sqlite+pysqlite"])
def test_get_datasource_resolves_types_and_url_schemes(datasource_type):
    manager = builtin_manager()
    assert manager.get_datasource(datasource_type) is SQLiteDatasource
    assert manager.datasource_plugin_name(datasource_type) == "sqlite_datasource"
    assert manager.datasource_plugin(datasource_type) == ("sqlite_datasource", SQLiteDatasource)


@pytest.mark.unit
def test_unknown_datasource_type_names_the_available_ones():
    manager = builtin_manager()
    with pytest.raises(PluginError) as excinfo:
        manager.get_datasource("oracle+cx_oracle")
    message = str(excinfo.value)
    assert "'oracle+cx_oracle'" in message
    assert "available: mariadb, mysql, postgres, postgresql, sqlite, sqlite3" in message
    assert manager.datasource_plugin_name("oracle") == ""


@pytest.mark.unit
def test_without_any_datasource_plugin_the_error_says_none():
    manager = builtin_manager(builtins=["views_app.builtin.table"])
    with pytest.raises(PluginError, match=r"available: none"):
        manager.get_datasource("sqlite")


@pytest.mark.unit
def test_a_missing_builtin_module_is_recorded_not_fatal(caplog):
    manager = builtin_manager(builtins=["views_app.builtin.table", "no.such.module"])
    info = manager.plugins["no.such.module"]
    assert info.health == "failed to load"
    assert "ModuleNotFoundError" in info.error
    assert info.source == "module no.such.module"
    assert "'no.such.module' failed to load" in caplog.text
    assert manager.plugins["table_view"].health == "ok"


# --- a plugin written like the architecture document ---------------------------------------------


@pytest.mark.unit
def test_architecture_example_registers_at_run_time():
    manager = builtin_manager()
    info = manager.register_plugin(ExampleChartViewPlugin())

    assert info is manager.plugins["example_chart_view"]
    assert (info.kinds, info.enabled, info.builtin, info.source) == (
        ["view"],
        True,
        False,
        "registered at run time",
    )
    views = manager.get_available_views(NUMERIC_TABLE, datasource="ds")
    assert summary(views) == [
        ("example_chart_view", ExampleChartView, 5),
        ("table_view", TableView, 1),
    ]
    chart = views[0]
    assert (chart.table_id, chart.datasource, chart.get_priority()) == (7, "ds", 5)


@pytest.mark.unit
def test_can_handle_table_decides_which_views_are_offered():
    manager = builtin_manager()
    manager.register_plugin(ExampleChartViewPlugin())
    # No numeric column: the chart view declines, the table view stays.
    assert summary(manager.get_available_views(TEXT_TABLE)) == [("table_view", TableView, 1)]


@pytest.mark.integration
def test_architecture_example_loads_from_a_plugin_directory(plugin_dir):
    directory = plugin_dir("chart_view_plugin")
    manager = builtin_manager(plugin_dirs=[directory], enabled_plugins=["example_chart_view"])

    info = manager.plugins["example_chart_view"]
    assert info.enabled and info.health == "ok"
    assert info.source == f"directory {directory / 'chart_view_plugin.py'}"
    views = manager.get_available_views(NUMERIC_TABLE)
    assert [(v.plugin_name, v.get_view_name(), v.priority) for v in views] == [
        ("example_chart_view", "Chart", 5),
        ("table_view", "Table", 1),
    ]


@pytest.mark.integration
def test_a_module_with_hook_functions_is_a_plugin_named_after_its_file(plugin_dir):
    manager = builtin_manager(
        plugin_dirs=[plugin_dir("stats_view")], enabled_plugins=["stats_view"]
    )
    assert manager.plugins["stats_view"].enabled
    views = manager.get_available_views(TEXT_TABLE)
    assert [(v.plugin_name, v.get_view_name(), v.priority) for v in views] == [
        ("stats_view", "Statistics", 2),
        ("table_view", "Table", 1),
    ]


# --- answers are paired per plugin ---------------------------------------------------------------


@pytest.mark.unit
def test_each_view_class_keeps_its_own_priority():
    manager = builtin_manager()
    for plugin in (ExampleFormViewPlugin(), PlainViewPlugin(), ExampleChartViewPlugin()):
        manager.register_plugin(plugin)

    assert sorted(manager.view_classes(), key=lambda t: t[0]) == [
        ("example_chart_view", ExampleChartView, 5),
        ("example_form_view", FormView, 10),
        ("plain_view", PlainView, 0),
        ("table_view", TableView, 1),
    ]
    assert summary(manager.get_available_views(WIDE_TABLE)) == [
        ("example_form_view", FormView, 10),
        ("example_chart_view", ExampleChartView, 5),
        ("table_view", TableView, 1),
        ("plain_view", PlainView, 0),
    ]


@pytest.mark.unit
def test_datasource_answers_are_paired_per_plugin():
    manager = builtin_manager()
    manager.register_plugin(GeoDatasourcePlugin())
    assert manager.datasource_classes() == {
        "sqlite": ("sqlite_datasource", SQLiteDatasource),
        "sqlite3": ("sqlite_datasource", SQLiteDatasource),
        "postgresql": ("postgresql", PostgreSQLDatasource),
        "postgres": ("postgresql", PostgreSQLDatasource),
        "mysql": ("mysql", MySQLDatasource),
        "mariadb": ("mysql", MySQLDatasource),
        "geo": ("geo_datasource", GeoDatasource),
        "geojson": ("geo_datasource", GeoDatasource),
    }
    assert manager.get_datasource("GEO+extra") is GeoDatasource


@pytest.mark.unit
def test_schemes_without_a_datasource_class_are_ignored():
    class SchemesOnlyPlugin:
        @pluggy.HookimplMarker("nocoflo")
        def get_supported_schemes(self):
            return ["orphan"]

    manager = builtin_manager()
    manager.register_plugin(SchemesOnlyPlugin())
    assert "orphan" not in manager.datasource_classes()
    assert manager.plugins["schemes_only"].kinds == ["datasource"]


# --- broken plugins ------------------------------------------------------------------------------


@pytest.mark.integration
def test_broken_plugins_are_recorded_and_the_rest_load(caplog):
    caplog.set_level(logging.ERROR, logger="nocoflo.plugins")
    manager = builtin_manager(
        plugin_dirs=[SAMPLES],
        enabled_plugins=["example_chart_view", "example_form_view", "typo_view", "raising_view"],
    )

    broken = manager.plugins["broken_import_plugin"]
    assert (broken.health, broken.enabled, broken.obj) == ("failed to load", False, None)
    assert "RuntimeError: this plugin needs a library that is not installed" in broken.error
    assert broken.error_at is not None
    assert broken.source == f"directory {SAMPLES / 'broken_import_plugin.py'}"

    typo = manager.plugins["typo_view"]
    assert typo.health == "failed to load"
    assert "get_view_clas" in typo.error
    assert manager.pm.get_plugin("typo_view") is None

    no_hooks = manager.plugins["no_hooks"]
    assert no_hooks.health == "failed to load"
    assert "defines no Nocoflo hook implementations" in no_hooks.error

    for name in ("broken_import_plugin", "typo_view", "no_hooks"):
        assert f"plugin {name!r} failed to load" in caplog.text
    # The rest loaded; the private __init__.py was not taken for a plugin.
    for name in (
        "example_chart_view",
        "example_form_view",
        "raising_view",
        "table_view",
        "sqlite_datasource",
    ):
        assert manager.plugins[name].health == "ok", name
    assert "__init__" not in manager.plugins
    assert not any(p.startswith("_") for p in manager.plugins)


@pytest.mark.integration
def test_a_plugin_whose_hook_raises_is_marked_failing_and_skipped(plugin_dir, caplog):
    manager = builtin_manager(
        plugin_dirs=[plugin_dir("raising_view_plugin", "chart_view_plugin")],
        enabled_plugins=["raising_view", "example_chart_view"],
    )
    assert manager.plugins["raising_view"].health == "ok"

    views = manager.get_available_views(NUMERIC_TABLE)

    assert [v.plugin_name for v in views] == ["example_chart_view", "table_view"]
    info = manager.plugins["raising_view"]
    assert info.health == "failing"
    assert info.error == "ValueError: the chart library crashed"
    assert info.error_at is not None
    assert "plugin raising_view failed" in caplog.text
    assert manager.plugins["example_chart_view"].health == "ok"


@pytest.mark.unit
def test_a_view_that_fails_to_build_or_to_decide_is_left_out(caplog):
    class ExplodingView(ExampleChartView):
        def __init__(self, *args, **kwargs):
            raise RuntimeError("no canvas")

    class IndecisiveView(ExampleChartView):
        def can_handle_table(self, table_meta):
            raise KeyError("columns")

    class ExplodingViewPlugin:
        @pluggy.HookimplMarker("nocoflo")
        def get_view_class(self):
            return ExplodingView

    class IndecisiveViewPlugin:
        @pluggy.HookimplMarker("nocoflo")
        def get_view_class(self):
            return IndecisiveView

    manager = builtin_manager()
    manager.register_plugin(ExplodingViewPlugin())
    manager.register_plugin(IndecisiveViewPlugin())

    assert [v.plugin_name for v in manager.get_available_views(NUMERIC_TABLE)] == ["table_view"]
    assert manager.plugins["exploding_view"].error == "RuntimeError: no canvas"
    assert manager.plugins["indecisive_view"].error == "KeyError: 'columns'"
    assert {manager.plugins[n].health for n in ("exploding_view", "indecisive_view")} == {"failing"}
    assert "plugin exploding_view failed" in caplog.text


@pytest.mark.unit
def test_call_turns_plugin_exceptions_into_plugin_errors():
    manager = builtin_manager()

    def boom():
        raise ZeroDivisionError("division by zero")

    with pytest.raises(PluginError, match=r"The plugin 'table_view' failed: division by zero"):
        manager.call("table_view", boom)
    assert manager.plugins["table_view"].health == "failing"
    assert manager.call("table_view", lambda a, b=0: a + b, 1, b=2) == 3

    def refuses():
        raise PluginError("already a clean message")

    with pytest.raises(PluginError, match=r"^already a clean message$"):
        manager.call("sqlite_datasource", refuses)
    assert manager.plugins["sqlite_datasource"].health == "ok"


@pytest.mark.unit
def test_expected_exceptions_pass_unmarked_and_others_still_fail_the_plugin():
    """The caller names what it handles itself (a datasource's refusal of its options)."""
    manager = builtin_manager()

    def refuses_its_options():
        raise LookupError("the option 'x' must be a number")

    with pytest.raises(LookupError, match="the option 'x'"):
        manager.call("sqlite_datasource", refuses_its_options, expected=(LookupError,))
    assert manager.plugins["sqlite_datasource"].health == "ok"
    assert manager.plugins["sqlite_datasource"].calls == 1  # still counted
    with pytest.raises(PluginError, match="failed: the option 'x'"):
        manager.call("sqlite_datasource", refuses_its_options, expected=(KeyError,))
    assert manager.plugins["sqlite_datasource"].health == "failing"


@pytest.mark.unit
def test_mark_failing_an_unknown_plugin_only_logs(caplog):
    manager = builtin_manager()
    manager.mark_failing("ghost", RuntimeError("gone"))
    assert "plugin ghost failed" in caplog.text
    assert "ghost" not in manager.plugins


@pytest.mark.unit
def test_register_refuses_invalid_plugins_with_their_name(caplog):
    manager = builtin_manager()
    assert manager.register_plugin(TypoViewPlugin()) is None
    info = manager.plugins["typo_view"]
    assert (info.health, info.enabled, info.source) == (
        "failed to load",
        False,
        "registered at run time",
    )
    assert "plugin 'typo_view' failed to load" in caplog.text
    assert "get_view_clas" in info.error
    # The refused plugin left nothing behind: the others still answer.
    assert manager.view_classes() == [("table_view", TableView, 1)]


@pytest.mark.unit
def test_a_second_plugin_with_a_loaded_name_is_refused_without_harming_the_first(plugin_dir):
    # Someone copied the architecture document's TableViewPlugin into their plugin directory.
    directory = plugin_dir(
        files={
            "table_copy.py": (
                "import pluggy\n"
                "hookimpl = pluggy.HookimplMarker('nocoflo')\n"
                "class TableViewPlugin:\n"
                "    @hookimpl\n"
                "    def get_view_priority(self):\n"
                "        return 99\n"
            )
        }
    )
    manager = builtin_manager(plugin_dirs=[directory], enabled_plugins=["table_view"])

    table = manager.plugins["table_view"]
    assert (table.health, table.enabled, table.builtin) == ("ok", True, True)
    assert table.obj is not None
    duplicates = [i for i in manager.plugins.values() if i.health == "failed to load"]
    assert [d.name for d in duplicates] == ["table_view (duplicate)"]
    assert "a plugin named 'table_view' is already loaded" in duplicates[0].error
    assert "table_copy.py" in duplicates[0].source
    assert manager.view_classes() == [("table_view", TableView, 1)]
    manager.set_enabled("table_view", True)  # still managed: no error


@pytest.mark.unit
def test_strict_mode_makes_a_load_failure_fatal(plugin_dir):
    manager = PluginManager(
        plugin_dirs=[plugin_dir("broken_import_plugin")], strict=True, entry_points=False
    )
    with pytest.raises(PluginLoadError, match=r"'broken_import_plugin' failed to load") as exc:
        manager.load_plugins()
    assert isinstance(exc.value.__cause__, RuntimeError)


@pytest.mark.unit
def test_strict_mode_refuses_invalid_registrations():
    manager = PluginManager(strict=True, entry_points=False)
    with pytest.raises(PluginLoadError, match=r"typo_view"):
        manager.register_plugin(TypoViewPlugin())


@pytest.mark.unit
def test_strict_mode_loads_good_plugins(plugin_dir):
    manager = PluginManager(plugin_dirs=[plugin_dir("chart_view_plugin")], strict=True)
    manager.load_plugins()
    assert manager.plugins["example_chart_view"].health == "ok"


# --- enabling ------------------------------------------------------------------------------------


@pytest.mark.integration
def test_directory_plugins_start_disabled_unless_named(plugin_dir):
    directory = plugin_dir("chart_view_plugin", "form_view_plugin")
    manager = builtin_manager(plugin_dirs=[directory], enabled_plugins=["example_form_view"])

    assert manager.plugins["example_chart_view"].enabled is False
    assert manager.plugins["example_chart_view"].health == "ok"
    assert manager.plugins["example_form_view"].enabled is True
    assert [v.plugin_name for v in manager.get_available_views(WIDE_TABLE)] == [
        "example_form_view",
        "table_view",
    ]


@pytest.mark.unit
def test_set_enabled_takes_effect_at_once(plugin_dir):
    manager = builtin_manager(plugin_dirs=[plugin_dir("chart_view_plugin")])
    assert [v.plugin_name for v in manager.get_available_views(NUMERIC_TABLE)] == ["table_view"]

    manager.set_enabled("example_chart_view", True)
    assert manager.plugins["example_chart_view"].enabled
    assert [v.plugin_name for v in manager.get_available_views(NUMERIC_TABLE)] == [
        "example_chart_view",
        "table_view",
    ]
    manager.set_enabled("example_chart_view", True)  # enabling twice is harmless

    manager.set_enabled("example_chart_view", False)
    assert not manager.plugins["example_chart_view"].enabled
    assert [v.plugin_name for v in manager.get_available_views(NUMERIC_TABLE)] == ["table_view"]
    manager.set_enabled("example_chart_view", False)  # and so is disabling twice
    assert manager.pm.get_plugin("example_chart_view") is None


@pytest.mark.unit
def test_a_disabled_datasource_plugin_no_longer_offers_its_schemes():
    manager = builtin_manager()
    manager.register_plugin(GeoDatasourcePlugin())
    assert manager.get_datasource("geo") is GeoDatasource

    manager.set_enabled("geo_datasource", False)

    assert set(manager.datasource_classes()) == {
        "sqlite", "sqlite3", "postgresql", "postgres", "mysql", "mariadb",
    }  # fmt: skip
    # Its tables say why they cannot open, and how that is undone.
    with pytest.raises(PluginDisabled) as refused:
        manager.get_datasource("geo")
    assert str(refused.value) == (
        "The datasource type 'geo' is disabled: an administrator turned off its plugin "
        "'geo_datasource' (Admin › Plugins)"
    )
    with pytest.raises(
        PluginError, match=r"available: mariadb, mysql, postgres, postgresql, sqlite"
    ):
        manager.get_datasource("nosuchdb")
    assert [i.name for i in manager.list_plugins("datasource")] == [
        "geo_datasource",
        "mysql",
        "postgresql",
        "sqlite_datasource",
    ]


@pytest.mark.unit
@pytest.mark.parametrize("name", sorted(ESSENTIAL_PLUGINS))
def test_essential_plugins_cannot_be_disabled(name):
    manager = builtin_manager()
    with pytest.raises(PluginError, match=r"essential"):
        manager.set_enabled(name, False)
    assert manager.plugins[name].enabled
    assert manager.pm.get_plugin(name) is not None


@pytest.mark.unit
def test_set_enabled_ignores_unknown_and_unloaded_plugins(plugin_dir):
    manager = builtin_manager(plugin_dirs=[plugin_dir("broken_import_plugin")])
    manager.set_enabled("nonexistent", True)
    manager.set_enabled("broken_import_plugin", True)
    assert "nonexistent" not in manager.plugins
    assert manager.plugins["broken_import_plugin"].enabled is False


@pytest.mark.unit
def test_register_plugin_can_be_told_to_start_disabled():
    manager = builtin_manager()
    info = manager.register_plugin(ExampleChartViewPlugin(), enabled=False)
    assert info.enabled is False
    assert manager.view_classes() == [("table_view", TableView, 1)]


@pytest.mark.unit
def test_list_plugins_filters_by_kind_and_sorts_by_name():
    manager = builtin_manager()
    manager.register_plugin(GeoDatasourcePlugin())
    manager.register_plugin(ExampleChartViewPlugin())
    assert [i.name for i in manager.list_plugins()] == [
        "example_chart_view",
        "geo_datasource",
        "mysql",
        "postgresql",
        "sqlite_datasource",
        "table_view",
    ]
    assert [i.name for i in manager.list_plugins("view")] == ["example_chart_view", "table_view"]
    assert [i.name for i in manager.list_plugins("datasource")] == [
        "geo_datasource",
        "mysql",
        "postgresql",
        "sqlite_datasource",
    ]


# --- entry points --------------------------------------------------------------------------------


class FakeDist:
    name = "nocoflo-charts"
    version = "3.4.5"


class FakeEntryPoint:
    def __init__(self, name, value, target, dist=None):
        self.name = name
        self.value = value
        self.dist = dist
        self._target = target

    def load(self):
        if isinstance(self._target, BaseException):
            raise self._target
        return self._target


@pytest.fixture
def fake_entry_points(monkeypatch):
    def install(*entry_points):
        groups = []

        def entry_points_(group=None):
            groups.append(group)
            return list(entry_points)

        monkeypatch.setattr(manager_module.importlib.metadata, "entry_points", entry_points_)
        return groups

    return install


@pytest.mark.integration
def test_entry_point_plugins_name_their_distribution(fake_entry_points):
    groups = fake_entry_points(
        FakeEntryPoint(
            "charts", "nocoflo_charts:ExampleChartViewPlugin", ExampleChartViewPlugin, FakeDist()
        )
    )
    manager = PluginManager(builtins=CORE_BUILTINS, enabled_plugins=["example_chart_view"])
    manager.load_plugins()

    assert groups == ["nocoflo"]
    info = manager.plugins["example_chart_view"]
    assert "nocoflo_charts:ExampleChartViewPlugin" in info.source
    assert "nocoflo-charts" in info.source
    assert info.version == "3.4.5"
    assert (info.enabled, info.health, info.kinds) == (True, "ok", ["view"])
    assert [v.plugin_name for v in manager.get_available_views(NUMERIC_TABLE)] == [
        "example_chart_view",
        "table_view",
    ]


@pytest.mark.integration
def test_entry_point_plugins_start_disabled(fake_entry_points):
    fake_entry_points(
        FakeEntryPoint(
            "charts", "nocoflo_charts:ExampleChartViewPlugin", ExampleChartViewPlugin, FakeDist()
        )
    )
    manager = PluginManager(builtins=CORE_BUILTINS)
    manager.load_plugins()
    assert manager.plugins["example_chart_view"].enabled is False
    assert manager.view_classes() == [("table_view", TableView, 1)]


@pytest.mark.integration
def test_entry_point_without_distribution_and_a_broken_one(fake_entry_points, caplog):
    fake_entry_points(
        FakeEntryPoint("forms", "forms_plugin:ExampleFormViewPlugin", ExampleFormViewPlugin),
        FakeEntryPoint("maps", "maps:Plugin", ImportError("No module named 'maps'")),
    )
    manager = PluginManager(enabled_plugins=["example_form_view"])
    manager.load_plugins()

    form = manager.plugins["example_form_view"]
    assert form.source == "entry point forms_plugin:ExampleFormViewPlugin"
    assert form.version == "2.1.0"  # the plugin's own version attribute
    broken = manager.plugins["maps"]
    assert broken.health == "failed to load"
    assert broken.source == "entry point maps:Plugin"
    assert "ImportError: No module named 'maps'" in broken.error
    assert "plugin 'maps' failed to load" in caplog.text


@pytest.mark.unit
def test_entry_points_can_be_turned_off(fake_entry_points):
    groups = fake_entry_points(FakeEntryPoint("charts", "x:Y", ExampleChartViewPlugin, FakeDist()))
    manager = PluginManager(entry_points=False)
    manager.load_plugins()
    assert groups == []
    assert "example_chart_view" not in manager.plugins


@pytest.mark.unit
def test_version_falls_back_to_empty_without_installed_nocoflo(monkeypatch):
    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(manager_module.importlib.metadata, "version", not_installed)
    manager = builtin_manager()
    assert manager.plugins["table_view"].version == ""


# --- names and modules ---------------------------------------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (ExampleChartViewPlugin(), "example_chart_view"),
        (ExampleChartViewPlugin, "example_chart_view"),
        (GeoDatasourcePlugin(), "geo_datasource"),
        (type("HTTPServerPlugin", (), {})(), "http_server"),
        (type("Plugin", (), {})(), "plugin"),
        (type("Named", (), {"name": "my-plugin"})(), "my-plugin"),
        (type("Unnamed", (), {"name": ""})(), "unnamed"),
        (types.ModuleType("acme.nocoflo_geo"), "nocoflo_geo"),
    ],
)
def test_plugin_names(obj, expected):
    assert plugin_name_for(obj) == expected


@pytest.mark.unit
def test_plugins_in_module_instantiates_only_its_own_hook_classes():
    import tests.plugins.chart_view_plugin as module

    found = plugins_in_module(module)
    assert [type(p) for p in found] == [ExampleChartViewPlugin]
    import tests.plugins.no_hooks as empty

    assert plugins_in_module(empty) == []


@pytest.mark.unit
def test_import_file_refuses_what_it_cannot_import(tmp_path):
    text_file = tmp_path / "notes.txt"
    text_file.write_text("not python")
    with pytest.raises(PluginError, match=r"cannot import"):
        _import_file(text_file)


@pytest.mark.unit
def test_a_file_that_fails_to_import_leaves_no_half_module(tmp_path):
    import sys

    path = tmp_path / "half.py"
    path.write_text("VALUE = 1\nraise SystemExit('stop')\n")
    with pytest.raises(SystemExit):
        _import_file(path)
    assert "nocoflo_plugin_dir_half" not in sys.modules


# --- the process's manager -----------------------------------------------------------------------


@pytest.mark.integration
def test_get_manager_builds_one_from_settings(monkeypatch, settings, plugin_dir):
    settings.NOCOFLO_PLUGIN_DIRS = [str(plugin_dir("chart_view_plugin", "form_view_plugin"))]
    settings.NOCOFLO_ENABLED_PLUGINS = ["example_form_view"]
    settings.NOCOFLO_STRICT_PLUGINS = False
    monkeypatch.setattr(manager_module, "_current", None)

    manager = manager_module.get_manager()

    assert manager_module.get_manager() is manager
    assert manager.plugins["example_form_view"].enabled
    assert not manager.plugins["example_chart_view"].enabled
    assert manager.plugins["table_view"].health == "ok"


@pytest.mark.integration
def test_build_manager_honours_strict_setting(settings, plugin_dir):
    settings.NOCOFLO_PLUGIN_DIRS = [str(plugin_dir("broken_import_plugin"))]
    settings.NOCOFLO_STRICT_PLUGINS = True
    with pytest.raises(PluginLoadError):
        manager_module.build_manager()
