"""End to end in headless Chromium: two Nocoflo processes behind nginx with sticky sessions.

The set-up of docs/deployment.md on one machine: two `manage.py serve` processes share a
PostgreSQL metadata database (a throwaway one), the data directory and the Redis event bus;
nginx runs deploy/nginx.conf.template on a loopback port in front of them. Alice and Bob sign in
through nginx and land on different processes; each page load and its websocket stay on one
process (no reload loop). Alice's row lock is seen and refused on Bob's process, her edit shows
in his grid without a reload, and the API answers through the proxy with a session and a token.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest
import redis
from playwright.sync_api import sync_playwright

from benchmarks.multi_process import (
    cluster_env,
    running_nginx,
    start_processes,
    throwaway_postgres,
)

from . import test_grid_browser as grid
from .test_collaboration_browser import row

EVENT_BUS_URL = "redis://127.0.0.1:6379/11"  # a database number of its own
ORDERS = 2_000
PASSWORD = "e2e-Behind-Nginx-4711"
VIEWPORT = {"width": 1400, "height": 900}
# Only in the test: nginx names the process that answered, so the test can tell them apart.
SHOW_UPSTREAM = "add_header X-Upstream $upstream_addr always;"

pytestmark = [pytest.mark.e2e]

FIRST_ROW_QUANTITY = (
    '(document.querySelector(\'.ag-center-cols-container .ag-row[row-index="0"]'
    ' [col-id="quantity"]\') || {}).textContent'
)
SOCKET_UP = (
    "() => window.did_handshake === true && window.socket.connected"
    " && window.socket.io.engine.transport.name === 'websocket'"
)


@dataclass
class Cluster:
    url: str  # nginx
    backends: dict[str, grid.Server]  # "127.0.0.1:port" -> the process behind it
    table_id: int


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    # Missing services fail the test, never skip it (PostgreSQL and nginx fail as they start).
    bus = redis.Redis.from_url(EVENT_BUS_URL, socket_connect_timeout=2)
    try:
        bus.ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis is needed at {EVENT_BUS_URL}: {exc}")
    finally:
        bus.close()
    assert os.path.exists(grid.CHROMIUM), f"Chromium is needed at {grid.CHROMIUM}"
    work = tmp_path_factory.mktemp("nocoflo-multi")
    with ExitStack() as stack:
        database_url = stack.enter_context(throwaway_postgres(f"nocoflo_e2e_multi_{os.getpid()}"))
        env = cluster_env(work, database_url, ORDERS, PASSWORD, EVENT_BUS_URL)
        grid.prepare_demo(env, work, grid.create_users(PASSWORD, "alice", "bob"))
        # Access logs on: they show which process accepted each page's websocket.
        started = start_processes(stack, env, work, 2)
        backends = {backend: server for backend, (server, _process) in started.items()}
        url = stack.enter_context(running_nginx(list(backends), work / "nginx", SHOW_UPSTREAM))
        with psycopg2.connect(database_url) as conn, conn.cursor() as cursor:
            cursor.execute("SELECT id FROM core_tablemeta WHERE name = 'orders'")
            (table_id,) = cursor.fetchone()
        conn.close()
        yield Cluster(url, backends, table_id)


def open_table_on_a_process(browser, cluster: Cluster, username: str, avoid: str = ""):
    """Sign `username` in through nginx in a browser of their own and open the orders table;
    a browser that nginx routes to the process `avoid` is dropped for a new one (a new browser
    gets a new route, on either process). Answers the page and the process serving it."""
    proxy = grid.Server(cluster.url, Path(), Path())  # signing in needs only its address
    # Half the new browsers land on each process; for longer than nginx's fail_timeout (10 s),
    # should nginx count a slow answer on a busy machine as a failure and route around it.
    deadline, tried = time.monotonic() + 30, 0
    while True:
        page = grid.signed_in_page(
            browser, proxy, username, PASSWORD, f"/tables/{cluster.table_id}", VIEWPORT
        )
        backend = page.context.request.get(f"{cluster.url}/healthz").headers["x-upstream"]
        tried += 1
        if backend != avoid:
            break
        page.context.close()
        if time.monotonic() > deadline and tried >= 10:
            raise AssertionError(f"nginx sent {tried} new browsers of {username} to {avoid}")
    # The page load itself comes from that process, and so does everything it loads.
    response = page.reload()
    assert response.headers["x-upstream"] == backend
    page.wait_for_function(f"() => /^\\d+$/.test({FIRST_ROW_QUANTITY} || '')")
    page.get_by_text(f"{ORDERS:,} rows").wait_for()
    page.wait_for_function(SOCKET_UP)
    page.evaluate("() => { window.notReloaded = true; }")
    return page, backend


def websocket_served_by(cluster: Cluster, client_id: str) -> list[str]:
    """The processes whose log shows the websocket of NiceGUI client `client_id` accepted."""
    # uvicorn logs the path below NiceGUI's mount point: "WebSocket /socket.io/?client_id=..."
    pattern = re.compile(r'"WebSocket [^"?]*socket\.io/\?[^"]*client_id=' + re.escape(client_id))
    return [
        backend
        for backend, server in cluster.backends.items()
        if pattern.search(server.log_path.read_text(errors="replace"))
    ]


def call(cluster: Cluster, method: str, path: str, token: str) -> tuple[int, dict]:
    """The API through nginx as a program calls it: a bearer token, no cookies."""
    request = urllib.request.Request(
        f"{cluster.url}{path}", method=method, headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def test_two_processes_behind_nginx(cluster):
    table = cluster.table_id
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=grid.CHROMIUM, args=grid.CHROMIUM_ARGS)
        try:
            # (a) Two browsers, two processes; each page's websocket reached the process that
            # rendered the page, and stays connected.
            alice, alice_on = open_table_on_a_process(browser, cluster, "alice")
            bob, bob_on = open_table_on_a_process(browser, cluster, "bob", avoid=alice_on)
            assert {alice_on, bob_on} == set(cluster.backends)
            for page, backend in ((alice, alice_on), (bob, bob_on)):
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                client_id = page.evaluate("() => window.clientId")
                assert websocket_served_by(cluster, client_id) == [backend]

            # (c) Alice opens an editor: on the other process, Bob sees the row locked by her
            # and cannot edit it; the API refuses his lock on the row too.
            before = int(grid.cell(bob, 0, "quantity").inner_text())
            grid.start_editing(alice, 0, "quantity")
            bob.locator(f"{grid.PINNED} .ag-row[row-index='0'] .nocoflo-lock").wait_for(
                timeout=10_000
            )
            assert row(bob, 0, grid.PINNED).locator(".nocoflo-lock").get_attribute("title") == (
                "alice is editing"
            )
            grid.cell(bob, 0, "quantity").dblclick()
            bob.wait_for_timeout(700)
            assert bob.locator(".ag-cell-inline-editing").count() == 0

            # (d) The API through the proxy: Bob's session (with its CSRF token) makes a token;
            # the token, without cookies (nginx picks a process per request), reads rows, sees
            # Alice's lock and is refused the row.
            csrf = next(c["value"] for c in bob.context.cookies() if c["name"] == "csrftoken")
            made = bob.context.request.post(
                f"{cluster.url}/api/tokens",
                data={"name": "behind nginx", "scopes": ["read", "write"]},
                headers={"X-CSRFToken": csrf, "Referer": f"{cluster.url}/"},
            )
            assert made.status == 201, made.text()
            token = made.json()["token"]
            status, page_1 = call(cluster, "GET", f"/api/tables/{table}/rows?limit=1", token)
            assert status == 200 and page_1["count"] == ORDERS
            key = page_1["rows"][0]["key"]
            status, locks = call(cluster, "GET", f"/api/tables/{table}/locks", token)
            assert (status, [lock["locked_by"] for lock in locks]) == (200, ["alice"])
            status, refused = call(cluster, "POST", f"/api/tables/{table}/rows/{key}/lock", token)
            assert status == 423, refused

            # (b) Alice saves: Bob's grid on the other process shows the value within seconds,
            # without a reload, and the row is free again.
            new_value = 900 + (before + 1) % 100
            editor = alice.locator(".ag-cell-inline-editing input")
            editor.press("Control+a")
            editor.type(str(new_value))
            editor.press("Enter")
            alice.get_by_text("Saved quantity").wait_for()
            bob.wait_for_function(
                f"(value) => {FIRST_ROW_QUANTITY} === value", arg=str(new_value), timeout=10_000
            )
            bob.get_by_text("alice changed 1 cell").wait_for(timeout=10_000)
            bob.wait_for_function(
                "() => !document.querySelector('.ag-row.nocoflo-row-locked')", timeout=10_000
            )
            status, stored = call(cluster, "GET", f"/api/tables/{table}/rows/{key}", token)
            assert (status, stored["quantity"]) == (200, new_value)
            session_read = bob.context.request.get(f"{cluster.url}/api/tables/{table}/rows?limit=1")
            assert session_read.headers["x-upstream"] == bob_on
            assert session_read.json()["rows"][0]["values"]["quantity"] == new_value

            # Neither page reloaded nor lost its websocket along the way.
            for page in (alice, bob):
                assert page.evaluate("() => window.notReloaded") is True
                assert page.evaluate(SOCKET_UP) is True
        finally:
            browser.close()
    assert errors == [], f"JavaScript errors in the pages: {errors}"
