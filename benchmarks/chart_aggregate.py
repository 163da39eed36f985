"""Benchmark the chart view's aggregates on the demo ``orders`` table (1,000,000 rows by default).

Three charts, each grouped by the database:

* orders per month of ``ordered_at`` (count, date bucket);
* the sum of ``unit_price`` per ``status``;
* the sum of ``unit_price`` per month, one series per ``status`` (a group).

Two ways: **in-process** (``aggregate.aggregate_rows`` with the access checks, as the chart view
runs it) and **HTTP** (``GET /api/tables/{id}/aggregate`` against a ``manage.py serve`` started
here). It prepares its own data directory like ``benchmarks/edit_roundtrip.py`` (and shares the
demo database with it), so nothing needs to be running::

    .venv/bin/python benchmarks/chart_aggregate.py                     # 1,000,000 orders
    .venv/bin/python benchmarks/chart_aggregate.py --orders 20000 --repeat 5

Exit code 0, or 2 when the benchmark cannot run (the server does not start).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.edit_roundtrip import (  # noqa: E402
    ADMIN,
    PASSWORD,
    SetupError,
    free_port,
    median,
    orders_table,
    p95,
    prepare,
    start_server,
    stop_server,
)

CASES = {
    "count by month of ordered_at": {"x": "ordered_at", "bucket": "month"},
    "sum of unit_price by status": {"x": "status", "y": "unit_price", "agg": "sum"},
    "sum of unit_price by month, per status": {
        "x": "ordered_at", "bucket": "month", "y": "unit_price", "agg": "sum", "group": "status",
    },
}  # fmt: skip


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=1_000_000, help="demo orders table size")
    parser.add_argument("--repeat", type=int, default=15, help="timed runs per case and way")
    parser.add_argument("--warmup", type=int, default=1, help="runs done before timing")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="default: <tmp>/nocoflo-edit-roundtrip-<orders>")  # fmt: skip
    parser.add_argument("--skip-http", action="store_true", help="only the in-process way")
    args = parser.parse_args(argv)
    args.event_bus = ""  # prepare() of edit_roundtrip asks
    return args


def in_process(args: argparse.Namespace) -> dict[str, list[float]]:
    from django.contrib.auth import get_user_model

    from datasources_app import rows
    from datasources_app.aggregate import AggregateSpec, aggregate_rows

    user = get_user_model().objects.get(username=ADMIN)
    table = orders_table()
    results = {}
    for name, params in CASES.items():
        samples = []
        for n in range(args.warmup + args.repeat):
            started = time.perf_counter()
            answer = aggregate_rows(rows.open_table(user, table.pk), AggregateSpec(**params))
            elapsed = (time.perf_counter() - started) * 1000
            if not answer["x"]:
                raise RuntimeError(f"{name}: no data")
            if n >= args.warmup:
                samples.append(elapsed)
        results[f"in-process  {name}"] = samples
    return results


def over_http(args: argparse.Namespace, env: dict) -> dict[str, list[float]]:
    import httpx

    from benchmarks.rows_api import login

    table = orders_table()
    port = free_port()
    server = start_server(env, port)
    results = {}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            login(client, ADMIN, PASSWORD)
            url = f"/api/tables/{table.pk}/aggregate"
            for name, params in CASES.items():
                samples = []
                for n in range(args.warmup + args.repeat):
                    started = time.perf_counter()
                    response = client.get(url, params=params)
                    elapsed = (time.perf_counter() - started) * 1000
                    if response.status_code != 200:
                        raise RuntimeError(f"{name}: HTTP {response.status_code} {response.text}")
                    if n >= args.warmup:
                        samples.append(elapsed)
                results[f"HTTP        {name}"] = samples
    finally:
        stop_server(server)
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.repeat < 1 or args.orders < 1:
        print("--repeat and --orders must be at least 1", file=sys.stderr)
        return 2
    try:
        env = prepare(args)
        results = in_process(args)
        if not args.skip_http:
            results |= over_http(args, env)
    except SetupError as exc:
        print(f"cannot run the benchmark: {exc}", file=sys.stderr)
        return 2
    print(f"\nchart aggregates of {args.orders:,} orders, {args.repeat} runs each")
    print(f"{'way and chart':<54} {'median ms':>10} {'p95 ms':>10}")
    for name, samples in results.items():
        print(f"{name:<54} {median(samples):>10.1f} {p95(samples):>10.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
