"""Django on a pool of worker threads for short requests, one hand-over each way.

a2wsgi's WSGIMiddleware hands every message of a response (its start, each chunk, its end) from
the worker thread to the event loop and waits until the loop has taken it: with the request's own
hand-over that is four round trips between threads, and each wakes a sleeping thread. On an idle
or virtualised machine such a wake-up costs a tenth of a millisecond or more, as much as the
database query of a page of rows. Here the request's body is read on the event loop first, the
worker runs Django and gives back the whole answer, and the loop sends it.

Streamed answers (Django's StreamingHttpResponse, FileResponse) are still sent a chunk at a time
from the worker, and a request body larger than BUFFERED_BODY_MAX, or of unknown length, takes
a2wsgi's way, which reads it as Django asks.
"""

from __future__ import annotations

import asyncio
import io
from itertools import chain
from typing import Any

from a2wsgi import WSGIMiddleware
from a2wsgi.wsgi import build_environ

# Request bodies up to this size are read whole before Django runs (the API's JSON is far less).
BUFFERED_BODY_MAX = 1 << 20


class BufferedWSGIMiddleware(WSGIMiddleware):
    """A WSGI application as an ASGI one, on `workers` threads, answering in one piece."""

    async def __call__(self, scope, receive, send) -> None:
        length = _content_length(scope) if scope["type"] == "http" else None
        if length is None or length > BUFFERED_BODY_MAX:
            await super().__call__(scope, receive, send)
            return
        body = await _read_body(receive)
        if body is None:
            return  # the client went away before its request was whole
        environ = build_environ(scope, io.BytesIO(body))  # type: ignore[arg-type]
        loop = asyncio.get_running_loop()
        messages = await loop.run_in_executor(self.executor, self._answer, environ, loop, send)
        for message in messages:
            await send(message)

    def _answer(self, environ: dict, loop: asyncio.AbstractEventLoop, send) -> list[dict]:
        """Runs in a worker: the response's messages, or [] when they were streamed already."""
        started: list[dict] = []
        chunks: list[bytes] = []

        def start_response(status: str, headers, exc_info=None):
            started[:] = [
                {
                    "type": "http.response.start",
                    "status": int(status.split(" ", 1)[0]),
                    "headers": [
                        (name.strip().encode("latin1").lower(), value.strip().encode("latin1"))
                        for name, value in headers
                    ],
                }
            ]
            return chunks.append  # WSGI's write(), which Django never calls

        response = self.app(environ, start_response)
        try:
            if not getattr(response, "streaming", False):
                chunks.extend(response)
                body = {"type": "http.response.body", "body": b"".join(chunks)}
                return [*started, body]

            def now(message: dict) -> None:
                asyncio.run_coroutine_threadsafe(send(message), loop).result()

            now(started[0])
            for chunk in chain(chunks, response):
                now({"type": "http.response.body", "body": chunk, "more_body": True})
            now({"type": "http.response.body", "body": b""})
            return []
        finally:
            getattr(response, "close", lambda: None)()


def _content_length(scope: dict[str, Any]) -> int | None:
    """The request body's declared length: 0 without a body, None when unknown (chunked)."""
    length = None
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                return None
        elif name == b"transfer-encoding":
            return None
    return 0 if length is None else length


async def _read_body(receive) -> bytes | None:
    """The request's whole body; None when the client disconnected first."""
    parts = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(parts)
