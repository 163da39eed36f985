"""One fresh database per test on each backend (SQLite file, PostgreSQL, MariaDB/MySQL), holding
the same fixture tables, for the one datasource suite that runs on all three.

The servers come from NOCOFLO_TEST_POSTGRES_URL and NOCOFLO_TEST_MYSQL_URL. A server that cannot
be reached fails the test that needs it: these tests never skip.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import threading
from collections import deque
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import MySQLdb
import psycopg2
from sqlalchemy.engine import make_url

from datasources_app.builtin.mysql import MySQLDatasource
from datasources_app.builtin.postgresql import PostgreSQLDatasource
from datasources_app.builtin.sqlite import SQLiteDatasource
from datasources_app.sql import SQLAlchemyDatasource

BACKENDS = ("sqlite", "postgresql", "mysql")
POSTGRES_URL = os.environ.get(
    "NOCOFLO_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
MYSQL_URL = os.environ.get("NOCOFLO_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/mysql")
DATABASE_PREFIX = "nocoflo_t_"

HOSTILE_TABLE = 'weird "table"; DROP TABLE x; --'
HOSTILE_COLUMNS = ("id", '"select"', "column with spaces", "naïve ünïcødé 名前", "semi;colon--dash")
UUID_1 = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
MOODS = ["happy", "sad", "so-so"]

# --- the fixture tables, per dialect ----------------------------------------------------------
# {q} marks an identifier quote: " for SQLite and PostgreSQL, ` for MySQL.

_TYPED_COLUMNS = {
    # name: (sqlite, postgresql, mysql)
    "id": ("INTEGER PRIMARY KEY", "SERIAL PRIMARY KEY", "INT AUTO_INCREMENT PRIMARY KEY"),
    "name": ("VARCHAR(10) NOT NULL",) * 3,
    "qty": ("INTEGER",) * 3,
    "price": ("NUMERIC(18, 4)", "NUMERIC(18, 4)", "DECIMAL(18, 4)"),
    "ratio": ("REAL", "REAL", "FLOAT"),
    "active": ("BOOLEAN NOT NULL DEFAULT 1", "BOOLEAN NOT NULL DEFAULT true",
               "BOOL NOT NULL DEFAULT 1"),
    "born": ("DATE",) * 3,
    "alarm": ("TIME",) * 3,
    "seen": ("DATETIME", "TIMESTAMP", "DATETIME"),
    "seen_tz": ("DATETIME", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP NULL"),
    "note": ("TEXT",) * 3,
    "meta": ("JSON",) * 3,
    "token": ("UUID",) * 3,
    "mood": (None, "mood", "ENUM('happy', 'sad', 'so-so')"),
    "tags": (None, "INTEGER[]", None),
    "doc": (None, "JSONB", None),
    "photo": ("BLOB", "BYTEA", "BLOB"),
}  # fmt: skip
_DIALECT = {"sqlite": 0, "postgresql": 1, "mysql": 2}

# (id, name, qty, price, ratio, active, born, alarm, seen, seen_tz, note, meta, token, mood, tags)
TYPED_ROWS = (
    (1, "Ann", 3, "12345678901234.5678", 1.5, True, "1970-01-02", "08:30:00",
     "2024-01-02 03:04:05", "2024-06-01 08:00:00+00:00", "first note", '{"a": 1, "list": [1, 2]}',
     UUID_1, "happy", "{1,2,3}"),
    (2, "Bob", None, None, None, False, None, None, None, None, None, None, None, None, None),
    (3, "Cy", 7, "0.1000", 2.25, True, "1999-12-31", "23:59:59", "1999-12-31 23:59:59",
     None, "Third NOTE", "[1, 2, 3]", None, "sad", "{}"),
    (4, "Annabel", 1, "-5.0000", 1.1, False, "2000-02-29", None, None, None, "50% off_now",
     '{"b": null}', None, "so-so", None),
    (5, "dora", 10, "100.0000", 0.5, True, None, None, None, None, None, None, None, None, None),
)  # fmt: skip
TYPED_NAMES = ("id", "name", "qty", "price", "ratio", "active", "born", "alarm", "seen",
               "seen_tz", "note", "meta", "token", "mood", "tags")  # fmt: skip


@dataclass
class Backend:
    """A fresh database on one server, its fixture tables built."""

    name: str
    url: str
    database: str
    server_url: str = ""
    path: Path | None = None
    datasources: list[SQLAlchemyDatasource] = field(default_factory=list)

    @property
    def features(self) -> set[str]:
        return {
            "sqlite": set(),
            "postgresql": {"enum", "array", "schemas", "uuid"},
            "mysql": {"enum", "uuid"},
        }[self.name]

    @property
    def datasource_class(self) -> type[SQLAlchemyDatasource]:
        return {
            "sqlite": SQLiteDatasource,
            "postgresql": PostgreSQLDatasource,
            "mysql": MySQLDatasource,
        }[self.name]

    def datasource(self, url: str | None = None, **config: Any) -> SQLAlchemyDatasource:
        """A datasource on this database (closed after the test)."""
        datasource = self.datasource_class(url or self.url, config)
        self.datasources.append(datasource)
        return datasource

    def q(self, name: str) -> str:
        """An identifier quoted for raw SQL in tests."""
        if self.name == "mysql":
            return "`" + name.replace("`", "``") + "`"
        return '"' + name.replace('"', '""') + '"'

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[tuple]:
        """Run SQL with the plain driver (placeholders %s), bypassing Nocoflo entirely."""
        with self._raw() as conn:
            cursor = conn.cursor()
            params = tuple(params)
            if self.name == "sqlite":
                cursor.execute(sql.replace("%s", "?"), params)
            else:
                cursor.execute(sql, params or None)  # no params: % is no placeholder
            rows = list(cursor.fetchall()) if cursor.description else []
            conn.commit()
            return rows

    def execute_script(self, statements: Iterable[str]) -> None:
        with self._raw() as conn:
            cursor = conn.cursor()
            for statement in statements:
                cursor.execute(statement)
            conn.commit()

    def _raw(self):
        if self.name == "sqlite":
            return _Closing(sqlite3.connect(self.path))
        if self.name == "postgresql":
            return _Closing(_pg_connect(self.url))
        return _Closing(_mysql_connect(self.url))

    def kill_connections(self) -> int:
        """End every server connection to this database (as a server restart would)."""
        if self.name == "postgresql":
            conn = _pg_connect(self.server_url, autocommit=True)
            try:
                cursor = conn.cursor()
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    (self.database,),
                )
                return len(cursor.fetchall())
            finally:
                conn.close()
        if self.name == "mysql":
            conn = _mysql_connect(self.server_url)
            try:
                cursor = conn.cursor()
                cursor.execute(
                    "SELECT id FROM information_schema.processlist "
                    "WHERE db = %s AND id <> CONNECTION_ID()",
                    (self.database,),
                )
                ids = [row[0] for row in cursor.fetchall()]
                for thread in ids:
                    cursor.execute("KILL %s", (thread,))
                return len(ids)
            finally:
                conn.close()
        return 0

    def create_slow_view(self) -> None:
        """A view no query gets through within a test's time limit."""
        if self.name == "postgresql":
            self.execute_script(["CREATE VIEW slow AS SELECT 1 AS id FROM pg_sleep(30)"])
        elif self.name == "mysql":
            self.execute_script(["CREATE VIEW slow AS SELECT SLEEP(30) AS id"])
        else:
            self.execute_script(
                [
                    "CREATE TABLE big (id INTEGER PRIMARY KEY, t TEXT NOT NULL)",
                    "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 1000)"
                    " INSERT INTO big SELECT i, 'row ' || i FROM s",
                    "CREATE VIEW slow AS SELECT a.id AS id, a.t || b.t || c.t AS t "
                    "FROM big a, big b, big c",
                ]
            )

    def create_wide_view(self) -> None:
        """`wide`: a million rows without a key (a table of a thousand joined with itself), whose
        first rows come at once and whose count takes tens of milliseconds."""
        self.execute_script(
            [
                "CREATE TABLE base (n INTEGER PRIMARY KEY)",
                "INSERT INTO base VALUES " + ", ".join(f"({n})" for n in range(1000)),  # noqa: S608 - numbers
                "CREATE VIEW wide AS SELECT a.n * 1000 + b.n AS id FROM base a, base b",
            ]
        )

    def close(self) -> None:
        for datasource in self.datasources:
            datasource.close()
        self.datasources.clear()


class _Closing:
    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def __enter__(self) -> Any:
        return self.conn

    def __exit__(self, *exc: Any) -> None:
        self.conn.close()


# --- servers ----------------------------------------------------------------------------------


def _pg_connect(url: str, autocommit: bool = False):
    parsed = make_url(url.replace("postgres://", "postgresql://", 1))
    conn = psycopg2.connect(
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        user=parsed.username,
        password=parsed.password or None,
        dbname=parsed.database or "postgres",
        connect_timeout=5,
    )
    conn.autocommit = autocommit
    return conn


def _mysql_connect(url: str):
    parsed = make_url(url)
    options = {
        "host": parsed.host or "127.0.0.1",
        "port": parsed.port or 3306,
        "user": parsed.username or "root",
        "connect_timeout": 5,
        "charset": "utf8mb4",
        "autocommit": True,
    }
    if parsed.password:
        options["password"] = parsed.password
    if parsed.database:
        options["database"] = parsed.database
    return MySQLdb.connect(**options)


def database_url(server_url: str, database: str, **changes: Any) -> str:
    return make_url(server_url).set(database=database, **changes).render_as_string(False)


def create_backend(name: str, tmp_path: Path) -> Backend:
    """A fresh database with the fixture tables; drop it with `drop_backend`."""
    if name == "sqlite":
        path = tmp_path / "backend.sqlite3"
        backend = Backend(name, f"sqlite:///{path}", database=str(path), path=path)
        sqlite3.connect(path).close()
    else:
        database = DATABASE_PREFIX + secrets.token_hex(6)
        server_url = POSTGRES_URL if name == "postgresql" else MYSQL_URL
        if name == "postgresql":
            conn = _pg_connect(server_url, autocommit=True)
            try:
                conn.cursor().execute(f'CREATE DATABASE "{database}"')
            finally:
                conn.close()
        else:
            conn = _mysql_connect(server_url)
            try:
                conn.cursor().execute(
                    f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"
                )
            finally:
                conn.close()
        backend = Backend(
            name, database_url(server_url, database), database=database, server_url=server_url
        )
    try:
        backend.execute_script(fixture_statements(backend))
        insert_rows(backend)
    except BaseException:
        drop_backend(backend)
        raise
    return backend


class DatabaseSpares:
    """Server databases made ahead of the tests that use them and dropped behind them, in
    background threads: CREATE DATABASE takes PostgreSQL about 0.4 s, longer than most tests.

    Every test still gets a database nobody used before; one that cannot be created (a server
    that is down) raises in the test that asked for it.
    """

    AHEAD = 2  # databases kept ready per server

    def __init__(self) -> None:
        self._executor: ThreadPoolExecutor | None = None
        self._ready: dict[str, deque[Future]] = {}
        self._drops: list[Future] = []
        self._lock = threading.Lock()

    def take(self, name: str, tmp_path: Path) -> Backend:
        if name == "sqlite":
            return create_backend(name, tmp_path)
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(3, thread_name_prefix="nocoflo-test-db")
            ready = self._ready.setdefault(name, deque())
            while len(ready) < self.AHEAD + 1:
                ready.append(self._executor.submit(create_backend, name, tmp_path))
            future = ready.popleft()
        return future.result()

    def give_back(self, backend: Backend) -> None:
        backend.close()
        if backend.name == "sqlite" or self._executor is None:
            drop_backend(backend)
        else:
            with self._lock:
                self._drops.append(self._executor.submit(drop_backend, backend))

    def wait(self) -> None:
        """Let the background work finish (before a test that breaks imports, say)."""
        with self._lock:
            pending = [f for queue in self._ready.values() for f in queue] + self._drops
        for future in pending:
            try:
                future.result()
            except Exception:  # noqa: S110  (raised again to the test that takes it)
                pass

    def close(self) -> None:
        """Drop what is left (the end of the session)."""
        with self._lock:
            ready = [f for queue in self._ready.values() for f in queue]
            self._ready.clear()
        for future in ready:
            if future.cancel():
                continue
            try:
                self.give_back(future.result())
            except Exception:  # noqa: S110  (its test never ran; the server said why elsewhere)
                pass
        for future in self._drops:
            future.result()
        self._drops.clear()
        if self._executor is not None:
            self._executor.shutdown()
            self._executor = None


def drop_backend(backend: Backend) -> None:
    backend.close()
    if backend.name == "postgresql":
        conn = _pg_connect(backend.server_url, autocommit=True)
        try:
            conn.cursor().execute(f'DROP DATABASE IF EXISTS "{backend.database}" WITH (FORCE)')
        finally:
            conn.close()
    elif backend.name == "mysql":
        backend.kill_connections()
        conn = _mysql_connect(backend.server_url)
        try:
            conn.cursor().execute(f"DROP DATABASE IF EXISTS `{backend.database}`")
        finally:
            conn.close()


def fixture_statements(backend: Backend) -> list[str]:
    """The DDL of the fixture tables in this backend's dialect."""
    index = _DIALECT[backend.name]
    q = backend.q
    statements = []
    if backend.name == "postgresql":
        statements.append("CREATE TYPE mood AS ENUM ('happy', 'sad', 'so-so')")
    columns = [
        f"{q(name)} {types[index]}" for name, types in _TYPED_COLUMNS.items() if types[index]
    ]
    statements.append(f"CREATE TABLE typed ({', '.join(columns)})")
    statements.append(
        "CREATE TABLE pairs "
        "(a INTEGER NOT NULL, b VARCHAR(10) NOT NULL, v TEXT, PRIMARY KEY (a, b))"
    )
    statements.append(
        f"CREATE TABLE {q('Mixed Case')} ({q('Id')} INTEGER PRIMARY KEY, "
        f"{q('CamelCol')} VARCHAR(20), {q('lower')} INTEGER)"
    )
    statements.append("CREATE TABLE notes (body TEXT, n INTEGER)")
    hostile_types = ("INTEGER PRIMARY KEY", "TEXT", "INTEGER", "TEXT", "REAL")
    hostile = ", ".join(f"{q(n)} {t}" for n, t in zip(HOSTILE_COLUMNS, hostile_types, strict=True))
    statements.append(f"CREATE TABLE {q(HOSTILE_TABLE)} ({hostile})")
    if backend.name == "postgresql":
        statements += [
            'CREATE SCHEMA "Other Schema"',
            'CREATE TABLE "Other Schema".gadgets (id INTEGER PRIMARY KEY, label TEXT NOT NULL)',
            "INSERT INTO \"Other Schema\".gadgets VALUES (1, 'sprocket'), (2, 'widget')",
        ]
    return statements


def insert_rows(backend: Backend) -> None:
    """The fixture rows, bound by the plain driver."""
    index = _DIALECT[backend.name]
    names = [n for n in TYPED_NAMES if _TYPED_COLUMNS[n][index]]
    rows = []
    for row in TYPED_ROWS:
        values = dict(zip(TYPED_NAMES, row, strict=True))
        if backend.name == "mysql" and values["seen_tz"]:
            values["seen_tz"] = values["seen_tz"].removesuffix("+00:00")  # stored as UTC
        rows.append([values[n] for n in names])
    # Identifiers are fixed names quoted by q(); every value is bound.
    q = backend.q
    marks = ", ".join(["%s"] * len(names))
    with backend._raw() as conn:
        cursor = conn.cursor()
        p = (lambda sql: sql.replace("%s", "?")) if backend.name == "sqlite" else (lambda s: s)
        cursor.executemany(
            p(f"INSERT INTO typed ({', '.join(q(n) for n in names)}) VALUES ({marks})"),  # noqa: S608
            rows,
        )
        if backend.name == "postgresql":  # the serial goes on after the explicit ids
            cursor.execute("SELECT setval('typed_id_seq', 5)")
        cursor.execute(
            "UPDATE typed SET photo = %s WHERE id = 1".replace(
                "%s", "?" if backend.name == "sqlite" else "%s"
            ),
            (b"\x00\x01\x02",),
        )
        cursor.executemany(
            p("INSERT INTO pairs (a, b, v) VALUES (%s, %s, %s)"),
            [(1, "x", "one"), (1, "y", "two"), (2, "x", "three")],
        )
        cursor.executemany(
            p(f"INSERT INTO {q('Mixed Case')} VALUES (%s, %s, %s)"),  # noqa: S608
            [(1, "Upper", 10), (2, "lower", 20)],
        )
        cursor.executemany(
            p("INSERT INTO notes (body, n) VALUES (%s, %s)"), [("a", 1), ("b", 2), ("c", 3)]
        )
        cursor.executemany(
            p(f"INSERT INTO {q(HOSTILE_TABLE)} VALUES (%s, %s, %s, %s, %s)"),  # noqa: S608
            [
                (1, "plain", 10, "hello", 1.5),
                (2, "'; DROP TABLE typed; --", None, "naïve café", -2.25),
                (3, 'it\'s "quoted"', 0, "名前 ✓ 🚀", None),
            ],
        )
        conn.commit()
