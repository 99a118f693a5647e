"""Console channel: one log line per notification (development, demos, and a last-resort receiver).

The line is single-line and control-character free, so model output cannot forge extra log records.
"""

from __future__ import annotations

import logging

from watchkeeper.alerts.channels.base import ChannelContext, ChannelPlugin, DeliveryResult
from watchkeeper.alerts.channels.http import ConfiguredChannel
from watchkeeper.alerts.channels.render import View, build_view, truncate
from watchkeeper.alerts.model import Event, Notification

log = logging.getLogger("watchkeeper.alerts.console")

LINE_LIMIT = 2000


def console_line(view: View) -> str:
    parts = [view.headline]
    for name, value in (
        ("app", view.app),
        ("env", view.env),
        ("model", view.model),
        ("detector", view.detector),
    ):
        if value:
            parts.append(f"{name}={value}")
    parts.append(f"findings={view.finding_count}")
    if view.summary:
        parts.append(" ".join(view.summary.split()))
    if view.dashboard_url:
        parts.append(view.dashboard_url)
    return truncate(" | ".join(parts), LINE_LIMIT)


class ConsoleChannel(ConfiguredChannel):
    kind = "console"
    vendor = "Console"

    def __init__(self, *, config_key: str, dashboard_url: str, receiver: str):
        super().__init__(config_key=config_key, dashboard_url=dashboard_url)
        self.destination_key = f"console:{receiver}"

    def deliver(self, notification: Notification, timeout_s: float) -> DeliveryResult:
        view = build_view(notification, dashboard_url=self.dashboard_url, max_text_chars=500)
        level = logging.WARNING if notification.event in (Event.trigger, Event.update) else logging.INFO
        log.log(level, "%s", console_line(view))
        return DeliveryResult.success()


def _create(config: object, context: ChannelContext) -> ConsoleChannel:
    return ConsoleChannel(
        config_key=context.config_key, dashboard_url=context.dashboard_url, receiver=context.receiver
    )


plugin = ChannelPlugin(config_key="console", config_class=None, create=_create)
