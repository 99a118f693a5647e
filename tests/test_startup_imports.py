"""What the offline commands load: validating a config must not start the daemon's machinery.

`watchkeeper alerts check-config` runs in CI pipelines and pre-commit hooks, `watchkeeper --help` at a
prompt; both stay fast only while they import the schema and nothing of the runtime (HTTP and gRPC servers,
the HTTP client of the channels, the template engine, the ML stack, the telemetry libraries). Each case runs
in a fresh interpreter and reads its `sys.modules` at the end. Speed itself is measured by
`benchmarks/bench_cli_startup.py`, not here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.example_config import EXAMPLE, EXAMPLE_ENV

#: libraries of the running daemon and of the ML commands (top-level package names)
RUNTIME_LIBRARIES = (
    "aiohttp",
    "grpc",
    "httpx",
    "jinja2",
    "sklearn",
    "scipy",
    "numpy",
    "google",  # protobuf
    "opentelemetry",
    "prometheus_client",
    "psycopg",
    "kafka",
)
#: project modules that run things rather than describe them
RUNTIME_MODULES = (
    "watchkeeper.app",
    "watchkeeper.web",
    "watchkeeper.collector.intake.service",
    "watchkeeper.collector.intake.http",
    "watchkeeper.collector.intake.grpc",
    "watchkeeper.collector.intake.core",
    "watchkeeper.alerts.service",
    "watchkeeper.alerts.outbox",
    "watchkeeper.detectors.stage",
)

PROBE = """
import json, sys
from watchkeeper.cli import main
try:
    main(sys.argv[2:], prog_name="watchkeeper")
finally:
    with open(sys.argv[1], "w") as out:
        json.dump(sorted(sys.modules), out)
"""


def _run(args: list[str], tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """The command line in a fresh interpreter: its result and every module it had loaded at the end."""
    modules = tmp_path / "modules.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHKEEPER_")}
    env.update(EXAMPLE_ENV)
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(modules), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    return done, json.loads(modules.read_text())


def _runtime(loaded: list[str]) -> list[str]:
    libraries = [m for m in loaded if m.split(".")[0] in RUNTIME_LIBRARIES]
    project = [m for m in loaded if any(m == r or m.startswith(r + ".") for r in RUNTIME_MODULES)]
    detectors = [m for m in loaded if m.startswith("watchkeeper.detectors.") and m.endswith(".detector")]
    return sorted(set(libraries + project + detectors))


def test_check_config_validates_the_example_without_loading_the_runtime(tmp_path: Path) -> None:
    done, loaded = _run(["alerts", "check-config", "-c", str(EXAMPLE)], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "configuration is valid" in done.stdout and "receivers: on-call" in done.stdout
    assert "watchkeeper.config" in loaded  # the whole file went through the daemon's loader
    assert "watchkeeper.alerts.channels.config" in loaded
    assert _runtime(loaded) == []


def test_check_config_refuses_a_bad_file_the_same_way(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "intake: {http_port: 99999}\n"
        "alerts:\n"
        "  receivers: [{name: pager, pagerduty_configs: [{routing_key_env: NOT_SET_ANYWHERE}]}]\n"
        "  route: {receiver: pager}\n"
    )
    done, loaded = _run(["alerts", "check-config", "-c", str(bad)], tmp_path)
    assert done.returncode == 1
    assert "intake.http_port" in done.stderr
    assert "alerts.receivers.0.pagerduty_configs.0" in done.stderr and "NOT_SET_ANYWHERE" in done.stderr
    assert _runtime(loaded) == []


@pytest.mark.parametrize("args", [["--help"], ["run", "--help"], ["alerts", "--help"]])
def test_help_loads_neither_the_schema_nor_the_runtime(args: list[str], tmp_path: Path) -> None:
    done, loaded = _run(args, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Usage: watchkeeper" in done.stdout
    assert _runtime(loaded) == []
    assert "pydantic" not in loaded and "watchkeeper.config" not in loaded
