"""Floods of connections: half-sent request heads, idle sockets and more connections than file descriptors.

The daemon runs as `watchkeeper run` with the systemd default soft open-files limit (1024); every assertion
is about what a client sees on real sockets: the daemon keeps answering, closes what never finished its
request head, refuses beyond its connection cap with a 503 it can read, and its log stays small and free of
tracebacks.
"""

from __future__ import annotations

import contextlib
import os
import re
import resource
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
import yaml

from tests.support.intake import traces_request
from tests.support.net import free_port

pytestmark = pytest.mark.slow

HALF_HEAD = b"POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\n"
HTTP2_HALF_PREFACE = b"PRI * HTTP/2.0\r\n"


def _raise_own_nofile(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            pytest.skip(f"needs {needed} open files, the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def _systemd_default_soft_limit() -> None:  # runs in the child before exec
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))


class Daemon:
    def __init__(self, tmp: Path, extra: dict[str, Any]) -> None:
        self.web, self.http, self.grpc = free_port(), free_port(), free_port()
        config: dict[str, Any] = {
            "state_dir": str(tmp / "state"),
            "web": {"port": self.web},
            "intake": {"http_port": self.http, "grpc_port": self.grpc},
        }
        for section, values in extra.items():
            config[section] = {**config.get(section, {}), **values}
        (tmp / "daemon.yaml").write_text(yaml.safe_dump(config))
        self.log_path = tmp / "daemon.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHKEEPER_")}
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "watchkeeper.cli", "run", "-c", str(tmp / "daemon.yaml")],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=tmp,
                preexec_fn=_systemd_default_soft_limit,
            )
        deadline = time.monotonic() + 180  # loading the detectors' models takes a while on a busy machine
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited: {self.log()[-2000:]}")
            if self.get("/healthz") == 200:
                return
            time.sleep(0.2)
        self.stop()  # never leave a daemon behind a failed start
        raise AssertionError(f"daemon not ready: {self.log()[-2000:]}")

    def get(self, path: str, timeout: float = 3.0) -> int | str:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.web}{path}", timeout=timeout) as r:
                return r.status
        except OSError as exc:
            return repr(exc)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@contextlib.contextmanager
def daemon(tmp: Path, **extra: Any) -> Iterator[Daemon]:
    d = Daemon(tmp, extra)
    try:
        yield d
    finally:
        d.stop()


def _open(port: int, n: int, first_bytes: bytes) -> list[socket.socket]:
    out = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(first_bytes)
        out.append(s)
    return out


def _closed_by_server(sockets: list[socket.socket], within_s: float) -> int:
    """How many of the sockets the server closed (EOF or reset) within `within_s`."""
    deadline = time.monotonic() + within_s
    closed: set[int] = set()
    while time.monotonic() < deadline and len(closed) < len(sockets):
        for i, s in enumerate(sockets):
            if i in closed:
                continue
            s.settimeout(0.0)
            try:
                while True:
                    data = s.recv(65536)
                    if not data:
                        closed.add(i)
                        break
            except BlockingIOError:
                pass
            except OSError:
                closed.add(i)
        time.sleep(0.2)
    return len(closed)


def _export_ok(port: int) -> int:
    return httpx.post(
        f"http://127.0.0.1:{port}/v1/traces",
        content=traces_request(2).SerializeToString(),
        headers={"Content-Type": "application/x-protobuf"},
        timeout=5,
    ).status_code


def test_half_open_connections_beyond_the_soft_fd_limit_do_not_freeze_the_daemon(tmp_path: Path) -> None:
    _raise_own_nofile(4000)
    with daemon(tmp_path) as d:  # the defaults: what a user runs
        half_open = _open(d.http, 1100, HALF_HEAD) + _open(d.web, 300, HALF_HEAD)
        half_open += _open(d.grpc, 300, HTTP2_HALF_PREFACE)
        try:
            # The daemon still answers while every one of those sockets is held open.
            assert d.get("/healthz", timeout=5) == 200
            assert _export_ok(d.http) == 200
            # Whatever never completed its request head is closed by the server, not kept forever.
            assert _closed_by_server(half_open, within_s=20) == len(half_open)
        finally:
            for s in half_open:
                s.close()
        assert d.get("/healthz", timeout=5) == 200
        log = d.log()
        assert "Traceback" not in log
        assert len(log) < 100_000, f"{len(log)} bytes of log"


def test_connections_beyond_the_cap_get_a_readable_503(tmp_path: Path) -> None:
    with daemon(tmp_path, web={"max_connections": 20}, intake={"max_connections": 20}) as d:
        for port in (d.web, d.http):
            idle = _open(port, 20, b"")
            try:
                over = socket.create_connection(("127.0.0.1", port), timeout=5)
                over.settimeout(5)
                head = over.recv(4096)
                over.close()
                assert head.startswith(b"HTTP/1.1 503"), head
                assert b"Retry-After:" in head and b"max_connections" in head
            finally:
                for s in idle:
                    s.close()
            # once the idle sockets are gone, the port serves again
            deadline = time.monotonic() + 10
            while d.get("/healthz") != 200 and time.monotonic() < deadline:
                time.sleep(0.2)
        assert _export_ok(d.http) == 200
        assert d.get("/healthz") == 200


def test_raises_the_soft_open_files_limit_to_the_hard_limit(tmp_path: Path) -> None:
    with daemon(tmp_path) as d:
        limits = Path(f"/proc/{d.proc.pid}/limits").read_text()
        line = next(ln for ln in limits.splitlines() if ln.startswith("Max open files"))
        soft, hard = line.split()[3:5]
        assert soft == hard, line


def test_grpc_refuses_beyond_its_connection_cap(tmp_path: Path) -> None:
    with daemon(tmp_path, intake={"max_connections": 10}) as d:
        idle = _open(d.grpc, 10, HTTP2_HALF_PREFACE)
        try:
            over = _open(d.grpc, 5, HTTP2_HALF_PREFACE)
            assert _closed_by_server(over, within_s=5) == 5
        finally:
            for s in idle:
                s.close()
        channel = grpc.insecure_channel(f"127.0.0.1:{d.grpc}")
        grpc.channel_ready_future(channel).result(timeout=10)
        channel.close()


def test_malformed_requests_get_a_4xx_and_leave_no_traceback(tmp_path: Path) -> None:
    junk = [
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(64),  # TLS to a plain port
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX: " + b"a" * 20_000 + b"\r\n\r\n",  # header too long
        b"POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: x\r\n\r\n",
        b"GET /\x00 HTTP/1.1\r\n\r\n",
    ]
    with daemon(tmp_path) as d:
        for port in (d.web, d.http):
            for raw in junk * 3:
                with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                    s.sendall(raw)
                    s.settimeout(5)
                    answer = s.recv(200)
                    assert answer == b"" or re.match(rb"HTTP/1\.[01] 4\d\d ", answer), answer
        assert d.get("/healthz") == 200
        assert "Traceback" not in d.log()
