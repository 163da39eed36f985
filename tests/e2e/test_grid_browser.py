"""End to end in headless Chromium: a real Nocoflo server, the real million-row demo table.

Sign in, see the row count, scroll half a million rows deep, edit a cell there, reload and find
the new value again, and check the SQLite file holds it as an integer.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable if Path(sys.executable).exists() else str(ROOT / ".venv/bin/python")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ADMIN_PASSWORD = "e2e-Password-4711"
ORDERS = 1_000_000
DEEP_ROW = 500_000  # rows at or beyond this index count as "deep"

# A machine without Chromium fails these tests (scripts/test installs it): never a skip.
pytestmark = [pytest.mark.e2e]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _manage(env: dict, log, *args: str, timeout: float = 300) -> None:
    done = subprocess.run(
        [PYTHON, "manage.py", *args], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        timeout=timeout, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"manage.py {' '.join(args)} failed, see {log.name}"


class Server:
    def __init__(self, url: str, data_dir: Path, log_path: Path) -> None:
        self.url = url
        self.data_dir = data_dir
        self.log_path = log_path
        self.timings: dict[str, float] = {}

    @property
    def demo_db(self) -> Path:
        return self.data_dir / "demo.sqlite3"

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def table_id(self, name: str) -> int:
        with sqlite3.connect(self.data_dir / "nocoflo.sqlite3") as conn:
            (pk,) = conn.execute("SELECT id FROM core_tablemeta WHERE name = ?", (name,)).fetchone()
        return pk


def server_env(data_dir: Path, password: str, orders: int) -> dict:
    """The environment of a server of its own: its data directory, admin password, demo size."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NOCOFLO_", "DATABASE_URL"))}
    env.pop("NICEGUI_USER_SIMULATION", None)
    env.update(
        NOCOFLO_DATA_DIR=str(data_dir),
        NOCOFLO_ADMIN_PASSWORD=password,
        NOCOFLO_DEMO_ORDERS=str(orders),
        NOCOFLO_SECURE_COOKIES="false",  # the servers are plain http
        DJANGO_SETTINGS_MODULE="nocoflo_project.settings",
        PYTHONUNBUFFERED="1",
    )
    return env


def prepare_demo(env: dict, data_dir: Path, *scripts: str) -> None:
    """Metadata, the demo database and the admin; then `scripts` in `manage.py shell`."""
    with open(data_dir / "setup.log", "w") as log:
        _manage(env, log, "migrate", "--noinput")
        _manage(env, log, "setup_demo")
        _manage(env, log, "ensure_admin")
        for script in scripts:
            _manage(env, log, "shell", "-c", script)


def create_users(password: str, *names: str) -> str:
    """A `manage.py shell` script making users `names` who may read and write rows."""
    return f"""
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
rights = Permission.objects.filter(codename__in=["read_rows", "write_rows"])
for name in {names!r}:
    user, _ = get_user_model().objects.get_or_create(username=name)
    user.set_password({password!r})
    user.save()
    user.user_permissions.add(*rights)
"""


def signed_in_page(
    browser, server: Server, username: str, password: str, path: str, viewport, script: str = ""
):
    """A browser context of its own (cookies, session) signed in as `username`, at `path`;
    `script` runs in every page it loads."""
    page = browser.new_context(viewport=viewport).new_page()
    if script:
        page.add_init_script(script)
    page.set_default_timeout(20_000)
    page.goto(f"{server.url}/accounts/login/?next={path}")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.url}{path}")
    return page


@contextmanager
def demo_server(tmp_path_factory, name: str, password: str, orders: int, *scripts: str):
    """A server of its own on a free port over a fresh demo database; `scripts` run in
    `manage.py shell` first (more users, grants)."""
    assert Path(CHROMIUM).exists(), f"Chromium is needed at {CHROMIUM}"
    data_dir = tmp_path_factory.mktemp(name)
    env = server_env(data_dir, password, orders)
    prepare_demo(env, data_dir, *scripts)
    port = _free_port()
    result = Server(f"http://127.0.0.1:{port}", data_dir, data_dir / "server.log")
    with open(result.log_path, "w") as log, serving(env, port, log, result):
        yield result


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """`manage.py serve` on a free port, with a fresh data directory and the 1M-row demo."""
    assert Path(CHROMIUM).exists(), f"Chromium is needed at {CHROMIUM}"
    data_dir = tmp_path_factory.mktemp("nocoflo-e2e")
    log_path = data_dir / "server.log"
    env = server_env(data_dir, ADMIN_PASSWORD, ORDERS)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    result = Server(url, data_dir, log_path)
    with open(log_path, "w") as log:
        started = time.monotonic()
        _manage(env, log, "migrate", "--noinput")
        _manage(env, log, "setup_demo")
        _manage(env, log, "ensure_admin")
        result.timings["setup"] = time.monotonic() - started

        started = time.monotonic()
        with serving(env, port, log, result):
            result.timings["start"] = time.monotonic() - started
            yield result


@contextmanager
def serving(env: dict, port: int, log, server: Server, *serve_args: str):
    """`manage.py serve` on `port` until the block ends, once its /healthz answers."""
    process = subprocess.Popen(
        [PYTHON, "manage.py", "serve", "--port", str(port), *serve_args],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, f"the server exited:\n{server.log_tail()}"
            try:
                with urllib.request.urlopen(f"{server.url}/healthz", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, f"no /healthz after 60 s:\n{server.log_tail()}"
            time.sleep(0.2)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


# --- the page, driven through the DOM -----------------------------------------------------------

CENTER = ".ag-center-cols-container"
PINNED = ".ag-pinned-left-cols-container"

# Row indices that are on screen with real data (loading rows have no text in their cells yet).
# Only rows inside the viewport count: AG Grid also renders a buffer of rows out of sight, and
# scrolling one of those into view would jump a grid this tall (its height is stretched).
LOADED_DEEP_ROWS = """
(deep) => {
  const view = document.querySelector('.ag-body-viewport').getBoundingClientRect();
  return [...document.querySelectorAll('.ag-center-cols-container .ag-row')]
    .filter((row) => Number(row.getAttribute('row-index')) >= deep)
    .filter((row) => {
      const box = row.getBoundingClientRect();
      return box.top >= view.top && box.bottom <= view.bottom;
    })
    .filter((row) => {
      const cell = row.querySelector('[col-id="quantity"]');
      return !!cell && /^\\d+$/.test(cell.textContent.trim());
    })
    .map((row) => Number(row.getAttribute('row-index')))
    .sort((a, b) => a - b);
}
"""

SCROLL_TO = """
(fraction) => {
  const viewport = document.querySelector('.ag-body-viewport');
  viewport.scrollTop = Math.floor((viewport.scrollHeight - viewport.clientHeight) * fraction);
  viewport.dispatchEvent(new Event('scroll'));
  return viewport.scrollTop;
}
"""

ROW_IS_LOADED = """
(index) => {
  const row = document.querySelector(`.ag-center-cols-container .ag-row[row-index="${index}"]`);
  const cell = row && row.querySelector('[col-id="quantity"]');
  return !!cell && /^\\d+$/.test(cell.textContent.trim());
}
"""


RENDERED_ROWS = """
() => ({
  scrollTop: document.querySelector('.ag-body-viewport').scrollTop,
  rows: [...document.querySelectorAll('.ag-center-cols-container .ag-row')].map(
    (row) => [row.getAttribute('row-index'),
              (row.querySelector('[col-id="quantity"]') || {}).textContent]),
})
"""


def cell(page, row_index: int, column: str, container: str = CENTER):
    return page.locator(f'{container} .ag-row[row-index="{row_index}"] [col-id="{column}"]')


def wait_for_grid(page, timeout: float = 30_000) -> None:
    page.wait_for_selector(f'{CENTER} .ag-row[row-index="0"] [col-id="quantity"]', timeout=timeout)
    page.wait_for_function(ROW_IS_LOADED, arg=0, timeout=timeout)
    # A million rows are not counted on every page load: the page shows SQLite's estimate.
    page.get_by_text("about 1 million rows").wait_for(timeout=timeout)


def scroll_deep(page, fraction: float, row_index: int | None = None) -> int:
    """Scroll the grid to `fraction` of its height; answers a loaded deep row (or waits for one)."""
    page.evaluate(SCROLL_TO, fraction)
    if row_index is None:
        page.wait_for_function(f"({LOADED_DEEP_ROWS})({DEEP_ROW}).length > 3", timeout=30_000)
        loaded = page.evaluate(LOADED_DEEP_ROWS, DEEP_ROW)
        return loaded[len(loaded) // 2]  # a row in the middle of the viewport, fully visible
    page.wait_for_function(ROW_IS_LOADED, arg=row_index, timeout=30_000)
    return row_index


def start_editing(page, row_index: int, column: str) -> None:
    """Double-click a cell until its editor opens.

    While blocks of rows arrive, AG Grid may redraw the row under the pointer; a person would
    simply click again, and so does this.
    """
    for attempt in range(4):
        try:
            page.wait_for_function(ROW_IS_LOADED, arg=row_index, timeout=30_000)
        except PlaywrightTimeout:
            shown = page.evaluate(RENDERED_ROWS)
            message = f"row {row_index} is gone (attempt {attempt}); shown: {shown}"
            raise AssertionError(message) from None
        target = cell(page, row_index, column)
        try:
            page.wait_for_timeout(250)
            target.dblclick(timeout=5_000)
            page.locator(".ag-cell-inline-editing input").wait_for(timeout=5_000)
            return
        except PlaywrightTimeout:
            continue
    raise AssertionError(f"the {column} cell of row {row_index} never opened its editor")


def test_edit_a_deep_row_of_a_million(server):
    orders = server.table_id("orders")
    timings: dict[str, float] = {}
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1000})
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.set_default_timeout(30_000)

            # Signed out: the table sends us to sign in, and back afterwards.
            started = time.monotonic()
            page.goto(f"{server.url}/tables/{orders}")
            assert page.url == f"{server.url}/accounts/login/?next=/tables/{orders}"
            page.fill("#id_username", "admin")
            page.fill("#id_password", ADMIN_PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"{server.url}/tables/{orders}")
            wait_for_grid(page)
            timings["sign in and first page"] = time.monotonic() - started
            assert page.locator(".row-count").inner_text() == "about 1 million rows"
            assert page.locator(".ag-header-cell-text", has_text="quantity · integer").count() == 1

            # Half a million rows down, rows arrive with real data.
            started = time.monotonic()
            row = scroll_deep(page, 0.55)
            timings["deep scroll"] = time.monotonic() - started
            assert row >= DEEP_ROW
            row_id = int(cell(page, row, "id", PINNED).inner_text().replace(",", ""))
            assert row_id == row + 1  # ids follow the default key order
            quantity = cell(page, row, "quantity")
            before = int(quantity.inner_text())
            new_value = 900 + (before + 1) % 100

            # Edit the cell: double-click, type, Enter; the server saves it.
            started = time.monotonic()
            start_editing(page, row, "quantity")
            editor = page.locator(".ag-cell-inline-editing input")
            editor.press("Control+a")
            editor.type(str(new_value))
            editor.press("Enter")
            page.get_by_text("Saved quantity").wait_for()
            timings["edit and save"] = time.monotonic() - started
            assert cell(page, row, "quantity").inner_text() == str(new_value)

            # The SQLite file holds the new value, typed.
            with sqlite3.connect(server.demo_db) as conn:
                stored = conn.execute(
                    "SELECT quantity, typeof(quantity) FROM orders WHERE id = ?", (row_id,)
                ).fetchone()
            assert stored == (new_value, "integer")

            # After a reload, the same deep row shows the new value.
            started = time.monotonic()
            page.reload()
            wait_for_grid(page)
            scroll_deep(page, 0.55, row_index=row)
            timings["reload and scroll back"] = time.monotonic() - started
            assert cell(page, row, "quantity").inner_text() == str(new_value)
            assert int(cell(page, row, "id", PINNED).inner_text().replace(",", "")) == row_id

            # Searching from deep down shows the first matches and their count, not blank rows.
            started = time.monotonic()
            page.fill("input[placeholder='Search text columns']", "gift wrap")
            page.wait_for_function(
                "() => /^[\\d,]+ rows$/.test(document.querySelector('.row-count').textContent)"
                " && !/million/.test(document.querySelector('.row-count').textContent)"
            )
            matches = int(page.locator(".row-count").inner_text().split()[0].replace(",", ""))
            page.wait_for_function(ROW_IS_LOADED, arg=0)
            timings["search from deep down"] = time.monotonic() - started
            with sqlite3.connect(server.demo_db) as conn:
                (expected,) = conn.execute(
                    "SELECT count(*) FROM orders WHERE status LIKE '%gift wrap%'"
                    " OR comment LIKE '%gift wrap%'"
                ).fetchone()
            assert matches == expected > 0
            assert "gift wrap" in cell(page, 0, "comment").inner_text().lower()

            # Without a search the count is an estimate again, and counted exactly on request.
            page.fill("input[placeholder='Search text columns']", "")
            page.get_by_text("about 1 million rows").wait_for()
            page.get_by_role("button", name="Count exactly").click()
            page.get_by_text("1,000,000 rows", exact=True).wait_for()
            assert page.get_by_role("button", name="Count exactly").is_hidden()
        finally:
            browser.close()

    print(f"\ne2e: edited row {row} (id {row_id}); server {server.timings}, browser {timings}")
    assert errors == [], f"JavaScript errors in the page: {errors}"


def test_each_request_has_one_access_line_in_the_server_log(server):
    """uvicorn's access line, written by the dispatcher once the answer is sent: one per request,
    with the status the client got."""
    probe = f"probe={time.monotonic_ns()}"
    with urllib.request.urlopen(f"{server.url}/healthz?{probe}", timeout=10) as response:
        assert response.status == 200
    try:
        urllib.request.urlopen(f"{server.url}/api/tables/999999/rows?{probe}", timeout=10)
    except urllib.error.HTTPError as refused:
        assert refused.code == 401
    lines: list[str] = []
    deadline = time.monotonic() + 10
    while len(lines) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
        lines = [line for line in server.log_path.read_text().splitlines() if probe in line]
    assert [line.split(" - ", 1)[1] for line in lines] == [
        f'"GET /healthz?{probe} HTTP/1.1" 200 OK',
        f'"GET /api/tables/999999/rows?{probe} HTTP/1.1" 401 Unauthorized',
    ]
    assert all(line.startswith("INFO:     127.0.0.1:") for line in lines)
