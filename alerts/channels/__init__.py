"""Notification channels: one module per vendor, each making one delivery attempt and classifying it.

`build_channels(receiver, dashboard_url=...)` turns a receiver's configuration into Channel objects; the
alerts outbox calls `Channel.send(notification)` and decides about retries from the returned DeliveryResult.
"""

from __future__ import annotations

from collections.abc import Callable

from watchkeeper.alerts.channels.base import Channel, DeliveryResult
from watchkeeper.alerts.channels.config import (
    EmailConfig,
    OpsgenieConfig,
    PagerDutyConfig,
    ReceiverConfig,
    SlackConfig,
    TeamsConfig,
    WebhookConfig,
)
from watchkeeper.alerts.channels.console import ConsoleChannel
from watchkeeper.alerts.channels.email import EmailChannel
from watchkeeper.alerts.channels.opsgenie import OpsgenieChannel
from watchkeeper.alerts.channels.pagerduty import PagerDutyChannel
from watchkeeper.alerts.channels.slack import SlackChannel
from watchkeeper.alerts.channels.teams import TeamsChannel
from watchkeeper.alerts.channels.webhook import WebhookChannel

#: ReceiverConfig field -> the channel built from each of its entries, in config (and delivery) order.
CONFIGURED_CHANNELS: tuple[tuple[str, Callable[..., Channel]], ...] = (
    ("slack_configs", SlackChannel),
    ("teams_configs", TeamsChannel),
    ("pagerduty_configs", PagerDutyChannel),
    ("opsgenie_configs", OpsgenieChannel),
    ("webhook_configs", WebhookChannel),
    ("email_configs", EmailChannel),
)


def build_channels(receiver: ReceiverConfig, *, dashboard_url: str) -> list[Channel]:
    """One Channel per configured destination, in config order (Slack, Teams, PagerDuty, Opsgenie, webhook,
    email, console). `dashboard_url` is the fallback link when a notification carries none."""
    base = f"receivers[{receiver.name}]"
    channels: list[Channel] = [
        build(config, config_key=f"{base}.{field}[{i}]", dashboard_url=dashboard_url)
        for field, build in CONFIGURED_CHANNELS
        for i, config in enumerate(getattr(receiver, field))
    ]
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
