"""The API's pool: Django's answer handed back whole, streamed answers still streamed."""

from __future__ import annotations

import asyncio
import threading

import pytest

from nocoflo_project import buffered_wsgi
from nocoflo_project.buffered_wsgi import BufferedWSGIMiddleware

pytestmark = pytest.mark.unit


def echo(environ, start_response):
    """Answers what it was asked, and on which thread."""
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    text = (
        f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}?{environ['QUERY_STRING']} "
        f"{environ.get('HTTP_X_NAME', '')} {len(body)} {body[:20]!r} "
        f"{threading.current_thread().name}"
    )
    start_response("201 Created", [("Content-Type", "text/plain"), ("X-Answer", "yes")])
    return [text.encode(), b" and more"]


class Streamed:
    """Django's StreamingHttpResponse as WSGI sees it: an iterable marked streaming."""

    streaming = True

    def __init__(self, chunks, release: threading.Event) -> None:
        self.chunks, self.release, self.closed = chunks, release, False

    def __iter__(self):
        yield self.chunks[0]
        assert self.release.wait(5), "the first chunk never reached the client"
        yield from self.chunks[1:]

    def close(self) -> None:
        self.closed = True


def request(method="GET", path="/api/x", query=b"", headers=(), body_parts=(b"",)):
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": query,
        "http_version": "1.1",
        "headers": list(headers),
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 5555),
    }
    messages = [
        {"type": "http.request", "body": part, "more_body": i < len(body_parts) - 1}
        for i, part in enumerate(body_parts)
    ]

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    return scope, receive


class Sent(list):
    async def __call__(self, message):
        self.append(message)


async def test_an_answer_goes_out_whole_in_one_body_message():
    app = BufferedWSGIMiddleware(echo, workers=2)
    scope, receive = request(query=b"a=1", headers=[(b"x-name", b"ann")])
    sent = Sent()
    await app(scope, receive, sent)
    start, body = sent
    assert start["status"] == 201
    assert (b"x-answer", b"yes") in start["headers"]
    assert body["type"] == "http.response.body"
    assert not body.get("more_body", False)
    assert body["body"].startswith(b"GET /api/x?a=1 ann 0 b'' WSGI")
    assert body["body"].endswith(b" and more")


async def test_a_body_in_several_parts_reaches_django_whole():
    app = BufferedWSGIMiddleware(echo, workers=2)
    parts = (b'{"values": ', b'{"a": 1}', b"}")
    length = str(sum(map(len, parts))).encode()
    scope, receive = request("POST", headers=[(b"content-length", length)], body_parts=parts)
    sent = Sent()
    await app(scope, receive, sent)
    assert b'POST /api/x?  20 b\'{"values": {"a": 1}}\'' in sent[1]["body"]


@pytest.mark.parametrize(
    "headers",
    [
        [(b"content-length", str(buffered_wsgi.BUFFERED_BODY_MAX + 1).encode())],
        [(b"transfer-encoding", b"chunked")],
    ],
    ids=["large", "chunked"],
)
async def test_a_large_or_unsized_body_is_read_as_django_asks(headers):
    # a2wsgi's way: Django reads the body from the worker while it arrives.
    size = buffered_wsgi.BUFFERED_BODY_MAX + 1
    parts = (b"x" * (size - 10), b"y" * 10)
    app = BufferedWSGIMiddleware(echo, workers=2)
    scope, receive = request("POST", headers=headers, body_parts=parts)
    if headers[0][0] == b"transfer-encoding":  # Django reads what CONTENT_LENGTH says
        scope["headers"].append((b"content-length", str(size).encode()))
    sent = Sent()
    await app(scope, receive, sent)
    body = b"".join(m.get("body", b"") for m in sent[1:])
    assert f"POST /api/x?  {size} ".encode() in body


async def test_a_streamed_answer_is_sent_a_chunk_at_a_time():
    release = threading.Event()
    streamed = Streamed([b"first,", b"second,", b"third"], release)

    def stream(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/csv")])
        return streamed

    app = BufferedWSGIMiddleware(stream, workers=2)
    scope, receive = request()
    sent = Sent()

    async def client_sees_first_chunk():
        while len(sent) < 2:
            await asyncio.sleep(0.01)
        assert sent[1]["body"] == b"first,"
        release.set()  # only now may the rest be produced

    await asyncio.gather(app(scope, receive, sent), client_sees_first_chunk())
    assert sent[0]["status"] == 200
    assert [m["body"] for m in sent[1:]] == [b"first,", b"second,", b"third", b""]
    assert [m.get("more_body", False) for m in sent[1:]] == [True, True, True, False]
    assert streamed.closed


async def test_nothing_runs_for_a_client_gone_before_its_body_arrived():
    calls = []

    def app_called(environ, start_response):  # pragma: no cover - must not run
        calls.append(environ)
        return echo(environ, start_response)

    app = BufferedWSGIMiddleware(app_called, workers=2)
    scope, _ = request("POST", headers=[(b"content-length", b"100")])
    scope_messages = [{"type": "http.request", "body": b"ab", "more_body": True}]

    async def receive_then_gone():
        return scope_messages.pop(0) if scope_messages else {"type": "http.disconnect"}

    sent = Sent()
    await app(scope, receive_then_gone, sent)
    assert calls == [] and sent == []
