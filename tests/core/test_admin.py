"""The table and column admin: discovered metadata, edited but never typed in."""

from __future__ import annotations

import pytest

from core.models import ColumnMeta

pytestmark = pytest.mark.integration


def test_table_changelist_lists_discovered_tables(admin_client, demo_source):
    response = admin_client.get("/admin/core/tablemeta/")
    assert response.status_code == 200
    page = response.content.decode()
    for name in ("orders", "customers", "products"):
        assert f">{name}</a>" in page
    assert 'class="field-editable"><img src="/static/admin/img/icon-yes.svg" alt="True">' in page
    assert "/admin/core/tablemeta/add/" not in page


def test_table_change_page_shows_columns_inline(admin_client, orders_table):
    response = admin_client.get(f"/admin/core/tablemeta/{orders_table.pk}/change/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "customer_id" in page and "unit_price" in page
    assert response.context["inline_admin_formsets"][0].formset.max_num == 0  # no adding columns


def test_adding_tables_or_columns_by_hand_is_forbidden(admin_client, demo_source):
    assert admin_client.get("/admin/core/tablemeta/add/").status_code == 403
    assert admin_client.get("/admin/core/columnmeta/add/").status_code == 403


def test_display_name_and_visibility_can_be_edited(admin_client, orders_table):
    columns = list(orders_table.columns.order_by("position"))
    data = {
        "display_name": "Orders 2024",
        "columns-TOTAL_FORMS": str(len(columns)),
        "columns-INITIAL_FORMS": str(len(columns)),
        "columns-MIN_NUM_FORMS": "0",
        "columns-MAX_NUM_FORMS": "0",
        # The grants inline (who may use the table), left empty.
        "grants-TOTAL_FORMS": "0",
        "grants-INITIAL_FORMS": "0",
    }
    for i, column in enumerate(columns):
        data[f"columns-{i}-id"] = str(column.pk)
        data[f"columns-{i}-table"] = str(orders_table.pk)
        data[f"columns-{i}-display_name"] = column.display_name
        data[f"columns-{i}-visible"] = "" if column.name == "comment" else "on"
    response = admin_client.post(f"/admin/core/tablemeta/{orders_table.pk}/change/", data)

    assert response.status_code == 302, response.content.decode()[:2000]
    orders_table.refresh_from_db()
    assert orders_table.display_name == "Orders 2024"
    assert orders_table.visible is False  # the checkbox was left unchecked
    assert orders_table.name == "orders"  # read-only fields are not taken from the form
    assert ColumnMeta.objects.get(table=orders_table, name="comment").visible is False


def test_column_admin_lists_and_shows_columns(admin_client, orders_table):
    listing = admin_client.get("/admin/core/columnmeta/", {"q": "unit_price"})
    assert listing.status_code == 200
    assert ">unit_price</a>" in listing.content.decode()
    column = orders_table.columns.get(name="unit_price")
    page = admin_client.get(f"/admin/core/columnmeta/{column.pk}/change/")
    assert page.status_code == 200


def test_non_staff_cannot_open_the_table_admin(client, reader, demo_source):
    client.force_login(reader)
    response = client.get("/admin/core/tablemeta/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_grants_are_given_in_the_table_admin(admin_client, orders_table, reader):
    from django.contrib.auth.models import Group

    from core.models import TableGrant

    page = admin_client.get(f"/admin/core/tablemeta/{orders_table.pk}/change/")
    assert "who may use this table" in page.content.decode().lower()
    sales = Group.objects.create(name="sales")
    url = f"/admin/core/tablemeta/{orders_table.pk}/change/"
    data = {
        "display_name": "",
        "visible": "on",
        "columns-TOTAL_FORMS": "0",
        "columns-INITIAL_FORMS": "0",
        "grants-TOTAL_FORMS": "1",
        "grants-INITIAL_FORMS": "0",
        "grants-0-group": str(sales.pk),
        "grants-0-can_read": "on",
        "grants-0-can_write": "on",
    }
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    grant = TableGrant.objects.get(table=orders_table)
    assert (grant.group, grant.can_write, grant.is_owner) == (sales, True, False)
    listing = admin_client.get("/admin/core/tablegrant/", {"q": "sales"})
    assert listing.status_code == 200
    assert "orders" in listing.content.decode()
