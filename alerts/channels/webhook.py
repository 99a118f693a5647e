"""Generic webhook following Standard Webhooks 1.0 (https://www.standardwebhooks.com).

Headers: `webhook-id` (the notification id: the same on every retry, so receivers dedupe on it),
`webhook-timestamp` (unix seconds of this attempt) and `webhook-signature`: `v1,<base64 HMAC-SHA256>` of
`{id}.{timestamp}.{body}`, one per configured secret (space-separated) so secrets can be rotated without
downtime. Status handling follows the spec: 2xx success; 3xx and 410 final; 429, 502, 504 (and other 5xx, 408)
retried. With `format: alertmanager` the body is Alertmanager's webhook payload instead (same headers).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

from watchkeeper.alerts.channels.alertmanager import alert_body, fingerprint
from watchkeeper.alerts.channels.base import ChannelContext, ChannelPlugin, DeliveryResult
from watchkeeper.alerts.channels.config import WebhookConfig, decode_signing_secret
from watchkeeper.alerts.channels.http import ConfiguredChannel, HttpSender, Policy, destination_hash
from watchkeeper.alerts.channels.render import bounded, iso
from watchkeeper.alerts.model import Event, Notification


def sign(msg_id: str, timestamp: int, body: bytes, keys: list[bytes]) -> str:
    """The webhook-signature header value: one `v1,<base64>` per key, space-separated."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return " ".join(
        "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode() for key in keys
    )


def webhook_body(notification: Notification, *, dashboard_url: str, max_text_chars: int) -> dict[str, Any]:
    """A Standard Webhooks style payload: type, timestamp, data (the incident, long strings cut)."""
    return {
        "type": f"incident.{notification.event.value}",
        "timestamp": iso(notification.created_at),
        "event": notification.event.value,
        "notification_id": notification.id,
        "receiver": notification.receiver,
        "dashboard_url": notification.dashboard_url or dashboard_url,
        "data": bounded(notification.incident.to_dict(), max_text_chars),
    }


#: Alertmanager's webhook payloads give a firing alert this endsAt (Go's zero time)
GO_ZERO_TIME = "0001-01-01T00:00:00Z"


def alertmanager_webhook_body(
    notification: Notification, *, dashboard_url: str, max_text_chars: int
) -> dict[str, Any]:
    """Alertmanager's webhook payload (version 4) for one incident: a group of one alert.

    The alert is the one the `alertmanager` receiver sends (labels, annotations, fingerprint), so a receiver
    written for Alertmanager's webhooks reads Watchkeeper's unchanged."""
    incident = notification.incident.to_dict()
    url = notification.dashboard_url or dashboard_url
    alert = alert_body(
        incident,
        incident_url=url,
        static_labels={},
        now=notification.created_at,
        lifetime_s=0.0,
        max_text_chars=max_text_chars,
    )
    resolved = notification.event is Event.resolve or incident.get("status") == "resolved"
    status = "resolved" if resolved else "firing"
    if not resolved:
        alert["endsAt"] = GO_ZERO_TIME
    alert = {"status": status, **alert, "fingerprint": fingerprint(alert["labels"])}
    group = incident.get("labels") or {}
    return {
        "version": "4",
        "groupKey": "{}:{" + ", ".join(f"{k}={json.dumps(str(group[k]))}" for k in sorted(group)) + "}",
        "truncatedAlerts": 0,
        "status": status,
        "receiver": notification.receiver,
        "groupLabels": dict(incident.get("labels") or {}),
        "commonLabels": dict(alert["labels"]),
        "commonAnnotations": dict(alert["annotations"]),
        "externalURL": dashboard_url,
        "alerts": [alert],
    }


class WebhookChannel(ConfiguredChannel):
    kind = "webhook"
    vendor = "Webhook"

    def __init__(self, config: WebhookConfig, *, config_key: str, dashboard_url: str):
        super().__init__(
            config_key=config_key, dashboard_url=dashboard_url, send_resolved=config.send_resolved
        )
        assert config.url is not None
        self._url = config.url.get_secret_value()
        self._max_text = config.max_text_chars
        self._body = alertmanager_webhook_body if config.format == "alertmanager" else webhook_body
        secrets = config.signing_secrets()
        self._keys = [decode_signing_secret(s, key=f"{config_key}.secret") for s in secrets]
        self.destination_key = f"webhook:{destination_hash(self._url)}"
        self._sender = HttpSender(
            Policy(vendor="Webhook receiver", config_key=config_key, secret_key="url"),
            secrets=[self._url, *(s.get_secret_value() for s in secrets)],
            refuse_private_addresses=config.refuse_private_addresses,
        )

    def deliver(self, notification: Notification, timeout_s: float) -> DeliveryResult:
        body = json.dumps(
            self._body(notification, dashboard_url=self.dashboard_url, max_text_chars=self._max_text),
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
        timestamp = int(time.time())
        headers = {"webhook-id": notification.id, "webhook-timestamp": str(timestamp)}
        if self._keys:
            headers["webhook-signature"] = sign(notification.id, timestamp, body, self._keys)
        return self._sender.post(self._url, body=body, timeout_s=timeout_s, headers=headers)

    def close(self) -> None:
        self._sender.close()


def _create(config: WebhookConfig, context: ChannelContext) -> WebhookChannel:
    return WebhookChannel(config, config_key=context.config_key, dashboard_url=context.dashboard_url)


plugin = ChannelPlugin(config_key="webhook_configs", config_class=WebhookConfig, create=_create)
