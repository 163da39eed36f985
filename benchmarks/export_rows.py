"""Benchmark the export of the demo ``orders`` table as CSV and JSON through a real server.

Starts ``manage.py serve`` as a subprocess on its own data directory (metadata, demo database of
``--orders`` orders, admin account), downloads ``GET /api/tables/{id}/export?format=csv|json``
as fast as it can, and reports time, rows/s and size. While each download runs, the server's
resident memory is sampled from ``/proc/<pid>/status`` (VmRSS every few milliseconds, and
VmHWM, the kernel's own peak): an export streams page by page, so the server's memory must stay
flat whatever the table's size::

    .venv/bin/python benchmarks/export_rows.py                      # 1,000,000 orders
    .venv/bin/python benchmarks/export_rows.py --orders 20000 --formats csv

The demo database is kept in the data directory and reused by later runs of the same size.
Exit code 0 (the memory target is printed, not enforced), or 2 when the benchmark cannot run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
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

# Growth of the server's peak memory during one export that still counts as flat: a page of rows
# and the interpreter's own caches, never the table.
MAX_GROWTH_MB = 60.0
SAMPLE_SECONDS = 0.005
WARMUP_FILTER = '[{"column": "id", "op": "lte", "value": 100}]'


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=1_000_000, help="demo orders table size")
    parser.add_argument("--formats", nargs="+", choices=("csv", "json"), default=["csv", "json"])
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="default: <tmp>/nocoflo-export-<orders>")  # fmt: skip
    args = parser.parse_args(argv)
    args.event_bus = ""
    args.data_dir = args.data_dir or Path(tempfile.gettempdir()) / f"nocoflo-export-{args.orders}"
    return args


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in kB (empty when it is gone)."""
    found = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                found[name] = int(value.split()[0])
    except OSError:
        pass
    return found


class Sampler:
    """The highest VmRSS of a process while it runs, sampled in a thread."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_kb = max(self.peak_kb, memory_kb(self.pid).get("VmRSS", 0))
            time.sleep(SAMPLE_SECONDS)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def download(client, url: str, fmt: str) -> tuple[int, int, float]:
    """(rows, bytes, seconds) of one export, read as fast as the server sends it."""
    started = time.perf_counter()
    size = newlines = 0
    with client.stream("GET", url, params={"format": fmt}) as response:
        if response.status_code != 200:
            raise SetupError(f"the export answered HTTP {response.status_code}")
        for chunk in response.iter_bytes():
            size += len(chunk)
            newlines += chunk.count(b"\n")
    seconds = time.perf_counter() - started
    # CSV: a header line, then a line per row. JSON: a row per line, the last line "]".
    rows = newlines - 1 if fmt == "csv" else newlines
    return rows, size, seconds


def run(args: argparse.Namespace, env: dict) -> list[dict]:
    import httpx

    from benchmarks.rows_api import login

    table = orders_table()
    port = free_port()
    server = start_server(env, port)
    results = []
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=600) as client:
            login(client, ADMIN, PASSWORD)
            url = f"/api/tables/{table.pk}/export"
            # Warm-up: the first request of a process loads code and opens connections.
            client.get(url, params={"format": "csv", "filters": WARMUP_FILTER}).read()
            for fmt in args.formats:
                before = memory_kb(server.pid)
                with Sampler(server.pid) as sampler:
                    rows, size, seconds = download(client, url, fmt)
                after = memory_kb(server.pid)
                results.append(
                    {
                        "format": fmt,
                        "rows": rows,
                        "bytes": size,
                        "seconds": seconds,
                        "rss_before": before.get("VmRSS", 0) / 1024,
                        "rss_peak": max(sampler.peak_kb, after.get("VmRSS", 0)) / 1024,
                        "hwm_before": before.get("VmHWM", 0) / 1024,
                        "hwm_after": after.get("VmHWM", 0) / 1024,
                    }  # fmt: skip
                )
    finally:
        stop_server(server)
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.orders < 1:
        print("--orders must be at least 1", file=sys.stderr)
        return 2
    try:
        env = prepare(args)
        results = run(args, env)
    except SetupError as exc:
        print(f"cannot run the benchmark: {exc}", file=sys.stderr)
        return 2
    print(f"\nexport of {args.orders:,} orders through GET /api/tables/{{id}}/export")
    print(
        f"{'format':<7} {'rows':>10} {'MB':>8} {'seconds':>8} {'rows/s':>10} "
        f"{'RSS before':>11} {'RSS peak':>9} {'growth':>7} {'VmHWM':>7}  target"
    )
    for r in results:
        growth = r["rss_peak"] - r["rss_before"]
        verdict = "PASS" if growth < MAX_GROWTH_MB else "FAIL"
        print(
            f"{r['format']:<7} {r['rows']:>10,} {r['bytes'] / 1e6:>8.1f} {r['seconds']:>8.2f} "
            f"{r['rows'] / r['seconds']:>10,.0f} {r['rss_before']:>8.0f} MB "
            f"{r['rss_peak']:>6.0f} MB "
            f"{growth:>+4.0f} MB {r['hwm_after']:>4.0f} MB  growth < {MAX_GROWTH_MB:g} MB {verdict}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
