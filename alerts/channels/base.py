"""The Channel interface: render one Notification for a vendor and deliver it once; and the channel plug-in.

Retries, ordering, rate limits and dead letters belong to the outbox, not to channels: a channel makes one
attempt and classifies the outcome so the outbox knows whether to try again and when.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from watchkeeper.alerts.model import Notification
from watchkeeper.core import plugins


@dataclass(slots=True)
class DeliveryResult:
    ok: bool
    retryable: bool = False  # false: give up now (dead letter); true: the outbox retries with backoff
    retry_after_s: float | None = None  # the receiver's Retry-After, honoured by the outbox
    status: int | None = None  # HTTP status or SMTP reply code
    error: str | None = None  # human-readable, never contains secrets

    @classmethod
    def success(cls, status: int | None = None) -> DeliveryResult:
        return cls(ok=True, status=status)


class Channel(ABC):
    """One configured destination (a Slack webhook, a PagerDuty routing key, an SMTP server + recipients)."""

    kind: str  # slack, teams, pagerduty, opsgenie, webhook, email, console

    #: Identifies the destination for rate limiting (e.g. the webhook URL's hash); never the secret.
    destination_key: str

    @abstractmethod
    def send(self, notification: Notification, timeout_s: float = 10.0) -> DeliveryResult:
        """One attempt. Must not raise for delivery failures: classify them in the result."""

    def min_interval_s(self) -> float:
        """Per-destination pacing (Slack allows about 1 message per second per webhook)."""
        return 0.0


@dataclass(frozen=True, slots=True)
class ChannelContext:
    """What a channel is built with besides its own config entry: the one construction contract."""

    config_key: str  # where its config is, for messages: receivers[oncall].slack_configs[0]
    dashboard_url: str  # fallback link when a notification carries none
    receiver: str  # the receiver's name


@dataclass(frozen=True, slots=True)
class ChannelPlugin:
    """What a `watchkeeper.channels` entry point names: a receiver config key and how to build its channels.

    `config_class` validates each entry of `receivers[].<config_key>` (a list); None makes the key a flag
    (`console: true`) that builds one channel with no config. Built-in channels have typed fields in
    `ReceiverConfig`; a third party's key is validated by its `config_class` all the same.
    """

    config_key: str
    config_class: type[BaseModel] | None
    create: Callable[[Any, ChannelContext], Channel]


def channel_plugins() -> dict[str, ChannelPlugin]:
    """Every installed channel (entry-point group `watchkeeper.channels`), by kind."""
    loaded = plugins.load(plugins.CHANNELS)
    for name, obj in loaded.items():
        if not isinstance(obj, ChannelPlugin):
            raise plugins.PluginError(
                f"the {plugins.CHANNELS} entry point {name!r} names {obj!r}: point it at a ChannelPlugin"
            )
    return dict(loaded)
