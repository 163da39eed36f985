"""Benchmark one governed edit end to end: access check, row lock, compare-and-set write, audit
(pending, then done) and the event that tells other open views.

Two ways, on random rows of the demo ``orders`` table:

* **in-process**: ``rows.lock_row`` then ``rows.update_row`` with the value the editor saw, as a
  grid's cell editor does; timed until a subscriber on another thread's asyncio loop (where
  NiceGUI's pages listen) has the ``row_updated`` event.
* **HTTP**: ``PATCH /api/tables/{id}/rows/{key}`` with ``If-Match`` against a ``manage.py serve``
  started here as a subprocess, the row locked by the same client beforehand. With a Redis bus,
  also timed until this process (a second server, in effect) hears the server's event.

It sets up its own data directory (metadata, demo database of ``--orders`` orders, admin
account), so it needs nothing running but Redis when ``--event-bus`` names one::

    .venv/bin/python benchmarks/edit_roundtrip.py                      # 1,000,000 orders, 300 edits
    .venv/bin/python benchmarks/edit_roundtrip.py --orders 20000 --edits 100
    .venv/bin/python benchmarks/edit_roundtrip.py --event-bus redis://127.0.0.1:6379/7

The demo database is kept in the data directory and reused by later runs of the same size.
Exit code 0, or 2 when the benchmark cannot run (the server does not start, Redis is down).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ADMIN = "admin"
PASSWORD = "edit-roundtrip-benchmark"  # noqa: S105 - a throwaway account in a throwaway data dir
SERVER_START_SECONDS = 60
EVENT_WAIT_SECONDS = 5


class SetupError(Exception):
    """The benchmark cannot run at all."""


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def p95(samples: list[float]) -> float:
    if len(samples) < 2:
        return samples[0]
    return statistics.quantiles(samples, n=20, method="inclusive")[18]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=1_000_000, help="demo orders table size")
    parser.add_argument("--edits", type=int, default=300, help="edits timed per way")
    parser.add_argument("--warmup", type=int, default=10, help="edits done before timing")
    parser.add_argument("--event-bus", default="", help="redis://... (default: in-process)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="default: <tmp>/nocoflo-edit-roundtrip-<orders>")  # fmt: skip
    parser.add_argument("--skip-http", action="store_true", help="only the in-process way")
    parser.add_argument("--seed", type=int, default=7)
    return parser.parse_args(argv)


def prepare(args: argparse.Namespace) -> dict:
    """Settings for this process and the server: own data dir, demo data, admin, event bus."""
    data_dir = (
        args.data_dir or Path(tempfile.gettempdir()) / f"nocoflo-edit-roundtrip-{args.orders}"
    )
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {
        "NOCOFLO_DATA_DIR": str(data_dir),
        "NOCOFLO_DEMO_DB": str(data_dir / "demo.sqlite3"),
        "NOCOFLO_DEMO_ORDERS": str(args.orders),
        "NOCOFLO_EVENT_BUS_URL": args.event_bus,
        "NOCOFLO_SECURE_COOKIES": "false",  # its server is plain http
        "DATABASE_URL": "",
        "DJANGO_SETTINGS_MODULE": "nocoflo_project.settings",
    }
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request drowns the table
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    demo = data_dir / "demo.sqlite3"
    if demo.exists() and _order_count(demo) != args.orders:
        demo.unlink()
    print(f"data dir {data_dir}; demo database with {args.orders:,} orders", flush=True)
    call_command("setup_demo", orders=args.orders, verbosity=0)
    User = get_user_model()
    admin = User.objects.filter(username=ADMIN).first() or User(username=ADMIN)
    admin.is_staff = admin.is_superuser = True
    admin.set_password(PASSWORD)
    admin.save()
    return env


def _order_count(path: Path) -> int:
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT count(*) FROM orders").fetchone()[0]
    except sqlite3.Error:
        return -1
    finally:
        conn.close()


def orders_table():
    from core.models import TableMeta

    return TableMeta.objects.get(datasource__name="Demo shop", name="orders")


class Listener:
    """A subscriber on an asyncio loop in its own thread, noting when each row's event arrives."""

    def __init__(self, bus, table_id: int) -> None:
        from core import events

        self.arrived: dict[str, float] = {}
        self.signal = threading.Condition()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        channel = events.table_channel(table_id)

        async def subscribe():
            return bus.subscribe(channel, self.on_event)

        self.unsubscribe = asyncio.run_coroutine_threadsafe(subscribe(), self.loop).result()

    def on_event(self, event: dict) -> None:
        if event.get("type") == "row_updated":
            with self.signal:
                self.arrived[event["key"]] = time.perf_counter()
                self.signal.notify_all()

    def expect(self, key: str) -> None:
        with self.signal:
            self.arrived.pop(key, None)

    def wait(self, key: str) -> float:
        deadline = time.monotonic() + EVENT_WAIT_SECONDS
        with self.signal:
            while key not in self.arrived:
                if not self.signal.wait(max(0.0, deadline - time.monotonic())):
                    raise RuntimeError(f"no row_updated event for {key} within 5 s")
            return self.arrived.pop(key)

    def close(self) -> None:
        self.unsubscribe()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=2)


def in_process(args: argparse.Namespace, keys: list[int]) -> list[float]:
    from django.contrib.auth import get_user_model

    from core import events
    from datasources_app import rows
    from datasources_app.values import encode_key

    user = get_user_model().objects.get(username=ADMIN)
    table = orders_table()
    bus = events.get_bus()
    if hasattr(bus, "wait_until_listening") and not bus.wait_until_listening(5):
        raise SetupError(f"the event bus {args.event_bus} cannot be reached")
    listener = Listener(bus, table.pk)
    samples = []
    try:
        for n, order_id in enumerate(keys):
            key = encode_key([order_id])
            opened = rows.open_table(user, table.pk)
            seen = rows.get_row(opened, key)["quantity"]
            listener.expect(key)
            started = time.perf_counter()
            rows.lock_row(opened, key, "benchmark-page")
            rows.update_row(opened, key, {"quantity": seen % 9 + 1}, {"quantity": seen},
                            holder="benchmark-page")  # fmt: skip
            arrived = listener.wait(key)
            rows.unlock_row(opened, key, "benchmark-page")
            if n >= args.warmup:
                samples.append((arrived - started) * 1000)
    finally:
        listener.close()
    return samples


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(env: dict, port: int) -> subprocess.Popen:
    import httpx

    process = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SetupError(f"the server exited: {process.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    stop_server(process)
    raise SetupError(f"the server did not answer within {SERVER_START_SECONDS} s")


def stop_server(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def over_http(args: argparse.Namespace, env: dict, keys: list[int]) -> dict[str, list[float]]:
    import httpx

    from benchmarks.rows_api import login
    from core import events
    from datasources_app.values import encode_key

    table = orders_table()
    listener = Listener(events.get_bus(), table.pk) if args.event_bus else None
    port = free_port()
    server = start_server(env, port)
    patch_ms: list[float] = []
    event_ms: list[float] = []
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            login(client, ADMIN, PASSWORD)
            token = client.cookies.get("csrftoken", "")
            headers = {"X-CSRFToken": token, "Referer": f"http://127.0.0.1:{port}/"}
            for n, order_id in enumerate(keys):
                key = encode_key([order_id])
                url = f"/api/tables/{table.pk}/rows/{key}"
                row = client.get(url)
                row.raise_for_status()
                client.post(url + "/lock", headers=headers).raise_for_status()
                if listener:
                    listener.expect(key)
                started = time.perf_counter()
                response = client.patch(
                    url, json={"values": {"quantity": row.json()["quantity"] % 9 + 1}},
                    headers={**headers, "If-Match": row.headers["ETag"]},
                )  # fmt: skip
                answered = time.perf_counter()
                if response.status_code != 200:
                    raise RuntimeError(f"PATCH: HTTP {response.status_code} {response.text[:200]}")
                arrived = listener.wait(key) if listener else None
                client.delete(url + "/lock", headers=headers).raise_for_status()
                if n >= args.warmup:
                    patch_ms.append((answered - started) * 1000)
                    if arrived is not None:
                        event_ms.append((arrived - started) * 1000)
    finally:
        stop_server(server)
        if listener:
            listener.close()
    results = {"HTTP PATCH with If-Match (answer received)": patch_ms}
    if event_ms:
        results["HTTP PATCH, event heard by another process"] = event_ms
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.edits < 1 or args.orders < 1:
        print("--edits and --orders must be at least 1", file=sys.stderr)
        return 2
    try:
        env = prepare(args)
        rng = random.Random(args.seed)
        count = args.warmup + args.edits
        results = {
            "in-process rows.update_row, event received": in_process(
                args, [rng.randint(1, args.orders) for _ in range(count)]
            )
        }
        if not args.skip_http:
            results |= over_http(args, env, [rng.randint(1, args.orders) for _ in range(count)])
    except SetupError as exc:
        print(f"cannot run the benchmark: {exc}", file=sys.stderr)
        return 2
    bus = args.event_bus or "in-process"
    print(f"\n{args.edits} edits of random rows of {args.orders:,} orders; event bus: {bus}")
    print("each edit: access check, lock, compare-and-set write, audit pending+done, event")
    print(f"{'way':<48} {'median ms':>10} {'p95 ms':>10}")
    for name, samples in results.items():
        print(f"{name:<48} {median(samples):>10.2f} {p95(samples):>10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
