"""What the alerting benchmarks share: a loopback webhook receiver, the real Alertmanager, Watchkeeper's
alerts
stage as a process, and /proc readings (CPU seconds, RSS) of a process.

Both systems run as separate processes and are measured the same way: CPU and RSS from /proc, first
notification of a group from the moment its first alert/finding was handed over to the moment the receiver got
the webhook.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import yaml

ALERTMANAGER = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def wait_for(predicate: Callable[[], Any], timeout_s: float, what: str, interval_s: float = 0.002) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    raise TimeoutError(f"timed out after {timeout_s:g} s waiting for {what}")


class Receiver:
    """A loopback webhook endpoint: answers `status`, records the first 2xx arrival per group key."""

    def __init__(self, group_of: Callable[[dict[str, Any]], list[str]]) -> None:
        self.group_of = group_of
        self.status = 200
        self.first: dict[str, float] = {}
        self.bodies = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                now = time.monotonic()
                status = receiver.status
                if status < 300:
                    try:
                        groups = receiver.group_of(json.loads(body))
                    except (ValueError, KeyError, TypeError):
                        groups = []
                    with receiver.lock:
                        receiver.bodies += 1
                        for group in groups:
                            receiver.first.setdefault(group, now)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Process:
    """A benchmarked server process: started, killed (-9) or stopped by pid."""

    proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


class Alertmanager(Process):
    """prometheus-alertmanager (the Debian package) on a free loopback port, no gossip, its own storage."""

    def __init__(self, webhook_url: str, storage: Path, *, group_by: list[str]) -> None:
        self.dir = storage
        self.dir.mkdir(parents=True, exist_ok=True)
        self.url = ""
        config = {
            "route": {
                "receiver": "hook",
                "group_by": group_by,
                "group_wait": "0s",
                "group_interval": "1m",
                "repeat_interval": "4h",
            },
            "receivers": [{"name": "hook", "webhook_configs": [{"url": webhook_url, "send_resolved": True}]}],
        }
        (self.dir / "alertmanager.yml").write_text(json.dumps(config))

    def start(self) -> Alertmanager:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            [
                ALERTMANAGER,
                f"--config.file={self.dir / 'alertmanager.yml'}",
                f"--storage.path={self.dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
                "--log.level=warn",
            ],
            stdout=subprocess.DEVNULL,
            stderr=open(self.dir / "log", "ab"),  # noqa: SIM115 - owned by the process
        )
        wait_for(self._ready, 30, "alertmanager ready", 0.05)
        return self

    def _ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/-/ready", timeout=0.5).status_code == 200
        except httpx.HTTPError:
            return False


class WatchkeeperAlerts(Process):
    """`watchkeeper run --stage alerts` with a webhook receiver, on the embedded bus or Kafka, SQLite or
    PostgreSQL; findings are handed over by publishing to its findings topic."""

    def __init__(
        self,
        state_dir: Path,
        webhook_url: str,
        *,
        group_by: list[str],
        bus: dict[str, Any] | None = None,
        store_url: str | None = None,
        name: str = "alerts",
    ) -> None:
        self.state_dir = state_dir
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.web_port = free_port()
        self.config: dict[str, Any] = {
            "state_dir": str(state_dir),
            "log_level": "warning",
            "bus": bus or {"kind": "embedded"},
            "web": {"port": self.web_port},
            "alerts": {
                "route": {
                    "receiver": "hook",
                    "group_by": group_by,
                    "group_wait": "0s",
                    "group_interval": "1m",
                    "repeat_interval": "4h",
                },
                "resolve_timeout": "24h",
                "receivers": [
                    {"name": "hook", "webhook_configs": [{"url": webhook_url, "allow_insecure": True}]}
                ],
            },
        }
        if store_url:
            self.config["store"] = {"url": store_url}
        self.config_path = state_dir / f"{name}.yaml"
        self.config_path.write_text(yaml.safe_dump(self.config))

    def start(self) -> WatchkeeperAlerts:
        env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHKEEPER_")}
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "watchkeeper.cli",
                "run",
                "-c",
                str(self.config_path),
                "--stage",
                "alerts",
            ],
            stdout=subprocess.DEVNULL,
            stderr=open(self.state_dir / f"{self.name}.log", "ab"),  # noqa: SIM115 - owned by the process
            env=env,
        )
        wait_for(self._ready, 120, f"{self.name} ready", 0.1)
        return self

    def _ready(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(
                f"{self.name} exited: {(self.state_dir / f'{self.name}.log').read_text()[-2000:]}"
            )
        try:
            return bool(httpx.get(f"http://127.0.0.1:{self.web_port}/readyz", timeout=1).json()["ready"])
        except (httpx.HTTPError, ValueError, KeyError):
            return False


def temp_dir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))
