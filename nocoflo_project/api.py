"""The JSON API under /api/: one NinjaAPI composed of each app's router.

Signed-in browser sessions authenticate it (with CSRF on writes), and so do API tokens
(`Authorization: Bearer nf_...`, core.tokens), which act as their user. Every error is JSON with a
`message` a person can read.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import HttpRequest
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser
from ninja.security import django_auth

from core.api import router as invites_router
from core.tokens import TokenAuth
from core.tokens_api import router as tokens_router
from datasources_app.aggregate_api import router as aggregate_router
from datasources_app.api import router as tables_router
from datasources_app.errors import DatasourceError, InvalidValue, RowLocked, WriteConflict
from datasources_app.export_api import router as export_router
from datasources_app.history_api import router as history_router
from datasources_app.import_api import router as import_router
from datasources_app.values import strict_json
from nocoflo_project.middleware import NUL_MESSAGE
from plugins_app.api import router as plugins_router
from plugins_app.manager import PluginError
from views_app.api import router as views_router

log = logging.getLogger("nocoflo.api")


class UnreadableBody(ValueError):
    """A request body the API cannot take; its message says why, for the 400 answer."""


def _refuse_nul(data: Any) -> None:
    """UnreadableBody when any text in the parsed body holds a NUL character."""
    pending = [data]
    while pending:  # a loop, not recursion: the body may nest as deep as json reads
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise UnreadableBody(NUL_MESSAGE)
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)


class StrictJsonParser(Parser):
    """Request bodies as standard JSON, refused like any unreadable one (400) otherwise:
    Python's parser also takes NaN and Infinity (and turns 1e999 into infinity), which fit no
    column and no JSON column of the metadata database. Text with a NUL character (\\u0000) is
    refused too: PostgreSQL, as a datasource or as Nocoflo's own database (the audit log, token
    names), cannot store it, so it is refused the same whatever the databases."""

    def parse_body(self, request: HttpRequest) -> Any:
        try:
            data = strict_json(request.body)
        except UnicodeDecodeError:
            raise UnreadableBody("The request body is not UTF-8 text") from None
        except RecursionError:
            raise UnreadableBody("The request body is nested too deeply") from None
        except ValueError as exc:  # json's errors say where: "Expecting value: line 1 column 9"
            raise UnreadableBody(f"The request body is not valid JSON: {exc}") from None
        _refuse_nul(data)
        return data


api = NinjaAPI(
    parser=StrictJsonParser(),
    title="Nocoflo API",
    version="1",
    auth=[TokenAuth(), django_auth],
    urls_namespace="api",
    docs_url="/docs",
)
api.add_router("", tables_router)
api.add_router("", history_router)
api.add_router("", plugins_router)
api.add_router("", export_router)
api.add_router("", import_router)
api.add_router("", aggregate_router)
api.add_router("", invites_router)
api.add_router("", views_router)
api.add_router("", tokens_router)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: AuthenticationError):
    return api.create_response(request, {"message": "Sign in first"}, status=401)


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError):
    # ninja answers every unreadable body "Cannot parse request body"; ours says why.
    message = str(exc.__cause__) if isinstance(exc.__cause__, UnreadableBody) else str(exc)
    return api.create_response(request, {"message": message}, status=exc.status_code)


@api.exception_handler(ValidationError)
def _invalid(request: HttpRequest, exc: ValidationError):
    return api.create_response(
        request, {"message": "The request is not valid", "errors": exc.errors}, status=422
    )


@api.exception_handler(SuspiciousOperation)
def _suspicious(request: HttpRequest, exc: SuspiciousOperation):
    # Django answers these 400 on its own pages; here the catch-all below would make them 500s.
    if isinstance(exc, RequestDataTooBig):
        most = settings.DATA_UPLOAD_MAX_MEMORY_SIZE / (1024 * 1024)
        message = f"The request is larger than {most:g} MB, the most the API takes"
        return api.create_response(request, {"message": message}, status=413)
    return api.create_response(request, {"message": "The request cannot be read"}, status=400)


@api.exception_handler(DatasourceError)
def _datasource_error(request: HttpRequest, exc: DatasourceError):
    body: dict = {"message": str(exc)}
    if isinstance(exc, WriteConflict):
        body["current"] = exc.current
    if isinstance(exc, InvalidValue) and exc.column:
        body["column"] = exc.column
    if isinstance(exc, RowLocked):
        body["locked_by"] = exc.locked_by
    return api.create_response(request, body, status=exc.status)


@api.exception_handler(PluginError)
def _plugin_error(request: HttpRequest, exc: PluginError):
    return api.create_response(request, {"message": str(exc)}, status=502)


@api.exception_handler(Exception)
def _unexpected(request: HttpRequest, exc: Exception):
    log.exception("unexpected error in %s %s", request.method, request.path)
    return api.create_response(
        request, {"message": "Something went wrong on the server; it has been logged"}, status=500
    )
