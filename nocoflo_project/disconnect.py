"""Telling a streamed response that its client has gone away.

Django runs as WSGI on worker threads (nocoflo_project.asgi), and WSGI has no word for a client
that closed the connection: an abandoned download would go on reading the whole table. The
dispatcher watches the ASGI connection of each request on the pool for long requests (exports
among them) and sets an event in the request's scope, which a WSGI response reads through
`client_gone`.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Any

SCOPE_KEY = "nocoflo.client_gone"


class DisconnectWatch:
    """Reads the connection's messages for the application and notes a disconnect.

    The application gets the messages through `receive` as before; a small queue keeps the
    server's back-pressure on large request bodies."""

    def __init__(self, receive: Callable[[], Any]) -> None:
        self.gone = threading.Event()
        self._messages: asyncio.Queue = asyncio.Queue(maxsize=4)
        self._pump = asyncio.get_running_loop().create_task(self._read(receive))

    async def _read(self, receive: Callable[[], Any]) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self.gone.set()
            await self._messages.put(message)
            if message["type"] == "http.disconnect":
                return

    async def receive(self) -> dict:
        return await self._messages.get()

    async def stop(self) -> None:
        self._pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._pump


def client_gone(request: Any) -> Callable[[], bool]:
    """A check of whether the client of this Django request has disconnected (always false
    where no dispatcher watches, as in tests with Django's client)."""
    scope = request.META.get("asgi.scope") or {}
    event = scope.get(SCOPE_KEY)
    return event.is_set if event is not None else lambda: False
