"""Schema discovery and the cache of live datasource objects, against real SQLite files."""

from __future__ import annotations

import sqlite3

import pytest

from core.models import ColumnMeta, TableMeta
from datasources_app.builtin.sqlite import SQLiteDatasource
from datasources_app.connections import (
    DatasourceTypeUnavailable,
    close_all,
    datasource_for,
)
from datasources_app.discovery import SyncReport, discover_tables
from datasources_app.errors import DatasourceError, DatasourceUnavailable, InvalidOption
from plugins_app.manager import get_manager
from tests.factories import DatasourceFactory

pytestmark = pytest.mark.integration


def execute(path, script: str) -> None:
    conn = sqlite3.connect(path)
    try:
        conn.executescript(script)
    finally:
        conn.close()


def test_first_discovery_adds_every_table_and_view(db, shop_file):
    config = DatasourceFactory(connection_string=f"sqlite:///{shop_file}")
    report = discover_tables(config)
    assert sorted(report.tables_added) == [
        "allnames",
        "author_names",
        "authors",
        "books",
        "counters",
        "notes",
        "pairs",
        "shadow",
    ]
    assert report.tables_removed == [] and report.tables_changed == []
    assert str(report) == (
        "tables: 8 added, 0 removed, 0 changed; columns: 0 added, 0 removed, 0 changed"
    )
    assert config.tables.count() == 8


def test_discovered_metadata(shop_source):
    tables = {t.name: t for t in shop_source.tables.all()}
    authors = tables["authors"]
    assert authors.key_columns == ["id"]
    assert authors.read_only_reason == ""
    assert authors.is_view is False
    assert tables["pairs"].key_columns == ["a", "b"]
    assert tables["notes"].key_columns == ["rowid"]
    assert tables["notes"].read_only is False
    assert tables["shadow"].key_columns == ["_rowid_"]
    view = tables["author_names"]
    assert view.is_view is True
    assert view.key_columns == []
    assert "view" in view.read_only_reason
    assert view.read_only is True
    assert "no primary key" in tables["allnames"].read_only_reason

    columns = {c.name: c for c in authors.columns.all()}
    assert [c.name for c in authors.columns.all()][:3] == ["id", "name", "born"]
    assert [c.position for c in authors.columns.all()] == list(range(12))
    assert columns["name"].kind == "text"
    assert columns["name"].max_length == 10
    assert columns["name"].db_type == "VARCHAR(10)"
    assert columns["name"].nullable is False
    assert columns["id"].primary_key is True
    assert columns["active"].kind == "boolean"
    assert columns["active"].default == "1"
    assert columns["photo"].editable is False
    book_columns = {c.name: c for c in tables["books"].columns.all()}
    assert book_columns["author_id"].references == "authors.id"


def test_a_resync_without_changes_reports_nothing(shop_source):
    report = discover_tables(shop_source)
    assert report.as_dict() == {
        "tables_added": [], "tables_removed": [], "tables_changed": [],
        "columns_added": [], "columns_removed": [], "columns_changed": [],
    }  # fmt: skip


def test_added_removed_and_changed_tables_are_reported(shop_source, shop_file):
    execute(
        shop_file,
        """
        CREATE TABLE reviews (id INTEGER PRIMARY KEY, stars INTEGER NOT NULL);
        DROP TABLE counters;
        ALTER TABLE books ADD COLUMN isbn VARCHAR(13);
        """,
    )
    report = discover_tables(shop_source)
    assert report.tables_added == ["reviews"]
    assert report.tables_removed == ["counters"]
    assert report.tables_changed == ["books"]
    assert str(report) == (
        "tables: 1 added, 1 removed, 1 changed; columns: 1 added, 0 removed, 0 changed"
    )
    assert report.columns_added == ["books.isbn"]
    assert not shop_source.tables.filter(name="counters").exists()
    assert not ColumnMeta.objects.filter(table__name="counters").exists()
    books = shop_source.tables.get(name="books")
    assert [c.name for c in books.columns.all()] == ["id", "author_id", "title", "pages", "isbn"]
    assert books.columns.get(name="isbn").max_length == 13
    assert shop_source.tables.get(name="reviews").columns.get(name="stars").nullable is False


def test_a_changed_column_type_or_key_is_reported(shop_source, shop_file):
    execute(
        shop_file,
        """
        DROP TABLE notes;
        CREATE TABLE notes (body TEXT PRIMARY KEY, n REAL);
        """,
    )
    report = discover_tables(shop_source)
    assert report.tables_changed == ["notes"]
    assert report.columns_changed == ["notes.body", "notes.n"]
    notes = shop_source.tables.get(name="notes")
    assert notes.key_columns == ["body"]
    assert notes.columns.get(name="n").kind == "real"
    assert notes.columns.get(name="body").primary_key is True


def test_dropped_columns_disappear(shop_source, shop_file):
    execute(shop_file, "ALTER TABLE books DROP COLUMN pages")
    assert discover_tables(shop_source).tables_changed == ["books"]
    names = list(shop_source.tables.get(name="books").columns.values_list("name", flat=True))
    assert names == ["id", "author_id", "title"]


def test_display_names_and_visibility_survive_a_resync(shop_source, shop_file):
    books = shop_source.tables.get(name="books")
    books.display_name = "Our books"
    books.visible = False
    books.save()
    title = books.columns.get(name="title")
    title.display_name = "Book title"
    title.visible = False
    title.save()
    execute(shop_file, "ALTER TABLE books ADD COLUMN isbn TEXT")

    assert discover_tables(shop_source).tables_changed == ["books"]
    books.refresh_from_db()
    assert books.display_name == "Our books"
    assert books.visible is False
    title = books.columns.get(name="title")
    assert (title.display_name, title.visible, title.pk) == ("Book title", False, title.pk)
    assert title.label == "Book title"
    assert books.label == "Our books"


def test_table_metadata_is_kept_with_its_identity(shop_source):
    before = dict(shop_source.tables.values_list("name", "pk"))
    discover_tables(shop_source)
    assert dict(shop_source.tables.values_list("name", "pk")) == before


def test_discovery_of_an_unreachable_datasource_fails_without_changes(shop_source, shop_file):
    shop_file.unlink()
    close_all()
    with pytest.raises(DatasourceUnavailable):
        discover_tables(shop_source)
    assert shop_source.tables.count() == 8


def test_sync_report_defaults():
    assert str(SyncReport()) == (
        "tables: 0 added, 0 removed, 0 changed; columns: 0 added, 0 removed, 0 changed"
    )


def test_table_config_of_discovered_tables(shop_source):
    books = TableMeta.objects.get(datasource=shop_source, name="books")
    assert books.table_config() == {"name": "books", "schema": None, "key_columns": ["id"]}


# --- connections ------------------------------------------------------------------------------


def test_datasource_for_builds_and_reuses_one_object(db, shop_file, settings):
    settings.NOCOFLO_STATEMENT_TIMEOUT = 3.5
    config = DatasourceFactory(connection_string=f"sqlite:///{shop_file}")
    first = datasource_for(config)
    assert isinstance(first, SQLiteDatasource)
    assert first.statement_timeout == 3.5
    assert first.connect_timeout == settings.NOCOFLO_CONNECT_TIMEOUT
    assert datasource_for(config) is first


def test_datasource_options_come_from_the_configuration(db, shop_file):
    config = DatasourceFactory(
        connection_string=f"sqlite:///{shop_file}", config_json={"statement_timeout": 0.25}
    )
    assert datasource_for(config).statement_timeout == 0.25


def test_a_changed_configuration_gets_a_new_object(db, shop_file, tmp_path):
    config = DatasourceFactory(connection_string=f"sqlite:///{shop_file}")
    first = datasource_for(config)
    first.test_connection()
    assert first._engine is not None
    config.config_json = {"statement_timeout": 1}
    second = datasource_for(config)
    assert second is not first
    assert first._engine is None  # the old one was closed
    assert second.statement_timeout == 1


def test_close_all_closes_every_open_datasource(db, shop_file):
    config = DatasourceFactory(connection_string=f"sqlite:///{shop_file}")
    first = datasource_for(config)
    first.test_connection()
    close_all()
    assert first._engine is None
    assert datasource_for(config) is not first


def test_a_disabled_datasource_is_unavailable(db, shop_file):
    config = DatasourceFactory(
        name="Off", connection_string=f"sqlite:///{shop_file}", enabled=False
    )
    with pytest.raises(DatasourceUnavailable, match="'Off' is disabled"):
        datasource_for(config)


def test_a_type_without_a_plugin_is_unavailable(db):
    config = DatasourceFactory(datasource_type="oracle", connection_string="oracle://x/y")
    with pytest.raises(DatasourceTypeUnavailable, match="No enabled datasource plugin"):
        datasource_for(config)


def test_a_plugin_that_cannot_build_its_datasource_is_an_error(db, shop_file, monkeypatch):
    from datasources_app.builtin.sqlite import SQLiteDatasource

    def broken(self, *args, **kwargs):
        raise RuntimeError("a bug in the plugin")

    config = DatasourceFactory(connection_string=f"sqlite:///{shop_file}")
    info = get_manager().plugins["sqlite_datasource"]
    saved = (info.health, info.error, info.error_at)
    try:
        # An option it cannot take is the configuration's fault, not the plugin's.
        config.config_json = {"statement_timeout": "soon"}
        with pytest.raises(InvalidOption, match="'statement_timeout' must be a number"):
            datasource_for(config)
        assert info.health != "failing"
        config.config_json = {}
        monkeypatch.setattr(SQLiteDatasource, "__init__", broken)
        with pytest.raises(DatasourceError, match="'sqlite_datasource' failed: a bug in the"):
            datasource_for(config)
        assert info.health == "failing"
    finally:
        info.health, info.error, info.error_at = saved
