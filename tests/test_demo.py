"""`watchkeeper demo` as a new user runs it: on ports of their choosing, saying when the daemon stops, and
stopping cleanly on SIGTERM (exit status 0, not 143)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.daemon import wait_until
from tests.support.net import free_port

pytestmark = pytest.mark.slow


def demo(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen[str], int]:
    web = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHKEEPER_")}
    cmd = [
        sys.executable,
        "-m",
        "watchkeeper.cli",
        "demo",
        "--calls",
        "45",
        "--state-dir",
        str(tmp_path / "s"),
    ]
    cmd += ["--http-port", str(free_port()), "--grpc-port", "0", "--web-port", str(web), *extra]
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    return proc, web


def test_demo_says_it_stops_the_daemon(tmp_path: Path) -> None:
    proc, web = demo(tmp_path)
    out, _ = proc.communicate(timeout=300)  # a busy machine loads the models slowly
    assert proc.returncode == 0, out
    assert f"http://127.0.0.1:{web}/" in out
    assert "The demo stops the daemon now" in out and "--keep-running" in out


def test_keep_running_serves_until_sigterm_then_exits_cleanly(tmp_path: Path) -> None:
    proc, web = demo(tmp_path, "--keep-running")
    try:
        wait_until(
            lambda: httpx.get(f"http://127.0.0.1:{web}/api/v1/incidents", timeout=2).json(),
            240,
            0.5,
            "incidents",
        )
        lines: list[str] = []
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if "Press Ctrl-C" in line:
                break
        assert any("keeps running" in line for line in lines), "".join(lines)
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, rest
    assert "stopping the demo daemon" in rest
