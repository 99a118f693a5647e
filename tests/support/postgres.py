"""A real PostgreSQL server for tests: the `postgresql` Debian package, run from a temporary data directory.

CI starts one server and exports WATCHKEEPER_TEST_POSTGRES_URL; a developer's run starts one per session.
PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user (runuser). It listens on
a
free loopback port only, with its socket in the data directory, and is stopped by its postmaster's pid.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.net import free_port

URL_ENV = "WATCHKEEPER_TEST_POSTGRES_URL"
SERVICE_USER = "postgres"


class PostgresStartError(RuntimeError):
    """The test server could not be started; the message says why and where its log is."""


def server_binaries() -> Path:
    """The newest installed PostgreSQL server's bin directory (Debian: /usr/lib/postgresql/N/bin)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(Path(p).parts[-3]))
    if not found:
        on_path = shutil.which("postgres")
        if on_path:
            return Path(on_path).parent
        raise PostgresStartError(
            "no PostgreSQL server found: apt-get install -y postgresql, "
            f"or set {URL_ENV}=postgresql://user@host:port/db to use a running one"
        )
    return Path(found[-1]).parent


def _as_service_user(argv: list[str]) -> list[str]:
    return ["runuser", "-u", SERVICE_USER, "--", *argv] if os.geteuid() == 0 else argv


class PostgresServer:
    """initdb + postgres on 127.0.0.1:<free port>; `url` is the superuser's URL of the `postgres` database."""

    def __init__(self, *, fsync: bool = False) -> None:
        self.bin = server_binaries()
        self.fsync = fsync
        self.root = Path(tempfile.mkdtemp(prefix="watchkeeper-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.pid: int | None = None

    @property
    def url(self) -> str:
        return f"postgresql://{SERVICE_USER}@127.0.0.1:{self.port}/postgres"

    def start(self, timeout_s: float = 30.0) -> PostgresServer:
        if os.geteuid() == 0:
            user = pwd.getpwnam(SERVICE_USER)
            os.chown(self.root, user.pw_uid, user.pw_gid)
        init = subprocess.run(
            _as_service_user(
                [
                    str(self.bin / "initdb"),
                    "-D",
                    str(self.data),
                    "-A",
                    "trust",
                    "-U",
                    SERVICE_USER,
                    "-E",
                    "UTF8",
                ]
            ),
            capture_output=True,
            check=False,
        )
        if init.returncode != 0:
            raise PostgresStartError(f"initdb failed: {init.stderr.decode(errors='replace')[-2000:]}")
        argv = [
            str(self.bin / "postgres"),
            "-D", str(self.data),
            "-p", str(self.port),
            "-k", str(self.root),
            "-h", "127.0.0.1",
            "-c", f"fsync={'on' if self.fsync else 'off'}",
            "-c", "max_connections=200",
        ]  # fmt: skip
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(_as_service_user(argv), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise PostgresStartError(f"postgres exited: {self.log.read_text(errors='replace')[-2000:]}")
            ready = subprocess.run(
                [str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-q"], check=False
            )
            pid_file = self.data / "postmaster.pid"
            if ready.returncode == 0 and pid_file.exists():
                self.pid = int(pid_file.read_text().split()[0])
                return self
            time.sleep(0.1)
        self.stop()
        raise PostgresStartError(f"postgres not ready after {timeout_s:g} s; log: {self.log}")

    def stop(self) -> None:
        """Fast shutdown by the postmaster's pid (SIGINT), then remove the data directory."""
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGINT)
        if self.process is not None:
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                if self.pid is not None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(self.pid, signal.SIGQUIT)
                self.process.wait(timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)


def create_database(server_url: str, name: str | None = None) -> str:
    """A fresh database on the server; returns its URL."""
    import psycopg

    name = name or f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return server_url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of a running PostgreSQL server's `postgres` database (CI's, or one started for this
    session)."""
    url = os.environ.get(URL_ENV)
    if url:
        yield url
        return
    server = PostgresServer().start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    """A new, empty database for one test."""
    return create_database(postgres_server)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """The shared store, once as SQLite and once as PostgreSQL: contract tests run against both."""
    from watchkeeper.core.store import open_database

    if request.param == "sqlite":
        db = open_database(f"sqlite:///{tmp_path / 'store' / 'watchkeeper.sqlite3'}")
    else:
        db = open_database(request.getfixturevalue("postgres_url"))
    try:
        yield db
    finally:
        db.close()
