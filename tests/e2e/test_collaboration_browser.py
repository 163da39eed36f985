"""End to end in headless Chromium: two people on two server processes, working on one table.

Both servers share one metadata database and the Redis event bus, as behind a load balancer.
Alice (on server 1) edits a cell: Bob (on server 2) sees the row locked by her and cannot edit it;
when she saves, his grid shows the new value without reloading and the lock goes. Each sees the
other among the table's viewers.
"""

from __future__ import annotations

import os
import time

import pytest
import redis
from playwright.sync_api import sync_playwright

from .test_grid_browser import (
    CENTER,
    CHROMIUM,
    CHROMIUM_ARGS,
    PINNED,
    Server,
    _free_port,
    cell,
    create_users,
    prepare_demo,
    server_env,
    serving,
    signed_in_page,
    start_editing,
)

# A database number of its own, so other users of the local Redis never hear these events.
EVENT_BUS_URL = "redis://127.0.0.1:6379/7"
ORDERS = 2_000
PASSWORD = "e2e-Together-4711"
SECRET_KEY = "e2e-collaboration-secret-key-not-for-production-0123456789"

pytestmark = [pytest.mark.e2e]

CREATE_USERS = create_users(PASSWORD, "alice", "bob")


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """Two `manage.py serve` processes on one data directory and one Redis event bus."""
    try:
        redis.Redis.from_url(EVENT_BUS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:  # a missing server is a failure, not a skip
        pytest.fail(f"Redis is needed at {EVENT_BUS_URL}: {exc}")
    assert os.path.exists(CHROMIUM), f"Chromium is needed at {CHROMIUM}"
    data_dir = tmp_path_factory.mktemp("nocoflo-together")
    env = server_env(data_dir, PASSWORD, ORDERS)
    # Both processes share the metadata (this data directory), the secret and the event bus.
    env.update(NOCOFLO_EVENT_BUS_URL=EVENT_BUS_URL, SECRET_KEY=SECRET_KEY)
    prepare_demo(env, data_dir, CREATE_USERS)
    first, second = (
        Server(f"http://127.0.0.1:{port}", data_dir, data_dir / f"server-{n}.log")
        for n, port in ((1, _free_port()), (2, _free_port()))
    )
    with open(first.log_path, "w") as log_1, open(second.log_path, "w") as log_2:
        with serving(env, int(first.url.rsplit(":", 1)[1]), log_1, first):
            with serving(env, int(second.url.rsplit(":", 1)[1]), log_2, second):
                yield first, second


def sign_in(browser, server: Server, username: str, table_id: int):
    """A browser context of its own (cookies, session) signed in as `username`, on the table."""
    page = signed_in_page(
        browser, server, username, PASSWORD, f"/tables/{table_id}", {"width": 1400, "height": 900}
    )
    page.wait_for_function(
        "() => /^\\d+$/.test((document.querySelector("
        '\'.ag-center-cols-container .ag-row[row-index="0"] [col-id="quantity"]\') || {})'
        ".textContent || '')"
    )
    page.get_by_text(f"{ORDERS:,} rows").wait_for()
    return page


def row(page, index: int, container: str = CENTER):
    return page.locator(f'{container} .ag-row[row-index="{index}"]')


def test_two_people_on_two_servers(servers):
    first, second = servers
    orders = first.table_id("orders")
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            alice = sign_in(browser, first, "alice", orders)
            bob = sign_in(browser, second, "bob", orders)
            for page in (alice, bob):
                page.on("pageerror", lambda exc: errors.append(str(exc)))

            # Each sees the other, though they are on different servers.
            bob.locator(".presence", has_text="alice").wait_for(timeout=10_000)
            alice.locator(".presence", has_text="bob").wait_for(timeout=10_000)
            assert "Also here" in bob.locator(".presence").inner_text()
            bob.evaluate("() => { window.notReloaded = true; }")

            # Alice opens an editor: Bob sees the row locked by her, and cannot edit it.
            before = int(cell(bob, 0, "quantity").inner_text())
            start_editing(alice, 0, "quantity")
            bob.wait_for_function(
                "() => !!document.querySelector("
                "'.ag-center-cols-container .ag-row[row-index=\"0\"].nocoflo-row-locked')",
                timeout=5_000,
            )
            badge = row(bob, 0, PINNED).locator(".nocoflo-lock")
            assert badge.get_attribute("title") == "alice is editing"
            cell(bob, 0, "quantity").dblclick()
            bob.wait_for_timeout(700)
            assert bob.locator(".ag-cell-inline-editing").count() == 0

            # Alice saves: within a second or two Bob's grid has the new value, without a
            # reload, and the row is free again.
            new_value = 900 + (before + 1) % 100
            editor = alice.locator(".ag-cell-inline-editing input")
            editor.press("Control+a")
            editor.type(str(new_value))
            started = time.monotonic()
            editor.press("Enter")
            alice.get_by_text("Saved quantity").wait_for()
            bob.wait_for_function(
                "(value) => (document.querySelector("
                '\'.ag-center-cols-container .ag-row[row-index="0"] [col-id="quantity"]\') || {})'
                ".textContent === value",
                arg=str(new_value),
                timeout=3_000,
            )
            shown_after = time.monotonic() - started
            bob.wait_for_function(
                "() => !document.querySelector('.ag-row.nocoflo-row-locked')", timeout=3_000
            )
            assert row(bob, 0, PINNED).locator(".nocoflo-lock").count() == 0
            assert bob.evaluate("() => window.notReloaded") is True
            bob.get_by_text("alice changed 1 cell").wait_for(timeout=3_000)

            # Now Bob may edit the row.
            start_editing(bob, 0, "quantity")
            bob.locator(".ag-cell-inline-editing input").press("Escape")
        finally:
            browser.close()

    print(f"\ne2e: bob saw alice's change {shown_after:.2f} s after she pressed Enter")
    assert shown_after < 3
    assert errors == [], f"JavaScript errors in the pages: {errors}"
