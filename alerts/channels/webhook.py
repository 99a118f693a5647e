"""Generic webhook following Standard Webhooks 1.0 (https://www.standardwebhooks.com).

Headers: `webhook-id` (the notification id: the same on every retry, so receivers dedupe on it),
`webhook-timestamp` (unix seconds of this attempt) and `webhook-signature`: `v1,<base64 HMAC-SHA256>` of
`{id}.{timestamp}.{body}`, one per configured secret (space-separated) so secrets can be rotated without
downtime. Status handling follows the spec: 2xx success; 3xx and 410 final; 429, 502, 504 (and other 5xx, 408)
retried.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

from watchkeeper.alerts.channels.base import ChannelContext, ChannelPlugin, DeliveryResult
from watchkeeper.alerts.channels.config import WebhookConfig, decode_signing_secret
from watchkeeper.alerts.channels.http import ConfiguredChannel, HttpSender, Policy, destination_hash
from watchkeeper.alerts.channels.render import bounded, iso
from watchkeeper.alerts.model import Notification


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
            webhook_body(notification, dashboard_url=self.dashboard_url, max_text_chars=self._max_text),
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
