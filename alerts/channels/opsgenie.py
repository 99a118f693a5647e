"""Opsgenie Alert API v2: create (alias = incident id), then acknowledge and close by alias.

Opsgenie processes alert requests asynchronously and answers 202; 422 means semantic errors in the body (not
retried), 429 means the integration is throttled (retried). Limits: message 130 characters, alias 512,
description 15000, details values as strings, tags 50 characters each. Updates re-send the create with the
same alias, which Opsgenie de-duplicates into a count increase on the open alert.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from watchkeeper.alerts.channels.base import ChannelContext, ChannelPlugin, DeliveryResult
from watchkeeper.alerts.channels.config import OpsgenieConfig
from watchkeeper.alerts.channels.http import ConfiguredChannel, HttpSender, Policy, destination_hash
from watchkeeper.alerts.channels.render import View, build_view, plain_text, truncate
from watchkeeper.alerts.model import Event, Notification

MESSAGE_LIMIT = 130
ALIAS_LIMIT = 512
DESCRIPTION_LIMIT = 15_000
DETAIL_LIMIT = 1000
TAG_LIMIT = 50
PRIORITIES = {"critical": "P1", "error": "P2", "warning": "P3", "info": "P5"}


def opsgenie_policy(config_key: str) -> Policy:
    key = f"{config_key}.api_key"
    meanings = {
        400: "Opsgenie could not parse the request body; report a bug with this notification's id",
        401: f"the API key is invalid or its integration is disabled; enable the integration or update {key}",
        402: "the Opsgenie plan does not allow this action; upgrade the plan",
        403: f"the key may not do this; put the key of an API integration (create/close rights) in {key}",
        404: f"Opsgenie has no such endpoint; check {config_key}.api_url (https://api.opsgenie.com, "
        "or https://api.eu.opsgenie.com for EU accounts)",
        422: "Opsgenie found the alert fields invalid; report a bug with this notification's id",
    }

    def explain(status: int, body: str) -> tuple[str, str] | None:
        if status not in meanings:
            return None
        try:
            code = str(json.loads(body).get("message", ""))[:120]
        except (ValueError, AttributeError):
            code = ""
        return code, meanings[status]

    return Policy(vendor="Opsgenie", config_key=config_key, secret_key="api_key", explain=explain)


def _tag(text: str) -> str:
    return truncate(text.replace(",", " ").strip(), TAG_LIMIT, marker="…")


def create_body(view: View, config: OpsgenieConfig) -> dict[str, Any]:
    details = {
        "app": view.app,
        "env": view.env,
        "model": view.model,
        "provider": view.provider,
        "detector": view.detector,
        "category": view.category,
        "findings": str(view.finding_count),
        "first_seen": view.first_seen,
        "last_seen": view.last_seen,
        "incident_id": view.incident_id,
        "trace_id": view.trace_id,
        "dashboard_url": view.dashboard_url,
        "runbook_url": view.runbook_url,
    }
    tags = [*config.tags, "watchkeeper", f"severity:{view.severity}", view.category, view.app]
    body: dict[str, Any] = {
        "message": truncate(view.headline, MESSAGE_LIMIT, marker="…"),
        "alias": view.incident_id[:ALIAS_LIMIT],
        "description": truncate(plain_text(view), DESCRIPTION_LIMIT),
        "priority": PRIORITIES.get(view.severity, "P3"),
        "details": {k: truncate(v, DETAIL_LIMIT) for k, v in details.items() if v},
        "tags": list(dict.fromkeys(_tag(t) for t in tags if t and t.strip()))[:20],
        "source": config.source,
    }
    if view.app:
        body["entity"] = truncate(view.app, 512)
    if config.responders:
        body["responders"] = config.responders
    return body


class OpsgenieChannel(ConfiguredChannel):
    kind = "opsgenie"
    vendor = "Opsgenie"

    def __init__(self, config: OpsgenieConfig, *, config_key: str, dashboard_url: str):
        super().__init__(
            config_key=config_key, dashboard_url=dashboard_url, send_resolved=config.send_resolved
        )
        assert config.api_key is not None
        self._config = config
        self._api_key = config.api_key.get_secret_value()
        self.destination_key = f"opsgenie:{destination_hash(config.api_url, self._api_key)}"
        self._sender = HttpSender(
            opsgenie_policy(config_key),
            secrets=[self._api_key],
            refuse_private_addresses=config.refuse_private_addresses,
        )

    def request(self, notification: Notification) -> tuple[str, dict[str, Any]]:
        """(url, body) for this notification: create for trigger/update, acknowledge or close by alias."""
        view = build_view(
            notification, dashboard_url=self.dashboard_url, max_text_chars=self._config.max_text_chars
        )
        base = f"{self._config.api_url}/v2/alerts"
        if notification.event in (Event.trigger, Event.update):
            return base, create_body(view, self._config)
        action = "acknowledge" if notification.event is Event.acknowledge else "close"
        alias = quote(notification.incident.id[:ALIAS_LIMIT], safe="")
        who = f" by {view.acknowledged_by}" if view.acknowledged_by else ""
        note = f"{view.verb} in Watchkeeper{who}: {view.title}"
        body = {"source": self._config.source, "user": "Watchkeeper", "note": truncate(note, 1000)}
        return f"{base}/{alias}/{action}?identifierType=alias", body

    def deliver(self, notification: Notification, timeout_s: float) -> DeliveryResult:
        url, body = self.request(notification)
        return self._sender.post(
            url,
            body=json.dumps(body, ensure_ascii=False).encode(),
            timeout_s=timeout_s,
            headers={"Authorization": f"GenieKey {self._api_key}"},
        )

    def close(self) -> None:
        self._sender.close()


def _create(config: OpsgenieConfig, context: ChannelContext) -> OpsgenieChannel:
    return OpsgenieChannel(config, config_key=context.config_key, dashboard_url=context.dashboard_url)


plugin = ChannelPlugin(config_key="opsgenie_configs", config_class=OpsgenieConfig, create=_create)
