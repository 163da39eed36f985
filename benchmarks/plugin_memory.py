"""Benchmark the memory the built-in plugins cost a running server.

The architecture document's target: the server with every built-in plugin enabled uses at most
20% more resident memory (RSS) than with only the table view and the SQLite datasource, after
the same page loads.

For each configuration (``NOCOFLO_BUILTIN_PLUGINS`` empty: every built-in; then only
``views_app.builtin.table,datasources_app.builtin.sqlite``) it sets up a data directory of its
own (metadata, a demo database of ``--rows`` orders, the admin account), starts
``manage.py serve`` on a free port and, in headless Chromium, signs in as the admin and does the
same page loads: ``--pages`` rounds of the home page, each demo table's page in the table view
(waiting until the grid shows rows) and a few calls of the rows API. Once the server has let go
of the closed pages, it reads the server's RSS (``VmRSS`` of the process and any children it
spawned), stops it and goes on to the next configuration::

    .venv/bin/python benchmarks/plugin_memory.py                   # 1,000,000 orders, 5 rounds
    .venv/bin/python benchmarks/plugin_memory.py --rows 20000 --pages 3 --keep

The demo database is built once per run and copied into the second data directory. The data
directories are removed afterwards unless ``--keep`` is given (a kept directory of the same size
is reused by the next run).

Exit code 0 when the target is met, 1 when it is missed, 2 when the benchmark cannot run (the
server does not start, Chromium is missing, a page never shows its rows).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.edit_roundtrip import stop_server  # noqa: E402

PYTHON = sys.executable
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
]
ADMIN = "admin"
PASSWORD = "plugin-memory-benchmark"  # noqa: S105 - a throwaway account in a throwaway data dir
MINIMAL = "views_app.builtin.table,datasources_app.builtin.sqlite"
CONFIGS = (("all built-ins", ""), ("table + sqlite only", MINIMAL))
TABLES = ("orders", "customers", "products")  # the demo database's tables, each opened per round
API_CALLS = 3  # rows API calls per table and round
PAGE_SIZE = 100
MAX_RATIO = 1.2
SERVER_START_SECONDS = 90
PAGE_TIMEOUT_MS = 60_000

# The first row of the grid holds data (rows still loading have empty cells), and the row count
# has arrived.
GRID_SHOWS_ROWS = """
() => {
  const row = document.querySelector('.ag-center-cols-container .ag-row[row-index="0"]');
  const filled = !!row && [...row.querySelectorAll('.ag-cell')].some(
    (cell) => cell.textContent.trim() !== '');
  const count = document.querySelector('.row-count');
  return filled && !!count && /^[\\d,]+ rows?$/.test(count.textContent.trim());
}
"""


class SetupError(Exception):
    """The benchmark cannot run at all."""


@dataclass
class Measurement:
    name: str
    builtins: str
    data_dir: Path
    plugins: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    processes: int = 1
    rss_start_kib: int = 0
    rss_after_kib: int = 0
    page_loads: int = 0
    api_calls: int = 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--pages", type=int, default=5, help="rounds of page loads (home page and every table)"
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="demo orders table size")
    parser.add_argument("--keep", action="store_true", help="keep the data directories")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="where the data directories go (default: <tmp>/nocoflo-plugin-memory-<rows>)",
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=12.0,
        help="seconds to wait after the page loads before reading RSS (NiceGUI "
        "drops a closed page's client after its 10 s reconnect timeout)",
    )
    args = parser.parse_args(argv)
    if args.pages < 1 or args.rows < 1 or args.settle < 0:
        parser.error("--pages and --rows must be at least 1, --settle not negative")
    return args


# --- data directories and the server ----------------------------------------------------------


def server_env(data_dir: Path, builtins: str, rows: int) -> dict[str, str]:
    """The environment of a server of its own; nothing of this shell's Nocoflo settings leaks in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NOCOFLO_", "DATABASE_URL"))}
    env.pop("NICEGUI_USER_SIMULATION", None)
    env.update(
        NOCOFLO_DATA_DIR=str(data_dir),
        NOCOFLO_ADMIN_USERNAME=ADMIN,
        NOCOFLO_ADMIN_PASSWORD=PASSWORD,
        NOCOFLO_DEMO_ORDERS=str(rows),
        NOCOFLO_BUILTIN_PLUGINS=builtins,
        NOCOFLO_SECURE_COOKIES="false",  # its servers are plain http
        DJANGO_SETTINGS_MODULE="nocoflo_project.settings",
        PYTHONUNBUFFERED="1",
    )
    return env


def order_count(path: Path) -> int:
    try:
        with closing(sqlite3.connect(path)) as conn:
            return conn.execute("SELECT count(*) FROM orders").fetchone()[0]
    except sqlite3.Error:
        return -1


def copy_database(source: Path, target: Path) -> None:
    """A consistent copy of an SQLite file, whatever its write-ahead log still holds."""
    with closing(sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)) as src:
        with closing(sqlite3.connect(target)) as dst:
            src.backup(dst)


def prepare(data_dir: Path, env: dict[str, str], rows: int, demo_from: Path | None) -> None:
    """Metadata, the demo database (copied from `demo_from` when given) and the admin."""
    data_dir.mkdir(parents=True, exist_ok=True)
    demo = data_dir / "demo.sqlite3"
    if demo.exists() and order_count(demo) != rows:
        # Another size: start this directory afresh, the datasource's tables included.
        shutil.rmtree(data_dir)
        data_dir.mkdir(parents=True)
    if not demo.exists() and demo_from is not None:
        copy_database(demo_from, demo)
    with open(data_dir / "setup.log", "w") as log:
        for command in (
            ["migrate", "--noinput"],
            ["setup_demo", f"--orders={rows}"],
            ["ensure_admin"],
        ):
            done = subprocess.run(
                [PYTHON, "manage.py", *command],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=1800,
                check=False,
            )
            if done.returncode != 0:
                raise SetupError(f"manage.py {command[0]} failed, see {log.name}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def log_tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def start_server(env: dict[str, str], port: int, log_path: Path) -> subprocess.Popen:
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [PYTHON, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SetupError(f"the server exited:\n{log_tail(log_path)}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
                if answer.status == 200:
                    return process
        except OSError:
            pass
        time.sleep(0.2)
    stop_server(process)
    raise SetupError(f"the server did not answer within {SERVER_START_SECONDS} s")


# --- resident memory ------------------------------------------------------------------------


def children_of(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def process_tree(pid: int) -> list[int]:
    """The process and every process it spawned, still running."""
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        if current not in tree:
            tree.append(current)
            todo += children_of(current)
    return tree


def vm_rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0  # a process that just ended holds no memory


def tree_rss_kib(pid: int) -> tuple[int, int]:
    """(VmRSS of the process and its children in KiB, number of processes)."""
    tree = process_tree(pid)
    return sum(vm_rss_kib(p) for p in tree), len(tree)


def mib(kib: int) -> float:
    return kib / 1024


# --- the page loads --------------------------------------------------------------------------


def sign_in(page, url: str) -> None:
    page.goto(f"{url}/accounts/login/?next=/")
    page.fill("#id_username", ADMIN)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/")


def api_json(page, path: str, params: dict | None = None) -> dict | list:
    response = page.request.get(path, params=params)
    if not response.ok:
        raise SetupError(f"GET {path}: HTTP {response.status} {response.text()[:200]}")
    return response.json()


def browse(url: str, rounds: int, result: Measurement) -> None:
    """Sign in, then `rounds` times: the home page, every demo table in the grid, the rows API."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise SetupError(f"Chromium is needed at {CHROMIUM}")
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(base_url=url, viewport={"width": 1400, "height": 900})
            page = context.new_page()
            page.set_default_timeout(PAGE_TIMEOUT_MS)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            sign_in(page, url)
            listed = api_json(page, "/api/tables")
            ids = {t["name"]: t["id"] for t in listed if t.get("name") in TABLES}
            if set(ids) != set(TABLES):
                raise SetupError(f"the demo tables are not all listed: {sorted(ids)}")
            plugins = api_json(page, "/api/plugins")["plugins"]
            result.plugins = sorted({p["name"] for p in plugins if p["enabled"]})
            result.failed = sorted({p["name"] for p in plugins if p["health"] != "ok"})
            for n in range(rounds):
                page.goto("/")
                page.locator(".datasource-card").first.wait_for()
                result.page_loads += 1
                for name in TABLES:
                    page.goto(f"/tables/{ids[name]}?view=table_view")
                    page.wait_for_function(GRID_SHOWS_ROWS, timeout=PAGE_TIMEOUT_MS)
                    result.page_loads += 1
                    for call in range(API_CALLS):
                        offset = (n * API_CALLS + call) * PAGE_SIZE
                        answer = api_json(
                            page,
                            f"/api/tables/{ids[name]}/rows",
                            {"limit": PAGE_SIZE, "offset": offset},
                        )
                        if not isinstance(answer, dict) or "rows" not in answer:
                            raise SetupError(f"the rows API answered {str(answer)[:200]}")
                        result.api_calls += 1
            page.goto("about:blank")  # the last page's NiceGUI client disconnects too
        except PlaywrightError as exc:
            raise SetupError(f"in the browser: {exc}") from None
        finally:
            browser.close()
    if errors:
        raise SetupError(f"JavaScript errors in the pages: {errors[:3]}")


# --- one configuration ----------------------------------------------------------------------


def measure(name: str, builtins: str, data_dir: Path, args, demo_from: Path | None) -> Measurement:
    result = Measurement(name, builtins, data_dir)
    env = server_env(data_dir, builtins, args.rows)
    print(f"[{name}] preparing {data_dir} ({args.rows:,} orders)", flush=True)
    prepare(data_dir, env, args.rows, demo_from)
    port = free_port()
    server = start_server(env, port, data_dir / "server.log")
    try:
        result.rss_start_kib, _ = tree_rss_kib(server.pid)
        print(f"[{name}] serving on port {port} (pid {server.pid}); page loads...", flush=True)
        browse(f"http://127.0.0.1:{port}", args.pages, result)
        time.sleep(args.settle)
        if server.poll() is not None:
            raise SetupError(f"the server exited:\n{log_tail(data_dir / 'server.log')}")
        result.rss_after_kib, result.processes = tree_rss_kib(server.pid)
    finally:
        stop_server(server)
    return result


def report(results: list[Measurement], args) -> bool:
    full, minimal = results
    ratio = full.rss_after_kib / minimal.rss_after_kib
    ok = ratio <= MAX_RATIO
    rounds = f"{args.pages} round{'s' if args.pages != 1 else ''}"
    print(f"\nserver RSS after the same page loads, {args.rows:,} demo orders")
    print(
        f"{rounds} of: home page, {len(TABLES)} tables in the grid, {API_CALLS} rows API calls "
        f"per table; RSS read {args.settle:g} s after the last page"
    )
    header = (
        f"{'configuration':<22} {'plugins':>7} {'processes':>9} {'RSS at start':>13} "
        f"{'RSS after loads':>16} {'pages':>6} {'API calls':>9}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.name:<22} {len(r.plugins):>7} {r.processes:>9} {mib(r.rss_start_kib):>10.1f} MB "
            f"{mib(r.rss_after_kib):>13.1f} MB {r.page_loads:>6} {r.api_calls:>9}"
        )
    for r in results:
        failed = f" (failed to load: {', '.join(r.failed)})" if r.failed else ""
        print(f"  {r.name}: {', '.join(r.plugins)}{failed}")
    extra = mib(full.rss_after_kib - minimal.rss_after_kib)
    print(f"\nall built-ins / table + sqlite only: {ratio:.3f} ({extra:+.1f} MB)")
    print(f"target: ratio <= {MAX_RATIO:.2f}  {'PASS' if ok else 'FAIL'}")
    return ok


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    base = args.data_dir or Path(tempfile.gettempdir()) / f"nocoflo-plugin-memory-{args.rows}"
    results: list[Measurement] = []
    try:
        demo_from = None
        for name, builtins in CONFIGS:
            data_dir = base / ("all" if not builtins else "minimal")
            results.append(measure(name, builtins, data_dir, args, demo_from))
            demo_from = data_dir / "demo.sqlite3"
        if set(results[1].plugins) >= set(results[0].plugins):
            raise SetupError("NOCOFLO_BUILTIN_PLUGINS did not reduce the plugins loaded")
    except SetupError as exc:
        print(f"cannot run the benchmark: {exc}", file=sys.stderr)
        print(f"(the data directories under {base} are kept for a look)", file=sys.stderr)
        return 2
    if not args.keep:
        for name in ("all", "minimal"):
            shutil.rmtree(base / name, ignore_errors=True)
        if base.is_dir() and not any(base.iterdir()):
            base.rmdir()
    return 0 if report(results, args) else 1


if __name__ == "__main__":
    sys.exit(main())
