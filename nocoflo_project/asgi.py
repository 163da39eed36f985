"""The one ASGI application: a path dispatcher in front of Django and NiceGUI.

Django answers /admin/, /api/, /accounts/, /static/ and /healthz; NiceGUI (on FastAPI) answers
everything else, including its websocket. Mounting Django under Starlette would turn the prefix
into SCRIPT_NAME and break Django's URLs, so requests are dispatched by path instead.

Django runs as a WSGI application on fixed pools of worker threads (a2wsgi): its views, the
ORM and the datasources are synchronous, and Django's own ASGI handler would start a thread per
request and hop between threads at every middleware, which costs more than the rows API's query
itself. Each worker keeps its database connection between requests, and a streamed response (an
export) is produced in its worker, a chunk at a time. The API's pool hands each request to its
worker and the whole answer back in one piece (buffered_wsgi).

Two pools: the API's requests, short by nature (pages of rows, edits), run on a few threads
(NOCOFLO_API_THREADS): more threads than cores only contend for Python's GIL, at every row a
database driver reads, and each request costs more CPU. Requests that may take long (exports and
imports, which stream whole tables) and the admin, sign-in and static files run on a pool of their
own (NOCOFLO_LONG_THREADS), so a few large downloads never hold up the grid's pages.

Each HTTP request's access line is written once its answer is sent (access_log).
"""

from __future__ import annotations

import gc
import os
import re

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nocoflo_project.settings")

from django.core.wsgi import get_wsgi_application  # noqa: E402

django_app = get_wsgi_application()

from a2wsgi import WSGIMiddleware  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import StaticFilesHandler  # noqa: E402
from fastapi import FastAPI  # noqa: E402
from nicegui import ui  # noqa: E402

from nocoflo_project import access_log  # noqa: E402
from nocoflo_project.buffered_wsgi import BufferedWSGIMiddleware  # noqa: E402
from nocoflo_project.disconnect import SCOPE_KEY, DisconnectWatch  # noqa: E402

DJANGO_PREFIXES = ("/admin/", "/api/", "/accounts/", "/static/", "/healthz")
# API requests that stream a whole table, in or out: they run on the pool for long requests.
LONG_API = re.compile(r"/api/tables/[^/]+/(export|import)/?")


def is_django_path(path: str) -> bool:
    """Django's paths, with or without their trailing slash (Django redirects to add it)."""
    return path.startswith(DJANGO_PREFIXES) or f"{path}/" in DJANGO_PREFIXES


def is_quick_path(path: str) -> bool:
    """Django's paths whose requests are short by nature: the API but for exports and imports,
    and the health check."""
    return (path.startswith("/api/") and not LONG_API.fullmatch(path)) or path == "/healthz"


class Dispatcher:
    """Send each request to Django (on the pool for its path) or to NiceGUI; lifespan goes to
    FastAPI."""

    def __init__(self, django_api, django_long, fastapi: FastAPI) -> None:
        self.django_api = django_api
        self.django_long = django_long
        # NiceGUI finds its server by walking `.app` attributes.
        self.app = fastapi

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            await access_log.logged(self.route, scope, receive, send)
        else:
            await self.route(scope, receive, send)

    async def route(self, scope, receive, send):
        path = scope.get("path", "")
        if scope["type"] in ("http", "websocket") and is_django_path(path):
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1000})
                return
            if is_quick_path(path):
                await self.django_api(scope, receive, send)
                return
            # A streamed answer (an export) stops when its client goes away.
            watch = DisconnectWatch(receive)
            try:
                await self.django_long({**scope, SCOPE_KEY: watch.gone}, watch.receive, send)
            finally:
                await watch.stop()
        else:
            await self.app(scope, receive, send)


def build_application() -> Dispatcher:
    from views_app.pages import register_pages

    fastapi_app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    register_pages()
    if settings.NOCOFLO_WATCH_PLUGINS:
        from nicegui import app as nicegui_app

        from plugins_app.watcher import start_watching, stop_watching

        nicegui_app.on_startup(start_watching)
        nicegui_app.on_shutdown(stop_watching)
    ui.run_with(
        fastapi_app,
        storage_secret=settings.SECRET_KEY,
        title="Nocoflo",
        favicon="🗂️",
        show_welcome_message=False,
        reconnect_timeout=10,
    )
    # Django serves its own static files (admin, API docs); a production set-up may put a web
    # server in front after `collectstatic`.
    django = StaticFilesHandler(django_app)
    return Dispatcher(
        BufferedWSGIMiddleware(django, workers=settings.NOCOFLO_API_THREADS),
        WSGIMiddleware(django, workers=settings.NOCOFLO_LONG_THREADS),
        fastapi_app,
    )


application = build_application()

# What start-up built (modules, models, URL patterns, NiceGUI's pages) lives as long as the
# process: the garbage collector's full passes leave it alone from here on. Each such pass
# would otherwise walk those 160,000 objects and more, stopping every thread for about a tenth
# of a second every few thousand requests.
gc.freeze()
