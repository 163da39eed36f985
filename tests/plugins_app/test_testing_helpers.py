"""plugins_app.testing, the helpers plugin authors' tests use: Django set-up, loading plugins as
Nocoflo does, sample data, and the datasource contract check (which must catch broken
datasources, not only pass good ones).

None of these tests has database access: the helpers must work without Nocoflo's metadata."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pluggy
import pytest

from core.models import ColumnMeta
from datasources_app.base import Query
from datasources_app.builtin.sqlite import SQLiteDatasource
from datasources_app.values import decode_key
from plugins_app import manager as manager_module
from plugins_app import testing
from plugins_app.testing import (
    COLUMN_KINDS,
    SAMPLE_COLUMNS,
    check_datasource,
    config_errors,
    installed_plugin,
    load_plugin,
    plugin_manager,
    sample_page,
    sample_rows,
    sample_sqlite_database,
    sample_table_meta,
)
from tests.plugins import stats_view
from tests.plugins.chart_view_plugin import ExampleChartViewPlugin
from tests.plugins.geo_datasource_plugin import GeoDatasource, GeoDatasourcePlugin
from tests.plugins.typo_hook_plugin import TypoViewPlugin
from views_app.builtin.table import TableView

pytestmark = pytest.mark.plugin

REPO = Path(__file__).resolve().parents[2]
hookimpl = pluggy.HookimplMarker("nocoflo")


class ConfigurablePlugin:
    name = "configurable_view"

    def __init__(self) -> None:
        self.received: list[dict] = []

    @hookimpl
    def get_view_class(self):
        return TableView

    @hookimpl
    def get_view_priority(self):
        return 0

    @hookimpl
    def get_config_schema(self):
        return {
            "type": "object",
            "properties": {"size": {"type": "integer", "minimum": 1}},
            "additionalProperties": False,
        }

    @hookimpl
    def configure(self, config):
        self.received.append(config)


def run_python(code: str, env_changes: dict[str, str | None]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in env_changes}
    env.update({k: v for k, v in env_changes.items() if v is not None})
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


# --- Django ---------------------------------------------------------------------------------------


@pytest.mark.integration
def test_importing_needs_no_django_and_setup_uses_a_throwaway_data_dir():
    result = run_python(
        """
        import json, os
        import plugins_app.testing as testing
        from django.conf import settings
        configured_on_import = settings.configured
        testing.setup_django()
        testing.setup_django()  # a second call does nothing
        print(json.dumps({
            "configured_on_import": configured_on_import,
            "module": os.environ["DJANGO_SETTINGS_MODULE"],
            "data_dir": os.environ["NOCOFLO_DATA_DIR"],
            "settings_dir": str(settings.DATA_DIR),
            "exists": os.path.isdir(os.environ["NOCOFLO_DATA_DIR"]),
        }))
        """,
        {"DJANGO_SETTINGS_MODULE": None, "NOCOFLO_DATA_DIR": None},
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["configured_on_import"] is False
    assert seen["module"] == "nocoflo_project.settings"
    assert "nocoflo-plugin-tests-" in seen["data_dir"]
    assert Path(seen["settings_dir"]) == Path(seen["data_dir"]).resolve()
    assert seen["exists"]
    assert not Path(seen["data_dir"]).exists()  # removed when the process ended


@pytest.mark.integration
def test_setup_keeps_a_given_data_dir(tmp_path):
    result = run_python(
        """
        import plugins_app.testing as testing
        testing.setup_django()
        from django.conf import settings
        print(settings.DATA_DIR)
        """,
        {"DJANGO_SETTINGS_MODULE": None, "NOCOFLO_DATA_DIR": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip().splitlines()[-1]) == tmp_path.resolve()
    assert tmp_path.exists()


@pytest.mark.unit
def test_setup_in_a_configured_process_changes_nothing(monkeypatch):
    monkeypatch.delenv("NOCOFLO_DATA_DIR", raising=False)
    testing.setup_django()
    assert "NOCOFLO_DATA_DIR" not in os.environ


# --- loading plugins ------------------------------------------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize(
    ("plugin", "name", "kinds"),
    [
        (ExampleChartViewPlugin, "example_chart_view", ["view"]),
        (ExampleChartViewPlugin(), "example_chart_view", ["view"]),
        (stats_view, "stats_view", ["view"]),
        (GeoDatasourcePlugin, "geo_datasource", ["datasource"]),
    ],
)
def test_load_plugin_registers_classes_instances_and_modules(plugin, name, kinds):
    info = load_plugin(plugin)
    assert (info.name, info.kinds, info.enabled, info.health) == (name, kinds, True, "ok")
    assert info.source == "registered by plugins_app.testing"


@pytest.mark.unit
def test_load_plugin_reports_the_managers_refusal():
    with pytest.raises(AssertionError, match=r"'typo_view' did not load: .*get_view_clas"):
        load_plugin(TypoViewPlugin)


@pytest.mark.unit
def test_load_plugin_refuses_a_name_taken_by_a_builtin():
    class Impostor:
        name = "table_view"

        @hookimpl
        def get_view_class(self):
            return TableView

    with pytest.raises(AssertionError, match="already loaded"):
        load_plugin(Impostor)


@pytest.mark.unit
def test_load_plugin_wants_one_plugin():
    module = types.ModuleType("two_plugins")

    class First:
        @hookimpl
        def get_view_class(self):
            return TableView

    class Second(First):
        pass

    for cls in (First, Second):
        cls.__module__ = module.__name__
        setattr(module, cls.__name__, cls)
    with pytest.raises(AssertionError, match="holds 2 plugins"):
        load_plugin(module)
    with pytest.raises(AssertionError, match="defines no Nocoflo hook"):
        load_plugin(types.ModuleType("empty"))


@pytest.mark.unit
def test_load_plugin_hands_over_a_valid_configuration():
    plugin = ConfigurablePlugin()
    info = load_plugin(plugin, config={"size": 3})
    assert plugin.received == [{"size": 3}]
    assert info.config == {"size": 3}
    with pytest.raises(AssertionError, match="refused the configuration: size"):
        load_plugin(ConfigurablePlugin(), config={"size": 0})


@pytest.mark.unit
def test_plugin_manager_holds_the_essentials_and_the_plugins():
    manager = plugin_manager(GeoDatasourcePlugin, ExampleChartViewPlugin())
    assert set(manager.plugins) == {
        "table_view",
        "sqlite_datasource",
        "geo_datasource",
        "example_chart_view",
    }
    assert manager.get_datasource("geo") is GeoDatasource
    views = manager.get_available_views(sample_table_meta())
    assert [v.plugin_name for v in views] == ["example_chart_view", "table_view"]


@pytest.mark.unit
def test_plugin_manager_reports_a_broken_builtin():
    with pytest.raises(AssertionError, match="a built-in plugin failed to load"):
        plugin_manager(builtins=("views_app.builtin.no_such_view",))


class FakeDist:
    name = "nocoflo-charts"
    version = "2.0.1"


class FakeEntryPoint:
    def __init__(self, name: str, target) -> None:
        self.name, self.value, self._target = name, f"nocoflo_{name}.plugin", target
        self.dist = FakeDist()

    def load(self):
        if isinstance(self._target, BaseException):
            raise self._target
        return self._target


@pytest.fixture
def entry_points(monkeypatch):
    def install(*points):
        monkeypatch.setattr(
            manager_module.importlib.metadata, "entry_points", lambda group=None: list(points)
        )

    return install


@pytest.mark.unit
def test_installed_plugin_is_found_through_its_entry_point_and_starts_disabled(entry_points):
    entry_points(FakeEntryPoint("example_chart_view", ExampleChartViewPlugin))
    info = installed_plugin("example_chart_view")
    assert "nocoflo-charts" in info.source
    assert (info.enabled, info.health, info.version) == (False, "ok", "2.0.1")


@pytest.mark.unit
def test_installed_plugin_reports_a_missing_or_broken_plugin(entry_points):
    entry_points(FakeEntryPoint("broken", RuntimeError("no such driver")))
    with pytest.raises(AssertionError, match=r"no installed plugin named 'heatmap_view'.*pip"):
        installed_plugin("heatmap_view")
    with pytest.raises(AssertionError, match="'broken' failed to load.*no such driver"):
        installed_plugin("broken")


@pytest.mark.unit
def test_config_errors():
    plugin = ConfigurablePlugin()
    assert config_errors(plugin, {}) == []
    assert config_errors(plugin, {"size": 2}) == []
    assert config_errors(plugin, {"size": 0, "colour": "red"}) == [
        "Additional properties are not allowed ('colour' was unexpected)",
        "size: 0 is less than the minimum of 1",
    ]
    with pytest.raises(AssertionError, match="has no get_config_schema hook"):
        config_errors(ExampleChartViewPlugin, {})

    class BadSchema(ConfigurablePlugin):
        @hookimpl
        def get_config_schema(self):
            return {"type": "nonsense"}

    with pytest.raises(AssertionError, match="is not valid JSON Schema"):
        config_errors(BadSchema, {})


# --- sample data ----------------------------------------------------------------------------------


@pytest.mark.unit
def test_sample_table_meta():
    meta = sample_table_meta()
    assert (meta["id"], meta["name"], meta["label"]) == (1, "items", "Items")
    assert meta["read_only"] is False
    assert meta["columns"] == [dict(c) for c in SAMPLE_COLUMNS]
    assert sample_table_meta({"code": "text", "n": "integer"})["columns"] == [
        {"name": "code", "type": "text", "nullable": False, "primary_key": True},
        {"name": "n", "type": "integer", "nullable": True, "primary_key": False},
    ]
    custom = sample_table_meta(
        [("a", "real"), {"name": "b", "primary_key": True}],
        name="my_table",
        table_id=9,
        read_only=True,
    )
    assert (custom["id"], custom["label"], custom["read_only"]) == (9, "My table", True)
    assert [(c["name"], c["type"], c["primary_key"]) for c in custom["columns"]] == [
        ("a", "real", False),
        ("b", "text", True),
    ]
    assert sample_table_meta(columns=[])["columns"] == []


@pytest.mark.unit
def test_sample_database_holds_the_sample_rows(tmp_path):
    path = sample_sqlite_database(tmp_path / "sub" / "sample.sqlite3", rows=12)
    assert path == tmp_path / "sub" / "sample.sqlite3"
    datasource = SQLiteDatasource(f"sqlite:///{path}")
    try:
        page = datasource.get_page({"name": "items"}, Query(limit=50))
        assert page.count == 12
        assert [values for _, values in page.rows] == sample_rows(12)
        kinds = {c["name"]: c["kind"] for c in datasource.get_schema({"name": "items"})}
        assert kinds == {c["name"]: c["type"] for c in SAMPLE_COLUMNS}
    finally:
        datasource.close()
    with pytest.raises(FileExistsError):
        sample_sqlite_database(path)
    with pytest.raises(ValueError, match="plain table name"):
        sample_sqlite_database(tmp_path / "other.sqlite3", table="items; DROP TABLE x")
    other = sample_sqlite_database(tmp_path / "other.sqlite3", rows=0, table="things")
    with sqlite3.connect(other) as conn:
        assert conn.execute("SELECT count(*) FROM things").fetchone() == (0,)


@pytest.mark.unit
def test_sample_rows():
    rows = sample_rows(5)
    assert [r["id"] for r in rows] == [1, 2, 3, 4, 5]
    assert rows[4]["quantity"] is None
    assert rows[0] == {"id": 1, "name": "item 1", "category": "green", "amount": 1.25,
                       "quantity": 1, "active": False, "created": "2024-01-02"}  # fmt: skip


@pytest.mark.unit
def test_sample_page_is_shaped_like_read_page():
    page = sample_page(sample_rows(3), count=40, next_cursor="abc")
    assert set(page) == {"columns", "rows", "count", "next"}
    assert page["columns"] == [c["name"] for c in SAMPLE_COLUMNS]
    assert (page["count"], page["next"]) == (40, "abc")
    assert [decode_key(r["key"], 1) for r in page["rows"]] == [[1], [2], [3]]
    assert page["rows"][1]["values"] == sample_rows(3)[1]
    keyless = sample_page([{"a": 1}, {"b": 2}], key_columns=())
    assert keyless["columns"] == ["a", "b"]
    assert [r["key"] for r in keyless["rows"]] == [None, None]
    assert keyless["count"] == 2


@pytest.mark.unit
def test_column_kinds_are_nocoflos():
    assert set(ColumnMeta.Kind.values) == COLUMN_KINDS


# --- the datasource contract ----------------------------------------------------------------------


@pytest.fixture
def sample_db(tmp_path):
    return sample_sqlite_database(tmp_path / "sample.sqlite3", rows=23)


def table_dump(path, table: str = "items") -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall()  # noqa: S608


@pytest.mark.integration
def test_the_builtin_sqlite_datasource_keeps_the_contract(sample_db):
    before = table_dump(sample_db)
    report = check_datasource(SQLiteDatasource, f"sqlite:///{sample_db}", "items")
    assert report == {
        "table": "items",
        "columns": [c["name"] for c in SAMPLE_COLUMNS],
        "key_columns": ["id"],
        "count": 23,
        "is_view": False,
        "writable": True,
        "rows_read": 23,
    }
    assert table_dump(sample_db) == before  # the check leaves the table as it was


@pytest.mark.integration
def test_a_given_row_is_written(sample_db):
    report = check_datasource(
        GeoDatasource, f"geo:///{sample_db}", "items", new_row={"name": "given", "amount": 3.5}
    )
    assert report["writable"]
    assert len(table_dump(sample_db)) == 23


@pytest.mark.integration
def test_tables_without_a_key_and_views(sample_db):
    with sqlite3.connect(sample_db) as conn:
        conn.execute("CREATE TABLE notes (body TEXT NOT NULL, stars INTEGER)")
        conn.executemany("INSERT INTO notes VALUES (?, ?)", [("a", 1), ("b", 2), ("c", None)])
        conn.execute("CREATE VIEW cheap AS SELECT id, name FROM items WHERE amount < 10")
    url = f"sqlite:///{sample_db}"
    notes = check_datasource(SQLiteDatasource, url, "notes")
    assert (notes["key_columns"], notes["count"], notes["writable"]) == (["rowid"], 3, True)
    assert table_dump(sample_db, "notes") == [("a", 1), ("b", 2), ("c", None)]
    cheap = check_datasource(SQLiteDatasource, url, "cheap")
    assert (cheap["is_view"], cheap["key_columns"], cheap["writable"]) == (True, [], False)
    assert cheap["count"] == 7  # amounts 1.25 .. 8.75


@pytest.mark.integration
def test_read_only_checks_and_large_tables(tmp_path):
    path = sample_sqlite_database(tmp_path / "big.sqlite3", rows=205)
    report = check_datasource(
        SQLiteDatasource, f"sqlite:///{path}", "items", writable=False, page_size=1
    )
    assert (report["writable"], report["count"], report["rows_read"]) == (False, 205, 200)


class LyingCount(SQLiteDatasource):
    def count(self, table_config, query):
        return super().count(table_config, query) + 1


class ForgetfulGetRow(SQLiteDatasource):
    def get_row(self, table_config, key):
        row = super().get_row(table_config, key)
        return row and {**row, "name": "something else"}


class RepeatingPages(SQLiteDatasource):
    def get_page(self, table_config, query):
        return super().get_page(table_config, Query(**{**vars(query), "cursor": None}))


class BlindUpdate(SQLiteDatasource):
    def update_row(self, table_config, key, values, expected=None):
        return super().update_row(table_config, key, values, None)


class WrongInsertKey(SQLiteDatasource):
    def insert_row(self, table_config, data):
        return {**super().insert_row(table_config, data), "extra": 1}


class NoDelete(SQLiteDatasource):
    def delete_by_key(self, table_config, key, expected=None):
        return False


class UnknownKind(SQLiteDatasource):
    def get_schema(self, table_config):
        return [{**c, "kind": "geometry"} for c in super().get_schema(table_config)]


@pytest.mark.integration
@pytest.mark.parametrize(
    ("datasource_cls", "complaint"),
    [
        (LyingCount, "counted"),
        (ForgetfulGetRow, r"get_row\(.*\) answered"),
        (RepeatingPages, "read the row .* twice"),
        (BlindUpdate, "did not conflict"),
        (WrongInsertKey, "not the new row's key columns"),
        (NoDelete, "did not answer True"),
        (UnknownKind, "'geometry', not one of Nocoflo's"),
    ],
)
def test_broken_datasources_are_caught(sample_db, datasource_cls, complaint):
    before = table_dump(sample_db)
    with pytest.raises(AssertionError, match=complaint):
        check_datasource(datasource_cls, f"sqlite:///{sample_db}", "items")
    if datasource_cls not in (NoDelete, WrongInsertKey):  # rows it cannot find again
        assert table_dump(sample_db) == before  # cleaned up after a failure too


@pytest.mark.unit
def test_check_datasource_wants_a_datasource_and_a_listed_table(sample_db):
    with pytest.raises(AssertionError, match="not a BaseDatasource subclass"):
        check_datasource(dict, "sqlite:///x", "items")
    with pytest.raises(AssertionError, match="does not list 'orders'"):
        check_datasource(SQLiteDatasource, f"sqlite:///{sample_db}", "orders")


PARTS = """
CREATE TABLE parts (
    code VARCHAR(6) NOT NULL,
    batch INTEGER NOT NULL,
    price NUMERIC(10, 2),
    made DATETIME,
    at TIME,
    spec JSON,
    ident UUID,
    photo BLOB,
    owner INTEGER REFERENCES items(id),
    ok BOOLEAN,
    PRIMARY KEY (code, batch)
);
INSERT INTO parts VALUES ('a1', 1, 9.5, '2024-01-01 10:00:00', '10:00:00', '{"w": 1}',
                          '6f1c7a54-7f7e-4a53-9d8f-1c2b3a4d5e6f', x'00', 1, 0);
CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE settings (id INTEGER PRIMARY KEY, value JSON);
"""


@pytest.mark.integration
def test_made_up_rows_cover_every_writable_kind(sample_db):
    with sqlite3.connect(sample_db) as conn:
        conn.executescript(PARTS)
    url = f"sqlite:///{sample_db}"
    before = table_dump(sample_db, "parts")
    report = check_datasource(SQLiteDatasource, url, "parts")
    assert (report["key_columns"], report["count"], report["writable"]) == (
        ["code", "batch"],
        1,
        True,
    )
    assert table_dump(sample_db, "parts") == before
    with pytest.raises(AssertionError, match=r"cannot make up a value for 'data' \(binary\)"):
        check_datasource(SQLiteDatasource, url, "blobs")
    check_datasource(SQLiteDatasource, url, "blobs", new_row={"id": 5}, writable=False)
    with pytest.raises(AssertionError, match="no text, number or boolean column"):
        check_datasource(SQLiteDatasource, url, "settings")
    assert table_dump(sample_db, "settings") == []


@pytest.mark.unit
def test_made_up_values_for_enums():
    columns = [
        {"name": "id", "kind": "integer", "nullable": False, "default": "", "references": ""},
        {"name": "state", "kind": "enum", "nullable": False, "default": "", "references": "",
         "choices": ["new", "done"]},
        {"name": "mood", "kind": "enum", "nullable": True, "default": "", "references": ""},
    ]  # fmt: skip
    assert testing._made_up_row(columns, ["id"]) == {"state": "new"}
