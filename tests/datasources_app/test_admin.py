"""The datasource, table and column admin pages, through Django's test client as an admin."""

from __future__ import annotations

import pytest

from core.models import ColumnMeta
from datasources_app.models import DatasourceConfig, mask_password
from datasources_app.sql import SQLAlchemyDatasource
from plugins_app.hookspecs import hookimpl
from plugins_app.manager import PluginManager, get_manager, set_manager
from tests.factories import DatasourceFactory

pytestmark = pytest.mark.integration

SECRET = "s3cr3t-pw"
PG_URL = f"postgresql://bob:{SECRET}@localhost/x"
CHANGELIST = "/admin/datasources_app/datasourceconfig/"


def change_url(obj) -> str:
    return f"{CHANGELIST}{obj.pk}/change/"


def form_data(config: DatasourceConfig, **changes) -> dict:
    data = {
        "name": config.name,
        "datasource_type": config.datasource_type,
        "connection_string": config.connection_string,
        "config_json": "{}",
        "enabled": "on",
    }
    data.update(changes)
    return data


@pytest.fixture
def pg_config(db):
    return DatasourceConfig.objects.create(
        name="Warehouse", datasource_type="postgresql", connection_string=PG_URL
    )


class PostgresStubPlugin:
    """Stands in for a PostgreSQL plugin so the admin form accepts the type."""

    name = "postgres_stub"

    @hookimpl
    def get_datasource_class(self):
        return SQLAlchemyDatasource

    @hookimpl
    def get_supported_schemes(self):
        return ["postgresql"]


@pytest.fixture
def postgres_plugin():
    previous = get_manager()
    manager = PluginManager(entry_points=False, builtins=("datasources_app.builtin.sqlite",))
    manager.load_plugins()
    manager.register_plugin(PostgresStubPlugin())
    set_manager(manager)
    yield manager
    set_manager(previous)


# --- passwords --------------------------------------------------------------------------------


def test_the_password_is_stored_encrypted_apart_from_the_url(pg_config):
    stored = DatasourceConfig.objects.values().get(pk=pg_config.pk)
    assert SECRET not in repr(stored)
    assert stored["connection_string"] == "postgresql://bob@localhost/x"
    assert pg_config.connection_url() == PG_URL


def test_the_changelist_never_shows_the_password(admin_client, pg_config, demo_source):
    response = admin_client.get(CHANGELIST)
    assert response.status_code == 200
    content = response.content.decode()
    assert SECRET not in content
    assert "postgresql://bob:***@localhost/x" in content
    assert "Warehouse" in content and "Demo" in content


def test_the_change_page_never_shows_the_password(admin_client, pg_config):
    response = admin_client.get(change_url(pg_config))
    assert response.status_code == 200
    content = response.content.decode()
    assert SECRET not in content
    assert 'value="postgresql://bob@localhost/x"' in content
    assert 'name="password"' in content


def test_saving_without_a_password_keeps_the_stored_one(admin_client, pg_config, postgres_plugin):
    response = admin_client.post(change_url(pg_config), form_data(pg_config, name="Warehouse 2"))
    assert response.status_code == 302, response.content.decode()
    pg_config.refresh_from_db()
    assert pg_config.name == "Warehouse 2"
    assert pg_config.connection_url() == PG_URL
    assert SECRET not in admin_client.get(CHANGELIST).content.decode()


def test_a_new_password_replaces_the_stored_one(admin_client, pg_config, postgres_plugin):
    new_url = "postgresql://bob:other-pw@db.example/x"
    response = admin_client.post(
        change_url(pg_config), form_data(pg_config, connection_string=new_url)
    )
    assert response.status_code == 302
    pg_config.refresh_from_db()
    assert pg_config.connection_string == "postgresql://bob@db.example/x"
    assert pg_config.connection_url() == new_url


def test_the_password_field_sets_the_password(admin_client, pg_config, postgres_plugin):
    response = admin_client.post(
        change_url(pg_config), form_data(pg_config, password="typed-in-field")
    )
    assert response.status_code == 302
    pg_config.refresh_from_db()
    assert pg_config.connection_url() == "postgresql://bob:typed-in-field@localhost/x"


def test_a_datasource_from_separate_fields(admin_client, postgres_plugin, db):
    data = {
        "name": "Fields", "datasource_type": "postgresql", "connection_string": "",
        "host": "db.example", "port": "6543", "database": "shop", "username": "ann",
        "password": "p@ss/word", "config_json": "{}", "enabled": "on", "read_only": "on",
    }  # fmt: skip
    response = admin_client.post(f"{CHANGELIST}add/", data)
    assert response.status_code == 302, response.content.decode()
    config = DatasourceConfig.objects.get(name="Fields")
    assert config.connection_string == "postgresql://ann@db.example:6543/shop"
    assert config.connection_url() == "postgresql://ann:p%40ss%2Fword@db.example:6543/shop"
    assert config.read_only is True


def test_neither_url_nor_database_is_refused(admin_client, db):
    data = {"name": "Empty", "datasource_type": "sqlite", "connection_string": "",
            "config_json": "{}"}  # fmt: skip
    response = admin_client.post(f"{CHANGELIST}add/", data)
    assert response.status_code == 200
    assert "Give a URL, or at least a database." in response.content.decode()


def test_a_type_without_a_plugin_is_refused(admin_client, pg_config):
    # PostgreSQL has a built-in plugin now: a type nobody handles is needed here.
    DatasourceConfig.objects.filter(pk=pg_config.pk).update(datasource_type="oracle")
    pg_config.refresh_from_db()
    response = admin_client.post(change_url(pg_config), form_data(pg_config, name="Changed"))
    assert response.status_code == 200
    content = response.content.decode()
    assert "No enabled datasource plugin for it" in content
    assert SECRET not in content
    pg_config.refresh_from_db()
    assert (pg_config.name, pg_config.connection_url()) == ("Warehouse", PG_URL)


def test_adding_a_sqlite_datasource(admin_client, shop_file):
    data = {
        "name": "Shop",
        "datasource_type": "sqlite",
        "connection_string": f"  sqlite:///{shop_file}  ",
        "config_json": '{"statement_timeout": 2}',
        "enabled": "on",
    }
    response = admin_client.post(f"{CHANGELIST}add/", data)
    assert response.status_code == 302, response.content.decode()
    config = DatasourceConfig.objects.get(name="Shop")
    assert config.connection_string == f"sqlite:///{shop_file}"
    assert config.config_json == {"statement_timeout": 2}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            '{"parallel_scans": "many"}',
            "must be a whole number of at least 1, not &#x27;many&#x27;",
        ),
        ('{"statement_timeout": -1}', "must be a number of at least 0, not -1"),
    ],
)
def test_a_wrong_option_is_refused_on_the_form(admin_client, shop_file, options, message):
    data = {"name": "Shop", "datasource_type": "sqlite", "connection_string": f"sqlite:///{shop_file}",
            "config_json": options, "enabled": "on"}  # fmt: skip
    response = admin_client.post(f"{CHANGELIST}add/", data)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not DatasourceConfig.objects.filter(name="Shop").exists()
    # The built-in plugin did nothing wrong: the admin typed the option.
    sqlite_plugin = get_manager().plugins[get_manager().datasource_plugin_name("sqlite")]
    assert sqlite_plugin.health != "failing"


@pytest.mark.parametrize("options", ["[1, 2]", '"fast"', "3"])
def test_options_that_are_no_json_object_are_refused(admin_client, shop_file, options):
    data = {"name": "Shop", "datasource_type": "sqlite", "connection_string": f"sqlite:///{shop_file}",
            "config_json": options, "enabled": "on"}  # fmt: skip
    response = admin_client.post(f"{CHANGELIST}add/", data)
    assert response.status_code == 200
    assert "The options are a JSON object of names and values" in response.content.decode()
    assert not DatasourceConfig.objects.filter(name="Shop").exists()


def test_a_database_that_is_down_may_still_be_saved(admin_client, db, tmp_path):
    """The form checks options without connecting: the database may come later."""
    data = {"name": "Later", "datasource_type": "sqlite",
            "connection_string": f"sqlite:///{tmp_path}/not-yet.db",
            "config_json": '{"parallel_scans": 2}', "enabled": "on"}  # fmt: skip
    response = admin_client.post(f"{CHANGELIST}add/", data)
    assert response.status_code == 302, response.content.decode()
    assert DatasourceConfig.objects.get(name="Later").config_json == {"parallel_scans": 2}


def test_a_connection_string_that_is_no_url_is_refused(admin_client):
    data = {
        "name": "Bad",
        "datasource_type": "sqlite",
        "connection_string": "just some words",
        "config_json": "{}",
    }
    response = admin_client.post(f"{CHANGELIST}add/", data)
    assert response.status_code == 200
    assert "This is not a database URL" in response.content.decode()
    assert not DatasourceConfig.objects.filter(name="Bad").exists()


def test_mask_password():
    assert mask_password(PG_URL) == "postgresql://bob:***@localhost/x"
    assert mask_password("sqlite:////srv/shop.db") == "sqlite:////srv/shop.db"
    assert mask_password("no url at all") == "(unparsable connection string)"
    config = DatasourceConfig(name="n", connection_string=PG_URL)
    assert config.safe_connection_string() == "postgresql://bob:***@localhost/x"
    assert str(config) == "n"


# --- actions ----------------------------------------------------------------------------------


def run_action(client, action: str, *configs):
    return client.post(
        CHANGELIST,
        {"action": action, "_selected_action": [c.pk for c in configs]},
        follow=True,
    )


def test_test_connection_action_reports_success(admin_client, demo_source):
    response = run_action(admin_client, "test_connection", demo_source)
    assert response.status_code == 200
    assert '<li class="info">Demo: connection works</li>' in response.content.decode()


def test_sync_schema_action_reports_the_sync(admin_client, demo_source):
    demo_source.tables.filter(name="products").delete()
    response = run_action(admin_client, "sync_schema", demo_source)
    assert (
        '<li class="info">Demo: tables: 1 added, 0 removed, 0 changed; '
        "columns: 0 added, 0 removed, 0 changed</li>"
    ) in response.content.decode()
    assert demo_source.tables.count() == 3


def test_actions_on_a_missing_file_report_errors(admin_client, db, tmp_path):
    missing = DatasourceFactory(
        name="Gone", connection_string=f"sqlite:///{tmp_path / 'gone.sqlite3'}"
    )
    response = run_action(admin_client, "test_connection", missing)
    content = response.content.decode()
    assert f'<li class="error">Gone: The SQLite file {tmp_path}/gone.sqlite3 does not exist' in (
        content
    )
    response = run_action(admin_client, "sync_schema", missing)
    assert '<li class="error">Gone: Cannot open the SQLite file' in response.content.decode()
    assert missing.tables.count() == 0


def test_test_connection_refuses_a_file_that_is_no_database(admin_client, db, tmp_path):
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"no database here " * 200)
    config = DatasourceFactory(name="Junk", connection_string=f"sqlite:///{junk}")
    content = run_action(admin_client, "test_connection", config).content.decode()
    assert (
        '<li class="error">Junk: The database could not run the query: file is not a database'
        in (content)
    )
    assert "connection works" not in content


def test_actions_run_for_each_selected_datasource(admin_client, demo_source, db, tmp_path):
    missing = DatasourceFactory(name="Gone", connection_string=f"sqlite:///{tmp_path / 'x.db'}")
    content = run_action(admin_client, "test_connection", demo_source, missing).content.decode()
    assert '<li class="info">Demo: connection works</li>' in content
    assert '<li class="error">Gone: The SQLite file' in content


def test_the_changelist_counts_tables(admin_client, demo_source):
    content = admin_client.get(CHANGELIST).content.decode()
    assert '<td class="field-table_count">3</td>' in content


# --- table and column metadata ---------------------------------------------------------------


def test_table_change_page_edits_display_name_and_visibility(admin_client, orders_table):
    url = f"/admin/core/tablemeta/{orders_table.pk}/change/"
    response = admin_client.get(url)
    assert response.status_code == 200
    assert "customer_id" in response.content.decode()
    formset = response.context["inline_admin_formsets"][0].formset
    prefix = formset.prefix
    data = {
        "display_name": "Customer orders",
        f"{prefix}-TOTAL_FORMS": len(formset.forms),
        f"{prefix}-INITIAL_FORMS": len(formset.forms),
        f"{prefix}-MIN_NUM_FORMS": 0,
        f"{prefix}-MAX_NUM_FORMS": 1000,
        "grants-TOTAL_FORMS": 0,  # the grants inline (who may use the table), left empty
        "grants-INITIAL_FORMS": 0,
    }  # "visible" left out: unchecked
    for i, form in enumerate(formset.forms):
        column = form.instance
        data[f"{prefix}-{i}-id"] = column.pk
        data[f"{prefix}-{i}-table"] = orders_table.pk
        data[f"{prefix}-{i}-display_name"] = "Note" if column.name == "comment" else ""
        if column.name != "comment":
            data[f"{prefix}-{i}-visible"] = "on"
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.content.decode()
    orders_table.refresh_from_db()
    assert orders_table.display_name == "Customer orders"
    assert orders_table.visible is False
    comment = orders_table.columns.get(name="comment")
    assert (comment.display_name, comment.visible) == ("Note", False)
    assert orders_table.columns.get(name="status").visible is True


def test_column_change_page_edits_display_name_and_visibility(admin_client, orders_table):
    column = orders_table.columns.get(name="status")
    url = f"/admin/core/columnmeta/{column.pk}/change/"
    response = admin_client.get(url)
    assert response.status_code == 200
    assert "status" in response.content.decode()
    response = admin_client.post(url, {"display_name": "State"})
    assert response.status_code == 302, response.content.decode()
    column = ColumnMeta.objects.get(pk=column.pk)
    assert column.display_name == "State"
    assert column.visible is False
    assert column.kind == "text"  # read-only fields are kept


def test_table_and_column_changelists_load(admin_client, orders_table):
    assert admin_client.get("/admin/core/tablemeta/").status_code == 200
    assert admin_client.get("/admin/core/columnmeta/").status_code == 200
    assert admin_client.get("/admin/core/tablemeta/add/").status_code == 403
