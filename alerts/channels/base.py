"""The Channel interface: render one Notification for a vendor and deliver it once.

Retries, ordering, rate limits and dead letters belong to the outbox, not to channels: a channel makes one
attempt and classifies the outcome so the outbox knows whether to try again and when.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from watchkeeper.alerts.model import Notification


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
