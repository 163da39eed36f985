"""The access log: one line per HTTP request, in uvicorn's format, written once its answer is sent.

uvicorn writes its access line when a response starts, before the status line goes out, so
formatting the line and writing it to the terminal or file is time every client waits for: on
the rows API, a tenth of a millisecond or more of a page that takes about one. `manage.py serve`
turns uvicorn's line off and the dispatcher writes the same line on the `nocoflo.access` logger,
through uvicorn's access formatter, after the answer's last byte was handed to the socket.
"""

from __future__ import annotations

import copy
import logging
from typing import Any
from urllib.parse import quote

from uvicorn.config import LOG_LEVELS, LOGGING_CONFIG
from uvicorn.protocols.utils import get_client_addr

LOGGER = logging.getLogger("nocoflo.access")
# A response that never started: uvicorn answers it with 500 (an error, or no answer at all).
NOT_STARTED = 500


def uvicorn_log_config(log_level: str) -> dict[str, Any]:
    """uvicorn's logging set-up, its access handler moved from `uvicorn.access` to this log."""
    config = copy.deepcopy(LOGGING_CONFIG)
    access = config["loggers"].pop("uvicorn.access")
    access["level"] = LOG_LEVELS[log_level.lower()]
    config["loggers"][LOGGER.name] = access
    return config


async def logged(app, scope, receive, send) -> None:
    """Run the ASGI `app` on an HTTP request, then write the request's access line."""
    if not LOGGER.isEnabledFor(logging.INFO):
        await app(scope, receive, send)
        return
    status = [NOT_STARTED]

    async def noting_status(message: dict) -> None:
        if message["type"] == "http.response.start":
            status[0] = message["status"]
        await send(message)

    try:
        await app(scope, receive, noting_status)
    finally:
        LOGGER.info(
            '%s - "%s %s HTTP/%s" %d',
            get_client_addr(scope),
            scope.get("method", ""),
            _target(scope),
            scope.get("http_version", "1.1"),
            status[0],
        )


def _target(scope: dict[str, Any]) -> str:
    """The request's path and query string, as uvicorn's get_path_with_query_string writes them,
    but for query bytes that are not ASCII, which that would fail on."""
    target = quote(scope.get("path", ""))
    query = scope.get("query_string", b"")
    # A query string is ASCII on the wire; a client that sent other bytes gets them escaped.
    return f"{target}?{query.decode('ascii', 'backslashreplace')}" if query else target
