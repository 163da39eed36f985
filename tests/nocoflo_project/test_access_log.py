"""The access log: uvicorn's line for each HTTP request, written after its answer was sent."""

from __future__ import annotations

import io
import logging

import pytest
from uvicorn.config import Config

from nocoflo_project import access_log
from nocoflo_project.access_log import LOGGER, uvicorn_log_config

pytestmark = pytest.mark.unit

SCOPE = {
    "type": "http",
    "method": "GET",
    "path": "/api/tables/3/rows",
    "query_string": b"limit=100&sort=%5B%22-id%22%5D",
    "http_version": "1.1",
    "client": ("127.0.0.1", 51234),
}
TARGET = "/api/tables/3/rows?limit=100&sort=%5B%22-id%22%5D"


class Events(logging.Handler):
    """Collects, in one list, what the client is sent and the access lines, in their order."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.events: list = []

    def emit(self, record: logging.LogRecord) -> None:
        self.events.append(("log", record.getMessage()))

    async def send(self, message: dict) -> None:
        self.events.append(("sent", message["type"]))


@pytest.fixture
def events():
    handler = Events()
    LOGGER.addHandler(handler)
    level = LOGGER.level
    LOGGER.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        LOGGER.removeHandler(handler)
        LOGGER.setLevel(level)


async def receive():  # pragma: no cover - never awaited by the fakes
    return {"type": "http.request"}


async def answer_201(scope, receive, send):
    await send({"type": "http.response.start", "status": 201, "headers": []})
    await send({"type": "http.response.body", "body": b"made"})


async def test_the_line_is_written_after_the_answer_was_sent(events):
    await access_log.logged(answer_201, SCOPE, receive, events.send)

    assert events.events == [
        ("sent", "http.response.start"),
        ("sent", "http.response.body"),
        ("log", f'127.0.0.1:51234 - "GET {TARGET} HTTP/1.1" 201'),
    ]


async def test_a_request_that_fails_before_answering_is_logged_as_500(events):
    async def broken(scope, receive, send):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await access_log.logged(broken, SCOPE, receive, events.send)

    # uvicorn answers such a request with 500.
    assert events.events == [("log", f'127.0.0.1:51234 - "GET {TARGET} HTTP/1.1" 500')]


async def test_paths_are_quoted_and_odd_query_bytes_escaped(events):
    scope = {**SCOPE, "path": "/tables/a b", "query_string": b"q=\xff", "client": None}
    await access_log.logged(answer_201, scope, receive, events.send)
    assert events.events[-1] == ("log", ' - "GET /tables/a%20b?q=\\xff HTTP/1.1" 201')


async def test_nothing_is_written_or_wrapped_below_info(events):
    LOGGER.setLevel(logging.WARNING)
    given = []

    async def app(scope, receive, send):
        given.append(send)

    await access_log.logged(app, SCOPE, receive, events.send)
    assert given == [events.send] and events.events == []


async def test_the_dispatcher_logs_http_requests_only(asgi_module, events):
    answered = []

    async def fake(scope, receive, send):
        answered.append(scope["type"])
        if scope["type"] == "http":
            await answer_201(scope, receive, send)

    dispatcher = asgi_module.Dispatcher(fake, fake, fake)
    await dispatcher(SCOPE, receive, events.send)
    await dispatcher({"type": "websocket", "path": "/_nicegui_ws/socket.io/"}, receive, events.send)
    await dispatcher({"type": "lifespan"}, receive, events.send)

    assert answered == ["http", "websocket", "lifespan"]
    assert [kind for kind, _ in events.events] == ["sent", "sent", "log"]


@pytest.fixture
def uvicorn_loggers():
    """The loggers uvicorn's set-up changes, put back as they were afterwards."""
    names = ["uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi", LOGGER.name]
    saved = {}
    for name in names:
        logger = logging.getLogger(name)
        saved[name] = (list(logger.handlers), logger.level, logger.propagate, logger.disabled)
    yield
    for name, (handlers, level, propagate, disabled) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate, logger.disabled = propagate, disabled


def test_uvicorns_set_up_writes_the_line_once_in_its_format(uvicorn_loggers):
    """`manage.py serve`'s logging: uvicorn's access handler on Nocoflo's logger, none left on
    uvicorn's own (which would write a second line as each response starts)."""
    Config(
        app=answer_201,
        log_config=uvicorn_log_config("info"),
        access_log=False,
        log_level="info",
        use_colors=False,
    )
    assert not logging.getLogger("uvicorn.access").handlers
    assert LOGGER.level == logging.INFO and not LOGGER.propagate
    (handler,) = LOGGER.handlers
    stream = io.StringIO()
    handler.setStream(stream)
    LOGGER.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", "/healthz", "1.1", 200)
    assert stream.getvalue() == 'INFO:     127.0.0.1:5000 - "GET /healthz HTTP/1.1" 200 OK\n'


@pytest.mark.parametrize(("level", "expected"), [("warning", logging.WARNING), ("debug", 10)])
def test_the_log_level_applies_to_the_access_log(level, expected):
    assert uvicorn_log_config(level)["loggers"]["nocoflo.access"]["level"] == expected
