"""Helpers for the alerts tests: a minimal webhook Channel (it posts to the loopback `WebhookReceiver` of
tests/support/receivers.py), finding and config factories, and a timeline driver that steps the stage on a
fake clock."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from tests.support.receivers import WebhookReceiver
from watchkeeper.alerts.channels.base import Channel, DeliveryResult
from watchkeeper.alerts.clock import FakeClock
from watchkeeper.alerts.config import AlertsConfig
from watchkeeper.alerts.model import Notification
from watchkeeper.alerts.stage import AlertsStage
from watchkeeper.core.bus.base import TopicsConfig
from watchkeeper.core.bus.embedded import EmbeddedBus
from watchkeeper.core.findings import Finding, Severity, fingerprint


class HttpChannel(Channel):
    """A minimal webhook: POST the notification as JSON; 2xx ok, 429/5xx retry (Retry-After), 4xx give up."""

    kind = "webhook"

    def __init__(self, url: str, min_interval_s: float = 0.0) -> None:
        self.url = url
        self.destination_key = hashlib.sha256(url.encode()).hexdigest()[:12]
        self._min_interval_s = min_interval_s
        self._client = httpx.Client()

    def send(self, notification: Notification, timeout_s: float = 10.0) -> DeliveryResult:
        body = {
            "key": notification.id,
            "event": notification.event.value,
            "incident": notification.incident.id,
            "status": notification.incident.status.value,
            "receiver": notification.receiver,
            "severity": notification.incident.severity,
            "count": notification.incident.finding_count,
            "labels": notification.incident.labels,
            "url": notification.dashboard_url,
            "attempt": notification.attempt,
        }
        try:
            resp = self._client.post(self.url, json=body, timeout=timeout_s)
        except httpx.HTTPError as exc:
            return DeliveryResult(ok=False, retryable=True, error=type(exc).__name__)
        if 200 <= resp.status_code < 300:
            return DeliveryResult.success(resp.status_code)
        retry_after = resp.headers.get("Retry-After")
        retryable = resp.status_code == 429 or resp.status_code >= 500
        return DeliveryResult(
            ok=False,
            retryable=retryable,
            status=resp.status_code,
            retry_after_s=float(retry_after) if retry_after else None,
            error=f"HTTP {resp.status_code}",
        )

    def min_interval_s(self) -> float:
        return self._min_interval_s

    def close(self) -> None:
        self._client.close()


_counter = iter(range(10**9))


def finding(
    app: str = "chatbot",
    detector: str = "content_safety",
    category: str = "hate",
    severity: str = "warning",
    t: float = 1_700_000_000.0,
    fid: str | None = None,
    **labels: str,
) -> Finding:
    all_labels = {
        "app": app,
        "env": "prod",
        "model": "gpt-x",
        "provider": "openai",
        "detector": detector,
        "category": category,
        **labels,
    }
    return Finding(
        detector=detector,
        category=category,
        severity=Severity(severity),
        score=0.9,
        summary=f"{category} content in {app}",
        labels=all_labels,
        evidence={"trace_id": "t" * 32, "span_id": "s" * 16, "excerpt": "..."},
        time=t,
        id=fid or f"f{next(_counter)}",
        fingerprint=fingerprint(all_labels),
        annotations={"runbook_url": "https://runbooks.example/safety"},
    )


def alerts_config(data: dict[str, Any]) -> AlertsConfig:
    base: dict[str, Any] = {"receivers": [{"name": "default"}]}
    base.update(data)
    return AlertsConfig.model_validate(base)


class Timeline:
    """Drives an AlertsStage step by step on a fake clock, like Alertmanager's acceptance tests."""

    def __init__(
        self,
        cfg: AlertsConfig,
        tmp: Path,
        receiver: WebhookReceiver,
        *,
        start: float = 1_000.0,
        min_interval_s: float = 0.0,
    ) -> None:
        self.clock = FakeClock(start)
        self.start = start
        self.receiver = receiver
        self.bus = EmbeddedBus(tmp / "bus.sqlite3")
        self.topics = TopicsConfig()
        self.producer = self.bus.producer()
        channels = {r.name: [HttpChannel(receiver.url, min_interval_s)] for r in cfg.receivers}
        self.stage = AlertsStage(
            cfg,
            self.bus,
            self.topics,
            tmp / "state",
            dashboard_url="http://dash.local",
            clock=self.clock,
            channels=channels,
        )
        self.log: list[tuple[float, dict[str, Any]]] = []

    def push(self, *findings: Finding) -> None:
        self.producer.publish(
            self.topics.findings, [(f.labels["app"].encode(), f.to_json()) for f in findings]
        )

    def at(self, t: float) -> list[dict[str, Any]]:
        """Move to start+t, run every step until quiet; returns (and logs) what the receiver got."""
        self.clock.set(self.start + t)
        self.stage.poll_once(timeout_s=0)
        self.stage.scheduler_tick()
        while self.stage.dispatcher.dispatch_once(wait_for_sends=True):
            pass
        got = self.receiver.take()
        self.log.extend((t, m) for m in got)
        return got

    def run(self, until: float, step: float = 1.0) -> Iterator[tuple[float, list[dict[str, Any]]]]:
        t = 0.0
        while t <= until:
            yield t, self.at(t)
            t += step

    def close(self) -> None:
        self.stage.stop()
        self.producer.close()
        self.bus.close()


def events(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(m["event"], m["receiver"]) for m in messages]
