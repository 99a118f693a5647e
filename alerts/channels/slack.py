"""Slack incoming webhooks: Block Kit (header, summary, fields, evidence, context, dashboard button).

Slack renders `mrkdwn`, where &, < and > are control characters (links, mentions such as <!everyone>), so
every untrusted string is escaped; broadcast mentions are also defused by `render.clean`. Limits enforced
here: header 150 characters, section text 3000, at most 10 fields of 2000, 50 blocks; cut text ends with a
visible marker. Error codes come from Slack's incoming-webhook documentation (plain-text bodies such as
`no_service`).
"""

from __future__ import annotations

import json
from typing import Any

from watchkeeper.alerts.channels.base import ChannelContext, ChannelPlugin, DeliveryResult
from watchkeeper.alerts.channels.config import SlackConfig
from watchkeeper.alerts.channels.http import ConfiguredChannel, HttpSender, Policy, destination_hash
from watchkeeper.alerts.channels.render import View, build_view, fit, truncate
from watchkeeper.alerts.model import Event, Notification

HEADER_LIMIT = 150
SECTION_LIMIT = 3000
FIELD_LIMIT = 2000
MAX_FIELDS = 10
MAX_BLOCKS = 50
FALLBACK_LIMIT = 3000
BUTTON_URL_LIMIT = 3000


def escape_mrkdwn(text: str) -> str:
    """Slack's required escaping: &, <, > (https://api.slack.com/reference/surfaces/formatting#escaping)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _code(text: str) -> str:
    # A fence inside the excerpt would end the code block early; break it with a zero-width space.
    return escape_mrkdwn(text.replace("```", "`\u200b``"))


def _slack_errors(config_key: str) -> dict[str, str]:
    fix_url = f"create a new incoming webhook and update {config_key}.url"
    return {
        "invalid_payload": "Slack could not parse the message; report a bug with this notification's id",
        "invalid_blocks": "Slack refused the Block Kit layout; report a bug with the notification id",
        "invalid_blocks_format": "Slack refused the Block Kit layout; report a bug with the notification id",
        "user_not_found": f"the webhook's user no longer exists; {fix_url}",
        "action_prohibited": f"the workspace restricts this webhook; ask a Slack admin, or {fix_url}",
        "posting_to_general_channel_denied": f"only admins may post there; {fix_url} for another channel",
        "channel_not_found": f"the webhook's channel no longer exists; {fix_url}",
        "channel_is_archived": f"the channel is archived; unarchive it, or {fix_url} for another channel",
        "no_service": f"the webhook URL was revoked; {fix_url}",
        "no_team": f"the workspace of this webhook is gone; {fix_url}",
        "no_active_hooks": f"the webhook was disabled; re-enable it in the Slack app settings, or {fix_url}",
        "invalid_token": f"the webhook's token is invalid; {fix_url}",
    }


def slack_policy(config_key: str) -> Policy:
    errors = _slack_errors(config_key)

    def explain(status: int, body: str) -> tuple[str, str] | None:
        code = body.strip().split()[0] if body.strip() else ""
        if code in errors and not (status == 429 or status >= 500):
            return code, errors[code]
        return None

    return Policy(vendor="Slack", config_key=config_key, secret_key="url", explain=explain)


def slack_payload(view: View) -> dict[str, Any]:
    """The webhook body: Block Kit blocks plus a `text` fallback for notifications and old clients."""
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": truncate(view.headline, HEADER_LIMIT), "emoji": False},
        }
    ]
    if view.summary:
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": fit(view.summary, SECTION_LIMIT, escape_mrkdwn)},
            }
        )
    fields = [
        {"type": "mrkdwn", "text": f"*{name}*\n" + fit(value, FIELD_LIMIT - len(name) - 3, escape_mrkdwn)}
        for name, value in view.facts()[:MAX_FIELDS]
    ]
    if fields:
        blocks.append({"type": "section", "fields": fields})
    if view.excerpt:
        head, fence = "*Evidence*\n```", "```"
        body = fit(view.excerpt, SECTION_LIMIT - len(head) - len(fence), _code)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": head + body + fence}})
    context = (
        f"Incident `{escape_mrkdwn(view.incident_id)}` · notification `{escape_mrkdwn(view.notification_id)}`"
    )
    if view.runbook_url:
        context += f" · runbook: {escape_mrkdwn(view.runbook_url)}"
    blocks.append(
        {"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(context, SECTION_LIMIT)}]}
    )
    if view.dashboard_url and len(view.dashboard_url) <= BUTTON_URL_LIMIT:
        button: dict[str, Any] = {
            "type": "button",
            "text": {"type": "plain_text", "text": "Open in Watchkeeper", "emoji": False},
            "url": view.dashboard_url,
            "action_id": "watchkeeper_open",
        }
        if view.event in (Event.trigger, Event.update) and view.severity in ("critical", "error"):
            button["style"] = "danger"
        blocks.append({"type": "actions", "elements": [button]})
    fallback = view.headline + (f"\n{view.summary}" if view.summary else "")
    return {"text": fit(fallback, FALLBACK_LIMIT, escape_mrkdwn), "blocks": blocks[:MAX_BLOCKS]}


class SlackChannel(ConfiguredChannel):
    kind = "slack"
    vendor = "Slack"

    def __init__(self, config: SlackConfig, *, config_key: str, dashboard_url: str):
        super().__init__(
            config_key=config_key, dashboard_url=dashboard_url, send_resolved=config.send_resolved
        )
        assert config.url is not None
        self._url = config.url.get_secret_value()
        self._max_text = config.max_text_chars
        self._overrides = config.message_overrides()
        self.destination_key = f"slack:{destination_hash(self._url)}"
        self._sender = HttpSender(
            slack_policy(config_key),
            secrets=[self._url],
            refuse_private_addresses=config.refuse_private_addresses,
        )

    def min_interval_s(self) -> float:
        return 1.0  # Slack allows about one message per second per incoming webhook

    def deliver(self, notification: Notification, timeout_s: float) -> DeliveryResult:
        view = build_view(notification, dashboard_url=self.dashboard_url, max_text_chars=self._max_text)
        body = json.dumps({**slack_payload(view), **self._overrides}, ensure_ascii=False).encode()
        return self._sender.post(self._url, body=body, timeout_s=timeout_s)

    def close(self) -> None:
        self._sender.close()


def _create(config: SlackConfig, context: ChannelContext) -> SlackChannel:
    return SlackChannel(config, config_key=context.config_key, dashboard_url=context.dashboard_url)


plugin = ChannelPlugin(config_key="slack_configs", config_class=SlackConfig, create=_create)
