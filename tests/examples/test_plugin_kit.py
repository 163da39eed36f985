"""Both examples checked with the plugin test kit plugin authors use (plugins_app.testing)."""

from __future__ import annotations

import pytest

# Importable without installing: conftest.py put the examples' folders on sys.path.
from nocoflo_csvfolder.datasource import CsvFolderDatasource
from nocoflo_csvfolder.plugin import CsvFolderDatasourcePlugin
from nocoflo_kanban import plugin as kanban_module
from nocoflo_kanban.plugin import KanbanViewPlugin

from plugins_app.testing import (
    check_datasource,
    config_errors,
    load_plugin,
    plugin_manager,
    sample_table_meta,
)

from .test_csv_folder_datasource import HEADER, generate, write_csv

pytestmark = pytest.mark.plugin


def test_the_kanban_plugin_passes_the_kit():
    info = load_plugin(kanban_module, config={"max_cards_per_lane": 3})
    assert (info.name, info.health, info.enabled, info.api_version) == (
        "kanban_view", "ok", True, "1.0",
    )  # fmt: skip
    assert info.obj.settings.max_cards_per_lane == 3
    assert config_errors(KanbanViewPlugin, {"status_columns": ["phase"]}) == []
    assert config_errors(KanbanViewPlugin, {"max_cards_per_lane": 0, "x": 1}) != []
    with pytest.raises(AssertionError, match="refused the configuration"):
        load_plugin(KanbanViewPlugin(), config={"max_cards_per_lane": 501})
    manager = plugin_manager(KanbanViewPlugin())
    names = [v.plugin_name for v in manager.get_available_views(sample_table_meta())]
    assert "kanban_view" not in names  # the sample table has no status column


def test_the_csv_folder_datasource_passes_the_kit(tmp_path):
    info = load_plugin(CsvFolderDatasourcePlugin)
    assert (info.name, info.health, info.kinds) == ("csv_folder_datasource", "ok", ["datasource"])
    write_csv(tmp_path / "people.csv", HEADER, generate(300))
    report = check_datasource(
        CsvFolderDatasource, f"csvfolder://{tmp_path}", "people", page_size=41
    )
    assert (report["count"], report["key_columns"], report["writable"]) == (300, [], False)
    assert report["columns"] == HEADER
    assert report["rows_read"] == 300
