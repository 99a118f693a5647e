"""Microsoft Teams through a Workflows webhook: a message carrying one Adaptive Card (v1.4).

Office 365 connectors are retired; a Workflows ("Send webhook alerts to a channel") URL accepts `{"type":
"message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", ...}]}` and answers 202.
Adaptive Card TextBlocks and FactSet values render a markdown subset, so untrusted text is backslash-escaped;
the whole message is kept under Teams' ~28 KB limit by cutting the evidence (then the summary) with a marker.
"""

from __future__ import annotations

import json
import re
from typing import Any

from watchkeeper.alerts.channels.base import ChannelContext, ChannelPlugin, DeliveryResult
from watchkeeper.alerts.channels.config import TeamsConfig
from watchkeeper.alerts.channels.http import ConfiguredChannel, HttpSender, Policy, destination_hash
from watchkeeper.alerts.channels.render import View, build_view, fit
from watchkeeper.alerts.model import Event, Notification

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
CARD_VERSION = "1.4"
PAYLOAD_LIMIT = 27_000  # bytes; Teams refuses messages above ~28 KB, keep headroom for its envelope
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>~])")
_MD_LINE_START = re.compile(r"^(\s*)(?:([#+\-])|(\d+)\.)", re.MULTILINE)
_COLORS = {"critical": "Attention", "error": "Attention", "warning": "Warning", "info": "Accent"}


def escape_card_markdown(text: str) -> str:
    """Backslash-escape markdown so untrusted text cannot form links, emphasis, headings, lists or tags."""
    escaped = _MD_SPECIAL.sub(r"\\\1", text)
    return _MD_LINE_START.sub(lambda m: m[1] + (f"\\{m[2]}" if m[2] else f"{m[3]}\\."), escaped)


def teams_policy(config_key: str) -> Policy:
    key = f"{config_key}.url"
    meanings = {
        400: "Teams rejected the card; report a bug with this notification's id",
        401: f"the workflow requires sign-in; let 'Anyone' trigger it, or re-create it and update {key}",
        403: f"this caller may not trigger the workflow; check its trigger settings or update {key}",
        404: f"the workflow was deleted or turned off; re-create the webhook workflow and update {key}",
        410: f"the workflow URL is gone; re-create the workflow and update {key}",
        413: f"the card exceeds Teams' size limit; lower {config_key}.max_text_chars",
    }

    def explain(status: int, body: str) -> tuple[str, str] | None:
        if status not in meanings:
            return None
        code = ""
        try:
            error = json.loads(body).get("error", {})
            code = str(error.get("code", ""))[:60] if isinstance(error, dict) else ""
        except (ValueError, AttributeError):
            pass
        return code, meanings[status]

    return Policy(vendor="Teams", config_key=config_key, secret_key="url", explain=explain)


def _text(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def adaptive_card(view: View, *, excerpt_chars: int, summary_chars: int) -> dict[str, Any]:
    esc = escape_card_markdown
    body: list[dict[str, Any]] = [
        _text(
            esc(view.headline),
            weight="Bolder",
            size="Medium",
            color=_COLORS.get(view.severity, "Default") if view.event is not Event.resolve else "Good",
        ),
    ]
    if view.summary:
        body.append(_text(fit(view.summary, summary_chars, esc)))
    facts = [{"title": name, "value": fit(value, 500, esc)} for name, value in view.facts()]
    if facts:
        body.append({"type": "FactSet", "facts": facts})
    if view.excerpt and excerpt_chars > 0:
        body.append(_text("Evidence", weight="Bolder", spacing="Medium"))
        body.append(_text(fit(view.excerpt, excerpt_chars, esc), fontType="Monospace"))
    body.append(
        _text(
            esc(f"Incident {view.incident_id} · notification {view.notification_id}"),
            isSubtle=True,
            size="Small",
            spacing="Medium",
        )
    )
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "msteams": {"width": "Full"},
        "body": body,
    }
    actions = []
    if view.dashboard_url:
        actions.append({"type": "Action.OpenUrl", "title": "Open in Watchkeeper", "url": view.dashboard_url})
    if view.runbook_url.startswith(("https://", "http://")):
        actions.append({"type": "Action.OpenUrl", "title": "Runbook", "url": view.runbook_url})
    if actions:
        card["actions"] = actions
    return card


def teams_payload(view: View, *, max_text_chars: int = 3000) -> dict[str, Any]:
    """The Workflows message, shrinking the evidence and then the summary until it fits PAYLOAD_LIMIT."""
    excerpt_chars, summary_chars = max_text_chars, max_text_chars
    while True:
        message = {
            "type": "message",
            "attachments": [
                {
                    "contentType": CARD_CONTENT_TYPE,
                    "contentUrl": None,
                    "content": adaptive_card(view, excerpt_chars=excerpt_chars, summary_chars=summary_chars),
                }
            ],
        }
        size = len(json.dumps(message, ensure_ascii=False).encode())
        if size <= PAYLOAD_LIMIT or (excerpt_chars == 0 and summary_chars <= 200):
            return message
        if excerpt_chars > 0:
            excerpt_chars = excerpt_chars // 2 if excerpt_chars > 200 else 0
        else:
            summary_chars = max(200, summary_chars // 2)


class TeamsChannel(ConfiguredChannel):
    kind = "teams"
    vendor = "Teams"

    def __init__(self, config: TeamsConfig, *, config_key: str, dashboard_url: str):
        super().__init__(
            config_key=config_key, dashboard_url=dashboard_url, send_resolved=config.send_resolved
        )
        assert config.url is not None
        self._url = config.url.get_secret_value()
        self._max_text = config.max_text_chars
        self.destination_key = f"teams:{destination_hash(self._url)}"
        self._sender = HttpSender(
            teams_policy(config_key),
            secrets=[self._url],
            refuse_private_addresses=config.refuse_private_addresses,
        )

    def deliver(self, notification: Notification, timeout_s: float) -> DeliveryResult:
        view = build_view(notification, dashboard_url=self.dashboard_url, max_text_chars=self._max_text)
        body = json.dumps(teams_payload(view, max_text_chars=self._max_text), ensure_ascii=False).encode()
        return self._sender.post(self._url, body=body, timeout_s=timeout_s)

    def close(self) -> None:
        self._sender.close()


def _create(config: TeamsConfig, context: ChannelContext) -> TeamsChannel:
    return TeamsChannel(config, config_key=context.config_key, dashboard_url=context.dashboard_url)


plugin = ChannelPlugin(config_key="teams_configs", config_class=TeamsConfig, create=_create)
