"""Nocoflo's rows API and Datasette's JSON API side by side on one SQLite file, raw sqlite3 below.

Both servers run at once on the same file, each opened read-write as usual (Datasette is not
given immutable mode, which would let it skip locking and cache its counts: Nocoflo does not
get that either). Each case alternates a Nocoflo call, a Datasette call and the same query
through the stdlib ``sqlite3`` module in this process, followed by ``json.dumps`` of the rows as
objects (the lower bound a JSON API can reach), so load on the machine hits all three alike.

How to run it::

    .venv/bin/python benchmarks/side_by_side.py --db /tmp/big/demo10m.sqlite3
    .venv/bin/python benchmarks/side_by_side.py --rows 1000000     # builds a demo file first

``--db`` must be a demo database (``datasources_app/demo_data.py``: ``orders`` with ``id
INTEGER PRIMARY KEY``, ``ordered_at`` indexed, ``status``, ``quantity`` and ``comment`` not).
The file is only read. The server's metadata goes to a throwaway data directory.

Cases (100-row pages): the first page with its count, a keyset page 90% deep (after the id 90% of
the way from the first id to the last: Nocoflo's cursor, Datasette's ``_next``, sqlite3's
``WHERE id > ?``), the same keyset page with each side's calls made in a row instead of alternating
(for information: a server called between other programs' work runs colder on a small or virtual
machine), an offset page 90% deep, sort on an indexed and an unindexed column (and the unindexed
one again with Datasette given Nocoflo's ORDER BY, ties broken by the key, through its SQL API: its
``_sort`` leaves ties unordered, which a sort of few distinct values finishes sooner; for
information), an equality and a contains filter, a search, a chart aggregate (rows per status), the
count shown to the user, and ``--concurrency`` clients paging by keyset for ``--seconds`` (requests
per second; each server half the time twice, in the order Nocoflo, Datasette, Datasette, Nocoflo).
Datasette gets ``_nocount=1`` and Nocoflo ``count=false`` on every line except the first page,
the "both count" filter line and the count, where each counts as it does for its users (Nocoflo:
the rowid span as an estimate for a whole table, up to 10,001 matches for a filter or search).
Datasette has no search without full-text indexes, so its search line is ``comment__contains``
and has no target; it has no offset paging on tables either (n/a). A case whose warm-up call
takes over a second is timed at most 5 times. Timed calls go over one kept-alive connection per
client with the standard library's http.client (see KeepAliveClient).

Targets:

- Nocoflo's median at most Datasette's (ratio <= 1.0) on each paging, sorting, filtering and
  concurrency line (for concurrency the ratio is Datasette's requests/s over Nocoflo's);
- a keyset page at most 3 ms above sqlite3 + json.dumps;
- Nocoflo's server RSS under 250 MB after 1,000 keyset pages (the target holds at 10,000,000
  rows).

Exit code: 0 when every target is met, 1 when one is missed (or a case failed), 2 when the
benchmark cannot run (a server does not start, sign-in fails, the file is no demo database).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import httpx

# Run as a script, so the project's packages are found from its root.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import plugin_memory as pm  # noqa: E402
from benchmarks import rows_api  # noqa: E402
from benchmarks.edit_roundtrip import stop_server  # noqa: E402
from benchmarks.rows_api import cursor_from, fetch_page, login, median, p95  # noqa: E402

PAGE = 100
DEPTH = 0.9  # deep pages start 90% into the table
WARMUP = 2
SLOW_CALL_S = 1.0  # a case whose warm-up call takes longer is repeated at most SLOW_REPEAT times
SLOW_REPEAT = 5
POOL = 20  # keyset starting points, evenly spread, for the concurrency and memory runs
CHAIN = 5  # pages a concurrent client follows from a starting point before picking another
MAX_RATIO = 1.0
KEYSET_SLACK_MS = 3.0
MAX_RSS_MB = 250.0
DATASETTE = Path(sys.executable).parent / "datasette"
STARTUP_S = 90


class SetupError(Exception):
    """The benchmark cannot run; exit code 2."""


SETUP_ERRORS = (SetupError, pm.SetupError, rows_api.SetupError)


@dataclass
class Side:
    """One way of answering a case: a call returning the ids of the rows it got."""

    call: Callable[[], list] | None
    note: str = ""
    samples: list[float] = field(default_factory=list)
    ids: list | None = None
    error: str = ""


@dataclass
class Case:
    name: str
    nocoflo: Side
    datasette: Side
    sqlite: Side
    target: str = ""  # "ratio", "ratio+keyset" or "" (shown for information)
    shown: str = ""  # what the user sees (the counts)
    # Calls alternate between the sides; else each side makes all its timed calls in a row.
    interleaved: bool = True


@dataclass
class Servers:
    nocoflo: KeepAliveClient
    rows_path: str
    aggregate_path: str
    datasette: KeepAliveClient
    table_path: str  # Datasette's /<database>/orders.json
    sql_path: str  # Datasette's /<database>.json
    db: sqlite3.Connection
    rows: int
    first_id: int
    last_id: int
    nocoflo_pid: int
    datasette_pid: int


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, help="a demo SQLite file (default: build one)")
    parser.add_argument("--rows", type=int, default=1_000_000, help="orders when building")
    parser.add_argument("--repeat", type=int, default=15, help="timed calls per case and side")
    parser.add_argument("--concurrency", type=int, default=20, help="concurrent clients")
    parser.add_argument("--seconds", type=float, default=20.0, help="concurrency run per server")
    parser.add_argument("--memory-pages", type=int, default=1000, help="pages before the RSS")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    if min(args.rows, args.repeat, args.concurrency, args.memory_pages) < 1 or args.seconds <= 0:
        parser.error("--rows, --repeat, --concurrency, --memory-pages and --seconds must be > 0")
    return args


# --- the servers ---------------------------------------------------------------------------------


def start_nocoflo(db: Path, base: Path, rows: int) -> tuple[subprocess.Popen, str]:
    """`manage.py serve` with `db` as its demo datasource and its metadata in `base/data`;
    the server's output goes to `base/nocoflo.log`. Answers the process and its URL."""
    data_dir = base / "data"
    env = pm.server_env(data_dir, "", rows)
    env["NOCOFLO_DEMO_DB"] = str(db.resolve())  # setup_demo registers this file, never builds
    print(f"{rows:,} orders in {db}; preparing Nocoflo's metadata in {data_dir}", flush=True)
    pm.prepare(data_dir, env, rows, None)
    port = pm.free_port()
    return pm.start_server(env, port, base / "nocoflo.log"), f"http://127.0.0.1:{port}"


def start_datasette(db: Path, port: int, log_path: Path) -> subprocess.Popen:
    command = [
        str(DATASETTE), "serve", str(db), "--host", "127.0.0.1", "--port", str(port),
        # Nocoflo stops a statement after 10 s and answers at most 1,000 rows: the same here.
        "--setting", "sql_time_limit_ms", "10000",
        "--setting", "max_returned_rows", "1000",
        "--setting", "default_page_size", str(PAGE),
        # Facet suggestions are extra queries for the HTML page a JSON client does not use.
        "--setting", "suggest_facets", "off",
    ]  # fmt: skip
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SetupError(f"Datasette exited:\n{pm.log_tail(log_path)}")
        try:
            url = f"http://127.0.0.1:{port}/-/versions.json"
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return process
        except OSError:
            time.sleep(0.2)
    stop_server(process)
    raise SetupError(f"Datasette did not answer within {STARTUP_S} s")


def datasette_route(client: KeepAliveClient, db: Path) -> str:
    answer = client.get("/-/databases.json")
    if answer.status_code != 200:
        raise SetupError(f"Datasette /-/databases.json: HTTP {answer.status_code}")
    for database in answer.json():
        if Path(database.get("path") or "").resolve() == db.resolve():
            return database.get("route") or database["name"]
    raise SetupError(f"Datasette does not serve {db}")


def nocoflo_orders(client: KeepAliveClient) -> int:
    answer = client.get("/api/tables")
    if answer.status_code != 200:
        raise SetupError(f"GET /api/tables: HTTP {answer.status_code}")
    ids = [t["id"] for t in answer.json() if t.get("name") == "orders"]
    if not ids:
        raise SetupError("Nocoflo lists no orders table")
    return ids[0]


class KeepAliveClient:
    """GET on one kept-alive HTTP/1.1 connection (http.client), for the timed calls of both
    servers: httpx spends about a millisecond of its own Python on every call, which would be
    counted against the server measured and, with 20 clients on the same cores, take their CPU.
    Answers what `fetch_page` reads of an httpx response; errors are httpx.TransportError."""

    def __init__(self, url: str, cookies: dict[str, str] | None = None) -> None:
        parsed = httpx.URL(url)
        self.connection = http.client.HTTPConnection(parsed.host, parsed.port, timeout=120)
        cookie = "; ".join(f"{name}={value}" for name, value in (cookies or {}).items())
        self.headers = {"Cookie": cookie} if cookie else {}

    def get(self, path: str, params: dict | None = None) -> Answer:
        target = f"{path}?{urlencode(params)}" if params else path
        try:
            try:
                return self._request(target)
            except (http.client.RemoteDisconnected, ConnectionResetError):
                # A server closes a connection idle for a few seconds (uvicorn: 5 s): the
                # request is sent again, once, on a new connection, as httpx does.
                return self._request(target)
        except (OSError, http.client.HTTPException) as exc:
            raise httpx.TransportError(f"GET {path}: {exc}") from exc

    def _request(self, target: str) -> Answer:
        try:
            self.connection.request("GET", target, headers=self.headers)
            response = self.connection.getresponse()
            return Answer(response.status, response.read())
        except (OSError, http.client.HTTPException):
            self.connection.close()  # the next request opens a new connection
            raise

    def close(self) -> None:
        self.connection.close()


@dataclass
class Answer:
    status_code: int
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.content)


def nocoflo_client(url: str) -> KeepAliveClient:
    """A client signed in as the benchmark's admin (signing in through httpx)."""
    with httpx.Client(base_url=url, timeout=120) as client:
        login(client, pm.ADMIN, pm.PASSWORD)
        return KeepAliveClient(url, dict(client.cookies))


# --- the calls -----------------------------------------------------------------------------------


def nocoflo_rows(servers: Servers, params: dict, client: KeepAliveClient | None = None) -> dict:
    return fetch_page(client or servers.nocoflo, servers.rows_path, params)


def nocoflo_ids(servers: Servers, params: dict) -> Callable[[], list]:
    return lambda: [r["values"]["id"] for r in nocoflo_rows(servers, params)["rows"]]


def datasette_page(servers: Servers, params: dict, client: KeepAliveClient | None = None) -> dict:
    return fetch_page(client or servers.datasette, servers.table_path, {"_size": PAGE, **params})


def datasette_ids(servers: Servers, params: dict) -> Callable[[], list]:
    def call() -> list:
        page = datasette_page(servers, params)
        at = page["columns"].index("id")
        return [row[at] for row in page["rows"]]

    return call


def sqlite_ids(servers: Servers, tail: str, args: tuple = ()) -> Callable[[], list]:
    """The rows of `SELECT * FROM orders <tail>`, as objects in JSON."""
    sql = f"SELECT * FROM orders {tail}"  # noqa: S608 - the tails are this file's constants

    def call() -> list:
        cursor = servers.db.execute(sql, args)
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        json.dumps(rows)  # what any JSON API has to do with the rows at least
        return [row.get("id") for row in rows]

    return call


def filters(*conditions: tuple[str, str, object]) -> str:
    return json.dumps([{"column": c, "op": o, "value": v} for c, o, v in conditions])


def build_cases(servers: Servers) -> list[Case]:
    s = servers
    deep = int(s.rows * DEPTH)
    boundary = s.first_id + int((s.last_id - s.first_id) * DEPTH)
    cursor = cursor_after_id(s, boundary)
    # Lines where Datasette does not count (_nocount) ask Nocoflo for none either (count=false),
    # so both do the same work; the first page and "both count" lines time the counts.
    nocount = {"_nocount": 1}
    uncounted = {"limit": PAGE, "count": "false"}
    page = f"LIMIT {PAGE}"
    contains = "gift"

    def keyset_sides() -> tuple[Side, Side, Side]:
        return (
            Side(nocoflo_ids(s, {"limit": PAGE, "cursor": cursor}) if cursor else None, "no next"),
            Side(datasette_ids(s, {"_next": boundary, **nocount})),
            Side(sqlite_ids(s, f"WHERE id > ? ORDER BY id {page}", (boundary,))),
        )

    cases = [
        Case(
            "first page (with count)",
            Side(nocoflo_ids(s, {"limit": PAGE})),
            Side(datasette_ids(s, {})),
            Side(sqlite_ids(s, f"ORDER BY id {page}")),
            target="ratio",
        ),
        Case(
            "first page, neither counts",
            Side(nocoflo_ids(s, uncounted)),
            Side(datasette_ids(s, nocount)),
            Side(sqlite_ids(s, f"ORDER BY id {page}")),
        ),
        Case(f"keyset page after id {boundary:,}", *keyset_sides(), target="ratio+keyset"),
        # The same page with nothing else run between one call and the next: how much of the
        # line above is the cost of a server woken between other programs' work.
        Case("keyset page, each side's calls in a row", *keyset_sides(), interleaved=False),
        Case(
            f"offset page at row {deep:,}",
            Side(nocoflo_ids(s, {"limit": PAGE, "offset": deep})),
            Side(None, "n/a: no offset on tables"),
            Side(sqlite_ids(s, f"ORDER BY id {page} OFFSET {deep}")),
        ),
        sort_case(s, "ordered_at", "indexed", descending=True),
        sort_case(s, "quantity", "unindexed"),
        same_order_case(s, "quantity"),
        Case(
            "filter status = shipped",
            Side(nocoflo_ids(s, {**uncounted, "filters": filters(("status", "eq", "shipped"))})),
            Side(datasette_ids(s, {"status__exact": "shipped", **nocount})),
            Side(sqlite_ids(s, f"WHERE status = 'shipped' ORDER BY id {page}")),
            target="ratio",
        ),
        Case(
            # Nocoflo's first page of a filter counts up to 10,001 matches; Datasette counts
            # every match.
            "filter status = shipped, both count",
            Side(nocoflo_ids(s, {"limit": PAGE, "filters": filters(("status", "eq", "shipped"))})),
            Side(datasette_ids(s, {"status__exact": "shipped"})),
            Side(sqlite_ids(s, f"WHERE status = 'shipped' ORDER BY id {page}")),
        ),
        Case(
            f"filter comment contains {contains}",
            Side(
                nocoflo_ids(s, {**uncounted, "filters": filters(("comment", "contains", contains))})
            ),
            Side(datasette_ids(s, {"comment__contains": contains, **nocount})),
            Side(sqlite_ids(s, f"WHERE comment LIKE ? ORDER BY id {page}", (f"%{contains}%",))),
            target="ratio",
        ),
        Case(
            f"search q={contains} (D: comment__contains)",
            Side(nocoflo_ids(s, {**uncounted, "q": contains})),
            Side(datasette_ids(s, {"comment__contains": contains, **nocount})),
            # Nocoflo searches every text column of orders: status and comment.
            Side(
                sqlite_ids(
                    s,
                    f"WHERE status LIKE ? OR comment LIKE ? ORDER BY id {page}",
                    (f"%{contains}%",) * 2,
                )
            ),
        ),
    ]
    cases.append(aggregate_case(s))
    cases.append(count_case(s))
    return cases


def cursor_after_id(s: Servers, row_id: int) -> str | None:
    """Nocoflo's cursor for the rows after `row_id`: the `next` of a one-row page filtered to
    `id >= row_id` (a cursor holds only the last key, so it pages the whole table; a deep offset
    page would scan millions of rows for it)."""
    after = filters(("id", "gte", row_id))
    return cursor_from(nocoflo_rows(s, {"limit": 1, "filters": after}).get("next"))


def sort_case(s: Servers, column: str, kind: str, descending: bool = False) -> Case:
    """The first page sorted by `column` (the key breaks ties); neither counts."""
    order = "DESC" if descending else ""
    sort = ("-" if descending else "") + column
    return Case(
        f"sort {sort} ({kind})",
        Side(nocoflo_ids(s, {"limit": PAGE, "count": "false", "sort": sort})),
        Side(datasette_ids(s, {"_sort_desc" if descending else "_sort": column, "_nocount": 1})),
        Side(sqlite_ids(s, f"ORDER BY {column} {order}, id {order} LIMIT {PAGE}")),
        target="ratio",
    )


def same_order_case(s: Servers, column: str) -> Case:
    """The unindexed sort again, Datasette given the same ORDER BY through its SQL API.

    Datasette's ``_sort`` orders by the column alone, so rows with equal values come in no
    defined order and cost the sort no second comparison; Nocoflo breaks ties by the key, as
    keyset paging needs (the next page starts after the last row's value and key)."""
    sql = f"SELECT * FROM orders ORDER BY {column}, id LIMIT {PAGE}"  # noqa: S608 - constants

    def datasette() -> list:
        return [
            row["id"]
            for row in fetch_page(s.datasette, s.sql_path, {"sql": sql, "_shape": "array"})
        ]

    return Case(
        f"sort {column}, ties by id (D: same SQL)",
        Side(nocoflo_ids(s, {"limit": PAGE, "count": "false", "sort": column})),
        Side(datasette),
        Side(sqlite_ids(s, f"ORDER BY {column}, id LIMIT {PAGE}")),
    )


def aggregate_case(s: Servers) -> Case:
    sql = "SELECT status, count(*) AS n FROM orders GROUP BY status ORDER BY status"

    def nocoflo() -> list:
        answer = fetch_page(s.nocoflo, s.aggregate_path, {"x": "status", "agg": "count"})
        return sorted(zip(answer["x"], answer["series"][0]["y"], strict=True))

    def datasette() -> list:
        answer = fetch_page(s.datasette, s.sql_path, {"sql": sql, "_shape": "array"})
        return sorted((row["status"], row["n"]) for row in answer)

    def raw() -> list:
        rows = s.db.execute(sql).fetchall()
        json.dumps([{"status": status, "n": n} for status, n in rows])
        return sorted(rows)

    return Case("chart: count per status", Side(nocoflo), Side(datasette), Side(raw))


def count_case(s: Servers) -> Case:
    """What each shows as the number of rows: Nocoflo's first-page count as it comes (a 1-row page),
    Datasette's table count (also a 1-row page), sqlite3's count(*)."""
    shown: dict[str, str] = {}

    def nocoflo() -> list:
        answer = nocoflo_rows(s, {"limit": 1})
        shown["Nocoflo"] = f"{answer.get('count'):,} ({answer.get('count_accuracy') or 'exact'})"
        return [answer.get("count")]

    def datasette() -> list:
        answer = datasette_page(s, {"_size": 1})
        count = answer.get("filtered_table_rows_count")
        shown["Datasette"] = "none (timed out)" if count is None else f"{count:,} (exact)"
        return [count]

    def raw() -> list:
        count = s.db.execute("SELECT count(*) FROM orders").fetchone()[0]
        shown["sqlite3"] = f"{count:,}"
        return [count]

    case = Case("count shown to the user", Side(nocoflo), Side(datasette), Side(raw))
    case.shown = shown  # filled in as the calls run
    return case


# --- measuring -----------------------------------------------------------------------------------


def run_case(case: Case, repeat: int) -> None:
    sides = [side for side in (case.nocoflo, case.datasette, case.sqlite) if side.call]
    slow = False
    for side in sides:
        try:
            for _ in range(WARMUP):
                started = time.perf_counter()
                side.ids = side.call()
                slow |= time.perf_counter() - started > SLOW_CALL_S
        except (RuntimeError, KeyError, ValueError, TypeError, httpx.HTTPError) as exc:
            side.error = str(exc)[:200]
    live = [side for side in sides if not side.error]
    times = min(repeat, SLOW_REPEAT) if slow else repeat
    # Interleaved, so a burst of load hits every side; in a row, side after side.
    turns = [live] * times if case.interleaved else [[side] * times for side in live]
    for turn in turns:
        for side in turn:
            started = time.perf_counter()
            try:
                side.call()
            except (RuntimeError, KeyError, ValueError, httpx.HTTPError) as exc:
                side.error = str(exc)[:200]
                continue
            side.samples.append((time.perf_counter() - started) * 1000)


def concurrent_rps(servers: Servers, url: str, starts: list, kind: str, args) -> tuple[float, int]:
    """Requests per second of `args.concurrency` clients, each on its own connection, following
    keyset pages for a few steps from random starting points; and the number of failed calls."""
    stop_at = [0.0]
    done = [0] * args.concurrency
    failed = [0] * args.concurrency
    # The clock starts when every client is signed in and waiting, and not a moment before.
    ready = threading.Barrier(
        args.concurrency + 1, action=lambda: stop_at.__setitem__(0, time.monotonic() + args.seconds)
    )

    def worker(n: int) -> None:
        rng = random.Random(n)
        try:
            client = nocoflo_client(url) if kind == "nocoflo" else KeepAliveClient(url)
        except (*SETUP_ERRORS, httpx.HTTPError):
            failed[n] += 1
            ready.wait()
            return
        try:
            ready.wait()
            while time.monotonic() < stop_at[0]:
                point = rng.choice(starts)
                for _ in range(CHAIN):
                    try:
                        if kind == "nocoflo":
                            page = nocoflo_rows(servers, {"limit": PAGE, "cursor": point}, client)
                            point = cursor_from(page.get("next"))
                        else:
                            page = datasette_page(servers, {"_next": point, "_nocount": 1}, client)
                            point = page.get("next")
                    except (RuntimeError, httpx.HTTPError):
                        failed[n] += 1
                        break
                    done[n] += 1
                    if not point or time.monotonic() >= stop_at[0]:
                        break
        finally:
            client.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(args.concurrency)]
    for thread in threads:
        thread.start()
    ready.wait()
    started = stop_at[0] - args.seconds
    for thread in threads:
        thread.join()
    return sum(done) / (time.monotonic() - started), sum(failed)


def keyset_starts(servers: Servers) -> tuple[list[str], list[int]]:
    """Nocoflo cursors and the matching ids (Datasette's _next) at POOL evenly spread ids."""
    cursors, ids = [], []
    span = servers.last_id - servers.first_id
    for n in range(POOL):
        row_id = servers.first_id + span * n // POOL
        cursor = cursor_after_id(servers, row_id)
        if cursor:
            cursors.append(cursor)
            ids.append(row_id)
    if not cursors:
        raise SetupError("Nocoflo answers no 'next' cursor on the orders table")
    return cursors, ids


def memory_run(servers: Servers, cursors: list[str], pages: int) -> tuple[int, int]:
    """`pages` keyset pages through Nocoflo, in chains from the starting points; (pages, errors)."""
    fetched = errors = 0
    chain = max(pages // len(cursors), 1)
    while fetched + errors < pages:
        for start in cursors:
            point = start
            for _ in range(chain):
                if fetched + errors >= pages or not point:
                    break
                try:
                    point = cursor_from(
                        nocoflo_rows(servers, {"limit": PAGE, "cursor": point}).get("next")
                    )
                    fetched += 1
                except RuntimeError:
                    errors += 1
                    break
    return fetched, errors


# --- the report ----------------------------------------------------------------------------------


def same_rows(case: Case) -> str:
    got = [
        side.ids
        for side in (case.nocoflo, case.datasette, case.sqlite)
        if side.call and not side.error
    ]
    if len(got) < 2:
        return "-"
    if all(ids == got[0] for ids in got):
        return "same"
    if all(sorted(map(str, ids)) == sorted(map(str, got[0])) for ids in got):
        return "same set"
    return "DIFFER"


def timing(side: Side) -> str:
    if not side.call:
        return "n/a"
    if side.error or not side.samples:
        return "ERROR"
    return f"{median(side.samples):8.1f} / {p95(side.samples):8.1f}"


def verdict(case: Case) -> tuple[str, str, bool]:
    """(ratio text, verdict text, met) of one case."""
    n, d, s = case.nocoflo, case.datasette, case.sqlite
    if n.error or (n.call and not n.samples):
        return "-", "FAIL (Nocoflo error)" if case.target else "Nocoflo error", not case.target
    if not d.call or d.error or not d.samples:
        return "n/a", "info", True
    ratio = median(n.samples) / median(d.samples)
    if not case.target:
        return f"{ratio:.2f}", "info", True
    ok = ratio <= MAX_RATIO
    text = f"N/D <= {MAX_RATIO:g} {'ok' if ok else 'MISSED'}"
    if case.target == "ratio+keyset" and s.samples:
        above = median(n.samples) - median(s.samples)
        fine = above <= KEYSET_SLACK_MS
        text += f"; {above:+.1f} ms vs sqlite3 <= {KEYSET_SLACK_MS:g} {'ok' if fine else 'MISSED'}"
        ok = ok and fine
    return f"{ratio:.2f}", ("PASS " if ok else "FAIL ") + text, ok


def load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def report(cases: list[Case], extra: dict, args) -> bool:
    print(f"\n{extra['rows']:,} orders in {extra['db']}; ms; {load()}")
    print(f"{args.repeat} timed calls per side (at most {SLOW_REPEAT} when a call takes over "
          f"{SLOW_CALL_S:g} s); sqlite3+json: the query here, then json.dumps")  # fmt: skip
    header = (
        f"{'case':<40} {'Nocoflo med / p95':>19} {'Datasette med / p95':>19} "
        f"{'sqlite3+json':>12} {'N/D':>5} {'rows':>8}  verdict"
    )
    print(header)
    print("-" * len(header))
    met = True
    for case in cases:
        ratio, text, ok = verdict(case)
        met &= ok
        sqlite_ms = (
            f"{median(case.sqlite.samples):12.1f}" if case.sqlite.samples else f"{'ERROR':>12}"
        )
        print(
            f"{case.name:<40} {timing(case.nocoflo):>19} {timing(case.datasette):>19} "
            f"{sqlite_ms} {ratio:>5} {same_rows(case):>8}  {text}"
        )
    rps_n, rps_d = extra["rps_nocoflo"], extra["rps_datasette"]
    ratio = rps_d / rps_n if rps_n else float("inf")
    ok = ratio <= MAX_RATIO and not extra["failed_nocoflo"]
    met &= ok
    name = f"{args.concurrency} clients, keyset pages (req/s)"
    print(
        f"{name:<40} {rps_n:>19.1f} {rps_d:>19.1f} {'-':>12} {ratio:>5.2f} {'-':>8}  "
        f"{'PASS' if ok else 'FAIL'} D/N req/s <= {MAX_RATIO:g} (failed calls: Nocoflo "
        f"{extra['failed_nocoflo']}, Datasette {extra['failed_datasette']})"
    )
    for case in cases:
        for who, side in (
            ("Nocoflo", case.nocoflo),
            ("Datasette", case.datasette),
            ("sqlite3", case.sqlite),
        ):
            if side.error:
                print(f"  {case.name}: {who} failed: {side.error}")
            elif not side.call and side.note:
                print(f"  {case.name}: {who} {side.note}")
        if case.shown:
            print("  count shown: " + "; ".join(f"{k} {v}" for k, v in case.shown.items()))
    print(
        "  Neither counts (Datasette _nocount=1, Nocoflo count=false) but on the first page,"
        " 'both count'\n  and the count lines; there Nocoflo gives an estimate for the whole"
        " table, up to 10,001 matches when filtered."
    )
    print(f"\nserver RSS after the run: Nocoflo {pm.mib(extra['rss_nocoflo']):.1f} MB, "
          f"Datasette {pm.mib(extra['rss_datasette']):.1f} MB")  # fmt: skip
    fine = extra["rss_memory"] / 1024 < MAX_RSS_MB and not extra["memory_errors"]
    met &= fine
    print(f"Nocoflo RSS after {extra['memory_pages']:,} more keyset pages "
          f"({extra['memory_errors']} failed): {pm.mib(extra['rss_memory']):.1f} MB  "
          f"target < {MAX_RSS_MB:g} MB  {'PASS' if fine else 'FAIL'}")  # fmt: skip
    print(f"{load()}\noverall: {'all targets met' if met else 'targets missed'}")
    return met


# --- main ----------------------------------------------------------------------------------------


def run(args, base: Path) -> bool:
    db = args.db
    if db is None:
        from datasources_app.demo_data import build_demo_database

        db = base / "demo.sqlite3"
        print(f"building a demo file of {args.rows:,} orders at {db}", flush=True)
        build_demo_database(db, orders=args.rows)
    if not db.is_file():
        raise SetupError(f"no such file: {db}")
    raw = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
    try:
        rows = raw.execute("SELECT count(*) FROM orders").fetchone()[0]
        # Two lookups: SQLite finds a lone min() or max() at the edge of the b-tree.
        first_id = raw.execute("SELECT min(id) FROM orders").fetchone()[0] or 0
        last_id = raw.execute("SELECT max(id) FROM orders").fetchone()[0] or 0
        if "id" not in [d[0] for d in raw.execute("SELECT * FROM orders LIMIT 0").description]:
            raise SetupError(f"{db} has no orders.id: not a demo database")
    except sqlite3.Error as exc:
        raise SetupError(f"{db} is no demo database: {exc}") from None
    nocoflo, n_url = start_nocoflo(db, base, rows)
    datasette = None
    try:
        d_port = pm.free_port()
        datasette = start_datasette(db, d_port, base / "datasette.log")
        d_url = f"http://127.0.0.1:{d_port}"
        n_client = nocoflo_client(n_url)
        d_client = KeepAliveClient(d_url)
        try:
            table = nocoflo_orders(n_client)
            route = datasette_route(d_client, db)
            servers = Servers(
                n_client, f"/api/tables/{table}/rows", f"/api/tables/{table}/aggregate",
                d_client, f"/{route}/orders.json", f"/{route}.json", raw, rows, first_id, last_id,
                nocoflo.pid, datasette.pid,
            )  # fmt: skip
            print(f"Nocoflo on {n_url} (pid {nocoflo.pid}), Datasette on {d_url} "
                  f"(pid {datasette.pid}); {load()}", flush=True)  # fmt: skip
            cases = build_cases(servers)
            for case in cases:
                print(f"  {case.name} ...", flush=True)
                run_case(case, args.repeat)
            print("  keyset starting points ...", flush=True)
            cursors, ids = keyset_starts(servers)
            extra = {"rows": rows, "db": db}
            # Both servers twice, in opposite order, so a change in load hits both alike.
            runs: dict[str, list] = {"nocoflo": [], "datasette": []}
            half = argparse.Namespace(concurrency=args.concurrency, seconds=args.seconds / 2)
            for kind in ("nocoflo", "datasette", "datasette", "nocoflo"):
                print(
                    f"  {args.concurrency} clients on {kind} for {half.seconds:g} s ...", flush=True
                )
                url, starts = (n_url, cursors) if kind == "nocoflo" else (d_url, ids)
                runs[kind].append(concurrent_rps(servers, url, starts, kind, half))
            for kind in runs:
                extra[f"rps_{kind}"] = sum(r for r, _ in runs[kind]) / 2
                extra[f"failed_{kind}"] = sum(f for _, f in runs[kind])
            extra["rss_nocoflo"], _ = pm.tree_rss_kib(nocoflo.pid)
            extra["rss_datasette"], _ = pm.tree_rss_kib(datasette.pid)
            print(f"  {args.memory_pages:,} keyset pages on Nocoflo ...", flush=True)
            extra["memory_pages"], extra["memory_errors"] = memory_run(
                servers, cursors, args.memory_pages
            )
            extra["rss_memory"], _ = pm.tree_rss_kib(nocoflo.pid)
        finally:
            n_client.close()
            d_client.close()
        if nocoflo.poll() is not None:
            raise SetupError(f"Nocoflo exited:\n{pm.log_tail(base / 'nocoflo.log')}")
        return report(cases, extra, args)
    finally:
        stop_server(nocoflo)
        if datasette is not None:
            stop_server(datasette)
        raw.close()


def cannot_run(problem: Exception, base: Path) -> int:
    print(f"cannot run the benchmark: {problem}", file=sys.stderr)
    print(f"(logs kept in {base})", file=sys.stderr)
    return 2


def finish(base: Path, keep: bool, met: bool) -> int:
    """The exit code for the targets; the temporary directory goes unless kept."""
    if keep:
        print(f"kept {base}")
    else:
        shutil.rmtree(base, ignore_errors=True)
    return 0 if met else 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not DATASETTE.exists():
        print(f"cannot run the benchmark: Datasette is needed at {DATASETTE}", file=sys.stderr)
        return 2
    base = Path(tempfile.mkdtemp(prefix="nocoflo-side-by-side-"))
    try:
        met = run(args, base)
    except (*SETUP_ERRORS, httpx.HTTPError, RuntimeError) as exc:
        return cannot_run(exc, base)
    return finish(base, args.keep, met)


if __name__ == "__main__":
    sys.exit(main())
