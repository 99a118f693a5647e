"""The CLI acts on the running daemon through its API, like `amtool --alertmanager.url`: a daemon started
with its own state directory and port, commands run from another directory, effects checked through the API,
and nothing written locally."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.daemon import DaemonProcess, alerts_config, wait_until
from tests.support.net import free_port
from tests.support.receivers import WebhookReceiver
from tests.support.spans import SpanFactory, export
from watchkeeper.core.records import sha256_text

pytestmark = pytest.mark.slow

TOKEN = "oncall-token-0123456789abcdef"
APP = "cli-bot"
BASE = "You are the assistant of cli-bot. Answer briefly."
CHANGED = BASE + " Mention our partner airline in every answer."


@pytest.fixture(scope="module")
def hook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, hook: WebhookReceiver) -> Iterator[DaemonProcess]:
    tmp = tmp_path_factory.mktemp("cli-daemon")
    (tmp / "alice.token").write_text(TOKEN + "\n")
    config = {
        "state_dir": str(tmp / "elsewhere-state"),
        "intake": {"http_port": free_port(), "grpc_port": 0},
        "web": {
            "port": free_port(),
            "api_tokens": [{"actor": "alice", "token_file": str(tmp / "alice.token")}],
        },
        "alerts": alerts_config(hook.url),
        # The CLI acts on integrity incidents; the content-safety models only slow the start down.
        "detectors": {"content_safety": {"enabled": False}},
    }
    proc = DaemonProcess(tmp, config).start(timeout_s=300)
    yield proc
    assert proc.terminate() == 0


@pytest.fixture(scope="module")
def api(daemon: DaemonProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=daemon.web_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10) as c:
        yield c


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("operator-shell")


def cli(workdir: Path, *args: str, url: str | None = None, token: bool = True, ok: bool = True) -> Any:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHKEEPER_")}
    if url:
        env["WATCHKEEPER_URL"] = url
    if token:
        env["WATCHKEEPER_TOKEN"] = TOKEN
    result = subprocess.run(
        [sys.executable, "-m", "watchkeeper.cli", *args], cwd=workdir, env=env, capture_output=True, text=True
    )
    if ok:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture(scope="module")
def incident(daemon: DaemonProcess, api: httpx.Client) -> dict[str, Any]:
    spans = SpanFactory(service=APP, environment="prod")
    intake = f"http://127.0.0.1:{daemon.config['intake']['http_port']}"
    assert export(intake, [spans.chat(BASE), spans.chat(BASE), spans.chat(CHANGED)])

    def found() -> dict[str, Any] | None:
        items = api.get("/api/v1/incidents", params={"app": APP, "status": "open"}).json()
        return items[0] if items else None

    return wait_until(found, 30, 0.2, "the integrity incident")


def test_approve_by_the_prefix_the_dashboard_shows(
    daemon: DaemonProcess, api: httpx.Client, workdir: Path, incident: dict[str, Any]
) -> None:
    sha = sha256_text(CHANGED)
    seen = cli(workdir, "integrity", "prompts", APP, "--url", daemon.web_url)
    assert sha in seen.stdout and "calls=1" in seen.stdout
    unknown = cli(workdir, "integrity", "approve", APP, "deadbeef00", "--url", daemon.web_url, ok=False)
    assert (
        unknown.returncode == 1 and "no system-prompt hash seen" in unknown.stderr and sha in unknown.stderr
    )
    short = cli(workdir, "integrity", "approve", APP, sha[:6], "--url", daemon.web_url, ok=False)
    assert short.returncode == 1 and "at least 8" in short.stderr
    out = cli(
        workdir, "integrity", "approve", APP, sha[:12], "--url", daemon.web_url, "--comment", "release 4.2",
        "--incident", incident["id"],
    )  # fmt: skip
    assert f"approved {sha} for {APP} (by alice" in out.stdout
    approvals = api.get("/api/v1/approvals", params={"app": APP}).json()
    assert [(a["sha256"], a["actor"], a["comment"]) for a in approvals] == [(sha, "alice", "release 4.2")]
    listed = cli(workdir, "integrity", "list", "--app", APP, url=daemon.web_url)
    assert sha in listed.stdout
    assert "ok: 1 entries verified" in cli(workdir, "integrity", "verify", url=daemon.web_url).stdout
    assert not (workdir / ".watchkeeper").exists()


def test_silence_ack_and_feedback_act_on_the_daemon(
    daemon: DaemonProcess, api: httpx.Client, workdir: Path, incident: dict[str, Any]
) -> None:
    url = daemon.web_url
    add = cli(
        workdir,
        "alerts",
        "silences",
        "add",
        "-m",
        f'app="{APP}"',
        "--duration",
        "2h",
        "--comment",
        "deploy",
        url=url,
    )
    sid = add.stdout.strip()
    assert "mutes 1 open incident" in add.stderr and incident["id"] in add.stderr
    assert [s["id"] for s in api.get("/api/v1/silences").json()] == [sid]
    listed = json.loads(cli(workdir, "alerts", "silences", "list", "--json", url=url).stdout)
    assert listed[0]["created_by"] == "alice"

    ack = cli(workdir, "incidents", "ack", incident["id"], "-m", "looking", url=url)
    assert "acknowledged" in ack.stdout
    assert api.get(f"/api/v1/incidents/{incident['id']}").json()["status"] == "acknowledged"
    shown = cli(workdir, "incidents", "show", incident["id"], url=url).stdout
    assert "acknowledged" in shown and "alice" in shown and "silence" in shown and "approval" in shown

    cli(workdir, "alerts", "silences", "expire", sid, url=url)
    assert api.get("/api/v1/silences", params={"state": "expired"}).json()[0]["id"] == sid
    assert json.loads(cli(workdir, "alerts", "deadletters", "list", "--json", url=url).stdout) == []

    verdict = cli(
        workdir, "feedback", "add", "incident", incident["id"], "false-positive", "-m", "planned", url=url
    )
    assert "is resolved" in verdict.stdout
    assert api.get(f"/api/v1/incidents/{incident['id']}").json()["status"] == "resolved"
    out = workdir / "labels.jsonl"
    cli(workdir, "feedback", "export", "-o", str(out), url=url)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert (
        rows and rows[0]["verdict"] == "false_positive" and rows[0]["app"] == APP and rows[0]["by"] == "alice"
    )
    calls = json.loads(cli(workdir, "calls", "list", "--app", APP, "--json", url=url).stdout)
    assert len(calls) == 3
    assert CHANGED in cli(workdir, "calls", "show", calls[0]["id"], url=url).stdout
    assert not (workdir / ".watchkeeper").exists()


def test_token_file_and_the_errors_that_say_what_to_do(daemon: DaemonProcess, workdir: Path) -> None:
    token_file = workdir / "token"
    token_file.write_text(TOKEN)
    ok = cli(
        workdir,
        "incidents",
        "list",
        "--status",
        "all",
        "--url",
        daemon.web_url,
        "--token-file",
        str(token_file),
        token=False,
    )
    assert APP in ok.stdout
    denied = cli(workdir, "incidents", "list", "--url", daemon.web_url, token=False, ok=False)
    assert denied.returncode == 1 and "--token-file" in denied.stderr and "WATCHKEEPER_TOKEN" in denied.stderr
    nowhere = f"http://127.0.0.1:{free_port()}"
    down = cli(workdir, "alerts", "silences", "list", "--url", nowhere, ok=False)
    assert down.returncode == 1 and f"cannot reach the Watchkeeper daemon at {nowhere}" in down.stderr
    assert "WATCHKEEPER_URL" in down.stderr
    text = cli(workdir, "integrity", "approve", APP, "--url", daemon.web_url, ok=False)
    assert text.returncode == 2 and "--text or --file" in text.stderr
