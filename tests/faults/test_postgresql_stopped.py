"""PostgreSQL stopped and started again while Nocoflo serves one of its tables.

While the server is down every read and write through the API answers 503 with a plain message
(no 500, no traceback), nothing is half-written and the audit holds no entry that claims a write
which never happened. Once it is back, the next request works: the pool reconnects by itself.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.utils import timezone

from core.models import Change
from datasources_app.discovery import discover_tables
from datasources_app.values import encode_key
from nocoflo_project.management.commands.serve import settle_pending_changes
from tests.factories import DatasourceFactory

from .servers import PrivatePostgres

# The server's settling thread reads the audit through its own connection: committed data.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def postgres():
    server = PrivatePostgres()
    try:
        server.start()
        server.execute("CREATE DATABASE shop")
        server.execute(
            "CREATE TABLE items (id SERIAL PRIMARY KEY, name VARCHAR(20) NOT NULL, "
            "qty INTEGER NOT NULL)",
            "INSERT INTO items (name, qty) VALUES ('bolt', 1), ('nut', 2), ('gear', 3)",
            database="shop",
        )
        yield server
    finally:
        server.remove()


@contextmanager
def _settling_every(seconds: float):
    """The running server's settling of pending audit entries, in its own thread."""
    stop = threading.Event()
    settler = threading.Thread(target=settle_pending_changes, args=(seconds, stop), daemon=True)
    settler.start()
    try:
        yield
    finally:
        stop.set()
        settler.join(timeout=30)


def _wait(condition, what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _down_answer(response) -> str:
    """The message of a 'database unreachable' answer, which must be a plain 503."""
    body = response.content.decode()
    assert response.status_code == 503, body
    assert response["Content-Type"].startswith("application/json"), body
    assert "Traceback" not in body and "sqlalchemy" not in body.lower(), body
    return response.json()["message"]


def test_requests_while_postgresql_is_stopped_fail_cleanly_and_the_pool_recovers(
    postgres, admin_client, caplog
):
    source = DatasourceFactory(
        name="Private PostgreSQL", datasource_type="postgresql",
        connection_string=postgres.url("shop"),
    )  # fmt: skip
    discover_tables(source)
    table = source.tables.get(name="items")
    rows_url = f"/api/tables/{table.pk}/rows"
    bolt, nut = encode_key([1]), encode_key([2])

    # A session as usual: a page is read and a cell edited (the pool now holds connections).
    page = admin_client.get(rows_url)
    assert page.status_code == 200 and len(page.json()["rows"]) == 3
    edited = admin_client.patch(
        f"{rows_url}/{bolt}", {"values": {"qty": 10}}, content_type="application/json"
    )
    assert edited.status_code == 200, edited.content

    postgres.stop()

    # Every kind of request answers that the database cannot be reached.
    messages = [
        _down_answer(admin_client.get(rows_url)),
        _down_answer(admin_client.get(f"{rows_url}/{nut}")),
        _down_answer(
            admin_client.patch(
                f"{rows_url}/{nut}", {"values": {"qty": 20}}, content_type="application/json"
            )
        ),
        _down_answer(
            admin_client.post(
                rows_url, {"values": {"name": "spring", "qty": 4}}, content_type="application/json"
            )
        ),
        _down_answer(admin_client.delete(f"{rows_url}/{nut}")),
    ]
    assert all("cannot be reached" in m for m in messages), messages
    # Nocoflo itself still answers: only this datasource is down.
    assert admin_client.get("/healthz").status_code == 200
    assert admin_client.get("/api/tables").status_code == 200

    # No write that failed is recorded as done.
    done = Change.objects.filter(table=table, state=Change.State.DONE)
    assert [(c.action, c.row_key, c.new_value) for c in done] == [("update", bolt, 10)]

    # The server's settling thread tries while the database is down: nothing can be settled.
    # (Entries are aged past the time a write still in flight could take.)
    Change.objects.filter(state=Change.State.PENDING).update(at=timezone.now() - timedelta(hours=1))
    with caplog.at_level(logging.WARNING, "nocoflo.audit"), _settling_every(0.2):
        _wait(lambda: "cannot settle change" in caplog.text, "a first attempt to settle")
        assert Change.objects.filter(table=table, state=Change.State.PENDING).exists()

        postgres.start()

        # The very next requests work: no restart of Nocoflo, no manual reconnect.
        page = admin_client.get(rows_url)
        assert page.status_code == 200, page.content
        assert {r["values"]["name"]: r["values"]["qty"] for r in page.json()["rows"]} == {
            "bolt": 10, "nut": 2, "gear": 3,
        }  # fmt: skip
        edited = admin_client.patch(
            f"{rows_url}/{nut}", {"values": {"qty": 21}}, content_type="application/json"
        )
        assert edited.status_code == 200, edited.content
        assert postgres.query("SELECT id, qty FROM items ORDER BY id", database="shop") == [
            (1, 10), (2, 21), (3, 3),
        ]  # fmt: skip

        # A write cut off by the outage left its entry pending (Nocoflo could not tell whether the
        # database applied it). Once the database is back, the server's settling reads the row and
        # marks it as not applied: the add that never reached the database is kept as failed, out
        # of the history.
        _wait(
            lambda: not Change.objects.filter(state=Change.State.PENDING).exists(),
            "the pending entry to be settled",
        )
        assert list(Change.objects.filter(table=table, action="insert").values_list("state")) == [
            (Change.State.FAILED,)
        ]
    history = admin_client.get(f"/api/tables/{table.pk}/history").json()
    assert [
        (c["action"], c["row_key"], c["new_value"], c["state"]) for c in history["changes"]
    ] == [
        ("update", nut, 21, "done"),
        ("update", bolt, 10, "done"),
    ]
