"""GET /api/plugins: the architecture document's shape, for staff only."""

from __future__ import annotations

import pluggy
import pytest
from django.test import Client

from tests.factories import UserFactory

pytestmark = [pytest.mark.plugin, pytest.mark.integration]

hookimpl = pluggy.HookimplMarker("nocoflo")


class SpreadsheetPlugin:
    """A plugin offering both a view and a datasource."""

    version = "0.9.0"

    @hookimpl
    def get_view_class(self):
        return object

    @hookimpl
    def get_datasource_class(self):
        return object

    @hookimpl
    def get_supported_schemes(self):
        return ["xlsx"]


def by_name(body) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for plugin in body["plugins"]:
        found.setdefault(plugin["name"], []).append(plugin)
    return found


def test_all_plugins_in_the_documented_shape(admin_client, live_manager):
    live_manager.register_plugin(SpreadsheetPlugin())
    response = admin_client.get("/api/plugins")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"plugins"}
    plugins = by_name(body)
    version = live_manager.plugins["table_view"].version
    assert plugins["table_view"] == [
        {"name": "table_view", "type": "view", "enabled": True, "version": version, "health": "ok"}
    ]
    assert plugins["sqlite_datasource"][0]["type"] == "datasource"
    assert plugins["broken_import_plugin"] == [
        {
            "name": "broken_import_plugin",
            "type": "unknown",
            "enabled": False,
            "version": "",
            "health": "failed to load",
        }
    ]
    assert [(p["type"], p["version"]) for p in plugins["spreadsheet"]] == [
        ("view", "0.9.0"),
        ("datasource", "0.9.0"),
    ]
    for plugin in body["plugins"]:
        assert {"name", "type", "enabled", "version"} <= set(plugin)


def test_explicit_all_is_the_default(admin_client, live_manager):
    default = admin_client.get("/api/plugins").json()
    explicit = admin_client.get("/api/plugins", {"plugin_type": "all"}).json()
    assert default == explicit


@pytest.mark.parametrize(
    ("plugin_type", "expected"),
    [
        (
            "view",
            {"chart_view", "example_chart_view", "form_view", "spreadsheet", "table_view"},
        ),
        (
            "datasource",
            {"geo_datasource", "spreadsheet", "sqlite_datasource", "postgresql", "mysql"},
        ),
    ],
)
def test_filtered_by_type(admin_client, live_manager, plugin_type, expected):
    live_manager.register_plugin(SpreadsheetPlugin())
    body = admin_client.get("/api/plugins", {"plugin_type": plugin_type}).json()
    assert {p["name"] for p in body["plugins"]} == expected
    assert {p["type"] for p in body["plugins"]} == {plugin_type}
    assert len(body["plugins"]) == len(expected)


def test_a_disabled_plugin_is_listed_as_disabled(admin_client, live_manager):
    live_manager.set_enabled("example_chart_view", False)
    (chart,) = by_name(admin_client.get("/api/plugins?plugin_type=view").json())[
        "example_chart_view"
    ]
    assert chart["enabled"] is False


def test_non_staff_users_are_refused(client, reader, live_manager):
    client.force_login(reader)
    response = client.get("/api/plugins")
    assert response.status_code == 403
    assert response.json() == {"message": "Only staff may list plugins"}


def test_staff_without_superuser_may_list(db, live_manager):
    staff = UserFactory(username="staffer", is_staff=True)
    client = Client()
    client.force_login(staff)
    assert client.get("/api/plugins").status_code == 200


def test_signed_out_requests_get_401(client, live_manager):
    response = client.get("/api/plugins")
    assert response.status_code == 401
    assert response.json() == {"message": "Sign in first"}


def test_an_unknown_plugin_type_is_invalid(admin_client, live_manager):
    response = admin_client.get("/api/plugins", {"plugin_type": "chart"})
    assert response.status_code == 422
    assert response.json()["message"] == "The request is not valid"
