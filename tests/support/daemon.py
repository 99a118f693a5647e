"""Run the real daemon for end-to-end tests: in-process (embedded) or as `watchkeeper run` subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from watchkeeper.app import Daemon
from watchkeeper.config import Settings, load_settings


def get_json(url: str, timeout: float = 5.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read())


def wait_until(
    predicate: Any, timeout_s: float = 30.0, interval_s: float = 0.1, what: str = "condition"
) -> Any:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except Exception as exc:  # the server may still be starting
            last = exc
        else:
            if last:
                return last
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}; last value: {last!r}")


def daemon_settings(state_dir: Path, **overrides: Any) -> Settings:
    """Settings for an in-process daemon in a test: state in `state_dir`, every port chosen by the OS."""
    base: dict[str, Any] = {
        "state_dir": str(state_dir),
        "intake": {"http_port": 0, "grpc_port": 0},
        "web": {"port": 0},
    }
    for key, value in overrides.items():
        base[key] = {**base[key], **value} if isinstance(base.get(key), dict) else value
    return load_settings(None, **base)


@contextmanager
def running_daemon(state_dir: Path, **overrides: Any) -> Iterator[Daemon]:
    """The whole daemon in this process (see `daemon_settings`), stopped on exit."""
    daemon = Daemon(daemon_settings(state_dir, **overrides))
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()


def alerts_config(hook_url: str, group_wait: str = "0s") -> dict[str, Any]:
    return {
        "route": {
            "receiver": "hook",
            "group_wait": group_wait,
            "group_interval": "1s",
            "repeat_interval": "4h",
        },
        "receivers": [{"name": "hook", "webhook_configs": [{"url": hook_url, "allow_insecure": True}]}],
    }


class DaemonProcess:
    """`watchkeeper run` in a subprocess, with its own YAML config and log file."""

    def __init__(self, tmp: Path, config: dict[str, Any], stage: str = "all", name: str = "daemon") -> None:
        self.tmp = tmp
        self.config_path = tmp / f"{name}.yaml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.log_path = tmp / f"{name}.log"
        self.stage = stage
        self.config = config
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.config['web']['port']}"

    def start(self, wait_ready: bool = True, timeout_s: float = 180.0) -> DaemonProcess:
        """Start the daemon; with `wait_ready`, a daemon that is not ready in time is killed (never left
        running after the test) and the error names its log. Loading every detector's model takes ~2 s on
        an idle machine and well over a minute on a loaded one, hence the generous default."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHKEEPER_")}
        env["PYTHONUNBUFFERED"] = "1"
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "watchkeeper.cli",
                "run",
                "-c",
                str(self.config_path),
                "--stage",
                self.stage,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=self.tmp,
        )
        if wait_ready:
            try:
                wait_until(self._ready, timeout_s, 0.2, f"{self.stage} daemon ready (log: {self.log_path})")
            except BaseException:
                self.kill()
                raise
        return self

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(
                f"daemon exited with {self.proc.returncode}:\n{self.log_path.read_text()[-3000:]}"
            )
        try:
            return get_json(self.web_url + "/readyz", 2)["ready"]
        except OSError:
            return False

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def terminate(self, timeout_s: float = 30.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()  # a daemon that does not stop fails the test, and is not left running
                raise
        return self.proc.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")
