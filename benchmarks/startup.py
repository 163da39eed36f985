"""Benchmark how long Nocoflo takes from starting to its first answer, on the demo data.

Target (issue: startup to first answer under 3 seconds on the demo data): from launching the
command to the first answered request, under 3 s, for

- ``serve``: ``manage.py serve`` on a prepared data directory, until ``/healthz`` answers 200
  and until the sign-in page is served;
- ``scripts/run``: the README's run command a second time (set-up already done: it checks the
  virtual environment, applies nothing new, finds the demo database and the admin, then
  serves), until ``/healthz`` answers.

It prepares a data directory of its own once (metadata, the demo database of ``--rows`` orders,
the admin), not timed, then starts each command ``--runs`` times and prints the median and
the slowest run::

    .venv/bin/python benchmarks/startup.py                 # 1,000,000 orders, 5 runs
    .venv/bin/python benchmarks/startup.py --rows 20000 --runs 3

Exit code 0 when the median of every line meets the target, 1 when one misses it, 2 when the
benchmark cannot run.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.edit_roundtrip import stop_server  # noqa: E402
from benchmarks.plugin_memory import (  # noqa: E402
    PYTHON,
    SetupError,
    free_port,
    log_tail,
    prepare,
    server_env,
)

TARGET_SECONDS = 3.0
GIVE_UP_SECONDS = 60.0


def wait_for(url: str, process: subprocess.Popen, log: Path, started: float) -> float:
    """Seconds from `started` until `url` answers 200."""
    while time.monotonic() - started < GIVE_UP_SECONDS:
        if process.poll() is not None:
            raise SetupError(f"the server exited:\n{log_tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return time.monotonic() - started
        except OSError:
            time.sleep(0.01)
    raise SetupError(f"{url} did not answer within {GIVE_UP_SECONDS:g} s:\n{log_tail(log)}")


def one_start(command: list[str], env: dict, port: int, log: Path, paths: list[str]) -> list[float]:
    """Start `command`, time each of `paths` answering, stop it."""
    with open(log, "w") as out:
        started = time.monotonic()
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        return [wait_for(f"http://127.0.0.1:{port}{p}", process, log, started) for p in paths]
    finally:
        stop_server(process)


def run(args: argparse.Namespace, data_dir: Path) -> bool:
    env = server_env(data_dir, "", args.rows)
    prepare(data_dir, env, args.rows, None)
    log = data_dir / "startup.log"
    lines: dict[str, list[float]] = {
        "serve → /healthz": [],
        "serve → sign-in page": [],
        "scripts/run → /healthz": [],
    }
    for _ in range(args.runs):
        port = free_port()
        serve = [PYTHON, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(port)]
        health, page = one_start(serve, env, port, log, ["/healthz", "/accounts/login/"])
        lines["serve → /healthz"].append(health)
        lines["serve → sign-in page"].append(page)
        port = free_port()
        run_env = {**env, "NOCOFLO_PORT": str(port)}
        (again,) = one_start(["bash", "scripts/run"], run_env, port, log, ["/healthz"])
        lines["scripts/run → /healthz"].append(again)

    print(f"\nstartup to first answer, {args.rows:,} demo orders, {args.runs} runs")
    print(f"{'':26} {'median':>8} {'slowest':>8}   target")
    met = True
    for name, seconds in lines.items():
        median = statistics.median(seconds)
        ok = median < TARGET_SECONDS
        met &= ok
        verdict = "ok" if ok else "MISSED"
        print(f"{name:26} {median:7.2f}s {max(seconds):7.2f}s   < {TARGET_SECONDS:g} s {verdict}")
    return met


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="demo orders")
    parser.add_argument("--runs", type=int, default=5, help="starts of each command")
    parser.add_argument("--data-dir", type=Path, help="kept and reused (default: a temp dir)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="nocoflo-startup-"))
    try:
        return 0 if run(args, data_dir) else 1
    except SetupError as exc:
        print(f"The benchmark cannot run: {exc}", file=sys.stderr)
        return 2
    finally:
        if args.data_dir is None:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
