"""PagerDuty Events API v2: trigger / acknowledge / resolve one alert per incident.

The dedup_key is the incident id, so repeats and updates land on the same PagerDuty alert and the acknowledge
or resolve closes exactly that one. PagerDuty answers 202 when it accepts an event, 400 for an invalid one
(never retried), 429 and 5xx when it should be retried later (developer.pagerduty.com, "Response Codes & Retry
Logic"). Limits: summary 1024 characters, dedup_key 255, whole event 512 KB.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from watchkeeper.alerts.channels.base import ChannelContext, ChannelPlugin, DeliveryResult
from watchkeeper.alerts.channels.config import PagerDutyConfig
from watchkeeper.alerts.channels.http import ConfiguredChannel, HttpSender, Policy, destination_hash
from watchkeeper.alerts.channels.render import View, bounded, build_view, truncate
from watchkeeper.alerts.model import Event, Notification

SUMMARY_LIMIT = 1024
DEDUP_KEY_LIMIT = 255
EVENT_LIMIT = 512 * 1024
SEVERITIES = {"critical": "critical", "error": "error", "warning": "warning", "info": "info"}
ACTIONS = {
    Event.trigger: "trigger",
    Event.update: "trigger",
    Event.acknowledge: "acknowledge",
    Event.resolve: "resolve",
}


def pagerduty_policy(config_key: str) -> Policy:
    def explain(status: int, body: str) -> tuple[str, str] | None:
        if status != 400:
            return None
        detail = ""
        try:
            data = json.loads(body)
            errors = data.get("errors") or []
            detail = "; ".join(str(e) for e in errors)[:300] if isinstance(errors, list) else ""
            code = str(data.get("message", ""))[:80]
        except (ValueError, AttributeError):
            code = ""
        meaning = "PagerDuty rejected the event" + (f" ({detail})" if detail else "")
        meaning += (
            f"; check {config_key}.routing_key is the service's 32-character Events API v2 integration key"
        )
        return code, meaning

    return Policy(vendor="PagerDuty", config_key=config_key, secret_key="routing_key", explain=explain)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat()


def pagerduty_event(
    view: View, notification: Notification, *, routing_key: str, config: PagerDutyConfig, max_text_chars: int
) -> dict[str, Any]:
    """The Events API v2 body for this notification; ack/resolve carry only the keys PagerDuty needs."""
    event: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": ACTIONS[notification.event],
        "dedup_key": notification.incident.id[:DEDUP_KEY_LIMIT],
    }
    if event["event_action"] != "trigger":
        return event
    incident = notification.incident
    details = {
        "summary": view.summary,
        "evidence_excerpt": view.excerpt,
        "labels": incident.labels,
        "finding_count": incident.finding_count,
        "first_seen": view.first_seen,
        "last_seen": view.last_seen,
        "incident_id": incident.id,
        "notification_id": notification.id,
        "trace_id": view.trace_id,
        "runbook_url": view.runbook_url,
    }
    event["payload"] = {
        "summary": truncate(view.headline, SUMMARY_LIMIT),
        "source": config.source or view.app or "watchkeeper",
        "severity": SEVERITIES.get(view.severity, "warning"),
        "timestamp": _iso(incident.last_seen),
        "component": view.model or None,
        "group": view.app or None,
        "class": view.category or view.detector or None,
        "custom_details": bounded({k: v for k, v in details.items() if v not in ("", None)}, max_text_chars),
    }
    event["payload"] = {k: v for k, v in event["payload"].items() if v is not None}
    event["client"] = config.client
    links = []
    if view.dashboard_url:
        event["client_url"] = view.dashboard_url
        links.append({"href": view.dashboard_url, "text": "Open in Watchkeeper"})
    if view.runbook_url.startswith(("https://", "http://")):
        links.append({"href": view.runbook_url, "text": "Runbook"})
    if links:
        event["links"] = links
    return event


def encode_event(event: dict[str, Any]) -> bytes:
    """JSON bytes within PagerDuty's 512 KB limit (custom_details are cut further when needed)."""
    body = json.dumps(event, ensure_ascii=False).encode()
    limit = 16_000
    while len(body) > EVENT_LIMIT and "payload" in event:
        event["payload"]["custom_details"] = bounded(event["payload"].get("custom_details", {}), limit)
        body = json.dumps(event, ensure_ascii=False).encode()
        limit //= 2
    return body


class PagerDutyChannel(ConfiguredChannel):
    kind = "pagerduty"
    vendor = "PagerDuty"

    def __init__(self, config: PagerDutyConfig, *, config_key: str, dashboard_url: str):
        super().__init__(
            config_key=config_key, dashboard_url=dashboard_url, send_resolved=config.send_resolved
        )
        assert config.routing_key is not None
        self._config = config
        self._routing_key = config.routing_key.get_secret_value()
        self.destination_key = f"pagerduty:{destination_hash(config.url, self._routing_key)}"
        self._sender = HttpSender(
            pagerduty_policy(config_key),
            secrets=[self._routing_key],
            refuse_private_addresses=config.refuse_private_addresses,
        )

    def deliver(self, notification: Notification, timeout_s: float) -> DeliveryResult:
        view = build_view(
            notification, dashboard_url=self.dashboard_url, max_text_chars=self._config.max_text_chars
        )
        event = pagerduty_event(
            view,
            notification,
            routing_key=self._routing_key,
            config=self._config,
            max_text_chars=self._config.max_text_chars,
        )
        return self._sender.post(self._config.url, body=encode_event(event), timeout_s=timeout_s)

    def close(self) -> None:
        self._sender.close()


def _create(config: PagerDutyConfig, context: ChannelContext) -> PagerDutyChannel:
    return PagerDutyChannel(config, config_key=context.config_key, dashboard_url=context.dashboard_url)


plugin = ChannelPlugin(config_key="pagerduty_configs", config_class=PagerDutyConfig, create=_create)
