"""The ASGI dispatcher in front of Django and NiceGUI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from a2wsgi import WSGIMiddleware
from django.conf import settings
from django.contrib.staticfiles.handlers import StaticFilesHandler
from fastapi import FastAPI

from nocoflo_project.buffered_wsgi import BufferedWSGIMiddleware
from nocoflo_project.disconnect import SCOPE_KEY

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


class Recorder:
    """A fake ASGI application that remembers the scopes it was given."""

    def __init__(self) -> None:
        self.scopes: list[dict] = []

    async def __call__(self, scope, receive, send):
        self.scopes.append(scope)


@pytest.fixture
def pools(asgi_module):
    """A dispatcher with fakes for Django's two pools and NiceGUI."""
    api, long, other = Recorder(), Recorder(), Recorder()
    return asgi_module.Dispatcher(api, long, other), api, long, other


@pytest.fixture
def apps(pools):
    """A dispatcher whose two Django pools are one fake (for where requests go but Django)."""
    dispatcher, api, long, other = pools
    dispatcher.django_long = api
    return dispatcher, api, other


async def receive():  # pragma: no cover - never awaited by the fakes
    return {"type": "http.request"}


@pytest.fixture
def sent():
    messages: list[dict] = []

    async def send(message):
        messages.append(message)

    send.messages = messages
    return send


@pytest.mark.parametrize(
    "path",
    [
        "/admin/",
        "/admin/core/tablemeta/",
        "/api/tables",
        "/api/plugins",
        "/accounts/login/",
        "/static/admin/css/base.css",
        "/healthz",
    ],
)
async def test_django_paths_go_to_django(apps, sent, path):
    dispatcher, django, other = apps
    scope = {"type": "http", "path": path}
    await dispatcher(scope, receive, sent)
    (given,) = django.scopes
    assert {k: v for k, v in given.items() if k != SCOPE_KEY} == scope
    assert other.scopes == []


@pytest.mark.parametrize("path", ["/api/tables/3/export", "/admin/", "/accounts/login/"])
async def test_long_requests_are_told_when_their_client_goes_away(pools, sent, path):
    dispatcher, api, long, other = pools
    scope = {"type": "http", "path": path}
    await dispatcher(scope, receive, sent)
    # The same request, with the event that tells a streamed answer its client went away.
    (given,) = long.scopes
    assert given == {**scope, SCOPE_KEY: given[SCOPE_KEY]}
    assert not given[SCOPE_KEY].is_set()


@pytest.mark.parametrize(
    "path",
    ["/", "/tables/3", "/_nicegui/3.18.0/static/nicegui.js", "/administrator", "/apis", ""],
)
async def test_other_paths_go_to_nicegui(apps, sent, path):
    dispatcher, django, other = apps
    scope = {"type": "http", "path": path}
    await dispatcher(scope, receive, sent)
    assert other.scopes == [scope]
    assert django.scopes == []


async def test_a_scope_without_a_path_goes_to_nicegui(apps, sent):
    dispatcher, django, other = apps
    await dispatcher({"type": "http"}, receive, sent)
    assert len(other.scopes) == 1 and django.scopes == []


async def test_a_websocket_on_a_django_path_is_closed(apps, sent):
    dispatcher, django, other = apps
    await dispatcher({"type": "websocket", "path": "/api/stream"}, receive, sent)
    assert sent.messages == [{"type": "websocket.close", "code": 1000}]
    assert django.scopes == [] and other.scopes == []


async def test_nicegui_websockets_reach_nicegui(apps, sent):
    dispatcher, django, other = apps
    scope = {"type": "websocket", "path": "/_nicegui_ws/socket.io/"}
    await dispatcher(scope, receive, sent)
    assert other.scopes == [scope]
    assert sent.messages == [] and django.scopes == []


async def test_lifespan_goes_to_fastapi(apps, sent):
    dispatcher, django, other = apps
    scope = {"type": "lifespan"}
    await dispatcher(scope, receive, sent)
    assert other.scopes == [scope]
    assert django.scopes == []


@pytest.mark.parametrize(
    ("path", "pool"),
    [
        ("/api/tables/3/rows", "api"),
        ("/api/tables/3/rows/MQ", "api"),
        ("/api/tables", "api"),
        ("/api/changes/7/revert", "api"),
        ("/healthz", "api"),
        ("/api/tables/3/export", "long"),
        ("/api/tables/3/import", "long"),
        ("/api/tables/3/export/", "long"),
        ("/admin/", "long"),
        ("/accounts/login/", "long"),
        ("/static/admin/css/base.css", "long"),
    ],
)
async def test_long_requests_have_a_pool_of_their_own(pools, sent, path, pool):
    dispatcher, api, long, other = pools
    await dispatcher({"type": "http", "path": path}, receive, sent)
    assert (len(api.scopes), len(long.scopes)) == ((1, 0) if pool == "api" else (0, 1))
    assert other.scopes == []


def test_the_application_exposes_fastapi_as_app(asgi_module):
    application = asgi_module.application
    assert isinstance(application, asgi_module.Dispatcher)
    assert isinstance(application.app, FastAPI)
    # Django runs as WSGI on two pools of worker threads, its static files served in front of it.
    for pool, size in (
        (application.django_api, settings.NOCOFLO_API_THREADS),
        (application.django_long, settings.NOCOFLO_LONG_THREADS),
    ):
        assert isinstance(pool, WSGIMiddleware)
        assert isinstance(pool.app, StaticFilesHandler)
        assert pool.app.application is asgi_module.django_app
        assert pool.executor._max_workers == size
    assert application.django_api.executor is not application.django_long.executor
    # The API's answers are handed back whole; exports and the rest stream through a2wsgi.
    assert isinstance(application.django_api, BufferedWSGIMiddleware)
    assert type(application.django_long) is WSGIMiddleware
    assert set(asgi_module.DJANGO_PREFIXES) == {
        "/admin/",
        "/api/",
        "/accounts/",
        "/static/",
        "/healthz",
    }


@pytest.mark.integration
async def test_the_real_application_answers_healthz_and_static_files(asgi_module):
    transport = httpx.ASGITransport(app=asgi_module.application)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        health = await client.get("/healthz")
        css = await client.get("/static/admin/css/base.css")
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}
    assert css.status_code == 200
    assert "text/css" in css.headers["content-type"]


@pytest.mark.integration
def test_a_full_garbage_collection_leaves_what_start_up_built_alone(tmp_path):
    """A served process's full collections walk only the objects made since start-up."""
    script = (
        "import gc\n"
        "import nocoflo_project.asgi\n"
        "gc.collect()\n"
        "print(gc.get_freeze_count(), len(gc.get_objects()))\n"
    )
    env = {**os.environ, "NOCOFLO_DATA_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    frozen, tracked = done.stdout.split()[-2:]
    # Start-up leaves well over a hundred thousand objects, all of them frozen.
    assert int(frozen) > 100_000
    assert int(tracked) < int(frozen) / 20
