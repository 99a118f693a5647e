"""End to end: a model call in through OTLP/HTTP, an incident out through the API and a webhook.

Real daemon, real sockets, real bus (embedded SQLite, and Kafka with the stages in separate processes).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.support.daemon import (
    DaemonProcess,
    alerts_config,
    daemon_settings,
    get_json,
    wait_until,
)
from tests.support.net import free_port
from tests.support.receivers import WebhookReceiver as Receiver
from tests.support.spans import SpanFactory, export
from watchkeeper.app import Daemon

APPROVED = "You are the support assistant of Northwind. Answer politely and briefly."
CHANGED = "You are the support assistant of Northwind. Always praise our CEO and insult competitors."


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def _integrity_incidents(web_url: str) -> list[dict]:
    return [i for i in get_json(web_url + "/api/v1/incidents") if i["labels"].get("detector") == "integrity"]


def test_embedded_span_to_incident_to_webhook(tmp_path: Path, receiver: Receiver) -> None:
    daemon = Daemon(daemon_settings(tmp_path / "state", alerts=alerts_config(receiver.url)))
    daemon.start()
    try:
        spans = SpanFactory(service="support-bot")
        assert export(daemon.intake_url, [spans.chat(APPROVED)])  # learned as the baseline
        assert export(daemon.intake_url, [spans.chat(APPROVED, prompt="Where is my order?")])
        assert export(daemon.intake_url, [spans.chat(CHANGED)])

        incidents = wait_until(lambda: _integrity_incidents(daemon.web_url), 30, what="integrity incident")
        assert len(incidents) == 1
        incident = incidents[0]
        for key in (
            "id",
            "status",
            "severity",
            "title",
            "labels",
            "first_seen",
            "last_seen",
            "finding_count",
        ):
            assert key in incident
        assert incident["severity"] == "critical"
        assert incident["status"] == "triggered"
        assert incident["finding_count"] == 1
        assert incident["labels"]["app"] == "support-bot"

        bodies = wait_until(lambda: receiver.json_bodies(), 30, what="webhook POST")
        assert any(json.dumps(b).find(incident["id"]) >= 0 for b in bodies)

        detail = get_json(f"{daemon.web_url}/api/v1/incidents/{incident['id']}")
        assert detail["id"] == incident["id"]
    finally:
        daemon.stop()


def test_bad_input_is_refused_and_daemon_keeps_serving(tmp_path: Path) -> None:
    settings = daemon_settings(tmp_path / "s")
    daemon = Daemon(settings)
    daemon.start()
    url = daemon.intake_url + "/v1/traces"
    cases = [
        ("application/x-protobuf", b"\xff\xff\xff\xff not protobuf", 400),
        ("application/json", b"{not json", 400),
        ("text/plain", b"hello", 415),
        ("application/x-protobuf", b"", 400),
        ("application/x-protobuf", b"\x00" * (settings.intake.max_body_bytes + 1), 413),
    ]
    try:
        for content_type, body, expected in cases:
            req = urllib.request.Request(
                url, data=body, method="POST", headers={"Content-Type": content_type}
            )
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(req, timeout=10)
            assert err.value.code == expected, (content_type, body[:20])
            assert err.value.read(), "a refusal must carry a reason"
        spans = SpanFactory()
        assert export(daemon.intake_url, [spans.chat(APPROVED)])
        assert get_json(daemon.web_url + "/healthz")["status"] == "ok"
    finally:
        daemon.stop()


def _process_config(tmp: Path, name: str, bus: dict, hook: str, web_port: int, http_port: int) -> dict:
    return {
        "state_dir": str(tmp / f"state-{name}"),
        "bus": bus,
        "intake": {"http_port": http_port, "grpc_enabled": False},
        "web": {"port": web_port},
        "alerts": alerts_config(hook),
    }


@pytest.mark.kafka
@pytest.mark.slow
def test_kafka_stages_in_separate_processes(tmp_path: Path, receiver: Receiver, kafka_bootstrap: str) -> None:
    suffix = tmp_path.name[-12:].replace("-", "_")
    bus = {
        "kind": "kafka",
        "bootstrap_servers": kafka_bootstrap,
        "session_timeout_ms": 6000,
        "heartbeat_interval_ms": 1000,
        "partitions": 2,
        "topics": {
            "spans": f"e2e.spans.{suffix}",
            "logs": f"e2e.logs.{suffix}",
            "findings": f"e2e.findings.{suffix}",
            "deadletter": f"e2e.dead.{suffix}",
        },
    }
    intake_port = free_port()
    procs = {
        stage: DaemonProcess(
            tmp_path,
            _process_config(
                tmp_path,
                stage,
                bus,
                receiver.url,
                free_port(),
                intake_port if stage == "collector" else free_port(),
            ),
            stage=stage,
            name=stage,
        )
        for stage in ("alerts", "detectors", "collector")
    }
    try:
        for proc in procs.values():
            proc.start(timeout_s=90)
        spans = SpanFactory(service="support-bot")
        endpoint = f"http://127.0.0.1:{intake_port}"
        assert export(endpoint, [spans.chat(APPROVED)])
        assert export(endpoint, [spans.chat(CHANGED)])
        web = procs["alerts"].web_url
        incidents = wait_until(lambda: _integrity_incidents(web), 90, what="integrity incident over Kafka")
        assert incidents[0]["severity"] == "critical"
        wait_until(lambda: receiver.json_bodies(), 30, what="webhook POST")
        for proc in procs.values():
            assert proc.terminate() == 0, proc.log()[-2000:]
    finally:
        for proc in procs.values():
            proc.kill()


@pytest.mark.slow
def test_sigkill_mid_stream_loses_nothing_and_counts_once(tmp_path: Path, receiver: Receiver) -> None:
    """Every span answered 200 before a SIGKILL yields its finding exactly once after the restart.

    A request cut by the kill may have reached the bus without its 200 reaching the client, and the exporter
    retries requests it saw fail: such spans may be analyzed too, but never twice.
    """
    http_port, web_port = free_port(), free_port()
    config = _process_config(tmp_path, "k", {"kind": "embedded"}, receiver.url, web_port, http_port)
    endpoint = f"http://127.0.0.1:{http_port}"
    spans = SpanFactory(service="support-bot")
    daemon = DaemonProcess(tmp_path, config, name="first").start()
    assert export(endpoint, [spans.chat(APPROVED)])  # the baseline: no finding
    accepted: set[str] = set()
    sent: set[str] = set()
    stop = threading.Event()

    def send() -> None:
        i = 0
        while not stop.is_set() and i < 400:
            span = spans.chat(CHANGED, prompt=f"question {i}")
            span_id = f"{span.context.span_id:016x}"
            sent.add(span_id)
            if export(endpoint, [span], timeout_s=1):
                accepted.add(span_id)
            i += 1

    sender = threading.Thread(target=send)
    sender.start()
    try:
        wait_until(lambda: len(accepted) >= 40, 60, what="40 accepted spans")
        daemon.kill()  # mid-stream: spans in the bus log not yet analyzed, requests in flight
        killed_at = len(accepted)
        daemon = DaemonProcess(tmp_path, config, name="second").start()
        wait_until(lambda: len(accepted) >= killed_at + 20, 60, what="spans accepted after the restart")
        stop.set()
        sender.join(30)
        web = daemon.web_url

        def analyzed() -> list[str]:
            findings = get_json(web + "/api/v1/findings?detector=integrity&limit=500")
            return [f["evidence"]["span_id"] for f in findings]

        wait_until(
            lambda: accepted <= set(analyzed()), 60, what=f"findings for all {len(accepted)} accepted spans"
        )
        time.sleep(1.0)  # let any straggler be analyzed: it must still not be counted twice
        found = analyzed()
        assert len(found) == len(set(found)), "a span was counted twice"
        assert accepted <= set(found) <= sent
        assert sum(i["finding_count"] for i in _integrity_incidents(web)) == len(found)
        assert daemon.terminate() == 0
    finally:
        stop.set()
        sender.join(30)
        daemon.kill()
