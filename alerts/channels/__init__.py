"""Notification channels: one module per vendor, each making one delivery attempt and classifying it.

`build_channels(receiver, dashboard_url=...)` turns a receiver's configuration into Channel objects; the
alerts outbox calls `Channel.send(notification)` and decides about retries from the returned DeliveryResult.
"""

from __future__ import annotations

from alerts.channels.base import Channel, DeliveryResult
from alerts.channels.config import (
    EmailConfig,
    OpsgenieConfig,
    PagerDutyConfig,
    ReceiverConfig,
    SlackConfig,
    TeamsConfig,
    WebhookConfig,
)
from alerts.channels.console import ConsoleChannel
from alerts.channels.email import EmailChannel
from alerts.channels.opsgenie import OpsgenieChannel
from alerts.channels.pagerduty import PagerDutyChannel
from alerts.channels.slack import SlackChannel
from alerts.channels.teams import TeamsChannel
from alerts.channels.webhook import WebhookChannel


def build_channels(receiver: ReceiverConfig, *, dashboard_url: str) -> list[Channel]:
    """One Channel per configured destination, in config order (Slack, Teams, PagerDuty, Opsgenie, webhook,
    email, console). `dashboard_url` is the fallback link when a notification carries none."""
    base = f"receivers[{receiver.name}]"
    channels: list[Channel] = []
    for i, slack in enumerate(receiver.slack_configs):
        channels.append(
            SlackChannel(slack, config_key=f"{base}.slack_configs[{i}]", dashboard_url=dashboard_url)
        )
    for i, teams in enumerate(receiver.teams_configs):
        channels.append(
            TeamsChannel(teams, config_key=f"{base}.teams_configs[{i}]", dashboard_url=dashboard_url)
        )
    for i, pd in enumerate(receiver.pagerduty_configs):
        channels.append(
            PagerDutyChannel(pd, config_key=f"{base}.pagerduty_configs[{i}]", dashboard_url=dashboard_url)
        )
    for i, og in enumerate(receiver.opsgenie_configs):
        channels.append(
            OpsgenieChannel(og, config_key=f"{base}.opsgenie_configs[{i}]", dashboard_url=dashboard_url)
        )
    for i, hook in enumerate(receiver.webhook_configs):
        channels.append(
            WebhookChannel(hook, config_key=f"{base}.webhook_configs[{i}]", dashboard_url=dashboard_url)
        )
    for i, mail in enumerate(receiver.email_configs):
        channels.append(
            EmailChannel(mail, config_key=f"{base}.email_configs[{i}]", dashboard_url=dashboard_url)
        )
    if receiver.console:
        channels.append(
            ConsoleChannel(config_key=f"{base}.console", dashboard_url=dashboard_url, receiver=receiver.name)
        )
    return channels


def close_channels(channels: list[Channel]) -> None:
    """Release pooled HTTP connections (call on shutdown)."""
    for channel in channels:
        close = getattr(channel, "close", None)
        if callable(close):
            close()


__all__ = [
    "Channel",
    "ConsoleChannel",
    "DeliveryResult",
    "EmailChannel",
    "EmailConfig",
    "OpsgenieChannel",
    "OpsgenieConfig",
    "PagerDutyChannel",
    "PagerDutyConfig",
    "ReceiverConfig",
    "SlackChannel",
    "SlackConfig",
    "TeamsChannel",
    "TeamsConfig",
    "WebhookChannel",
    "WebhookConfig",
    "build_channels",
    "close_channels",
]
