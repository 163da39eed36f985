"""A download whose client went away stops reading: WSGI cannot tell, the dispatcher can."""

from __future__ import annotations

import asyncio

import pytest
from a2wsgi import WSGIMiddleware
from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.db import connections
from django.test import Client

from datasources_app import export
from nocoflo_project.disconnect import SCOPE_KEY, DisconnectWatch, client_gone

pytestmark = pytest.mark.integration


async def test_the_watch_passes_messages_on_and_notes_a_disconnect():
    incoming: asyncio.Queue = asyncio.Queue()
    watch = DisconnectWatch(incoming.get)
    await incoming.put({"type": "http.request", "body": b"a", "more_body": True})
    await incoming.put({"type": "http.request", "body": b"b", "more_body": False})
    assert (await watch.receive())["body"] == b"a"
    assert (await watch.receive())["body"] == b"b"
    assert not watch.gone.is_set()
    await incoming.put({"type": "http.disconnect"})
    assert (await watch.receive())["type"] == "http.disconnect"
    assert watch.gone.is_set()
    await watch.stop()


def test_without_a_dispatcher_the_client_never_counts_as_gone(rf):
    assert client_gone(rf.get("/api/tables/1/export"))() is False


@pytest.mark.django_db(transaction=True)
def test_an_abandoned_export_reads_no_further_page(
    asgi_module, orders_table, admin_user, monkeypatch
):
    """Through the real dispatcher and Django's worker threads: the client disconnects after
    the first chunk; the export stops after the page it was sending, not 20 pages later."""
    monkeypatch.setattr(export, "PAGE_ROWS", 100)  # the demo's 2,000 orders: 20 pages
    read = []
    real_read_page = export.read_page
    monkeypatch.setattr(export, "read_page", lambda *args: read.append(1) or real_read_page(*args))
    browser = Client()
    browser.force_login(admin_user)
    cookie = f"sessionid={browser.cookies['sessionid'].value}".encode()

    async def download() -> tuple[int, list[dict]]:
        first_chunk = asyncio.Event()
        sent: list[dict] = []
        requested = False

        async def receive():
            nonlocal requested
            if not requested:
                requested = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await first_chunk.wait()
            return {"type": "http.disconnect"}

        async def send(message):
            sent.append(message)
            if message.get("body"):
                first_chunk.set()

        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": "GET", "scheme": "http", "path": f"/api/tables/{orders_table.pk}/export",
            "raw_path": b"", "query_string": b"format=csv", "root_path": "",
            "headers": [(b"host", b"testserver"), (b"cookie", cookie)],
            "client": ("127.0.0.1", 5000), "server": ("testserver", 80),
        }  # fmt: skip
        await application(scope, receive, send)
        return sent[0]["status"], sent

    # The application's dispatcher and Django on a worker of their own, whose database
    # connection is closed after the test (the shared application's workers outlive tests).
    django = WSGIMiddleware(StaticFilesHandler(asgi_module.django_app), workers=1)
    application = asgi_module.Dispatcher(django, django, asgi_module.application.app)
    try:
        status, sent = asyncio.run(download())
    finally:
        django.executor.submit(connections.close_all).result()
        django.executor.shutdown()
    assert status == 200
    assert 1 <= len(read) <= 3, f"{len(read)} pages read after the client left"
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert body.startswith(b"id,")


def test_the_dispatcher_puts_the_watch_in_django_scopes(asgi_module):
    seen = {}

    async def django(scope, receive, send):
        seen.update(scope)

    async def other(scope, receive, send):  # pragma: no cover - not reached
        raise AssertionError

    async def receive():
        await asyncio.sleep(3600)

    async def call():
        dispatcher = asgi_module.Dispatcher(django, django, other)
        await dispatcher({"type": "http", "path": "/api/tables/1/export"}, receive, None)

    asyncio.run(call())
    assert not seen[SCOPE_KEY].is_set()
