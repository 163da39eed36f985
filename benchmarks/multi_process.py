"""Benchmark the rows API through nginx with one Nocoflo process behind it, then two.

Two ``manage.py serve`` processes share one PostgreSQL metadata database (a throwaway database
created here and dropped afterwards), one data directory (the demo database) and the Redis event
bus, as in docs/deployment.md. nginx runs with ``deploy/nginx.conf.template`` on a free loopback
port, first with only the first process as its backend, then with both. ``--clients`` concurrent
clients call ``GET /api/tables/{id}/rows`` (random 100-row pages of the demo ``orders``) with an
API token for ``--seconds`` after a warm-up, and the requests per second of each set-up and their
ratio are printed.

With ``--sqlite-metadata`` the two processes share a SQLite metadata file in the data directory
instead (possible on one machine only), which takes PostgreSQL out of the comparison.

Target: two processes serve at least ``--min-ratio`` (1.2 by default) times the requests per
second of one. A process runs its Python code on one core at a time (the GIL), so a second
process on a second core should come close to doubling it; the clients, nginx and PostgreSQL
share the same machine, which takes part of the gain: on PostgreSQL each API request opens a new
metadata connection, and PostgreSQL spends about as much CPU on it as Nocoflo on the request, so
with PostgreSQL on the same two cores the machine, not the process, is soon the limit. Each round
prints how many cores the two servers kept busy: about one per process means they were the
limit, much less means the machine was (PostgreSQL, other programs, the clients).

It needs nginx (/usr/sbin/nginx; ``scripts/test`` installs it), PostgreSQL on 127.0.0.1:5432
(user ``postgres``) and Redis, and nothing else running::

    .venv/bin/python benchmarks/multi_process.py          # 20 clients, 3 rounds of 10 s each
    .venv/bin/python benchmarks/multi_process.py --clients 4 --seconds 2 --rounds 1 --orders 500

Exit code 0 when the target is met, 1 when it is not, 2 when the benchmark cannot run.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TEMPLATE = ROOT / "deploy" / "nginx.conf.template"
POSTGRES_URL = "postgres://postgres@127.0.0.1:5432"
EVENT_BUS_URL = "redis://127.0.0.1:6379/12"  # a database number of its own
PASSWORD = "multi-process-benchmark"  # noqa: S105 - a throwaway account in a throwaway data dir
SECRET_KEY = "multi-process-benchmark-secret-key-not-for-production-0123456789"  # noqa: S105
PAGE_SIZE = 100
NGINX_START_SECONDS = 10


class SetupError(Exception):
    """The benchmark cannot run at all."""


def nginx_binary() -> str:
    """nginx lives in /usr/sbin, which a non-root PATH may not include."""
    found = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.access(found, os.X_OK):
        raise SetupError("nginx is needed (/usr/sbin/nginx; scripts/test installs it)")
    return found


def render_site(backends: list[str], listen: str, server_name: str, location: str = "") -> str:
    """deploy/nginx.conf.template with its placeholders filled in."""
    site = TEMPLATE.read_text()
    for name, value in {
        "backends": "\n    ".join(f"server {backend};" for backend in backends),
        "listen": listen,
        "server_name": server_name,
        "location": location,
    }.items():
        site = site.replace(f"{{{{ {name} }}}}", value)
    return site


def nginx_conf(prefix: Path, site: str) -> str:
    """A whole nginx configuration of its own: pid, logs and temporary files under `prefix`."""
    # nginx started by root runs its workers as `nobody`, who may not enter a private temporary
    # directory; this instance only listens on loopback for a test, so its workers stay root.
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = "\n".join(
        f"    {kind}_temp_path {prefix / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""{user}worker_processes 1;
pid {prefix / "nginx.pid"};
error_log {prefix / "error.log"} warn;
events {{ worker_connections 1024; }}
http {{
    access_log {prefix / "access.log"};
{temp}
{site}
}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_nginx(backends: list[str], prefix: Path, location: str = ""):
    """nginx in front of `backends` ("127.0.0.1:8001") on a free loopback port, until the block
    ends; yields its URL. Never the system's nginx configuration or service."""
    prefix.mkdir(parents=True, exist_ok=True)
    port = free_port()
    site = render_site(backends, f"listen 127.0.0.1:{port};", "127.0.0.1 localhost", location)
    conf = prefix / "nginx.conf"
    conf.write_text(nginx_conf(prefix, site))
    process = subprocess.Popen(
        [nginx_binary(), "-c", str(conf), "-p", str(prefix), "-e", str(prefix / "error.log"),
         "-g", "daemon off;"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + NGINX_START_SECONDS
        while True:
            if process.poll() is not None:
                raise SetupError(f"nginx exited: {process.stderr.read().decode()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError as exc:
                if time.monotonic() > deadline:
                    raise SetupError(
                        f"nginx did not listen within {NGINX_START_SECONDS} s"
                    ) from exc
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGQUIT)  # graceful: open websockets are closed cleanly
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def throwaway_postgres(name: str, server_url: str = POSTGRES_URL):
    """An empty PostgreSQL database `name` for the metadata, dropped when the block ends."""
    import psycopg2

    def admin():
        conn = psycopg2.connect(f"{server_url}/postgres", connect_timeout=5)
        conn.autocommit = True  # CREATE/DROP DATABASE cannot run in a transaction
        return conn

    try:
        conn = admin()
    except psycopg2.Error as exc:
        raise SetupError(f"PostgreSQL is needed at {server_url}: {exc}") from exc
    # Not `with conn`: psycopg2 opens a transaction block there, even in autocommit.
    with conn.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    try:
        yield f"{server_url}/{name}"
    finally:
        conn = admin()
        with conn.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()


def cluster_env(
    data_dir: Path, database_url: str, orders: int, password: str, event_bus: str = EVENT_BUS_URL
) -> dict:
    """The environment every process of one installation shares: metadata database, data
    directory, secret (sessions signed by one are read by the others) and event bus."""
    from tests.e2e.test_grid_browser import server_env

    env = server_env(data_dir, password, orders)
    env.update(
        DATABASE_URL=database_url,
        SECRET_KEY=SECRET_KEY,
        NOCOFLO_EVENT_BUS_URL=event_bus,
        NOCOFLO_TRUSTED_PROXIES="127.0.0.1",  # nginx, for the sign-in throttling's addresses
    )
    return env


def start_processes(stack: ExitStack, env: dict, work: Path, count: int, *serve_args: str):
    """`count` `manage.py serve` processes with the environment `env`, each on a free port with
    its log in `work`, until `stack` closes. Answers {"127.0.0.1:port": (Server, process)}."""
    from tests.e2e.test_grid_browser import Server, _free_port, serving

    data_dir = Path(env["NOCOFLO_DATA_DIR"])
    started = {}
    for n in range(1, count + 1):
        port = _free_port()
        server = Server(f"http://127.0.0.1:{port}", data_dir, work / f"server-{n}.log")
        log = stack.enter_context(open(server.log_path, "w"))
        started[f"127.0.0.1:{port}"] = (
            server,
            stack.enter_context(serving(env, port, log, server, *serve_args)),
        )
    return started


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20, help="concurrent clients")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured time per set-up")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before measuring")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of one, then two processes")
    parser.add_argument("--client-processes", type=int, default=4,
                        help="processes the clients run in (as threads)")  # fmt: skip
    parser.add_argument("--orders", type=int, default=20_000, help="demo orders table size")
    parser.add_argument("--min-ratio", type=float, default=1.2,
                        help="two processes must serve this many times one's req/s")  # fmt: skip
    parser.add_argument("--sqlite-metadata", action="store_true",
                        help="metadata in a SQLite file both processes share")  # fmt: skip
    parser.add_argument("--data-dir", type=Path, default=None, help="default: a temporary one")
    parser.add_argument("--seed", type=int, default=7)
    return parser.parse_args(argv)


def api_token(base_url: str) -> tuple[str, int]:
    """Sign in as the admin, make a read token and find the orders table: (token, table id)."""
    import httpx

    from benchmarks import rows_api

    with httpx.Client(base_url=base_url, timeout=30) as client:
        try:
            rows_api.login(client, "admin", PASSWORD)
            table = rows_api.find_table(client, "orders")
        except rows_api.SetupError as exc:
            raise SetupError(str(exc)) from exc
        headers = {"X-CSRFToken": client.cookies["csrftoken"], "Referer": f"{base_url}/"}
        made = client.post("/api/tokens", json={"name": "benchmark", "scopes": ["read"]},
                           headers=headers)  # fmt: skip
        if made.status_code != 201:
            raise SetupError(f"POST /api/tokens: HTTP {made.status_code} {made.text[:200]}")
        return made.json()["token"], table["id"]


def cpu_seconds(pids: list[int]) -> float:
    """CPU time (user and system) the processes `pids` have used so far."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of stat
    return total / os.sysconf("SC_CLK_TCK")


def client_process(
    url: str, path: str, token: str, clients: list[int], orders: int, seed: int,
    measure_from: float, measure_until: float,
) -> tuple[int, str]:  # fmt: skip
    """Clients `clients` as threads of this process: (requests answered while measuring, the
    first failure or "")."""
    import http.client
    import json
    from urllib.parse import urlsplit

    where = urlsplit(url)
    counts = dict.fromkeys(clients, 0)
    failures: list[str] = []

    def client(n: int) -> None:
        rng = random.Random(seed + n)
        # No cookies: nginx spreads such clients request by request over its backends. The
        # stdlib's client over one kept-alive connection costs little CPU next to the servers'.
        conn = http.client.HTTPConnection(where.hostname, where.port, timeout=30)
        headers = {"Authorization": f"Bearer {token}"}
        checked = False
        try:
            while (now := time.monotonic()) < measure_until:
                offset = rng.randrange(max(1, orders - PAGE_SIZE))
                conn.request("GET", f"{path}?limit={PAGE_SIZE}&offset={offset}", headers=headers)
                response = conn.getresponse()
                body = response.read()
                if response.status != 200:
                    failures.append(f"HTTP {response.status}: {body[:200]!r}")
                    return
                if not checked:  # a full page of rows (parsing every answer would cost more)
                    rows = len(json.loads(body)["rows"])
                    if rows != PAGE_SIZE:
                        failures.append(f"{rows} rows instead of {PAGE_SIZE}")
                        return
                    checked = True
                if now >= measure_from and time.monotonic() <= measure_until:
                    counts[n] += 1
        except (OSError, http.client.HTTPException) as exc:
            failures.append(repr(exc))
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts.values()), (failures or [""])[0]


def load(url: str, token: str, table_id: int, args: argparse.Namespace) -> float:
    """Requests per second of `args.clients` clients during `args.seconds` after a warm-up.

    The clients run in several processes: one Python process (one core at most, like a server)
    would be the limit before two servers are."""
    from concurrent.futures import ProcessPoolExecutor

    processes = max(1, min(args.clients, args.client_processes))
    groups = [list(range(args.clients))[k::processes] for k in range(processes)]
    with ProcessPoolExecutor(processes) as pool:
        list(pool.map(time.sleep, [0] * processes))  # the processes are up before the clock runs
        measure_from = time.monotonic() + args.warmup
        measure_until = measure_from + args.seconds
        path = f"/api/tables/{table_id}/rows"
        futures = [
            pool.submit(client_process, url, path, token, group, args.orders, args.seed,
                        measure_from, measure_until)
            for group in groups
        ]  # fmt: skip
        answers = [future.result() for future in futures]
    failures = [failure for _count, failure in answers if failure]
    if failures:
        raise SetupError(f"the rows API failed through nginx: {failures[0]}")
    return sum(count for count, _failure in answers) / args.seconds


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.clients < 1 or args.rounds < 1 or args.seconds <= 0 or args.orders <= PAGE_SIZE:
        print(f"--clients and --rounds >= 1, --seconds > 0, --orders > {PAGE_SIZE} please",
              file=sys.stderr)  # fmt: skip
        return 2
    from tests.e2e.test_grid_browser import prepare_demo

    try:
        with ExitStack() as stack:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="nocoflo-multi-")))
            data_dir = args.data_dir or work / "data"
            data_dir.mkdir(parents=True, exist_ok=True)
            if args.sqlite_metadata:
                database_url = f"sqlite:///{data_dir / 'nocoflo.sqlite3'}"
            else:
                name = f"nocoflo_bench_{os.getpid()}"
                database_url = stack.enter_context(throwaway_postgres(name))
            env = cluster_env(data_dir, database_url, args.orders, PASSWORD)
            print(f"metadata {database_url}, event bus {EVENT_BUS_URL}, {args.orders:,} orders")
            prepare_demo(env, data_dir)
            # Access logs off: a line per request would cost the servers more than the requests.
            started = start_processes(stack, env, work, 2, "--log-level", "warning")
            backends = list(started)
            pids = [process.pid for _server, process in started.values()]
            token, table_id = api_token(f"http://{backends[0]}")
            # Rounds alternate one process and two, so that a change in what else runs on the
            # machine during the benchmark weighs on both alike.
            rates: dict[int, list[float]] = {1: [], 2: []}
            cores: dict[int, list[float]] = {1: [], 2: []}
            for round_ in range(args.rounds):
                for count in (1, 2):
                    prefix = work / f"nginx-{round_}-{count}"
                    with running_nginx(backends[:count], prefix) as url:
                        cpu, started = cpu_seconds(pids), time.monotonic()
                        rates[count].append(load(url, token, table_id, args))
                        # How busy the servers were: near 1 core per process means the servers
                        # were the limit; less means the machine (clients, others) was.
                        cores[count].append(
                            (cpu_seconds(pids) - cpu) / (time.monotonic() - started)
                        )
                print(f"round {round_ + 1}: {rates[1][-1]:.1f} req/s with one process "
                      f"({cores[1][-1]:.2f} cores busy), {rates[2][-1]:.1f} with two "
                      f"({cores[2][-1]:.2f} cores); load average {os.getloadavg()[0]:.1f}",
                      flush=True)  # fmt: skip
            results = {count: sum(found) / len(found) for count, found in rates.items()}
    except (SetupError, AssertionError) as exc:
        print(f"cannot run the benchmark: {exc}", file=sys.stderr)
        return 2
    ratio = results[2] / results[1]
    met = ratio >= args.min_ratio
    print(f"\nGET /api/tables/{{id}}/rows ({PAGE_SIZE} rows), {args.clients} clients through nginx,"
          f" mean of {args.rounds} rounds of {args.seconds:g} s")  # fmt: skip
    print(f"{'one process':<16} {results[1]:8.1f} req/s")
    print(f"{'two processes':<16} {results[2]:8.1f} req/s")
    verdict = "met" if met else "NOT met"
    print(f"{'ratio':<16} {ratio:8.2f}   (target >= {args.min_ratio:.2f}: {verdict})")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
