"""Benchmark Nocoflo's rows API over HTTP against plain SQL on the same database.

Each case fetches one 100-row page through ``GET /api/tables/{id}/rows`` of a running
server and runs the equivalent query straight through the database driver in this process
(the baseline): the stdlib ``sqlite3`` module on the SQLite file by default, or psycopg2
with ``--baseline-url`` when the table lives in PostgreSQL. The ratio shows how much the
API adds on top of the database work itself. With ``--pid`` it also watches the server's
resident memory while paging through the table.

How to run it:

1. Start the server with ``./scripts/run``. The admin password is printed on first run,
   or set it beforehand with ``NOCOFLO_ADMIN_PASSWORD``.
2. In another shell::

       python benchmarks/rows_api.py --base-url http://127.0.0.1:8000 \\
           --username admin --password PW --table orders \\
           --db PATH_TO_DEMO_SQLITE [--repeat 30] [--pid SERVER_PID]

   ``--db`` must be the SQLite file the server's ``orders`` table lives in (the demo
   database), and ``--pid`` the server process (find it with ``ps``) to report memory.
   For a table served from PostgreSQL (see ``benchmarks/load_postgres.py``), give
   ``--baseline-url postgresql://user@host:5432/nocoflo_bench`` instead of ``--db``.

The targets are printed next to the results; missing one does not change the exit code.
The exit code is 0 unless the benchmark cannot run at all (server unreachable, login
rejected, table or database file not found), in which case it is 2.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

LOGIN_PATH = "/accounts/login/"
PAGE_SIZE = 100
WARMUP_CALLS = 3
CURSOR_AFTER_ROW = 900_000
MEMORY_PAGES = 500

FAST_PAGE_MS = 15.0
MAX_RATIO = 1.5
MAX_RSS_MB = 250.0


class SetupError(Exception):
    """The benchmark cannot run at all; reported to the user with exit code 2."""


@dataclass
class Case:
    name: str
    params: dict[str, str | int]
    sql_tail: str  # everything after SELECT * FROM <table>
    sql_args: tuple = ()
    needs: tuple[str, ...] = ()
    target: str = ""  # "median" (< FAST_PAGE_MS), "ratio" (<= MAX_RATIO) or none
    skip_reason: str = ""


@dataclass
class Result:
    case: Case
    api_ms: list[float] = field(default_factory=list)
    sql_ms: list[float] = field(default_factory=list)
    rows_match: str = "?"
    error: str = ""


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def p95(samples: list[float]) -> float:
    if len(samples) < 2:
        return samples[0]
    return statistics.quantiles(samples, n=20, method="inclusive")[18]


# --- server access -----------------------------------------------------------------


def login(client: httpx.Client, username: str, password: str) -> None:
    page = client.get(LOGIN_PATH)
    if page.status_code != 200:
        raise SetupError(f"GET {LOGIN_PATH} returned HTTP {page.status_code}")
    token = client.cookies.get("csrftoken")
    if not token:
        # Fall back to the form field in case the cookie is not exposed.
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        if not match:
            raise SetupError("login page set no csrftoken cookie and has no CSRF form field")
        token = match.group(1)
    response = client.post(
        LOGIN_PATH,
        data={"username": username, "password": password, "csrfmiddlewaretoken": token},
        # Django checks the Referer on HTTPS; sending it always keeps both schemes working.
        headers={"Referer": str(client.base_url.join(LOGIN_PATH))},
    )
    # Django answers a successful login with a redirect and a failed one with the form.
    if response.status_code not in (301, 302, 303):
        raise SetupError(
            f"login as {username!r} failed (HTTP {response.status_code}); "
            "check --username/--password"
        )


def find_table(client: httpx.Client, name: str) -> dict:
    response = client.get("/api/tables")
    if response.status_code != 200:
        raise SetupError(f"GET /api/tables returned HTTP {response.status_code} (not signed in?)")
    try:
        tables = response.json()
    except ValueError:
        raise SetupError("GET /api/tables did not return JSON") from None
    if isinstance(tables, dict):  # tolerate a wrapped list
        tables = tables.get("tables") or tables.get("results") or tables.get("items") or []
    matches = [table for table in tables if table.get("name") == name]
    if not matches:
        available = ", ".join(sorted({str(table.get("name")) for table in tables})) or "none"
        raise SetupError(f"no table named {name!r} in /api/tables (available: {available})")
    if len(matches) > 1:
        print(f"note: {len(matches)} tables named {name!r}; using id {matches[0]['id']}")
    return matches[0]


def fetch_page(client: httpx.Client, path: str, params: dict) -> dict:
    response = client.get(path, params=params)
    if response.status_code != 200:
        raise RuntimeError(f"HTTP {response.status_code}: {response.text[:120]}")
    try:
        return response.json()
    except ValueError:
        raise RuntimeError(f"response is not JSON: {response.text[:120]}") from None


def cursor_from(next_value: object) -> str | None:
    """The API's ``next`` should be a bare cursor, but accept a URL or query string too."""
    if not next_value:
        return None
    text = str(next_value)
    if "cursor=" in text:
        query = httpx.URL(text if "?" in text else "?" + text.lstrip("?&")).params
        return query.get("cursor")
    return text


def server_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    # No /proc (e.g. macOS): ps reports the same figure in KiB.
    try:
        output = subprocess.run(
            ["ps", "-o", "rss=", "-p", str(pid)], capture_output=True, text=True, check=True
        ).stdout
        return int(output.strip()) / 1024
    except (OSError, ValueError, subprocess.CalledProcessError):
        return None


# --- the baseline: the same SQL straight through the driver ---------------------------


class Baseline:
    """A database opened directly, read-only; `execute` returns every row, like the API does."""

    name = "sql"
    like = "LIKE"  # the operator Nocoflo's search uses on this database
    where = ""  # the database, for messages
    errors: tuple[type[Exception], ...] = ()

    def execute(self, sql: str, args: tuple = ()) -> list[tuple]:
        raise NotImplementedError

    def column_names(self, table: str) -> list[str]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class SQLiteBaseline(Baseline):
    name = "sqlite3"

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise SetupError(f"database file not found: {path}")
        self.where = str(path)
        # Read-only, so the baseline can never modify the file the server is serving.
        self.db = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
        self.errors = (sqlite3.Error,)

    def execute(self, sql: str, args: tuple = ()) -> list[tuple]:
        return self.db.execute(sql, args).fetchall()

    def column_names(self, table: str) -> list[str]:
        return [d[0] for d in self.db.execute(select_sql(table, "LIMIT 0")).description]

    def close(self) -> None:
        self.db.close()


class PostgreSQLBaseline(Baseline):
    name = "psycopg2"
    like = "ILIKE"  # SQLAlchemy's icontains on PostgreSQL

    def __init__(self, url: str) -> None:
        import psycopg2  # only needed for this baseline

        self.errors = (psycopg2.Error,)
        parts = urlsplit(url)  # shown in messages, so without the password
        self.where = f"{parts.hostname}:{parts.port or 5432}{parts.path}"
        try:
            self.db = psycopg2.connect(url)
        except psycopg2.Error as error:
            raise SetupError(f"cannot connect to {self.where}: {error}") from None
        # One statement, one transaction, as the server's queries run; never a write.
        self.db.set_session(readonly=True, autocommit=True)

    def execute(self, sql: str, args: tuple = ()) -> list[tuple]:
        # The cases are written with sqlite3's ? placeholders and hold no literal ? or %.
        with self.db.cursor() as cursor:
            cursor.execute(sql.replace("?", "%s"), args)
            return cursor.fetchall()

    def column_names(self, table: str) -> list[str]:
        with self.db.cursor() as cursor:
            cursor.execute(select_sql(table, "LIMIT 0"))
            return [d[0] for d in cursor.description]

    def close(self) -> None:
        self.db.close()


# --- measurement -------------------------------------------------------------------


@dataclass
class Target:
    """Everything a case needs: the API side and the same table opened by the baseline."""

    client: httpx.Client
    rows_path: str
    db: Baseline
    table: str
    pk: str
    pk_position: int
    repeat: int


def select_sql(table: str, tail: str, what: str = "*") -> str:
    # The table name comes from the command line, so it is quoted; values stay bound.
    return f"SELECT {what} FROM {quote_identifier(table)} {tail}"  # noqa: S608


def timed(call: Callable[[], object], repeat: int) -> tuple[list[float], object]:
    for _ in range(WARMUP_CALLS):
        result = call()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples, result


def build_cases(target: Target, columns: set[str]) -> list[Case]:
    q_pk = quote_identifier(target.pk)
    page = f"LIMIT {PAGE_SIZE}"
    filters = [
        {"column": "status", "op": "eq", "value": "shipped"},
        {"column": "quantity", "op": "gte", "value": 5},
    ]
    cursor_case = Case(
        f"cursor after {CURSOR_AFTER_ROW:,}",
        {},  # filled in below once the cursor is known
        f"WHERE {q_pk} > ? ORDER BY {q_pk} {page}",
        target="median",
    )
    offset_case = Case(
        f"offset {CURSOR_AFTER_ROW:,}",
        {"limit": PAGE_SIZE, "offset": CURSOR_AFTER_ROW},
        f"ORDER BY {q_pk} {page} OFFSET {CURSOR_AFTER_ROW}",
        target="ratio",
    )
    cases = [
        Case("first page", {"limit": PAGE_SIZE}, f"ORDER BY {q_pk} {page}", target="median"),
        cursor_case,
        offset_case,
        Case(
            "sort -ordered_at (indexed)",
            {"limit": PAGE_SIZE, "sort": "-ordered_at"},
            # The pk tie-breaker is free: an index always ends with the rowid.
            f'ORDER BY "ordered_at" DESC, {q_pk} DESC {page}',
            needs=("ordered_at",),
            target="median",
        ),
        Case(
            "sort unit_price (unindexed)",
            {"limit": PAGE_SIZE, "sort": "unit_price"},
            f'ORDER BY "unit_price", {q_pk} {page}',
            needs=("unit_price",),
            target="ratio",
        ),
        Case(
            "filter status, quantity",
            {"limit": PAGE_SIZE, "filters": json.dumps(filters, separators=(",", ":"))},
            f'WHERE "status" = ? AND "quantity" >= ? ORDER BY {q_pk} {page}',
            ("shipped", 5),
            needs=("status", "quantity"),
        ),
        Case(
            "search q=gift",
            {"limit": PAGE_SIZE, "q": "gift"},
            f'WHERE "status" {target.db.like} ? OR "comment" {target.db.like} ? '
            f"ORDER BY {q_pk} {page}",
            ("%gift%", "%gift%"),
            needs=("status", "comment"),
        ),
    ]
    for case in cases:
        missing = [name for name in case.needs if name not in columns]
        if missing:
            case.skip_reason = f"table has no column {', '.join(missing)}"

    # Both sides must start right after row 900,000, so the baseline's bound is read from
    # the data instead of assuming ids are dense.
    found = target.db.execute(
        select_sql(target.table, f"ORDER BY {q_pk} LIMIT 1 OFFSET {CURSOR_AFTER_ROW - 1}", q_pk)
    )
    boundary = found[0] if found else None
    if boundary is None:
        # An empty page past the end would time nothing but the request itself.
        cursor_case.skip_reason = offset_case.skip_reason = (
            f"table has fewer than {CURSOR_AFTER_ROW:,} rows"
        )
        return cases
    cursor_case.sql_args = (boundary[0],)
    try:
        before = fetch_page(
            target.client,
            target.rows_path,
            {"limit": PAGE_SIZE, "offset": CURSOR_AFTER_ROW - PAGE_SIZE},
        )
    except RuntimeError as error:
        cursor_case.skip_reason = f"could not get a cursor: {error}"
        return cases
    cursor = cursor_from(before.get("next"))
    if cursor is None:
        cursor_case.skip_reason = "API returned no 'next' cursor"
    else:
        cursor_case.params = {"limit": PAGE_SIZE, "cursor": cursor}
    return cases


def compare_rows(target: Target, payload: dict, rows: list[tuple]) -> str:
    """Fast but wrong is no win, so check the API returned the rows the baseline did."""
    expected = [str(row[target.pk_position]) for row in rows]
    api_rows = payload.get("rows", [])
    if not all(isinstance(row, dict) and target.pk in row.get("values", {}) for row in api_rows):
        return "?"
    got = [str(row["values"][target.pk]) for row in api_rows]
    if got == expected:
        return "same"
    if sorted(got) == sorted(expected):
        return "same set"
    return f"DIFFER ({len(got)} vs {len(expected)})"


def run_case(case: Case, target: Target) -> Result:
    result = Result(case)
    if case.skip_reason:
        return result
    sql = select_sql(target.table, case.sql_tail)
    try:
        result.api_ms, payload = timed(
            lambda: fetch_page(target.client, target.rows_path, case.params), target.repeat
        )
    except RuntimeError as error:
        result.error = str(error)
        return result
    result.sql_ms, rows = timed(lambda: target.db.execute(sql, case.sql_args), target.repeat)
    result.rows_match = compare_rows(target, payload, rows)
    return result


def memory_run(target: Target, total_rows: int) -> list[float]:
    rng = random.Random(500)
    last_start = max(total_rows - PAGE_SIZE, 0)
    samples, failures = [], []
    for _ in range(MEMORY_PAGES):
        params = {"limit": PAGE_SIZE, "offset": rng.randint(0, last_start)}
        started = time.perf_counter()
        try:
            fetch_page(target.client, target.rows_path, params)
        except RuntimeError as error:
            failures.append(str(error))
            continue
        samples.append((time.perf_counter() - started) * 1000)
    if failures:
        print(f"{len(failures)} of {MEMORY_PAGES} pages failed, first: {failures[0]}")
    return samples


# --- reporting ---------------------------------------------------------------------


def verdict(result: Result) -> tuple[str, str]:
    """(target text, PASS/FAIL/'') for one case."""
    if result.case.target == "median":
        ok = median(result.api_ms) < FAST_PAGE_MS
        return f"median < {FAST_PAGE_MS:g} ms", "PASS" if ok else "FAIL"
    if result.case.target == "ratio":
        ok = median(result.api_ms) / max(median(result.sql_ms), 1e-9) <= MAX_RATIO
        return f"ratio <= {MAX_RATIO:g}", "PASS" if ok else "FAIL"
    return "-", ""


def print_results(results: list[Result], baseline: str = "sqlite3") -> None:
    header = (
        f"{'case':<28} {'nocoflo med':>11} {'nocoflo p95':>11} {baseline + ' med':>11} "
        f"{'ratio':>8}  {'target':<17} {'result':<6} rows"
    )
    print(header)
    print("-" * len(header))
    for result in results:
        case = result.case
        if case.skip_reason:
            print(f"{case.name:<28} skipped: {case.skip_reason}")
            continue
        if result.error:
            print(f"{case.name:<28} error: {result.error}")
            continue
        api_median, sql_median = median(result.api_ms), median(result.sql_ms)
        ratio = api_median / max(sql_median, 1e-9)
        target, outcome = verdict(result)
        print(
            f"{case.name:<28} {api_median:>8.2f} ms {p95(result.api_ms):>8.2f} ms "
            f"{sql_median:>8.2f} ms {ratio:>7.1f}x  {target:<17} {outcome:<6} "
            f"{result.rows_match}"
        )


def describe_rss(label: str, value: float | None, check: bool = False) -> str:
    if value is None:
        return f"server RSS {label}: unknown"
    text = f"server RSS {label}: {value:.0f} MB"
    if check:
        outcome = "PASS" if value < MAX_RSS_MB else "FAIL"
        text += f"  (target < {MAX_RSS_MB:g} MB) {outcome}"
    return text


# --- entry point -------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark Nocoflo's rows API vs plain SQL.")
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--username", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--table", default="orders", help="table name as listed by /api/tables")
    baseline = parser.add_mutually_exclusive_group(required=True)
    baseline.add_argument("--db", help="the SQLite file that table lives in (sqlite3 baseline)")
    baseline.add_argument(
        "--baseline-url",
        help="the PostgreSQL database that table lives in (psycopg2 baseline), "
        "e.g. postgresql://postgres@127.0.0.1:5432/nocoflo_bench",
    )
    parser.add_argument("--repeat", type=int, default=30, help="timed calls per case")
    parser.add_argument("--pid", type=int, help="server PID, to report its memory use")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def benchmark(args: argparse.Namespace) -> None:
    if args.baseline_url:
        db: Baseline = PostgreSQLBaseline(args.baseline_url)
    else:
        db = SQLiteBaseline(Path(args.db))

    with httpx.Client(base_url=args.base_url, timeout=60.0, follow_redirects=False) as client:
        login(client, args.username, args.password)
        table = find_table(client, args.table)
        columns = table.get("columns", [])
        pk = next((column["name"] for column in columns if column.get("primary_key")), "id")
        try:
            sql_columns = db.column_names(table["name"])
            total_rows = db.execute(select_sql(table["name"], "", "count(*)"))[0][0]
        except db.errors as error:
            raise SetupError(f"{db.where} does not hold table {table['name']!r}: {error}") from None
        if pk not in sql_columns:
            raise SetupError(f"primary key {pk!r} not found in {db.where}")
        target = Target(
            client=client,
            rows_path=f"/api/tables/{table['id']}/rows",
            db=db,
            table=table["name"],
            pk=pk,
            pk_position=sql_columns.index(pk),
            repeat=args.repeat,
        )
        print(
            f"{args.base_url}  table {table['name']!r} (id {table['id']}, {total_rows:,} rows), "
            f"{args.repeat} timed calls per case after {WARMUP_CALLS} warm-ups\n"
        )

        rss_before = server_rss_mb(args.pid) if args.pid else None
        results = [
            run_case(case, target)
            for case in build_cases(target, {column["name"] for column in columns})
        ]
        print_results(results, db.name)

        if args.pid:
            print()
            print(describe_rss("before", rss_before))
            print(describe_rss("after the cases", server_rss_mb(args.pid)))
            samples = memory_run(target, total_rows)
            if samples:
                print(
                    f"{len(samples)} pages at random offsets: median {median(samples):.2f} ms, "
                    f"p95 {p95(samples):.2f} ms"
                )
            print(describe_rss(f"after {MEMORY_PAGES} pages", server_rss_mb(args.pid), True))
    db.close()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        benchmark(args)
    except SetupError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except httpx.TransportError as error:
        print(f"error: cannot reach the server at {args.base_url}: {error}", file=sys.stderr)
        print("Is it running? Start it with ./scripts/run", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
