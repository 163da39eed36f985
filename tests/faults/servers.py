"""Throwaway PostgreSQL and MariaDB servers of a test module's own, in a temporary folder on free
ports, for tests that stop, kill and start them again. The shared servers on 5432 and 3306 serve
everyone's tests and are never touched.

A private server that cannot start fails the test with its log: fault tests never skip.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from tests.backends import _mysql_connect, _pg_connect
from tests.e2e.test_grid_browser import _free_port

START_TIMEOUT = 30.0


def _tail(path: Path, lines: int = 30) -> str:
    if not path.exists():
        return f"({path} was not written)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _private_dir(prefix: str, owner: str) -> Path:
    """A folder the server's own user may write: initdb and mariadbd refuse to run as root, and
    pytest's temporary folders are closed to other users."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    if os.geteuid() == 0:
        shutil.chown(path, owner, owner)
    return path


@contextmanager
def _removed_on_failure(path: Path):
    """A server whose set-up failed leaves no folder behind (its fixture never gets to clean)."""
    try:
        yield
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)
        raise


def _as(owner: str, command: list[str]) -> list[str]:
    return ["runuser", "-u", owner, "--", *command] if os.geteuid() == 0 else command


def _run(command: list[str], what: str, log: Path, server_log: Path | None = None) -> None:
    with open(log, "a") as out:
        done = subprocess.run(
            command, stdout=out, stderr=subprocess.STDOUT, timeout=120, check=False
        )
    if done.returncode != 0:
        server = f"\n{server_log}:\n{_tail(server_log)}" if server_log else ""
        raise AssertionError(f"{what} failed ({done.returncode}):\n{_tail(log)}{server}")


class _SQL:
    """Plain SQL on a private server, with its own driver (autocommit), bypassing Nocoflo."""

    def connect(self, database: str | None) -> Any:
        raise NotImplementedError

    def execute(self, *statements: str, database: str | None = None) -> None:
        with closing(self.connect(database)) as conn:
            for statement in statements:
                conn.cursor().execute(statement)

    def query(self, sql: str, database: str | None = None) -> list[tuple]:
        with closing(self.connect(database)) as conn:
            cursor = conn.cursor()
            cursor.execute(sql)
            return list(cursor.fetchall())


class PrivatePostgres(_SQL):
    """A PostgreSQL cluster in a temporary folder, trust authentication, user postgres."""

    def __init__(self) -> None:
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        assert bins, "PostgreSQL's server programs are missing (/usr/lib/postgresql/*/bin)"
        self.bin = Path(bins[-1]).parent
        self.root = _private_dir("nocoflo-faults-pg-", "postgres")
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.port = _free_port()
        self.setup_log = self.root / "setup.log"
        with _removed_on_failure(self.root):
            _run(
                _as("postgres", [str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
                                 "-A", "trust", "-E", "UTF8", "--no-sync"]),
                "initdb of the private PostgreSQL", self.setup_log,
            )  # fmt: skip

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _pg_ctl(self, *args: str) -> list[str]:
        return _as("postgres", [str(self.bin / "pg_ctl"), "-D", str(self.data), "-w", "-t", "30",
                                *args])  # fmt: skip

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        _run(
            self._pg_ctl("-l", str(self.log), "-o", options, "start"),
            f"starting the private PostgreSQL on port {self.port}", self.setup_log, self.log,
        )  # fmt: skip

    def stop(self) -> None:
        """Stop as an administrator would: open sessions are ended, nothing half-committed."""
        _run(self._pg_ctl("-m", "fast", "stop"), "stopping the private PostgreSQL", self.setup_log)

    def connect(self, database: str | None):
        return _pg_connect(self.url(database or "postgres"), autocommit=True)

    def remove(self) -> None:
        subprocess.run(self._pg_ctl("-m", "immediate", "stop"), capture_output=True, check=False)
        shutil.rmtree(self.root, ignore_errors=True)


class PrivateMariaDB(_SQL):
    """A MariaDB server in a temporary folder; root without a password, over TCP."""

    def __init__(self) -> None:
        self.root = _private_dir("nocoflo-faults-mariadb-", "mysql")
        self.data = self.root / "data"
        self.log = self.root / "mariadb.log"
        self.port = _free_port()
        self.process: subprocess.Popen | None = None
        with _removed_on_failure(self.root):
            _run(
                ["mariadb-install-db", "--no-defaults", f"--datadir={self.data}",
                 *self._user(), "--auth-root-authentication-method=normal", "--skip-test-db",
                 "--skip-name-resolve"],
                "mariadb-install-db of the private MariaDB", self.root / "install.log",
            )  # fmt: skip

    def _user(self) -> list[str]:
        return ["--user=mysql"] if os.geteuid() == 0 else []

    def url(self, database: str = "") -> str:
        return f"mysql://root@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        """Start (after a kill: InnoDB's crash recovery runs first) and wait until it answers."""
        self.process = subprocess.Popen(
            ["mariadbd", "--no-defaults", f"--datadir={self.data}", f"--port={self.port}",
             "--bind-address=127.0.0.1", f"--socket={self.root / 'mariadb.sock'}",
             f"--pid-file={self.root / 'mariadb.pid'}", f"--log-error={self.log}",
             "--skip-name-resolve", "--innodb-buffer-pool-size=32M", *self._user()],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert self.process.poll() is None, (
                f"the private MariaDB exited at start ({self.process.returncode}):\n"
                f"{_tail(self.log)}"
            )
            try:
                _mysql_connect(self.url()).close()
                return
            except Exception:  # noqa: S110  (not answering yet)
                pass
            assert time.monotonic() < deadline, (
                f"the private MariaDB did not answer within {START_TIMEOUT:g} s:\n{_tail(self.log)}"
            )
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no shutdown, whatever is in flight is cut off."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def connect(self, database: str | None):
        return _mysql_connect(self.url(database or ""))

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
