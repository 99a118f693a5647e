"""Notification channels: one module per vendor, each making one delivery attempt and classifying it.

`build_channels(receiver, dashboard_url=...)` turns a receiver's configuration into Channel objects; the
alerts outbox calls `Channel.send(notification)` and decides about retries from the returned DeliveryResult.
"""

from __future__ import annotations

from watchkeeper.alerts.channels.alertmanager import AlertmanagerChannel
from watchkeeper.alerts.channels.base import Channel, ChannelContext, DeliveryResult, channel_plugins
from watchkeeper.alerts.channels.config import (
    AlertmanagerConfig,
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
from watchkeeper.core.plugins import PluginError


def build_channels(receiver: ReceiverConfig, *, dashboard_url: str) -> list[Channel]:
    """One Channel per configured destination, in config order (Slack, Teams, PagerDuty, Opsgenie, webhook,
    email, alertmanager, console, then plug-in channels), each built by its plug-in (entry-point group
    `watchkeeper.channels`). `dashboard_url` is the fallback link when a notification carries none."""
    base = f"receivers[{receiver.name}]"
    by_key = {plugin.config_key: plugin for plugin in channel_plugins().values()}
    channels: list[Channel] = []
    for key, value in receiver.channel_sections():
        plugin = by_key.get(key)
        if plugin is None:
            raise PluginError(f"{base}.{key}: no installed channel plug-in reads this key")
        if plugin.config_class is None:  # a flag: one channel, no config
            if value:
                context = ChannelContext(f"{base}.{key}", dashboard_url, receiver.name)
                channels.append(plugin.create(None, context))
            continue
        for i, config in enumerate(value):
            context = ChannelContext(f"{base}.{key}[{i}]", dashboard_url, receiver.name)
            channels.append(plugin.create(config, context))
    return channels


def close_channels(channels: list[Channel]) -> None:
    """Release pooled HTTP connections (call on shutdown)."""
    for channel in channels:
        close = getattr(channel, "close", None)
        if callable(close):
            close()


__all__ = [
    "AlertmanagerChannel",
    "AlertmanagerConfig",
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
