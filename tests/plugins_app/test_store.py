"""PluginConfig rows and the running manager kept in step."""

from __future__ import annotations

import datetime as dt

import pytest

from plugins_app.models import PluginConfig
from plugins_app.store import apply_admin_change, sync_plugin_configs
from tests.plugins.form_view_plugin import ExampleFormViewPlugin

pytestmark = [pytest.mark.plugin, pytest.mark.django_db]


def rows() -> dict[str, PluginConfig]:
    return {c.plugin_name: c for c in PluginConfig.objects.all()}


@pytest.mark.integration
def test_sync_records_every_plugin_the_manager_knows(live_manager):
    configs = sync_plugin_configs(live_manager)

    assert [c.plugin_name for c in configs] == [
        "broken_import_plugin",
        "chart_view",
        "example_chart_view",
        "form_view",
        "geo_datasource",
        "mysql",
        "postgresql",
        "sqlite_datasource",
        "table_view",
    ]
    saved = rows()
    assert set(saved) == {c.plugin_name for c in configs}
    table = saved["table_view"]
    assert (table.kinds, table.enabled, table.health) == ("view", True, "ok")
    assert table.version == live_manager.plugins["table_view"].version != ""
    assert table.source == "built-in views_app.builtin.table"
    assert (table.last_error, table.last_error_at) == ("", None)
    assert saved["sqlite_datasource"].kinds == "datasource"
    assert saved["geo_datasource"].source.startswith("directory ")

    broken = saved["broken_import_plugin"]
    assert (broken.health, broken.enabled, broken.kinds) == ("failed to load", False, "")
    assert "this plugin needs a library that is not installed" in broken.last_error
    assert broken.last_error_at is not None
    assert broken.last_error_at.tzinfo is not None
    assert abs(broken.last_error_at - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)
    assert str(broken) == "broken_import_plugin"


@pytest.mark.integration
def test_sync_uses_the_process_manager_by_default(live_manager):
    sync_plugin_configs()
    assert rows()["example_chart_view"].enabled is True


@pytest.mark.integration
def test_a_new_plugin_is_recorded_with_the_managers_choice(live_manager):
    live_manager.register_plugin(ExampleFormViewPlugin(), source="directory x", enabled=False)
    sync_plugin_configs()
    form = rows()["example_form_view"]
    assert (form.enabled, form.version) == (False, "2.1.0")


@pytest.mark.integration
def test_admins_flag_in_the_database_wins_on_the_next_sync(live_manager):
    sync_plugin_configs()
    PluginConfig.objects.filter(plugin_name="example_chart_view").update(enabled=False)
    live_manager.register_plugin(ExampleFormViewPlugin(), source="directory x", enabled=False)
    sync_plugin_configs()
    PluginConfig.objects.filter(plugin_name="example_form_view").update(enabled=True)

    sync_plugin_configs()

    assert live_manager.plugins["example_chart_view"].enabled is False
    assert live_manager.pm.get_plugin("example_chart_view") is None
    assert live_manager.plugins["example_form_view"].enabled is True
    saved = rows()
    assert saved["example_chart_view"].enabled is False
    assert saved["example_form_view"].enabled is True


@pytest.mark.integration
def test_essential_plugins_stay_enabled_whatever_the_database_says(live_manager):
    sync_plugin_configs()
    PluginConfig.objects.filter(plugin_name__in=["table_view", "sqlite_datasource"]).update(
        enabled=False
    )

    sync_plugin_configs()

    assert live_manager.plugins["table_view"].enabled
    assert live_manager.plugins["sqlite_datasource"].enabled
    saved = rows()
    assert saved["table_view"].enabled and saved["sqlite_datasource"].enabled


@pytest.mark.integration
def test_sync_records_health_changes(live_manager):
    sync_plugin_configs()
    live_manager.mark_failing("example_chart_view", RuntimeError("no canvas"))

    sync_plugin_configs()

    chart = rows()["example_chart_view"]
    assert chart.health == "failing"
    assert chart.last_error == "RuntimeError: no canvas"
    assert chart.last_error_at is not None


@pytest.mark.integration
def test_long_sources_and_versions_are_cut_to_fit(live_manager):
    plugin = ExampleFormViewPlugin()
    plugin.version = "9" * 100
    live_manager.register_plugin(plugin, source="registered by " + "x" * 400)
    sync_plugin_configs()
    form = rows()["example_form_view"]
    assert len(form.source) == 255
    assert form.version == "9" * 64


@pytest.mark.unit
def test_apply_admin_change_switches_the_running_plugin(live_manager):
    (chart,) = [c for c in sync_plugin_configs() if c.plugin_name == "example_chart_view"]
    chart.enabled = False
    apply_admin_change(chart)
    assert live_manager.plugins["example_chart_view"].enabled is False
    chart.enabled = True
    apply_admin_change(chart, live_manager)
    assert live_manager.plugins["example_chart_view"].enabled is True


@pytest.mark.integration
def test_call_counts_are_added_up_once_per_call(live_manager):
    sync_plugin_configs()
    live_manager.call("example_chart_view", lambda: None)
    live_manager.call("example_chart_view", lambda: None)

    sync_plugin_configs()
    sync_plugin_configs()  # nothing new: nothing added

    chart = rows()["example_chart_view"]
    assert chart.call_count == 2
    assert chart.seconds_spent >= 0
    # Another process adds its own calls to the same row.
    PluginConfig.objects.filter(pk=chart.pk).update(call_count=10)
    live_manager.call("example_chart_view", lambda: None)
    sync_plugin_configs()
    assert rows()["example_chart_view"].call_count == 11


@pytest.mark.integration
def test_a_configuration_saved_elsewhere_reaches_the_plugin(live_manager):
    sync_plugin_configs()
    PluginConfig.objects.filter(plugin_name="example_chart_view").update(
        config_json={"colour": "green"}
    )
    sync_plugin_configs()
    assert live_manager.plugins["example_chart_view"].config == {"colour": "green"}


@pytest.mark.integration
def test_a_saved_configuration_the_plugin_refuses_marks_it_failing(live_manager):
    from .test_plugin_contract import ConfigurablePlugin

    live_manager.register_plugin(ConfigurablePlugin())
    sync_plugin_configs()
    PluginConfig.objects.filter(plugin_name="configurable_view").update(config_json={"bins": 0})

    sync_plugin_configs()

    saved = rows()["configurable_view"]
    assert saved.health == "failing"
    assert "bins: 0 is less than the minimum of 1" in saved.last_error
    assert live_manager.plugins["configurable_view"].config == {}
