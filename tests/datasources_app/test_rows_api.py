"""The tables and rows API through Django's test client, on real SQLite files."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from core.models import ColumnMeta
from datasources_app import rows
from datasources_app.values import encode_key
from plugins_app.manager import PluginError
from tests.conftest import grant
from tests.factories import DatasourceFactory, UserFactory

from .sqlite_files import build_slow, query

pytestmark = pytest.mark.integration

TOKEN = "abcdefghijklmnopqrstuvwxyzABCDEF"  # a CSRF secret: 32 letters or digits


def rows_url(table, key: str | None = None) -> str:
    pk = table if isinstance(table, int) else table.pk
    return f"/api/tables/{pk}/rows" + (f"/{key}" if key is not None else "")


def send(client, method: str, url: str, body: dict, **headers):
    return getattr(client, method)(
        url, json.dumps(body), content_type="application/json", **headers
    )


def ids(body) -> list[int]:
    return [r["values"]["id"] for r in body["rows"]]


def demo_path(table) -> str:
    return table.datasource.connection_string.removeprefix("sqlite:///")


@pytest.fixture
def writer(db):
    user = UserFactory(username="writer")
    grant(user, "read_rows", "write_rows")
    return user


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- the table list ---------------------------------------------------------------------------


def test_signed_out_requests_get_401_json(client, orders_table):
    for response in (client.get("/api/tables"), client.get(rows_url(orders_table))):
        assert response.status_code == 401
        assert response.json() == {"message": "Sign in first"}


def test_table_list_for_an_admin(admin_client, demo_source):
    response = admin_client.get("/api/tables")
    assert response.status_code == 200
    tables = {t["name"]: t for t in response.json()}
    assert set(tables) == {"customers", "orders", "products"}
    orders = tables["orders"]
    assert orders["datasource"] == "Demo"
    assert orders["label"] == "orders"
    assert orders["read_only"] is False
    assert orders["columns"][0] == {
        "name": "id",
        "type": "integer",
        "nullable": False,
        "primary_key": True,
        "choices": [],
    }
    assert [c["name"] for c in orders["columns"]][-1] == "comment"


def test_table_list_only_shows_readable_tables(orders_table, reader, plain_user):
    ColumnMeta.objects.filter(table=orders_table, name="comment").update(visible=False)
    orders_table.datasource.tables.filter(name="products").update(visible=False)
    tables = {t["name"]: t for t in client_for(reader).get("/api/tables").json()}
    assert set(tables) == {"customers", "orders"}
    assert "comment" not in [c["name"] for c in tables["orders"]["columns"]]
    assert client_for(plain_user).get("/api/tables").json() == []


def test_tables_of_a_disabled_datasource_are_not_listed(admin_client, demo_source):
    demo_source.enabled = False
    demo_source.save()
    assert admin_client.get("/api/tables").json() == []


# --- reading rows -----------------------------------------------------------------------------


def test_first_page_has_count_and_next(admin_client, orders_table):
    body = admin_client.get(rows_url(orders_table), {"limit": 10}).json()
    assert body["count"] == 2000
    assert body["columns"][:3] == ["id", "customer_id", "product_id"]
    assert ids(body) == list(range(1, 11))
    assert body["next"]
    first = body["rows"][0]
    assert first["values"]["gift"] in (True, False)
    assert first["key"] == encode_key([1])


def test_cursor_paging_continues_and_has_no_count(admin_client, orders_table):
    first = admin_client.get(rows_url(orders_table), {"limit": 10}).json()
    second = admin_client.get(rows_url(orders_table), {"limit": 10, "cursor": first["next"]})
    assert second.status_code == 200
    assert ids(second.json()) == list(range(11, 21))
    assert second.json()["count"] is None


def test_offset_paging(admin_client, orders_table):
    body = admin_client.get(rows_url(orders_table), {"limit": 5, "offset": 10}).json()
    assert ids(body) == [11, 12, 13, 14, 15]
    assert body["count"] is None


def test_count_on_a_deep_page_when_asked(admin_client, orders_table):
    body = admin_client.get(rows_url(orders_table), {"limit": 5, "offset": 1500, "count": "true"})
    assert body.json()["count"] == 2000
    assert ids(body.json()) == [1501, 1502, 1503, 1504, 1505]


def test_counts_of_a_large_table_say_how_far_they_can_be_trusted(admin_client, orders_table):
    """Past the datasource's exact-count limit the API answers an estimate for the whole table
    and a lower bound for a filtered one, and counts exactly only when asked."""
    from datasources_app.connections import close_all

    source = orders_table.datasource
    source.config_json = {**(source.config_json or {}), "exact_count_limit": 500}
    source.save()
    close_all()  # datasources are rebuilt with their new options
    url = rows_url(orders_table)

    def counted(**params) -> tuple:
        body = admin_client.get(url, {"limit": 5, **params}).json()
        return body["count"], body["count_accuracy"]

    assert counted() == (2000, "estimate")
    assert counted(exact_count="true") == (2000, "exact")
    small_orders = json.dumps([{"column": "quantity", "op": "lte", "value": 2}])
    assert counted(filters=small_orders) == (500, "at_least")
    exact, accuracy = counted(filters=small_orders, exact_count="true")
    assert accuracy == "exact" and 500 < exact < 2000
    assert counted(q="zzz-no-such-text") == (0, "exact")
    # Deep pages have no count unless asked for one; a first page skips it when told.
    assert counted(offset=100) == (None, None)
    assert counted(count="false") == (None, None)


def test_default_limit_is_100(admin_client, orders_table):
    body = admin_client.get(rows_url(orders_table)).json()
    assert ids(body) == list(range(1, 101))


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 1001}, {"limit": -1}, {"offset": -1}],
)
def test_limits_out_of_bounds_are_400(admin_client, orders_table, params):
    response = admin_client.get(rows_url(orders_table), params)
    assert response.status_code == 400
    assert "must" in response.json()["message"]


def test_limit_1000_is_allowed(admin_client, orders_table):
    assert len(admin_client.get(rows_url(orders_table), {"limit": 1000}).json()["rows"]) == 1000


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"filters": "{not json"}, "filters must be a JSON array"),
        ({"filters": '{"column": "id"}'}, "filters must be a JSON array"),
        ({"filters": "[1]"}, "each filter needs a column"),
        ({"filters": '[{"op": "eq"}]'}, "each filter needs a column"),
        ({"filters": '[{"column": "id", "op": "like"}]'}, "op must be one of eq, ne"),
        ({"filters": '[{"column": "nope", "op": "eq", "value": 1}]'}, "unknown column 'nope'"),
        ({"filters": '[{"column": "id", "op": "gt", "value": "x"}]'}, "id needs a whole number"),
        ({"sort": "nope"}, "sort by unknown column 'nope'"),
        ({"sort": "-nope"}, "sort by unknown column 'nope'"),
        ({"sort": '["id", 3]'}, "sort must be column names"),
        ({"sort": "[not json"}, "sort must be column names"),
        ({"cursor": "garbage!"}, "not a cursor"),
    ],
)
def test_bad_queries_are_400_with_a_message(admin_client, orders_table, params, message):
    response = admin_client.get(rows_url(orders_table), params)
    assert response.status_code == 400, response.content
    assert message in response.json()["message"]


def test_unknown_tables_are_404(admin_client, orders_table):
    response = admin_client.get(rows_url(orders_table.pk + 1000))
    assert response.status_code == 404
    assert response.json() == {"message": "No such table"}
    assert admin_client.get(rows_url(orders_table.pk + 1000, encode_key([1]))).status_code == 404


def test_sort_descending_with_a_minus(admin_client, orders_table):
    body = admin_client.get(rows_url(orders_table), {"sort": "-quantity,id", "limit": 50}).json()
    expected = query(demo_path(orders_table), "SELECT id FROM orders ORDER BY quantity DESC, id")
    assert ids(body) == [r[0] for r in expected[:50]]
    nxt = admin_client.get(
        rows_url(orders_table), {"sort": "-quantity,id", "limit": 50, "cursor": body["next"]}
    ).json()
    assert ids(nxt) == [r[0] for r in expected[50:100]]


def test_sort_as_a_json_list(admin_client, orders_table):
    sort = json.dumps(["-status", "-id"])
    body = admin_client.get(rows_url(orders_table), {"sort": sort, "limit": 20}).json()
    expected = query(demo_path(orders_table), "SELECT id FROM orders ORDER BY status DESC, id DESC")
    assert ids(body) == [r[0] for r in expected[:20]]


def test_filters_and_search(admin_client, orders_table):
    filters = json.dumps(
        [
            {"column": "status", "op": "eq", "value": "delivered"},
            {"column": "quantity", "op": "in", "value": [3, 4]},
        ]
    )
    body = admin_client.get(rows_url(orders_table), {"filters": filters, "limit": 1000}).json()
    expected = query(
        demo_path(orders_table),
        "SELECT id FROM orders WHERE status = 'delivered' AND quantity IN (3, 4) ORDER BY id",
    )
    assert ids(body) == [r[0] for r in expected]
    assert body["count"] == len(expected)

    searched = admin_client.get(rows_url(orders_table), {"q": "  Gift ", "limit": 1000}).json()
    expected = query(
        demo_path(orders_table), "SELECT id FROM orders WHERE comment LIKE '%gift%' ORDER BY id"
    )
    assert ids(searched) == [r[0] for r in expected]
    assert searched["count"] == len(expected)


# --- one row, writes --------------------------------------------------------------------------


def test_get_one_row_by_its_key(admin_client, orders_table):
    key = admin_client.get(rows_url(orders_table), {"limit": 1}).json()["rows"][0]["key"]
    response = admin_client.get(rows_url(orders_table, key))
    assert response.status_code == 200
    assert response.json()["id"] == 1
    assert response.json()["status"] == "delivered"


@pytest.mark.parametrize("key", ["not-a-key", encode_key([1, 2]), "e30"])
def test_a_garbage_row_key_is_a_clear_4xx(admin_client, orders_table, key):
    response = admin_client.get(rows_url(orders_table, key))
    assert response.status_code == 422
    assert response.json()["message"] == "That is not a row key"


def test_a_missing_row_is_404(admin_client, orders_table):
    response = admin_client.get(rows_url(orders_table, encode_key([99999])))
    assert response.status_code == 404
    assert response.json() == {"message": "No such row"}


NEW_ORDER = {
    "customer_id": "12",
    "product_id": 3,
    "quantity": "2",
    "unit_price": "9.5",
    "status": "pending",
    "ordered_at": "2024-06-01T10:00:00",
    "gift": "no",
}


def test_post_creates_a_typed_row(admin_client, orders_table):
    response = send(admin_client, "post", rows_url(orders_table), {"values": NEW_ORDER})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["key"] == encode_key([2001])
    values = body["values"]
    assert values["id"] == 2001
    assert values["quantity"] == 2
    assert values["unit_price"] == 9.5
    assert values["gift"] is False
    assert values["ordered_at"] == "2024-06-01 10:00:00"
    assert values["comment"] is None
    stored = query(
        demo_path(orders_table),
        "SELECT typeof(customer_id), typeof(quantity), typeof(unit_price), gift FROM orders "
        "WHERE id = 2001",
    )
    assert stored == [("integer", "integer", "real", 0)]
    assert admin_client.get(rows_url(orders_table, body["key"])).json()["status"] == "pending"


def test_post_refuses_bad_values(admin_client, orders_table):
    response = send(
        admin_client, "post", rows_url(orders_table), {"values": {**NEW_ORDER, "quantity": "two"}}
    )
    assert response.status_code == 422
    assert response.json()["column"] == "quantity"
    assert "quantity needs a whole number" in response.json()["message"]
    response = send(admin_client, "post", rows_url(orders_table), {"values": {"status": "x"}})
    assert response.status_code == 422
    assert "cannot be empty" in response.json()["message"]
    assert query(demo_path(orders_table), "SELECT count(*) FROM orders") == [(2000,)]


def test_a_body_that_does_not_fit_the_schema_is_422(admin_client, orders_table):
    response = send(admin_client, "post", rows_url(orders_table), {"nothing": 1})
    assert response.status_code == 422
    assert response.json()["message"] == "The request is not valid"
    assert response.json()["errors"]


def test_patch_with_expected_values(admin_client, orders_table):
    key = encode_key([5])
    before = admin_client.get(rows_url(orders_table, key)).json()
    response = send(
        admin_client,
        "patch",
        rows_url(orders_table, key),
        {
            "values": {"quantity": "7", "comment": "changed"},
            "expected": {"quantity": before["quantity"], "comment": before["comment"]},
        },
    )
    assert response.status_code == 200, response.content
    assert response.json()["key"] == key
    assert response.json()["values"]["quantity"] == 7
    assert response.json()["values"]["comment"] == "changed"
    assert query(demo_path(orders_table), "SELECT quantity FROM orders WHERE id = 5") == [(7,)]


def test_a_stale_patch_is_409_with_the_current_row(admin_client, orders_table):
    key = encode_key([5])
    response = send(
        admin_client,
        "patch",
        rows_url(orders_table, key),
        {"values": {"quantity": 9}, "expected": {"quantity": 12345}},
    )
    assert response.status_code == 409
    body = response.json()
    assert "changed by someone else" in body["message"]
    assert body["current"]["id"] == 5
    assert body["current"]["quantity"] != 9
    assert query(demo_path(orders_table), "SELECT quantity FROM orders WHERE id = 5") != [(9,)]


@pytest.mark.parametrize(
    ("values", "column", "message"),
    [
        ({"quantity": "lots"}, "quantity", "quantity needs a whole number"),
        ({"ordered_at": "someday"}, "ordered_at", "needs a date and time"),
        ({"status": None}, "status", "status cannot be empty"),
        ({"id": 77}, "id", "primary key"),
        ({"nope": 1}, "nope", "no column 'nope'"),
    ],
)
def test_a_patch_with_a_wrong_value_is_422(admin_client, orders_table, values, column, message):
    before = query(demo_path(orders_table), "SELECT * FROM orders WHERE id = 5")
    response = send(
        admin_client, "patch", rows_url(orders_table, encode_key([5])), {"values": values}
    )
    assert response.status_code == 422
    assert response.json()["column"] == column
    assert message in response.json()["message"]
    assert query(demo_path(orders_table), "SELECT * FROM orders WHERE id = 5") == before


def test_delete_then_404(admin_client, orders_table):
    url = rows_url(orders_table, encode_key([7]))
    response = admin_client.delete(url)
    assert response.status_code == 200
    assert response.json() == {"deleted": 1}
    assert admin_client.get(url).status_code == 404
    again = admin_client.delete(url)
    assert again.status_code == 404
    assert again.json()["message"] == "No such row"
    patched = send(admin_client, "patch", url, {"values": {"quantity": 1}})
    assert patched.status_code == 404
    assert query(demo_path(orders_table), "SELECT count(*) FROM orders WHERE id = 7") == [(0,)]


# --- CSRF and permissions ---------------------------------------------------------------------


def test_writes_need_the_csrf_token(admin_user, orders_table):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    client.cookies["csrftoken"] = TOKEN
    url = rows_url(orders_table, encode_key([3]))
    sql = "SELECT quantity FROM orders WHERE id = 3"
    [(before,)] = query(demo_path(orders_table), sql)
    body = {"values": {"quantity": before + 1}}
    refused = send(client, "patch", url, body)
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["message"]
    assert client.delete(url).status_code == 403
    assert send(client, "post", rows_url(orders_table), {"values": NEW_ORDER}).status_code == 403
    assert query(demo_path(orders_table), sql) == [(before,)]
    assert query(demo_path(orders_table), "SELECT count(*) FROM orders") == [(2000,)]
    accepted = send(client, "patch", url, body, HTTP_X_CSRFTOKEN=TOKEN)
    assert accepted.status_code == 200, accepted.content
    assert query(demo_path(orders_table), sql) == [(before + 1,)]
    # Reading needs no token.
    assert client.get(url).status_code == 200


def test_a_reader_may_read_but_not_write(reader, orders_table):
    client = client_for(reader)
    key = encode_key([1])
    assert client.get(rows_url(orders_table), {"limit": 1}).status_code == 200
    assert client.get(rows_url(orders_table, key)).status_code == 200
    patched = send(client, "patch", rows_url(orders_table, key), {"values": {"quantity": 3}})
    assert patched.status_code == 403
    assert patched.json()["message"] == "You may not edit rows in orders"
    posted = send(client, "post", rows_url(orders_table), {"values": NEW_ORDER})
    assert posted.status_code == 403
    assert client.delete(rows_url(orders_table, key)).status_code == 403
    assert query(demo_path(orders_table), "SELECT count(*) FROM orders") == [(2000,)]


def test_a_writer_may_edit_but_not_delete(writer, orders_table):
    client = client_for(writer)
    key = encode_key([1])
    patched = send(client, "patch", rows_url(orders_table, key), {"values": {"quantity": 3}})
    assert patched.status_code == 200
    assert send(client, "post", rows_url(orders_table), {"values": NEW_ORDER}).status_code == 201
    response = client.delete(rows_url(orders_table, key))
    assert response.status_code == 403
    assert response.json()["message"] == "You may not delete rows in orders"


def test_a_user_without_permissions_sees_no_table(plain_user, orders_table):
    client = client_for(plain_user)
    for response in (
        client.get(rows_url(orders_table)),
        client.get(rows_url(orders_table, encode_key([1]))),
        client.delete(rows_url(orders_table, encode_key([1]))),
        send(client, "post", rows_url(orders_table), {"values": NEW_ORDER}),
    ):
        assert response.status_code == 404
        assert response.json() == {"message": "No such table"}


def test_a_hidden_table_is_404_even_for_an_admin(admin_client, orders_table):
    orders_table.visible = False
    orders_table.save()
    assert admin_client.get(rows_url(orders_table)).status_code == 404


def test_hidden_columns_are_hidden_from_a_reader(reader, admin_client, orders_table):
    ColumnMeta.objects.filter(table=orders_table, name="comment").update(visible=False)
    client = client_for(reader)
    body = client.get(rows_url(orders_table), {"limit": 5}).json()
    assert "comment" not in body["columns"]
    assert all("comment" not in r["values"] for r in body["rows"])
    assert "comment" not in client.get(rows_url(orders_table, encode_key([1]))).json()
    # Nor can a reader sort, filter or search by it.
    assert client.get(rows_url(orders_table), {"sort": "comment"}).status_code == 400
    flt = json.dumps([{"column": "comment", "op": "notnull"}])
    assert client.get(rows_url(orders_table), {"filters": flt}).status_code == 400
    assert client.get(rows_url(orders_table), {"q": "gift"}).json()["count"] == 0
    # An admin still sees everything.
    admin_body = admin_client.get(rows_url(orders_table), {"q": "gift"}).json()
    assert admin_body["count"] > 0
    assert "comment" in admin_body["columns"]


def test_hidden_columns_cannot_be_written_by_a_writer(writer, orders_table):
    ColumnMeta.objects.filter(table=orders_table, name="comment").update(visible=False)
    client = client_for(writer)
    url = rows_url(orders_table, encode_key([1]))
    for body in (
        {"values": {"comment": "x"}},
        {"values": {"quantity": 1}, "expected": {"comment": None}},
    ):
        response = send(client, "patch", url, body)
        assert response.status_code == 422
        assert response.json()["column"] == "comment"
    response = send(
        client, "post", rows_url(orders_table), {"values": {**NEW_ORDER, "comment": "x"}}
    )
    assert response.status_code == 422


# --- other kinds of tables ---------------------------------------------------------------------


def test_a_view_is_readable_but_read_only(admin_client, shop_source):
    view = shop_source.tables.get(name="author_names")
    body = admin_client.get(rows_url(view), {"limit": 2}).json()
    assert [r["values"]["name"] for r in body["rows"]] == ["Ann", "Bob"]
    assert body["rows"][0]["key"] is None
    nxt = admin_client.get(rows_url(view), {"limit": 2, "cursor": body["next"]}).json()
    assert [r["values"]["name"] for r in nxt["rows"]] == ["Cy"]
    response = send(admin_client, "post", rows_url(view), {"values": {"name": "X"}})
    assert response.status_code == 403
    assert "view" in response.json()["message"]
    assert admin_client.get(rows_url(view, encode_key([1]))).status_code == 403
    assert admin_client.delete(rows_url(view, encode_key([1]))).status_code == 403


def test_a_table_without_primary_key_is_edited_through_its_rowid(admin_client, shop_source):
    notes = shop_source.tables.get(name="notes")
    path = demo_path(notes)
    body = admin_client.get(rows_url(notes)).json()
    assert [r["key"] for r in body["rows"]] == [encode_key([n]) for n in (1, 2, 3)]
    key = body["rows"][1]["key"]
    response = send(admin_client, "patch", rows_url(notes, key), {"values": {"body": "B"}})
    assert response.json()["values"] == {"body": "B", "n": 2}
    created = send(admin_client, "post", rows_url(notes), {"values": {"body": "d", "n": "4"}})
    assert created.status_code == 201
    assert created.json() == {"key": encode_key([4]), "values": {"body": "d", "n": 4}}
    assert admin_client.delete(rows_url(notes, body["rows"][0]["key"])).json() == {"deleted": 1}
    assert query(path, "SELECT rowid, body, n FROM notes") == [
        (2, "B", 2),
        (3, "c", 3),
        (4, "d", 4),
    ]


def test_composite_keys_are_opaque_and_url_safe(admin_client, shop_source):
    pairs = shop_source.tables.get(name="pairs")
    body = admin_client.get(rows_url(pairs)).json()
    keys = [r["key"] for r in body["rows"]]
    assert all(k.replace("-", "").replace("_", "").isalnum() for k in keys)
    response = admin_client.get(rows_url(pairs, keys[1]))
    assert response.json() == {"a": 1, "b": "y", "v": "two"}
    assert admin_client.get(rows_url(pairs, encode_key([1]))).status_code == 422


def test_a_boolean_column_is_compared_as_shown(admin_client, shop_source):
    authors = shop_source.tables.get(name="authors")
    url = rows_url(authors, encode_key([1]))
    shown = admin_client.get(url).json()
    assert shown["active"] is True
    body = {"values": {"active": False}, "expected": {"active": shown["active"]}}
    response = send(admin_client, "patch", url, body)
    assert response.status_code == 200
    assert response.json()["values"]["active"] is False
    assert send(admin_client, "patch", url, body).status_code == 409


# --- errors from the database and the server --------------------------------------------------


def test_a_slow_query_is_504(admin_client, db, tmp_path):
    from datasources_app.discovery import discover_tables

    path = build_slow(tmp_path / "slow.sqlite3")
    config = DatasourceFactory(
        connection_string=f"sqlite:///{path}", config_json={"statement_timeout": 0.05}
    )
    discover_tables(config)
    slow = config.tables.get(name="slow")
    # The first page and a capped count finish at once on the billion-row view...
    page = admin_client.get(rows_url(slow), {"q": "row", "limit": 5})
    assert page.status_code == 200
    assert (page.json()["count"], page.json()["count_accuracy"]) == (10_000, "at_least")
    # ...but counting all of it cannot, and says so.
    response = admin_client.get(rows_url(slow), {"q": "row", "limit": 5, "exact_count": "true"})
    assert response.status_code == 504
    assert response.json()["message"] == "The query ran longer than 0.05 seconds and was stopped"


def test_an_unreachable_database_is_503(admin_client, orders_table):
    from datasources_app.connections import close_all

    close_all()
    path = demo_path(orders_table)
    import os

    os.unlink(path)
    response = admin_client.get(rows_url(orders_table))
    assert response.status_code == 503
    assert "Cannot open the SQLite file" in response.json()["message"]


def test_a_plugin_error_is_502(admin_client, orders_table, monkeypatch):
    def broken(user, table_id):
        raise PluginError("The plugin 'x' failed: boom")

    monkeypatch.setattr(rows, "open_table", broken)
    response = admin_client.get(rows_url(orders_table))
    assert response.status_code == 502
    assert response.json() == {"message": "The plugin 'x' failed: boom"}


def test_an_unexpected_error_is_500_without_details(admin_client, orders_table, monkeypatch):
    def broken(user, table_id):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(rows, "open_table", broken)
    response = admin_client.get(rows_url(orders_table))
    assert response.status_code == 500
    assert response.json() == {"message": "Something went wrong on the server; it has been logged"}
