"""Nocoflo's own SQLite metadata file under many concurrent writers, and the Nocoflo server
killed (SIGKILL) in the middle of edits, then started again.

Both run real `manage.py` processes on a data directory of their own, so the metadata is a SQLite
file whatever DATABASE_URL the rest of the suite uses.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import threading
import time
import urllib.error
import urllib.request
from contextlib import closing
from datetime import datetime
from pathlib import Path

import pytest

from datasources_app.values import encode_key
from tests.e2e.test_grid_browser import (
    PYTHON,
    ROOT,
    Server,
    _free_port,
    _manage,
    create_users,
    server_env,
    serving,
)

from . import metadata_writers

PASSWORD = "faults-Password-4711"
WRITER_PROCESSES = 2
LEASE_SECONDS = 15
# Settling at start leaves entries younger than 3 statement time limits alone (writes of another
# live process); a short limit lets the restarted server settle what the killed one left.
STATEMENT_SECONDS = 0.5

# Everything a data directory needs, in one process (each start of Django costs seconds): the
# metadata, the demo database and the admin as `scripts/run` makes them, then a user (bob), a
# second datasource and API tokens.
SETUP = """
from django.core.management import call_command
call_command("migrate", interactive=False, verbosity=0)
call_command("setup_demo", verbosity=0)
call_command("ensure_admin", verbosity=0)
"""
EXTRAS = """
import json, shutil
from django.conf import settings
from django.contrib.auth import get_user_model
from core.tokens import create_token
from datasources_app.discovery import discover_tables
from datasources_app.models import DatasourceConfig

# A second SQLite datasource: its file can be held busy apart from the demo's.
other = settings.DATA_DIR / "other.sqlite3"
shutil.copy(settings.NOCOFLO_DEMO_DB, other)
discover_tables(DatasourceConfig.objects.create(
    name="Other", datasource_type="sqlite", connection_string=f"sqlite:///{other}"))
users = get_user_model().objects
tokens = {name: create_token(users.get(username=name), "faults", write=True)[1]
          for name in ("admin", "bob")}
(settings.DATA_DIR / "tokens.json").write_text(json.dumps(tokens))
"""


class Nocoflo(Server):
    """A prepared data directory (SQLite metadata, demo database, users and their API tokens)
    and the server that may be started on it."""

    def __init__(self, data_dir: Path) -> None:
        self.port = _free_port()
        super().__init__(f"http://127.0.0.1:{self.port}", data_dir, data_dir / "server.log")
        self.env = {
            **server_env(data_dir, PASSWORD, 100),
            "NOCOFLO_LOCK_SECONDS": str(LEASE_SECONDS),
            "NOCOFLO_STATEMENT_TIMEOUT": str(STATEMENT_SECONDS),
            # A write held up by a busy datasource file waits for it rather than giving up.
            "NOCOFLO_CONNECT_TIMEOUT": "60",
        }
        self.tokens = json.loads((data_dir / "tokens.json").read_text())

    @property
    def metadata(self) -> Path:
        return self.data_dir / "nocoflo.sqlite3"

    def meta(self, sql: str, params: tuple = ()) -> list[tuple]:
        with closing(sqlite3.connect(self.metadata, timeout=30)) as conn:
            return conn.execute(sql, params).fetchall()

    def table(self, datasource: str, name: str) -> int:
        (pk,) = self.meta(
            "SELECT t.id FROM core_tablemeta t JOIN datasources_app_datasourceconfig d "
            "ON d.id = t.datasource_id WHERE d.name = ? AND t.name = ?",
            (datasource, name),
        )[0]
        return pk

    def call(self, user: str, method: str, path: str, body: dict | None = None):
        """(status, JSON answer) of an API call with the user's token."""
        request = urllib.request.Request(
            f"{self.url}{path}", method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": f"Bearer {self.tokens[user]}",
                     "Content-Type": "application/json"},
        )  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=90) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def edit(self, user: str, table: int, row_key: str, quantity: int):
        """An order's quantity changed through the API, as the grid's cell editor does."""
        return self.call(
            user, "PATCH", f"/api/tables/{table}/rows/{row_key}", {"values": {"quantity": quantity}}
        )


@pytest.fixture(scope="module")
def nocoflo(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("faults-nocoflo")
    with open(data_dir / "setup.log", "w") as log:
        _manage(
            server_env(data_dir, PASSWORD, 100), log, "shell", "-c",
            SETUP + create_users(PASSWORD, "bob") + EXTRAS,
        )  # fmt: skip
    return Nocoflo(data_dir)


def _hold_write_lock(path: Path) -> sqlite3.Connection:
    """Keep every other writer of a SQLite file waiting, as a long write of someone else's."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    return conn


def _wait_for(condition, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_concurrent_writers_of_the_sqlite_metadata_see_no_error_and_lose_nothing(nocoflo):
    orders = nocoflo.table("Demo shop", "orders")
    script = "from tests.faults.metadata_writers import main; main({p}, {t})"
    processes = [
        subprocess.Popen(
            [PYTHON, "manage.py", "shell", "-c", script.format(p=p, t=orders)],
            cwd=ROOT,
            env=nocoflo.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        for p in range(WRITER_PROCESSES)
    ]
    reports = []
    for process in processes:
        output, _ = process.communicate(timeout=120)
        assert process.returncode == 0, output
        reports.append(json.loads(output.strip().splitlines()[-1]))

    # No user was shown an error ("database is locked" or any other).
    assert [r["errors"] for r in reports] == [[]] * WRITER_PROCESSES
    # Every edit is in the table and has its entry, done: none lost, none left pending.
    threads = WRITER_PROCESSES * metadata_writers.THREADS
    first, last_value = metadata_writers.FIRST_ROW, 999 + metadata_writers.ROUNDS
    edited = {key: value for r in reports for key, value in r["written"].items()}
    assert edited == {encode_key([row]): last_value for row in range(first, first + threads)}
    with closing(sqlite3.connect(nocoflo.demo_db)) as demo:
        stored = demo.execute(
            "SELECT DISTINCT quantity FROM orders WHERE id BETWEEN ? AND ?",
            (first, first + threads - 1),
        ).fetchall()
    assert stored == [(last_value,)]
    states = nocoflo.meta(
        "SELECT state, count(*) FROM core_change WHERE table_id = ? AND username LIKE 'writer%' "
        "GROUP BY state",
        (orders,),
    )
    assert states == [("done", threads * metadata_writers.ROUNDS)]
    # Every lock was given back; every thread's last view settings were kept.
    assert nocoflo.meta("SELECT count(*) FROM core_rowlock") == [(0,)]
    configs = nocoflo.meta(
        "SELECT view_config_json FROM table_view_preference p JOIN auth_user u "
        "ON u.id = p.user_id WHERE u.username LIKE 'writer%'"
    )
    assert len(configs) == WRITER_PROCESSES
    for (config,) in configs:
        assert json.loads(config) == {
            f"view{t}": {"turn": metadata_writers.ROUNDS + metadata_writers.SETTINGS_BURST - 1}
            for t in range(metadata_writers.THREADS)
        }


def _pending(nocoflo: Nocoflo, row_key: str) -> bool:
    return bool(
        nocoflo.meta(
            "SELECT 1 FROM core_change WHERE row_key = ? AND state = 'pending'", (row_key,)
        )
    )


def _in_background(call, *args) -> threading.Thread:
    """An API call that will be cut off by the kill: its answer, if any, is not looked at."""

    def run() -> None:
        try:
            call(*args)
        except OSError:
            pass  # the server died under it

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_a_server_killed_during_edits_restarts_settles_them_and_its_locks_lapse(nocoflo):
    orders = nocoflo.table("Demo shop", "orders")
    other = nocoflo.table("Other", "orders")
    locked, unwritten, unconfirmed, finished = (encode_key([n]) for n in (1, 2, 3, 4))
    # The quantities written (11 to 44) are above the demo's (1 to 10): a write that happened is
    # never mistaken for the value it replaced.
    demo, other_file = nocoflo.demo_db, nocoflo.data_dir / "other.sqlite3"

    with (
        open(nocoflo.log_path, "w") as log,
        serving(nocoflo.env, nocoflo.port, log, nocoflo) as server,
    ):
        # An edit that completes before the crash.
        assert nocoflo.edit("admin", orders, finished, 44)[0] == 200

        # An edit whose entry is recorded but whose write waits on a busy file: never written.
        other_busy = _hold_write_lock(other_file)
        cut_before = _in_background(nocoflo.edit, "admin", other, unwritten, 22)
        _wait_for(lambda: _pending(nocoflo, unwritten), "the first edit's pending entry")

        # An edit that is written but not yet confirmed in the audit when the server dies.
        demo_busy = _hold_write_lock(demo)
        cut_after = _in_background(nocoflo.edit, "admin", orders, unconfirmed, 33)
        _wait_for(lambda: _pending(nocoflo, unconfirmed), "the second edit's pending entry")

        # A row lock held by an editor when the server dies (the API's, like a page's).
        status, lock = nocoflo.call("admin", "POST", f"/api/tables/{orders}/rows/{locked}/lock")
        assert status == 200
        lease_ends = datetime.fromisoformat(lock["expires_at"]).timestamp()
        status, refused = nocoflo.edit("bob", orders, locked, 11)
        assert status == 423 and refused["locked_by"] == "admin"

        metadata_busy = _hold_write_lock(nocoflo.metadata)  # the confirmation must wait
        demo_busy.rollback()  # the second edit's write goes through
        with closing(sqlite3.connect(demo, timeout=30)) as conn:
            _wait_for(
                lambda: (
                    conn.execute("SELECT quantity FROM orders WHERE id = 3").fetchone() == (33,)
                ),
                "the second edit's write",
            )
        server.kill()
        server.wait(timeout=10)
        metadata_busy.rollback()
        other_busy.rollback()
        cut_before.join(timeout=30)
        cut_after.join(timeout=30)

    # What the crash left: one write done, one not, both entries pending; the lock still there.
    with closing(sqlite3.connect(other_file)) as conn:
        assert conn.execute("SELECT quantity FROM orders WHERE id = 2").fetchone() != (22,)
    assert _pending(nocoflo, unwritten) and _pending(nocoflo, unconfirmed)
    assert nocoflo.meta("SELECT row_key FROM core_rowlock") == [(locked,)]

    with open(nocoflo.log_path, "a") as log, serving(nocoflo.env, nocoflo.port, log, nocoflo):
        # The app answers at once.
        status, page = nocoflo.call("bob", "GET", f"/api/tables/{orders}/rows?limit=5")
        assert status == 200
        values = {row["key"]: row["values"]["quantity"] for row in page["rows"]}
        assert values[unconfirmed] == 33 and values[finished] == 44

        # At start it settled what the crash left pending, by reading the rows.
        _wait_for(
            lambda: not nocoflo.meta("SELECT 1 FROM core_change WHERE state = 'pending'"),
            "the restarted server to settle the pending entries",
        )
        entries = dict(
            nocoflo.meta(
                "SELECT row_key, state FROM core_change WHERE table_id IN (?, ?) "
                "AND row_key IN (?, ?, ?)",
                (orders, other, unwritten, unconfirmed, finished),
            )
        )
        assert entries == {unwritten: "failed", unconfirmed: "done", finished: "done"}
        status, history = nocoflo.call("admin", "GET", f"/api/tables/{orders}/history")
        assert [(c["row_key"], c["new_value"], c["state"]) for c in history["changes"]][:2] == [
            (unconfirmed, 33, "done"), (finished, 44, "done"),
        ]  # fmt: skip
        status, history = nocoflo.call("admin", "GET", f"/api/tables/{other}/history")
        assert history["count"] == 0

        # The dead editor's lock holds until its lease ends, then the row is editable again.
        while True:
            status, answer = nocoflo.edit("bob", orders, locked, 11)
            if status != 423:
                break
            assert time.time() < lease_ends + 5, "the lock outlived its lease"
            time.sleep(0.25)
        assert status == 200, answer
        assert time.time() >= lease_ends - 1, "the lock was dropped before its lease ended"
        assert nocoflo.call("admin", "GET", f"/api/tables/{orders}/locks") == (200, [])
