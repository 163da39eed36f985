"""core.models: table and column metadata."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from core.models import ColumnMeta, TableMeta
from tests.factories import DatasourceFactory

pytestmark = [pytest.mark.unit, pytest.mark.django_db]


@pytest.fixture
def table(db):
    return TableMeta.objects.create(
        datasource=DatasourceFactory(name="Shop"), name="orders", key_columns=["id"]
    )


def test_labels_prefer_the_display_name(table):
    assert table.label == str(table) == "orders"
    table.display_name = "Customer orders"
    assert table.label == str(table) == "Customer orders"


def test_read_only_follows_the_reason(table):
    assert table.read_only is False
    table.read_only_reason = "no primary key"
    assert table.read_only is True


def test_table_config_is_what_a_datasource_needs(table):
    assert table.table_config() == {"name": "orders", "schema": None, "key_columns": ["id"]}
    table.schema = "sales"
    table.key_columns = ["rowid"]
    assert table.table_config() == {"name": "orders", "schema": "sales", "key_columns": ["rowid"]}


def test_columns_have_labels_and_know_what_is_editable(table):
    pk = ColumnMeta.objects.create(table=table, name="id", kind="integer", primary_key=True)
    blob = ColumnMeta.objects.create(table=table, name="photo", kind="binary", position=2)
    note = ColumnMeta.objects.create(table=table, name="note", display_name="Note", position=1)

    assert str(pk) == "orders.id"
    assert (pk.label, note.label) == ("id", "Note")
    assert (pk.editable, blob.editable, note.editable) == (False, False, True)
    assert [c.name for c in table.columns.all()] == ["id", "note", "photo"]


def test_tables_are_ordered_by_datasource_then_schema_then_name(db):
    b, a = DatasourceFactory(name="B"), DatasourceFactory(name="A")
    TableMeta.objects.create(datasource=b, name="alpha")
    TableMeta.objects.create(datasource=a, name="zeta")
    TableMeta.objects.create(datasource=a, schema="s", name="beta")
    assert [(t.datasource.name, t.schema, t.name) for t in TableMeta.objects.all()] == [
        ("A", "", "zeta"),
        ("A", "s", "beta"),
        ("B", "", "alpha"),
    ]


def test_row_permissions_exist(db):
    codenames = set(
        Permission.objects.filter(content_type__app_label="core").values_list("codename", flat=True)
    )
    assert {"read_rows", "write_rows", "delete_rows"} <= codenames
