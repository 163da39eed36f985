"""Nocoflo's own metadata database: a `DATABASE_URL` turned into a Django `DATABASES` entry.

SQLite, PostgreSQL and MySQL/MariaDB are supported. Settings and `manage.py copy_metadata` both
build their connections here, so a copy target is configured exactly like a live database.
"""

from __future__ import annotations

from pathlib import Path

import environ

SQLITE = "django.db.backends.sqlite3"
POSTGRESQL = "django.db.backends.postgresql"
MYSQL = "django.db.backends.mysql"

# django-environ does not know `mariadb://`; it is the MySQL backend all the same.
_EXTRA_SCHEMES = {"mariadb": MYSQL}


def database_config(url: str) -> dict:
    """A `DATABASES` entry for `url`, with the options Nocoflo needs on that backend."""
    scheme = url.split(":", 1)[0].lower()
    config = environ.Env.db_url_config(url, engine=_EXTRA_SCHEMES.get(scheme))
    engine = config.get("ENGINE")
    if not engine:
        # The URL itself is not repeated: it may hold a password.
        raise ValueError("not a database URL (sqlite:///..., postgres://..., mysql://...)")
    options = config.setdefault("OPTIONS", {})
    test = config.setdefault("TEST", {})
    if engine == SQLITE:
        # WAL and a busy timeout let the API threads and page handlers share the metadata file.
        options.setdefault("timeout", 20)
        options.setdefault("init_command", "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
        # A write transaction takes the write lock when it starts, so it waits its turn (the busy
        # timeout) instead of failing when two writers' read locks meet (row locks, audit).
        options.setdefault("transaction_mode", "IMMEDIATE")
        name = str(config.get("NAME") or "")
        if name and not name.startswith(("file:", ":memory:")):
            # Tests run on a file beside it, as the server does: an in-memory database shares one
            # cache between threads, whose table locks fail at once instead of waiting.
            test.setdefault("NAME", str(Path(name).with_name(f"test_{Path(name).name}")))
    elif engine == POSTGRESQL:
        # Opening a PostgreSQL connection starts a server process (milliseconds of its CPU): a
        # pool hands each request a connection that is already open, checked first (health
        # checks) so one the server dropped is replaced, not handed out, and shares them between
        # the API's worker threads and the pages' threads.
        options.setdefault("pool", {"min_size": 1, "max_size": 20, "timeout": 10})
        config.setdefault("CONN_HEALTH_CHECKS", True)
    elif engine == MYSQL:
        # utf8mb4 stores every character (MySQL's "utf8" stops at three bytes); strict mode makes
        # a value that does not fit an error instead of a silent truncation.
        options.setdefault("charset", "utf8mb4")
        options.setdefault("init_command", "SET sql_mode='STRICT_TRANS_TABLES'")
        test.setdefault("CHARSET", "utf8mb4")
        test.setdefault("COLLATION", "utf8mb4_unicode_ci")
    if engine in (SQLITE, MYSQL):
        # The API's requests run on a fixed pool of worker threads (nocoflo_project.asgi), so
        # each thread keeps its connection between requests instead of opening and closing one
        # per request; a connection that broke is replaced before it is used (health checks).
        config.setdefault("CONN_MAX_AGE", 300)
        config.setdefault("CONN_HEALTH_CHECKS", True)
    if engine != SQLITE and config.get("NAME"):
        # Named explicitly so the test database is never a guess: test_<name> on the same server.
        test.setdefault("NAME", f"test_{config['NAME']}")
    return config


def same_database(one: dict, other: dict) -> bool:
    """Whether two `DATABASES` entries point at the same database (of the same server)."""
    return _where(one) == _where(other)


_DEFAULT_PORTS = {POSTGRESQL: "5432", MYSQL: "3306"}
_LOCAL_HOSTS = {"", "localhost", "127.0.0.1", "::1", "[::1]"}


def _where(config: dict) -> tuple:
    engine = config.get("ENGINE")
    name = str(config.get("NAME") or "")
    if engine == SQLITE:
        return (
            engine,
            name if name.startswith(("file:", ":memory:")) else str(Path(name).resolve()),
        )
    host = str(config.get("HOST") or "").lower()
    return (
        engine,
        "localhost" if host in _LOCAL_HOSTS else host,
        str(config.get("PORT") or _DEFAULT_PORTS.get(engine, "")),
        name,
    )
