"""`watchkeeper demo` as a new user runs it: on ports of their choosing, saying when the daemon stops, and
stopping cleanly on SIGTERM (exit status 0, not 143); after its traffic, every panel of the shipped Grafana
dashboard has data on `/metrics`."""

from __future__ import annotations

import json
import os
import re
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
DASHBOARD = Path(__file__).resolve().parents[1] / "docs" / "grafana-dashboard.json"
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? ")


def exposition_series(text: str) -> dict[str, list[set[str]]]:
    """metric name -> the label-name sets of its samples, from Prometheus' text format."""
    series: dict[str, list[set[str]]] = {}
    for line in text.splitlines():
        m = _SAMPLE.match(line)
        if m and not line.startswith("#"):
            names = {
                kv.split("=", 1)[0] for kv in re.findall(r'[a-zA-Z_]+="(?:[^"\\]|\\.)*"', m.group(2) or "")
            }
            series.setdefault(m.group(1), []).append(names)
    return series


def panels_without_data(text: str) -> list[str]:
    """Each dashboard query whose metric has no sample, or no sample with the labels it groups by."""
    series = exposition_series(text)
    problems = []
    for panel in json.loads(DASHBOARD.read_text())["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            grouped = {n.strip() for g in re.findall(r"by \(([^)]*)\)", expr) for n in g.split(",")} - {"le"}
            for metric in set(re.findall(r"watchkeeper_[a-z_]+", expr)):
                samples = series.get(metric, [])
                if not samples:
                    problems.append(f"{panel['title']}: no sample of {metric}")
                elif not any(grouped <= labels for labels in samples):
                    problems.append(f"{panel['title']}: {metric} has no sample with labels {sorted(grouped)}")
    return problems


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
        metrics = httpx.get(f"http://127.0.0.1:{web}/metrics", timeout=10).text
        assert panels_without_data(metrics) == []
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, rest
    assert "stopping the demo daemon" in rest
