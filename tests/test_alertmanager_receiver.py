"""The `alertmanager` receiver against the real Prometheus Alertmanager.

Watchkeeper's alerts stage forwards incidents to a running Alertmanager; Alertmanager groups them by its own
route and notifies its own webhook receiver (a loopback HTTP server here). Alerts stay active past their first
`endsAt` because open incidents are re-sent, and a resolve reaches Alertmanager's receiver as `resolved`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.alertmanager import Alertmanager, requires_alertmanager
from tests.support.alerts import alerts_config, finding
from tests.support.daemon import wait_until
from tests.support.receivers import Receiver, WebhookReceiver
from watchkeeper.alerts.channels.alertmanager import (
    AlertmanagerChannel,
    alert_body,
    fingerprint,
    label_name,
)
from watchkeeper.alerts.channels.config import AlertmanagerConfig
from watchkeeper.alerts.model import Event, Incident, Notification, Status
from watchkeeper.alerts.stage import AlertsStage
from watchkeeper.core.bus.base import TopicsConfig
from watchkeeper.core.bus.embedded import EmbeddedBus

pytestmark = [requires_alertmanager, pytest.mark.slow]

RESEND_S = 1.0  # so an alert's first endsAt (4 x resend) passes within the test


@pytest.fixture
def am_hook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.stop()


@pytest.fixture
def alertmanager(tmp_path: Path, am_hook: WebhookReceiver) -> Iterator[Alertmanager]:
    config = {
        "route": {
            "receiver": "hook",
            "group_by": ["app", "alertname"],
            "group_wait": "1s",
            "group_interval": "1s",
            "repeat_interval": "1h",
        },
        "receivers": [{"name": "hook", "webhook_configs": [{"url": am_hook.url, "send_resolved": True}]}],
    }
    with Alertmanager(tmp_path, config) as am:
        yield am


class Stage:
    """The alerts stage on the real clock, stepped by the test (consume, flush groups, deliver)."""

    def __init__(self, tmp: Path, am_url: str, **channel: Any) -> None:
        self.cfg = alerts_config(
            {
                "route": {"receiver": "am", "group_by": ["app", "detector"], "group_wait": "0s"},
                "receivers": [
                    {
                        "name": "am",
                        "alertmanager_configs": [
                            {
                                "url": am_url,
                                "resend_interval": RESEND_S,
                                "labels": {"source": "wk"},
                                **channel,
                            }
                        ],
                    }
                ],
            }
        )
        self.bus = EmbeddedBus(tmp / "bus.sqlite3")
        self.topics = TopicsConfig()
        self.producer = self.bus.producer()
        self.stage = AlertsStage(
            self.cfg, self.bus, self.topics, tmp / "state", dashboard_url="http://dash.example"
        )

    def push(self, *findings: Any) -> None:
        self.producer.publish(
            self.topics.findings, [(f.labels["app"].encode(), f.to_json()) for f in findings]
        )

    def step(self) -> None:
        self.stage.poll_once(timeout_s=0)
        self.stage.scheduler_tick()
        while self.stage.dispatcher.dispatch_once(wait_for_sends=True):
            pass

    def close(self) -> None:
        self.stage.stop()
        self.producer.close()
        self.bus.close()


def am_alerts(am: Alertmanager) -> list[dict[str, Any]]:
    return am.get("/api/v2/alerts?active=true&silenced=true&inhibited=true")


def test_alertmanager_receives_groups_refreshes_and_resolves(
    tmp_path: Path, alertmanager: Alertmanager, am_hook: WebhookReceiver
) -> None:
    stage = Stage(tmp_path, alertmanager.url)
    try:
        now = time.time()
        stage.push(
            finding(app="chatbot", severity="error", t=now),
            finding(app="chatbot", severity="error", t=now),
            finding(app="billing", detector="leakage", category="pii", severity="critical", t=now),
        )
        stage.step()
        alerts = wait_until(lambda: (a := am_alerts(alertmanager)) and len(a) == 2 and a, what="2 AM alerts")
        by_app = {a["labels"]["app"]: a for a in alerts}
        chatbot = by_app["chatbot"]
        assert chatbot["labels"]["alertname"] == "content_safety"
        assert chatbot["labels"]["severity"] == "error"
        assert chatbot["labels"]["source"] == "wk"
        incident_id = chatbot["annotations"]["incident_id"]
        assert chatbot["generatorURL"] == f"http://dash.example/incidents/{incident_id}"
        detail = stage.stage.store.get_incident(incident_id)
        assert detail is not None
        assert chatbot["annotations"]["summary"] == detail["title"]
        assert chatbot["annotations"]["description"] == detail["summary"]
        assert chatbot["annotations"]["runbook_url"] == "https://runbooks.example/safety"
        assert chatbot["status"]["state"] == "active"
        assert chatbot["fingerprint"] == fingerprint(chatbot["labels"])  # the v2 API reports the same id
        assert by_app["billing"]["labels"]["alertname"] == "leakage"

        # Alertmanager grouped them by its own route (app, alertname) and notified its webhook receiver.
        def firing_groups() -> dict[str, Any]:
            return {m["groupLabels"]["app"]: m for m in am_hook.json_bodies() if m.get("status") == "firing"}

        groups = wait_until(
            lambda: (g := firing_groups()) and len(g) == 2 and g, what="AM webhook", timeout_s=15
        )
        assert groups["chatbot"]["groupLabels"] == {"app": "chatbot", "alertname": "content_safety"}
        [sent] = groups["chatbot"]["alerts"]
        assert sent["generatorURL"] == chatbot["generatorURL"]
        assert sent["annotations"]["incident_id"] == incident_id

        # Past the first endsAt (4 x resend_interval) the alerts are still active: they were re-sent.
        first_ends = {a["labels"]["app"]: a["endsAt"] for a in alerts}
        time.sleep(4 * RESEND_S + 2.0)
        still = {a["labels"]["app"]: a for a in am_alerts(alertmanager)}
        assert set(still) == {"chatbot", "billing"}
        assert all(a["status"]["state"] == "active" for a in still.values())
        assert still["chatbot"]["endsAt"] > first_ends["chatbot"]

        # Resolving in Watchkeeper resolves the alert in Alertmanager, which tells its receiver.
        stage.stage.store.resolve(incident_id, by="alice")
        stage.step()

        def resolved() -> list[dict[str, Any]]:
            return [
                m
                for m in am_hook.json_bodies()
                if m.get("status") == "resolved" and m["groupLabels"].get("app") == "chatbot"
            ]

        [message, *_] = wait_until(resolved, what="resolved notification", timeout_s=15)
        assert message["alerts"][0]["annotations"]["incident_id"] == incident_id
        time.sleep(3 * RESEND_S)  # refreshes continue for billing only: chatbot stays resolved
        remaining = {a["labels"]["app"] for a in am_alerts(alertmanager)}
        assert remaining == {"billing"}
    finally:
        stage.close()


def test_restart_resumes_refreshing_the_open_incidents(tmp_path: Path, alertmanager: Alertmanager) -> None:
    stage = Stage(tmp_path, alertmanager.url)
    stage.push(finding(app="chatbot", t=time.time()))
    stage.step()
    wait_until(lambda: len(am_alerts(alertmanager)) == 1, what="the alert")
    stage.close()

    again = Stage(tmp_path, alertmanager.url)  # same state dir: a restarted daemon
    try:
        again.stage.start()
        time.sleep(4 * RESEND_S + 2.0)
        [alert] = am_alerts(alertmanager)
        assert alert["status"]["state"] == "active"
        assert alert["labels"]["app"] == "chatbot"
    finally:
        again.close()


def test_alertmanager_errors_are_classified(tmp_path: Path) -> None:
    receiver = Receiver().start()
    try:
        config = AlertmanagerConfig.model_validate({"url": receiver.url, "bearer_token": "tok-123456789"})
        channel = AlertmanagerChannel(
            config, config_key="receivers[am].alertmanager_configs[0]", dashboard_url=""
        )
        incident = Incident(
            id="i1",
            group_key="g",
            status=Status.triggered,
            severity="warning",
            title="t",
            summary="s",
            labels={"app": "a", "bad-name": "x"},
            first_seen=time.time(),
            last_seen=time.time(),
            finding_count=1,
        )
        note = Notification(
            id="n1",
            incident=incident,
            event=Event.trigger,
            receiver="am",
            channel="alertmanager",
            dashboard_url="http://d/incidents/i1",
            created_at=time.time(),
        )
        receiver.reply(400, "bad alert")
        result = channel.send(note)
        assert not result.ok and not result.retryable
        assert "Alertmanager answered 400" in (result.error or "")
        receiver.reply(503, "unavailable")
        assert channel.send(note).retryable
        assert channel.send(note).ok
        last = receiver.last
        assert last.path == "/api/v2/alerts"
        assert last.headers["authorization"] == "Bearer tok-123456789"
        [alert] = last.json()
        assert alert["labels"]["bad_name"] == "x"
        channel.close()
    finally:
        receiver.stop()


def test_config_errors_name_the_fix() -> None:
    with pytest.raises(ValueError, match="base URL"):
        AlertmanagerConfig.model_validate({"url": "http://127.0.0.1:9093/api/v2/alerts"})
    with pytest.raises(ValueError, match="allow_insecure"):
        AlertmanagerConfig.model_validate({"url": "http://alertmanager:9093"})
    with pytest.raises(ValueError, match="label name"):
        AlertmanagerConfig.model_validate({"url": "https://am.example", "labels": {"1x": "y"}})
    with pytest.raises(ValueError, match="both"):
        AlertmanagerConfig.model_validate({"url": "https://am.example", "basic_auth_username": "u"})
    assert label_name("9lives.x") == "_9lives_x"


def test_resolved_alert_ends_at_the_resolve_time() -> None:
    incident = {
        "id": "i",
        "status": "resolved",
        "resolved_at": 1_700_000_100.0,
        "first_seen": 1_700_000_000.0,
        "labels": {"app": "a", "detector": "drift", "empty": ""},
        "severity": "info",
        "title": "T",
    }
    body = alert_body(
        incident, incident_url="u", static_labels={}, now=1_700_000_200.0, lifetime_s=240, max_text_chars=500
    )
    assert body["startsAt"] == "2023-11-14T22:13:20.000Z"
    assert body["endsAt"] == "2023-11-14T22:15:00.000Z"
    assert body["labels"] == {"app": "a", "detector": "drift", "alertname": "drift", "severity": "info"}
