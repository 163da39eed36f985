"""The JSON API's error contract: every failure is JSON with a readable message."""

from __future__ import annotations

import pytest

from core import access
from datasources_app.errors import InvalidValue, QueryTimeout, WriteConflict
from plugins_app.manager import PluginError

pytestmark = pytest.mark.integration


@pytest.fixture
def failing_tables(monkeypatch):
    def install(exc: Exception) -> None:
        def raise_(user):
            raise exc

        monkeypatch.setattr(access, "readable_tables", raise_)

    return install


@pytest.mark.parametrize(
    ("exc", "status", "body"),
    [
        (
            WriteConflict("The row changed", current={"qty": 3}),
            409,
            {"message": "The row changed", "current": {"qty": 3}},
        ),
        (
            InvalidValue("Not a number", column="qty"),
            422,
            {"message": "Not a number", "column": "qty"},
        ),
        (InvalidValue("Not valid"), 422, {"message": "Not valid"}),
        (QueryTimeout("Too slow"), 504, {"message": "Too slow"}),
        (
            PluginError("The plugin 'geo' failed: boom"),
            502,
            {"message": "The plugin 'geo' failed: boom"},
        ),
    ],
)
def test_known_errors_become_json(admin_client, failing_tables, exc, status, body):
    failing_tables(exc)
    response = admin_client.get("/api/tables")
    assert response.status_code == status
    assert response.json() == body


def test_unexpected_errors_are_logged_not_shown(admin_client, failing_tables, caplog):
    failing_tables(RuntimeError("secret internals"))
    response = admin_client.get("/api/tables")
    assert response.status_code == 500
    assert response.json() == {"message": "Something went wrong on the server; it has been logged"}
    assert "secret internals" not in response.content.decode()
    assert "unexpected error in GET /api/tables" in caplog.text


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "json_answer"),
    [("/api/tables", True), ("/admin/auth/user/", False), ("/accounts/login/", False)],
)
def test_a_nul_character_in_a_parameter_is_a_clear_400(admin_client, path, json_answer):
    """PostgreSQL cannot hold a NUL in text: such a parameter is refused before any query."""
    response = admin_client.get(path, {"q": "a\x00b"})
    assert response.status_code == 400
    if json_answer:
        assert response.json() == {"message": "Text with a NUL character (\\u0000) cannot be used"}
    else:
        assert b"NUL character" in response.content
    form = admin_client.post(
        "/accounts/login/", "username=x%00&password=y",
        content_type="application/x-www-form-urlencoded",
    )  # fmt: skip
    assert form.status_code == 400


@pytest.mark.parametrize("path", ["/api/nothing", "/api/tables/1/nothing/here", "/api/"])
def test_an_unknown_api_path_is_a_json_404(client, admin_client, path):
    for who in (client, admin_client):
        response = who.get(path)
        assert response.status_code == 404
        assert response["Content-Type"] == "application/json"
        assert response.json()["message"].startswith("No such API endpoint")


def test_a_known_path_still_answers(admin_client):
    assert admin_client.get("/api/tables").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"values": {"qty": NaN}}', "The request body is not valid JSON: NaN is not JSON"),
        (b'{"values": {"qty": 1e999}}', "The request body is not valid JSON: 1e999 is not a"),
        (b'{"values": ', "The request body is not valid JSON: Expecting value: line 1 column 12"),
        (b'{"values": {"c": "\\u0000"}}', "Text with a NUL character (\\u0000) cannot be used"),
        (b"[" * 100_000 + b"]" * 100_000, "The request body is nested too deeply"),
        (b'{"values": "\xff"}', "The request body is not UTF-8 text"),
    ],
)
def test_an_unreadable_body_is_a_400_that_says_why(admin_client, body, message):
    response = admin_client.post("/api/tables/1/rows", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["message"].startswith(message)
