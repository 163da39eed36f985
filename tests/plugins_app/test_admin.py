"""The plugin admin: found plugins listed with health, enabled flag applied at once."""

from __future__ import annotations

import re

import pytest
from django.contrib.messages import get_messages

from plugins_app.manager import PluginError
from plugins_app.models import PluginConfig

pytestmark = [pytest.mark.plugin, pytest.mark.integration]

CHANGELIST = "/admin/plugins_app/pluginconfig/"


def change_url(name: str) -> str:
    return f"{CHANGELIST}{PluginConfig.objects.get(plugin_name=name).pk}/change/"


@pytest.fixture
def synced(admin_client, live_manager):
    response = admin_client.get(CHANGELIST)
    assert response.status_code == 200
    return response


ROW = re.compile(
    r'<th class="field-plugin_name"><a [^>]*>([^<]+)</a></th>.*?'
    r'<td class="field-health">([^<]*)</td>',
    re.S,
)


def test_changelist_lists_found_plugins_with_health(synced):
    page = synced.content.decode()
    assert dict(ROW.findall(page)) == {
        "broken_import_plugin": "Failed To Load",
        "chart_view": "Ok",
        "form_view": "Ok",
        "example_chart_view": "Ok",
        "geo_datasource": "Ok",
        "mysql": "Ok",
        "postgresql": "Ok",
        "sqlite_datasource": "Ok",
        "table_view": "Ok",
    }
    assert "built-in views_app.builtin.table" in page
    assert PluginConfig.objects.count() == len(ROW.findall(page))


def test_plugins_cannot_be_added_by_hand(admin_client, synced):
    assert "/admin/plugins_app/pluginconfig/add/" not in synced.content.decode()
    assert admin_client.get(f"{CHANGELIST}add/").status_code == 403


def test_change_page_shows_the_error_of_a_failed_plugin(admin_client, synced):
    response = admin_client.get(change_url("broken_import_plugin"))
    assert response.status_code == 200
    assert "this plugin needs a library that is not installed" in response.content.decode()


def test_unchecking_enabled_disables_the_plugin_at_once(admin_client, live_manager, synced):
    url = change_url("example_chart_view")
    response = admin_client.post(url, {"config_json": '{"colour": "blue"}'})

    assert response.status_code == 302, response.content.decode()
    assert live_manager.plugins["example_chart_view"].enabled is False
    assert live_manager.pm.get_plugin("example_chart_view") is None
    saved = PluginConfig.objects.get(plugin_name="example_chart_view")
    assert (saved.enabled, saved.config_json) == (False, {"colour": "blue"})

    admin_client.post(url, {"enabled": "on", "config_json": "{}"})
    assert live_manager.plugins["example_chart_view"].enabled is True


def test_disabling_a_datasource_plugin_removes_its_schemes(admin_client, live_manager, synced):
    assert "geo" in live_manager.datasource_classes()
    admin_client.post(change_url("geo_datasource"), {"config_json": "{}"})
    assert "geo" not in live_manager.datasource_classes()


def test_an_essential_plugin_cannot_be_disabled(admin_client, live_manager, synced):
    response = admin_client.post(change_url("table_view"), {"config_json": "{}"})

    assert response.status_code == 200  # the form again, with the reason
    assert "table_view is essential to Nocoflo and cannot be disabled." in (
        response.content.decode()
    )
    assert PluginConfig.objects.get(plugin_name="table_view").enabled is True
    assert live_manager.plugins["table_view"].enabled is True


def test_a_manager_refusal_is_shown_as_an_error(admin_client, live_manager, synced, monkeypatch):
    def refuse(name, enabled):
        raise PluginError(f"plugin {name!r} cannot be switched now")

    monkeypatch.setattr(live_manager, "set_enabled", refuse)
    response = admin_client.post(change_url("example_chart_view"), {"config_json": "{}"})
    assert response.status_code == 302
    messages = [str(m) for m in get_messages(response.wsgi_request)]
    assert messages[0] == "plugin 'example_chart_view' cannot be switched now"


@pytest.fixture
def configurable(live_manager):
    from .test_plugin_contract import ConfigurablePlugin

    plugin = ConfigurablePlugin()
    live_manager.register_plugin(plugin)
    return plugin


def test_a_configuration_is_checked_against_the_plugins_schema(
    admin_client, live_manager, configurable, synced
):
    url = change_url("configurable_view")
    page = admin_client.get(url).content.decode()
    assert "Configuration schema" in page and "&quot;minimum&quot;: 1" in page

    response = admin_client.post(url, {"enabled": "on", "config_json": '{"bins": 0}'})
    assert response.status_code == 200  # the form again, saying why
    assert "bins: 0 is less than the minimum of 1" in response.content.decode()
    assert configurable.received == []

    response = admin_client.post(url, {"enabled": "on", "config_json": '{"bins": 8}'})
    assert response.status_code == 302
    assert configurable.received == [{"bins": 8}]  # at once, no restart
    assert PluginConfig.objects.get(plugin_name="configurable_view").config_json == {"bins": 8}


def test_the_list_shows_calls_and_time_spent(admin_client, live_manager, synced):
    live_manager.call("example_chart_view", lambda: None)
    page = admin_client.get(CHANGELIST).content.decode()
    assert '<td class="field-calls">' in page and '<td class="field-time_spent">' in page
    assert PluginConfig.objects.get(plugin_name="example_chart_view").call_count >= 1


def test_actions_enable_and_disable_many_plugins_at_once(admin_client, live_manager, synced):
    pks = list(
        PluginConfig.objects.filter(
            plugin_name__in=["example_chart_view", "geo_datasource", "table_view"]
        ).values_list("pk", flat=True)
    )
    response = admin_client.post(
        CHANGELIST, {"action": "disable_plugins", "_selected_action": pks}, follow=True
    )
    messages = [str(m) for m in response.context["messages"]]
    assert "Disabled: example_chart_view, geo_datasource." in messages
    assert "table_view is essential and stays enabled." in messages
    assert live_manager.plugins["example_chart_view"].enabled is False
    assert "geo" not in live_manager.datasource_classes()

    admin_client.post(CHANGELIST, {"action": "enable_plugins", "_selected_action": pks})
    assert live_manager.plugins["example_chart_view"].enabled is True
    assert PluginConfig.objects.get(plugin_name="geo_datasource").enabled is True
