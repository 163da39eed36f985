"""`/api/tables/{id}/view`: choosing the view a table opens in, through Django's test client."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from plugins_app import manager as manager_module
from plugins_app.hookspecs import hookimpl
from plugins_app.manager import PluginManager
from views_app import preferences
from views_app.base import BaseView
from views_app.models import ViewPreference

pytestmark = pytest.mark.integration


class SampleView(BaseView):
    def render(self) -> None:
        pass

    def get_view_name(self) -> str:
        return "Sample"

    def can_handle_table(self, table_meta: dict) -> bool:
        return True


class PickyView(SampleView):
    def get_view_name(self) -> str:
        return "Picky"

    def can_handle_table(self, table_meta: dict) -> bool:
        return table_meta["name"] == "no such table"


class SampleViewPlugin:
    @hookimpl
    def get_view_class(self):
        return SampleView

    @hookimpl
    def get_view_priority(self):
        return 3


class PickyViewPlugin:
    @hookimpl
    def get_view_class(self):
        return PickyView


@pytest.fixture(autouse=True)
def sample_views():
    """The table view, a sample view preferred over it and one that can show no table."""
    previous = manager_module._current
    manager = PluginManager(
        builtins=("views_app.builtin.table", "datasources_app.builtin.sqlite"), entry_points=False
    )
    manager.load_plugins()
    manager.register_plugin(SampleViewPlugin())
    manager.register_plugin(PickyViewPlugin())
    manager_module.set_manager(manager)
    yield manager
    manager_module._current = previous


def url(table) -> str:
    return f"/api/tables/{table.pk}/view"


def post(client: Client, table, body: dict):
    return client.post(url(table), json.dumps(body), content_type="application/json")


@pytest.fixture
def reader_client(reader):
    client = Client()
    client.force_login(reader)
    return client


def test_set_the_preferred_view(reader_client, reader, orders_table):
    answer = post(reader_client, orders_table, {"view_type": "table", "config": {}})
    assert answer.status_code == 200
    assert answer.json() == {"success": True, "message": "View preference updated"}
    assert preferences.preferred_view(reader, orders_table) == "table_view"
    assert reader_client.get(url(orders_table)).json() == {"view_type": "table_view", "config": {}}


def test_full_plugin_names_and_config(reader_client, reader, orders_table):
    config = {"columns": [{"colId": "id", "width": 90}], "q": "anna"}
    answer = post(reader_client, orders_table, {"view_type": "sample_view", "config": config})
    assert answer.status_code == 200
    assert reader_client.get(url(orders_table)).json() == {
        "view_type": "sample_view",
        "config": config,
    }
    # An empty config chooses the view and keeps its settings.
    post(reader_client, orders_table, {"view_type": "table"})
    post(reader_client, orders_table, {"view_type": "sample", "config": {}})
    assert preferences.view_config(reader, orders_table, "sample_view") == config


def test_without_a_choice_the_best_view(reader_client, orders_table):
    assert reader_client.get(url(orders_table)).json() == {"view_type": "sample_view", "config": {}}


def test_priority_strategy_ignores_the_choice(reader_client, orders_table, settings):
    settings.NOCOFLO_VIEW_SELECTION = "priority"
    post(reader_client, orders_table, {"view_type": "table"})
    assert reader_client.get(url(orders_table)).json()["view_type"] == "sample_view"


@pytest.mark.parametrize(
    ("view_type", "message"),
    [
        ("picky", "The view 'picky' cannot show orders"),
        ("map", "There is no view 'map'"),
        ("", "There is no view ''"),
    ],
)
def test_views_that_cannot_show_the_table(reader_client, orders_table, view_type, message):
    answer = post(reader_client, orders_table, {"view_type": view_type, "config": {}})
    assert answer.status_code == 400
    assert answer.json() == {"success": False, "message": message}
    assert not ViewPreference.objects.exists()


def test_a_disabled_view_is_refused(reader_client, orders_table, sample_views):
    sample_views.set_enabled("sample_view", False)
    answer = post(reader_client, orders_table, {"view_type": "sample", "config": {}})
    assert answer.status_code == 400


def test_without_read_access(plain_user, orders_table):
    client = Client()
    client.force_login(plain_user)
    for answer in (
        post(client, orders_table, {"view_type": "table", "config": {}}),
        client.get(url(orders_table)),
    ):
        assert answer.status_code == 404
        assert answer.json() == {"message": "No such table"}
    assert post(client, type("T", (), {"pk": 999999})(), {"view_type": "table"}).status_code == 404
    assert not ViewPreference.objects.exists()


def test_signed_out(orders_table):
    answer = post(Client(), orders_table, {"view_type": "table", "config": {}})
    assert answer.status_code == 401


def test_invalid_body(reader_client, orders_table):
    answer = post(reader_client, orders_table, {"config": {}})
    assert answer.status_code == 422
    answer = post(reader_client, orders_table, {"view_type": "table", "config": []})
    assert answer.status_code == 422


def test_each_user_their_own(reader_client, reader, admin_user, orders_table):
    post(reader_client, orders_table, {"view_type": "table", "config": {"q": "mine"}})
    admin = Client()
    admin.force_login(admin_user)
    assert admin.get(url(orders_table)).json() == {"view_type": "sample_view", "config": {}}
