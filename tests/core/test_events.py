"""core.events: the in-process bus, and the Redis bus that joins several server processes.

The Redis tests use the real server at redis://127.0.0.1:6379/7; a Redis that is down fails them.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest

from core import events

pytestmark = pytest.mark.integration

REDIS_URL = "redis://127.0.0.1:6379/7"
UNREACHABLE_URL = "redis://127.0.0.1:1/0"


def wait_for(condition, timeout: float = 1.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.005)
    return condition()


# --- in this process --------------------------------------------------------------------------


def test_a_subscriber_without_a_loop_is_called_at_once():
    bus = events.EventBus()
    got: list[dict] = []
    bus.subscribe("table:1", got.append)
    bus.publish("table:1", {"type": "row_updated"})
    bus.publish("table:2", {"type": "elsewhere"})
    assert got == [{"type": "row_updated"}]
    assert bus.subscriber_count("table:1") == 1


async def test_a_subscriber_on_a_loop_gets_events_published_from_another_thread():
    bus = events.EventBus()
    loop = asyncio.get_running_loop()
    arrived = asyncio.Event()
    got: list[tuple[dict, bool]] = []

    def on_event(event: dict) -> None:
        # Called on the subscriber's loop, not in the publishing thread.
        got.append((event, asyncio.get_running_loop() is loop))
        arrived.set()

    bus.subscribe("table:1", on_event)
    publisher = threading.Thread(target=bus.publish, args=("table:1", {"type": "lock"}))
    publisher.start()
    publisher.join()
    await asyncio.wait_for(arrived.wait(), 1)
    assert got == [({"type": "lock"}, True)]


async def test_an_async_subscriber_is_run():
    bus = events.EventBus()
    done = asyncio.Event()
    got: list[dict] = []

    async def on_event(event: dict) -> None:
        got.append(event)
        done.set()

    bus.subscribe("table:1", on_event)
    await asyncio.to_thread(bus.publish, "table:1", {"type": "x"})
    await asyncio.wait_for(done.wait(), 1)
    assert got == [{"type": "x"}]


def test_unsubscribe_stops_delivery():
    bus = events.EventBus()
    got: list[dict] = []
    stop = bus.subscribe("table:1", got.append)
    stop()
    stop()  # twice is harmless
    bus.publish("table:1", {"type": "x"})
    assert got == []
    assert bus.subscriber_count("table:1") == 0


def test_a_raising_subscriber_does_not_stop_the_others(caplog):
    bus = events.EventBus()
    got: list[dict] = []

    def broken(event: dict) -> None:
        raise RuntimeError("broken page")

    bus.subscribe("table:1", broken)
    bus.subscribe("table:1", got.append)
    with caplog.at_level(logging.ERROR, logger="nocoflo.events"):
        bus.publish("table:1", {"type": "x"})
    assert got == [{"type": "x"}]
    assert "event subscriber failed" in caplog.text


def test_publish_and_subscribe_go_through_the_process_bus(settings):
    settings.NOCOFLO_EVENT_BUS_URL = ""
    previous = events.set_bus(None)
    try:
        bus = events.get_bus()
        assert type(bus) is events.EventBus
        assert events.get_bus() is bus
        got: list[dict] = []
        events.subscribe(5, got.append)
        events.publish(5, {"type": "row_deleted", "key": "1"})
        assert got == [{"type": "row_deleted", "key": "1", "table": 5}]
    finally:
        events.set_bus(previous)


# --- through Redis ----------------------------------------------------------------------------


@pytest.fixture
def redis_bus():
    """A function that starts a RedisEventBus on the test Redis (closed after the test)."""
    buses: list[events.RedisEventBus] = []

    def start(url: str = REDIS_URL) -> events.RedisEventBus:
        bus = events.RedisEventBus(url)
        buses.append(bus)
        return bus

    yield start
    for bus in buses:
        bus.close()


def test_two_processes_buses_see_each_others_events(redis_bus):
    one, other = redis_bus(), redis_bus()
    assert one.wait_until_listening() and other.wait_until_listening()
    heard_by_one: list[dict] = []
    heard_by_other: list[dict] = []
    one.subscribe("table:1", heard_by_one.append)
    other.subscribe("table:1", heard_by_other.append)

    started = time.monotonic()
    one.publish("table:1", {"type": "row_updated", "key": "1"})
    assert wait_for(lambda: heard_by_other, timeout=1.0)
    assert time.monotonic() - started < 1.0
    other.publish("table:1", {"type": "lock", "key": "2"})
    assert wait_for(lambda: len(heard_by_one) == 2 and len(heard_by_other) == 2)
    # Each bus hears its own events once, and the other's once.
    assert (
        heard_by_one
        == heard_by_other
        == [
            {"type": "row_updated", "key": "1"},
            {"type": "lock", "key": "2"},
        ]
    )


def test_a_bus_hears_its_own_events_at_once_even_before_it_listens(redis_bus):
    bus = redis_bus()
    got: list[dict] = []
    bus.subscribe("table:1", got.append)
    bus.publish("table:1", {"type": "row_inserted"})  # the listener may not be subscribed yet
    assert got == [{"type": "row_inserted"}]
    assert bus.wait_until_listening()
    time.sleep(0.2)
    assert got == [{"type": "row_inserted"}]  # not a second time through Redis


def test_other_channels_are_not_delivered(redis_bus):
    one, other = redis_bus(), redis_bus()
    assert other.wait_until_listening()
    got: list[dict] = []
    other.subscribe("table:2", got.append)
    one.publish("table:1", {"type": "x"})
    one.publish("table:2", {"type": "y"})
    assert wait_for(lambda: got)
    time.sleep(0.1)
    assert got == [{"type": "y"}]


def test_values_that_json_does_not_know_are_sent_as_text(redis_bus):
    import datetime as dt

    one, other = redis_bus(), redis_bus()
    assert other.wait_until_listening()
    got: list[dict] = []
    other.subscribe("table:1", got.append)
    one.publish("table:1", {"at": dt.date(2024, 1, 2)})
    assert wait_for(lambda: got)
    assert got == [{"at": "2024-01-02"}]


def test_the_setting_chooses_the_redis_bus(settings):
    settings.NOCOFLO_EVENT_BUS_URL = REDIS_URL
    previous = events.set_bus(None)
    try:
        bus = events.get_bus()
        assert isinstance(bus, events.RedisEventBus)
        assert bus.url == REDIS_URL
    finally:
        events.set_bus(previous)
        bus.close()


def test_publishing_while_redis_is_down_still_delivers_here_and_warns(redis_bus, caplog):
    bus = redis_bus(UNREACHABLE_URL)
    got: list[dict] = []
    bus.subscribe("table:1", got.append)
    with caplog.at_level(logging.WARNING, logger="nocoflo.events"):
        started = time.monotonic()
        bus.publish("table:1", {"type": "row_updated", "key": "1"})  # never raises
        elapsed = time.monotonic() - started
    assert got == [{"type": "row_updated", "key": "1"}]
    assert "event bus unreachable" in caplog.text
    assert elapsed < 5  # a write is not held up for long
    assert not bus.wait_until_listening(timeout=0.2)
