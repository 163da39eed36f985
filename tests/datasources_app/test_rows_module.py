"""The row operations the grid pages call directly (the API goes through the same functions)."""

from __future__ import annotations

import pytest

from datasources_app import rows
from datasources_app.base import Query
from datasources_app.errors import DatasourceError, InvalidValue, ReadOnlyTable
from datasources_app.values import encode_key

from .sqlite_files import query

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("table_id", ["abc", None, 10**9, "1.5"])
def test_open_table_refuses_what_is_no_table(admin_user, orders_table, table_id):
    with pytest.raises(rows.TableNotFound, match="No such table") as info:
        rows.open_table(admin_user, table_id)
    assert info.value.status == 404


def test_open_table_accepts_an_id_as_text(admin_user, orders_table):
    opened = rows.open_table(admin_user, str(orders_table.pk))
    assert opened.table == orders_table
    assert opened.column_names[:2] == ["id", "customer_id"]
    assert opened.config == {"name": "orders", "schema": None, "key_columns": ["id"]}


def test_may_answers_per_action(reader, admin_user, orders_table):
    opened = rows.open_table(reader, orders_table.pk)
    assert opened.may("read") is True
    assert opened.may("write") is False
    assert rows.open_table(admin_user, orders_table.pk).may("delete") is True


def test_describe_columns(admin_user, shop_source):
    authors = shop_source.tables.get(name="authors")
    authors.columns.filter(name="name").update(display_name="Full name")
    described = {c["name"]: c for c in rows.open_table(admin_user, authors.pk).describe_columns()}
    assert described["name"] == {
        "name": "name",
        "label": "Full name",
        "type": "text",
        "db_type": "VARCHAR(10)",
        "nullable": False,
        "primary_key": False,
        "max_length": 10,
        "editable": True,
        "references": "",
        "choices": [],
    }
    assert described["id"]["editable"] is False
    assert described["photo"]["editable"] is False
    view = shop_source.tables.get(name="author_names")
    assert not any(c["editable"] for c in rows.open_table(admin_user, view.pk).describe_columns())


def test_read_page_with_chosen_columns(admin_user, orders_table):
    opened = rows.open_table(admin_user, orders_table.pk)
    page = rows.read_page(opened, Query(limit=2, columns=["status"]))
    assert page["columns"] == ["status"]
    assert page["rows"][0]["key"] == encode_key([1])
    assert list(page["rows"][0]["values"]) == ["status"]
    with pytest.raises(DatasourceError, match="Unknown column 'nope'"):
        rows.read_page(opened, Query(columns=["status", "nope"]))


def test_read_page_never_returns_hidden_columns(reader, orders_table):
    orders_table.columns.filter(name="status").update(visible=False)
    opened = rows.open_table(reader, orders_table.pk)
    with pytest.raises(DatasourceError, match="Unknown column 'status'"):
        rows.read_page(opened, Query(columns=["status"]))
    page = rows.read_page(opened, Query(limit=1))
    assert "status" not in page["columns"]


def test_delete_rows_counts_what_was_deleted(admin_user, orders_table):
    opened = rows.open_table(admin_user, orders_table.pk)
    keys = [encode_key([n]) for n in (1, 2, 99999)]
    assert rows.delete_rows(opened, keys) == 2
    path = orders_table.datasource.connection_string.removeprefix("sqlite:///")
    assert query(path, "SELECT count(*) FROM orders WHERE id IN (1, 2)") == [(0,)]


def test_delete_rows_checks_every_key_before_deleting(admin_user, orders_table):
    opened = rows.open_table(admin_user, orders_table.pk)
    with pytest.raises(InvalidValue, match="not a row key"):
        rows.delete_rows(opened, [encode_key([1]), "garbage!"])
    path = orders_table.datasource.connection_string.removeprefix("sqlite:///")
    assert query(path, "SELECT count(*) FROM orders WHERE id = 1") == [(1,)]


def test_a_read_only_table_refuses_writes_with_its_reason(admin_user, shop_source):
    table = shop_source.tables.get(name="allnames")
    opened = rows.open_table(admin_user, table.pk)
    assert rows.read_page(opened, Query())["rows"] == [
        {"key": None, "values": {"rowid": "x", "_rowid_": "y", "oid": "z"}}
    ]
    with pytest.raises(ReadOnlyTable, match="no primary key"):
        rows.insert_row(opened, {"oid": "1"})
    with pytest.raises(ReadOnlyTable, match="no primary key"):
        rows.get_row(opened, encode_key([1]))


def test_insert_row_answers_key_and_visible_values(writer_user, orders_table):
    orders_table.columns.filter(name="comment").update(visible=False)
    opened = rows.open_table(writer_user, orders_table.pk)
    created = rows.insert_row(
        opened,
        {
            "customer_id": 1,
            "product_id": 1,
            "quantity": 1,
            "unit_price": 1,
            "status": "paid",
            "ordered_at": "2024-01-01 00:00:00",
            "gift": False,
        },
    )
    assert created["key"] == encode_key([2001])
    assert "comment" not in created["values"]
    assert created["values"]["gift"] is False


@pytest.fixture
def writer_user(db):
    from tests.conftest import grant
    from tests.factories import UserFactory

    user = UserFactory(username="writer")
    grant(user, "read_rows", "write_rows")
    return user
