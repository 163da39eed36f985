"""Managing datasources: passwords encrypted at rest, the datasources API, read-only
datasources, and pools closed when a datasource changes."""

from __future__ import annotations

import json

import pytest
from django.apps import apps as django_apps
from django.test import override_settings

from core import crypto
from datasources_app import connections
from datasources_app.connections import datasource_for
from datasources_app.errors import DatasourceUnavailable, InvalidOption
from datasources_app.models import DatasourceConfig, build_url, split_password
from plugins_app.manager import get_manager
from tests.conftest import grant
from tests.factories import UserFactory

pytestmark = pytest.mark.integration


def encrypted_field(config: DatasourceConfig) -> str:
    return DatasourceConfig.objects.values_list("password_encrypted", flat=True).get(pk=config.pk)


# --- passwords at rest ------------------------------------------------------------------------


def test_crypto_round_trip_and_a_changed_key(settings):
    token = crypto.encrypt("hunter2")
    assert token and "hunter2" not in token
    assert crypto.decrypt(token) == "hunter2"
    assert crypto.encrypt("") == "" and crypto.decrypt("") == ""
    settings.NOCOFLO_ENCRYPTION_KEY = "uVq3hJ0pH4Oq8Hq0dJ6zjYb0m3iF5kq3X1m2Yb7wN4E="
    with pytest.raises(crypto.SecretUnreadable, match="Enter it again"):
        crypto.decrypt(token)


def test_a_password_that_cannot_be_decrypted_is_a_clear_error(db, settings):
    config = DatasourceConfig.objects.create(
        name="PG", datasource_type="sqlite", connection_string="sqlite://u:pw@/x.db"
    )
    settings.NOCOFLO_ENCRYPTION_KEY = "uVq3hJ0pH4Oq8Hq0dJ6zjYb0m3iF5kq3X1m2Yb7wN4E="
    with pytest.raises(DatasourceUnavailable, match="cannot be decrypted"):
        datasource_for(config)


def test_split_password_and_build_url():
    assert split_password("postgresql://a:b%40c@h/d") == ("postgresql://a@h/d", "b@c")
    assert split_password("sqlite:////x.db") == ("sqlite:////x.db", None)
    assert split_password("not a url") == ("not a url", None)
    assert build_url("mysql", "db", 3307, "shop", "ann") == "mysql://ann@db:3307/shop"
    assert build_url("sqlite", "", None, "/srv/x.db", "") == "sqlite:////srv/x.db"


def test_set_connection_keeps_the_stored_password_when_none_is_given(db):
    config = DatasourceConfig(name="X", datasource_type="postgresql")
    config.set_connection("postgresql://bob:first@h/x")
    config.save()
    config.set_connection("postgresql://bob@other/x")
    config.save()
    assert config.connection_url() == "postgresql://bob:first@other/x"
    assert "first" not in encrypted_field(config)
    assert config.safe_connection_string() == "postgresql://bob:***@other/x"


def test_the_migration_moves_old_passwords_out(db):
    from importlib import import_module

    migration = import_module("datasources_app.migrations.0002_password_apart_read_only")
    DatasourceConfig.objects.bulk_create(  # bulk_create skips save(): the old way of storing
        [DatasourceConfig(name="Old", datasource_type="postgresql",
                          connection_string="postgresql://bob:old-pw@h/x")]
    )  # fmt: skip
    from types import SimpleNamespace

    from django.db import connection

    # The migration works on the database its schema editor is connected to.
    migration.move_passwords_out(django_apps, SimpleNamespace(connection=connection))
    config = DatasourceConfig.objects.get(name="Old")
    assert config.connection_string == "postgresql://bob@h/x"
    assert config.connection_url() == "postgresql://bob:old-pw@h/x"


# --- the datasources API ----------------------------------------------------------------------


def post_datasource(client, **body):
    return client.post("/api/datasources", json.dumps(body), content_type="application/json")


def test_creating_a_sqlite_datasource_discovers_its_tables(admin_client, demo_db):
    response = post_datasource(
        admin_client, type="sqlite", connection_string=f"sqlite:///{demo_db}", name="Shop"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["success"] is True
    config = DatasourceConfig.objects.get(pk=body["datasource_id"])
    assert sorted(config.tables.values_list("name", flat=True)) == [
        "customers", "orders", "products",
    ]  # fmt: skip
    assert sorted(body["tables"]) == ["customers", "orders", "products"]


def test_a_datasource_that_cannot_be_reached_is_not_saved(admin_client, tmp_path):
    response = post_datasource(
        admin_client, type="sqlite", connection_string=f"sqlite:///{tmp_path}/gone.db"
    )
    assert response.status_code == 502
    assert response.json() == {
        "success": False,
        "message": f"The SQLite file {tmp_path}/gone.db does not exist",
    }
    assert not DatasourceConfig.objects.exists()


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"type": "sqlite", "connection_string": "no url"}, 400, "not a database URL"),
        ({"type": "oracle", "connection_string": "oracle://h/x"}, 400, "No enabled datasource"),
        (
            {
                "type": "sqlite",
                "connection_string": "sqlite:////srv/x.db",
                "config": {"parallel_scans": "many"},
            },
            400,
            "'parallel_scans' must be a whole number",
        ),
    ],
)
def test_bad_datasources_are_refused_with_the_reason(admin_client, body, status, message):
    response = post_datasource(admin_client, **body)
    assert response.status_code == status
    assert response.json()["success"] is False
    assert message in response.json()["message"]


def test_a_taken_name_is_refused(admin_client, demo_source, demo_db):
    response = post_datasource(
        admin_client, type="sqlite", connection_string=f"sqlite:///{demo_db}", name="Demo"
    )
    assert response.status_code == 400
    assert response.json()["message"] == "A datasource named 'Demo' exists already"


def test_listing_datasources_shows_no_secret(admin_client, demo_source, db):
    DatasourceConfig.objects.create(
        name="PG", datasource_type="postgresql", connection_string="postgresql://u:topsecret@h/x"
    )
    response = admin_client.get("/api/datasources")
    assert response.status_code == 200
    assert "topsecret" not in response.content.decode()
    listed = {d["name"]: d for d in response.json()}
    assert listed["PG"]["connection"] == "postgresql://u:***@h/x"
    assert listed["Demo"]["tables"] == 3
    assert listed["Demo"]["read_only"] is False


def test_sync_answers_what_changed(admin_client, demo_source):
    demo_source.tables.get(name="products").columns.get(name="price").delete()
    response = admin_client.post(f"/api/datasources/{demo_source.pk}/sync")
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert body["columns_added"] == ["products.price"]
    assert body["tables_added"] == []
    assert admin_client.post("/api/datasources/9999/sync").status_code == 404


def test_sync_of_an_unreachable_datasource_says_why(admin_client, demo_source, tmp_path):
    demo_source.connection_string = f"sqlite:///{tmp_path}/moved-away.db"
    demo_source.save()
    response = admin_client.post(f"/api/datasources/{demo_source.pk}/sync")
    assert response.status_code == 502
    assert response.json()["success"] is False
    assert demo_source.tables.count() == 3  # nothing lost


def test_only_admins_manage_datasources(client, db, demo_source):
    user = UserFactory(username="editor")
    grant(user, "read_rows", "write_rows")
    client.force_login(user)
    assert client.get("/api/datasources").status_code == 403
    assert (
        post_datasource(client, type="sqlite", connection_string="sqlite:///x").status_code == 403
    )
    assert client.post(f"/api/datasources/{demo_source.pk}/sync").status_code == 403
    client.logout()
    assert client.get("/api/datasources").status_code == 401


# --- read-only datasources ----------------------------------------------------------------------


def test_nothing_is_written_through_a_read_only_datasource(admin_client, demo_source, orders_table):
    demo_source.read_only = True
    demo_source.save()
    url = f"/api/tables/{orders_table.pk}/rows"
    first = admin_client.get(url, {"limit": 1}).json()["rows"][0]
    patch = admin_client.patch(
        f"{url}/{first['key']}", json.dumps({"values": {"quantity": 9}}),
        content_type="application/json",
    )  # fmt: skip
    assert patch.status_code == 403
    assert patch.json()["message"] == "The datasource Demo is read-only."
    assert admin_client.delete(f"{url}/{first['key']}").status_code == 403
    post = admin_client.post(url, json.dumps({"values": {}}), content_type="application/json")
    assert post.status_code == 403
    orders_table.refresh_from_db()
    assert orders_table.read_only and orders_table.read_only_message.endswith("read-only.")
    assert (
        admin_client.get(f"{url}/{first['key']}").json()["quantity"] == first["values"]["quantity"]
    )


# --- pools ----------------------------------------------------------------------------------------


def test_changing_or_deleting_a_datasource_closes_its_pool(demo_source, monkeypatch):
    first = datasource_for(demo_source)
    closed = []
    monkeypatch.setattr(first, "close", lambda: closed.append("changed"))
    demo_source.config_json = {"statement_timeout": 3}
    demo_source.save()
    assert closed == ["changed"]
    second = datasource_for(demo_source)
    assert second is not first and second.statement_timeout == 3
    monkeypatch.setattr(second, "close", lambda: closed.append("deleted"))
    demo_source.delete()
    assert closed == ["changed", "deleted"]
    assert connections._open == {}


@override_settings(NOCOFLO_CONNECT_TIMEOUT=1.5)
def test_probe_tests_an_unsaved_configuration(demo_db, tmp_path):
    config = DatasourceConfig(name="t", datasource_type="sqlite")
    config.set_connection(f"sqlite:///{demo_db}")
    connections.probe(config)
    config.set_connection(f"sqlite:///{tmp_path}/none.db")
    with pytest.raises(DatasourceUnavailable, match="does not exist"):
        connections.probe(config)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"parallel_scans": "many"}, "'parallel_scans' must be a whole number of at least 1"),
        ({"parallel_scans": 0}, "'parallel_scans' must be a whole number of at least 1, not 0"),
        ({"exact_count_limit": 2.5}, "'exact_count_limit' must be a whole number"),
        ({"statement_timeout": "soon"}, "'statement_timeout' must be a number of at least 0"),
        ({"connect_timeout": True}, "'connect_timeout' must be a number"),
        ({"count_time_limit": 0}, "'count_time_limit' must be a number of at least 0.001, not 0"),
    ],
)
def test_a_wrong_option_is_refused_by_its_name(demo_db, options, message):
    config = DatasourceConfig(name="t", datasource_type="sqlite", config_json=options)
    config.set_connection(f"sqlite:///{demo_db}")
    with pytest.raises(InvalidOption, match=message):
        connections.probe(config)
    with pytest.raises(InvalidOption, match=message):
        connections.check_options(config)
    # The plugin did nothing wrong: it stays healthy on the plugins page.
    manager = get_manager()
    assert manager.plugins[manager.datasource_plugin_name("sqlite")].health != "failing"
    config.config_json = {
        "parallel_scans": "3",
        "statement_timeout": 2,
        "exact_count_limit": 50,
        "count_time_limit": 0.5,
    }
    connections.probe(config)
    built = connections._build(*connections._blueprint(config))
    assert (
        built.parallel_scans,
        built.statement_timeout,
        built.exact_count_limit,
        built.count_time_limit,
    ) == (3, 2.0, 50, 0.5)
    built.close()
