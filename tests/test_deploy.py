"""The shipped service unit: systemd accepts it, it is hardened, its command line runs and drains on SIGTERM.

The unit is checked as shipped, with one change: ExecStart's program path points at this test environment's
`watchkeeper` (systemd-analyze verify checks that the program exists).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.support.net import free_port

REPO = Path(__file__).resolve().parent.parent
UNIT = REPO / "deploy" / "systemd" / "watchkeeper.service"
CONTAINERFILE = REPO / "deploy" / "container" / "Containerfile"
SHIPPED_PROGRAM = "/opt/watchkeeper/bin/watchkeeper"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
WATCHKEEPER = Path(sys.executable).with_name("watchkeeper")
MAX_EXPOSURE = (
    2.0  # systemd-analyze security: 0 = fully locked down, 10 = no hardening; the shipped unit: 1.3
)

needs_systemd = pytest.mark.skipif(
    SYSTEMD_ANALYZE is None, reason="systemd-analyze is absent (apt-get install systemd)"
)


def unit_settings(text: str) -> dict[str, list[str]]:
    """Key -> values of the unit file (repeated keys keep every value, as systemd does)."""
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        out.setdefault(key.strip(), []).append(value.strip())
    return out


@pytest.fixture
def test_unit(tmp_path: Path) -> Path:
    shipped = UNIT.read_text()
    local = shipped.replace(f"ExecStart={SHIPPED_PROGRAM} ", f"ExecStart={WATCHKEEPER} ")
    changed = [(a, b) for a, b in zip(shipped.splitlines(), local.splitlines(), strict=True) if a != b]
    assert len(changed) == 1 and changed[0][0].startswith("ExecStart="), changed
    path = tmp_path / "units" / "watchkeeper.service"
    path.parent.mkdir()
    path.write_text(local)
    return path


def test_the_unit_is_hardened_as_documented() -> None:
    settings = unit_settings(UNIT.read_text())
    one = {k: v[-1] for k, v in settings.items()}
    assert one["DynamicUser"] == "yes" and one["User"] == "watchkeeper"
    assert one["StateDirectory"] == "watchkeeper"
    assert one["ProtectSystem"] == "strict" and one["NoNewPrivileges"] == "yes"
    assert one["CapabilityBoundingSet"] == ""
    assert one["Restart"] == "on-failure"
    assert one["KillSignal"] == "SIGTERM" and one["TimeoutStopSec"].endswith("s")
    assert "WATCHKEEPER_STATE_DIR=%S/watchkeeper" in settings["Environment"]
    assert one["ExecStart"].startswith(f"{SHIPPED_PROGRAM} run -c %E/watchkeeper/watchkeeper.yaml")


@needs_systemd
def test_systemd_analyze_verify_accepts_the_unit(test_unit: Path) -> None:
    done = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", "--man=no", str(test_unit)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "watchkeeper.service" not in done.stderr, done.stderr  # no warning about our unit


@needs_systemd
def test_exposure_score_stays_low(test_unit: Path) -> None:
    done = subprocess.run(
        [
            SYSTEMD_ANALYZE,
            "security",
            "--offline=true",
            f"--threshold={int(MAX_EXPOSURE * 10)}",
            str(test_unit),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    assert "Overall exposure level for watchkeeper.service" in done.stdout


@pytest.mark.slow
def test_the_units_command_line_runs_and_drains_on_sigterm(tmp_path: Path) -> None:
    """ExecStart with the unit's Environment, %E and %S in a temp dir: ready, then SIGTERM -> exit 0."""
    settings = unit_settings(UNIT.read_text())
    etc, state_root = tmp_path / "etc", tmp_path / "var-lib"
    (etc / "watchkeeper").mkdir(parents=True)
    (state_root / "watchkeeper").mkdir(parents=True)
    port = free_port()
    config = {"web": {"port": port}, "intake": {"http_port": 0, "grpc_port": 0}}
    (etc / "watchkeeper" / "watchkeeper.yaml").write_text(yaml.safe_dump(config))

    def expand(value: str) -> str:
        return value.replace("%E", str(etc)).replace("%S", str(state_root))

    argv = expand(settings["ExecStart"][-1]).split()
    assert argv[0] == SHIPPED_PROGRAM
    argv[0] = str(WATCHKEEPER)
    env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHKEEPER_")}
    env.update(dict(expand(e).split("=", 1) for e in settings["Environment"]))
    log = (tmp_path / "daemon.log").open("wb")
    proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 300  # a niced run on a busy machine starts slowly
        while True:
            assert proc.poll() is None, (tmp_path / "daemon.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "not ready: " + (tmp_path / "daemon.log").read_text()[-3000:]
            time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        stop_timeout = float(settings["TimeoutStopSec"][-1].removesuffix("s"))
        assert proc.wait(timeout=stop_timeout) == 0, (tmp_path / "daemon.log").read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        log.close()
    assert any((state_root / "watchkeeper").iterdir()), "the state went somewhere else than StateDirectory"


def test_container_recipe_is_multi_stage_non_root_with_a_readiness_check() -> None:
    text = CONTAINERFILE.read_text()
    froms = [line for line in text.splitlines() if line.startswith("FROM ")]
    assert len(froms) == 2 and " AS build" in froms[0]
    user = [line.split()[1] for line in text.splitlines() if line.startswith("USER ")]
    assert user and not user[-1].startswith(("0", "root"))
    assert "HEALTHCHECK" in text and "/readyz" in text
    assert "Unverified" in text  # no container engine builds it in CI: the recipe says so
