"""The event bus: live row changes, locks and presence, per table.

In-process by default. With `NOCOFLO_EVENT_BUS_URL=redis://...` every event goes through Redis
pub/sub, so the open pages of several server processes see each other's changes. Publishing never
fails a write: if Redis is down the event is still delivered in this process, and logged.

Subscribers are called on the event loop they subscribed from (pages subscribe from NiceGUI's),
whichever thread publishes (row operations run in Django's sync thread).
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

log = logging.getLogger("nocoflo.events")

PREFIX = "nocoflo:"
Callback = Callable[[dict], Any]


def table_channel(table_id: int) -> str:
    return f"table:{table_id}"


@dataclass(eq=False)
class _Subscription:
    channel: str
    callback: Callback
    loop: asyncio.AbstractEventLoop | None

    def deliver(self, event: dict) -> None:
        if self.loop is None:
            self._call(event)
        elif not self.loop.is_closed():
            # A fresh context: the publisher's (e.g. asgiref's sync thread, marked as busy) would
            # make the subscriber's own sync_to_async calls refuse to run.
            self.loop.call_soon_threadsafe(self._call, event, context=contextvars.Context())

    def _call(self, event: dict) -> None:
        try:
            result = self.callback(event)
            if asyncio.iscoroutine(result):
                asyncio.ensure_future(result)
        except Exception:  # one broken subscriber must not stop the others
            log.exception("event subscriber failed on %s", self.channel)


@dataclass
class EventBus:
    """Delivers events to the subscribers of a channel in this process."""

    _subscriptions: dict[str, set[_Subscription]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def subscribe(self, channel: str, callback: Callback) -> Callable[[], None]:
        """Call `callback(event)` for each event on `channel`; answers a function to stop."""
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        subscription = _Subscription(channel, callback, loop)
        with self._lock:
            self._subscriptions.setdefault(channel, set()).add(subscription)

        def unsubscribe() -> None:
            with self._lock:
                subscribers = self._subscriptions.get(channel, set())
                subscribers.discard(subscription)
                if not subscribers:
                    self._subscriptions.pop(channel, None)

        return unsubscribe

    def publish(self, channel: str, event: dict) -> None:
        self.deliver(channel, event)

    def deliver(self, channel: str, event: dict) -> None:
        with self._lock:
            subscribers = list(self._subscriptions.get(channel, ()))
        for subscription in subscribers:
            subscription.deliver(event)

    def subscriber_count(self, channel: str) -> int:
        with self._lock:
            return len(self._subscriptions.get(channel, ()))

    def close(self) -> None:
        with self._lock:
            self._subscriptions.clear()


class RedisEventBus(EventBus):
    """Events through Redis pub/sub: every process's subscribers get every process's events."""

    def __init__(self, url: str) -> None:
        super().__init__()
        import redis

        self.url = url
        self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._origin = uuid.uuid4().hex
        self._stop = threading.Event()
        self._listening = threading.Event()
        self._thread = threading.Thread(target=self._listen, name="nocoflo-events", daemon=True)
        self._thread.start()

    def publish(self, channel: str, event: dict) -> None:
        message = json.dumps({"origin": self._origin, "event": event}, default=str)
        # This process's pages hear it at once, whether or not Redis (or the listener, still
        # connecting) is there; the echo that comes back through Redis is skipped.
        self.deliver(channel, json.loads(message)["event"])
        try:
            self._redis.publish(PREFIX + channel, message)
        except Exception as exc:  # Redis down: the other processes miss it, this one did not
            log.warning("event bus unreachable (%s); delivered %s locally only", exc, channel)

    def wait_until_listening(self, timeout: float = 5.0) -> bool:
        return self._listening.wait(timeout)

    def _listen(self) -> None:
        delay = 0.5
        while not self._stop.is_set():
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.psubscribe(PREFIX + "*")
                self._listening.set()
                delay = 0.5
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=0.5)
                    if message and message.get("type") == "pmessage":
                        self._dispatch(message)
            except Exception as exc:
                self._listening.clear()
                if self._stop.is_set():
                    break
                log.warning("event bus connection lost (%s); reconnecting", exc)
                self._stop.wait(delay)  # close() need not wait out the back-off
                delay = min(delay * 2, 10)
            finally:
                try:
                    pubsub.close()
                except Exception:  # noqa: S110 - closing a dead connection may fail too
                    pass

    def _dispatch(self, message: dict) -> None:
        channel = message["channel"]
        if isinstance(channel, bytes):
            channel = channel.decode()
        try:
            body = json.loads(message["data"])
        except (TypeError, ValueError):
            log.warning("ignoring a malformed event on %s", channel)
            return
        if body.get("origin") == self._origin:
            return  # published here, and delivered here already
        self.deliver(channel.removeprefix(PREFIX), body.get("event") or {})

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._redis.close()
        super().close()


_bus: EventBus | None = None
_bus_lock = threading.Lock()


def get_bus() -> EventBus:
    """This process's bus, built from the settings on first use."""
    global _bus
    with _bus_lock:
        if _bus is None:
            url = settings.NOCOFLO_EVENT_BUS_URL
            _bus = RedisEventBus(url) if url else EventBus()
        return _bus


def set_bus(bus: EventBus | None) -> EventBus | None:
    """Replace the bus (tests; a server switching buses); answers the one it replaced."""
    global _bus
    with _bus_lock:
        previous, _bus = _bus, bus
    return previous


def publish(table_id: int, event: dict) -> None:
    """Tell every open view of a table what happened."""
    get_bus().publish(table_channel(table_id), {**event, "table": table_id})


def subscribe(table_id: int, callback: Callback) -> Callable[[], None]:
    return get_bus().subscribe(table_channel(table_id), callback)
