"""Benchmark a CSV import into the demo ``orders`` table through a real server.

Generates a CSV file of ``--rows`` orders (every column but the auto-increment id), starts
``manage.py serve`` as a subprocess on its own data directory (metadata, demo database of
``--orders`` orders, admin account), and times ``POST /api/tables/{id}/import``: first with
``dry_run=true`` (reading and checking every row, nothing written), then the import itself
(checking again, audit entries pending, one transaction of batched inserts, audit confirmed).
The server's peak resident memory during each request is sampled from ``/proc/<pid>/status``::

    .venv/bin/python benchmarks/import_rows.py                      # 100,000 rows
    .venv/bin/python benchmarks/import_rows.py --rows 5000

The demo database is rebuilt when an earlier run changed its size. Exit code 0, or 2 when the
benchmark cannot run (the server does not start, the import is refused).
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.edit_roundtrip import (  # noqa: E402
    ADMIN,
    PASSWORD,
    SetupError,
    free_port,
    orders_table,
    prepare,
    start_server,
    stop_server,
)
from benchmarks.export_rows import Sampler, memory_kb  # noqa: E402

STATUSES = ("pending", "paid", "shipped", "delivered", "cancelled")
HEADER = ("customer_id", "product_id", "quantity", "unit_price", "status", "ordered_at",
          "shipped_on", "gift", "comment")  # fmt: skip


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows in the CSV file")
    parser.add_argument("--orders", type=int, default=10_000, help="demo orders table size")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="default: <tmp>/nocoflo-import-<orders>")  # fmt: skip
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    args.event_bus = ""
    args.data_dir = args.data_dir or Path(tempfile.gettempdir()) / f"nocoflo-import-{args.orders}"
    return args


def generate(rows: int, seed: int) -> bytes:
    """Orders for the demo's customers (1-10,000) and products (1-1,000), as a CSV file."""
    rng = random.Random(seed)
    start = datetime(2024, 1, 1)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    for n in range(rows):
        ordered = start + timedelta(minutes=rng.randint(0, 500_000))
        shipped = (ordered + timedelta(days=rng.randint(1, 9))).date() if n % 3 else ""
        writer.writerow(
            (
                rng.randint(1, 10_000),
                rng.randint(1, 1_000),
                rng.randint(1, 9),
                f"{rng.uniform(1, 500):.2f}",
                rng.choice(STATUSES),
                ordered.isoformat(sep=" "),
                shipped,
                rng.choice(("true", "false")),
                "imported" if n % 7 == 0 else "",
            )  # fmt: skip
        )
    return out.getvalue().encode()


def post(client, url: str, data: bytes, headers: dict, **fields: str) -> tuple[dict, float]:
    started = time.perf_counter()
    response = client.post(
        url, files={"file": ("orders.csv", data, "text/csv")}, data=fields, headers=headers
    )
    seconds = time.perf_counter() - started
    if response.status_code != 200:
        raise SetupError(f"the import answered HTTP {response.status_code}: {response.text[:300]}")
    return response.json(), seconds


def run(args: argparse.Namespace, env: dict, data: bytes) -> list[tuple[str, dict, float, float]]:
    import httpx

    from benchmarks.rows_api import login

    table = orders_table()
    port = free_port()
    server = start_server(env, port)
    results = []
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=600) as client:
            login(client, ADMIN, PASSWORD)
            headers = {
                "X-CSRFToken": client.cookies.get("csrftoken", ""),
                "Referer": f"http://127.0.0.1:{port}/",
            }
            url = f"/api/tables/{table.pk}/import"
            for name, fields in (("check only (dry_run)", {"dry_run": "true"}), ("import", {})):
                before = memory_kb(server.pid).get("VmRSS", 0)
                with Sampler(server.pid) as sampler:
                    body, seconds = post(client, url, data, headers, **fields)
                results.append((name, body, seconds, (sampler.peak_kb - before) / 1024))
    finally:
        stop_server(server)
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.rows < 1 or args.orders < 1:
        print("--rows and --orders must be at least 1", file=sys.stderr)
        return 2
    try:
        env = prepare(args)
        data = generate(args.rows, args.seed)
        results = run(args, env, data)
    except SetupError as exc:
        print(f"cannot run the benchmark: {exc}", file=sys.stderr)
        return 2
    print(
        f"\nimport of {args.rows:,} rows ({len(data) / 1e6:.1f} MB CSV) into {args.orders:,} "
        "orders through POST /api/tables/{id}/import"
    )
    print(
        f"{'request':<22} {'rows':>9} {'inserted':>9} {'seconds':>8} {'rows/s':>9} "
        f"{'RSS growth':>11}"
    )
    for name, body, seconds, growth in results:
        print(
            f"{name:<22} {body['rows']:>9,} {body['inserted']:>9,} {seconds:>8.2f} "
            f"{body['rows'] / seconds:>9,.0f} {growth:>+8.0f} MB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
