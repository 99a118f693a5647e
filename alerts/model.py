"""Incident and Notification: the types shared by the incident store, router, outbox and channels."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    triggered = "triggered"
    acknowledged = "acknowledged"
    resolved = "resolved"


class Event(StrEnum):
    """What a notification announces; channels map these to vendor actions (PagerDuty trigger/ack/resolve)."""

    trigger = "trigger"
    update = "update"  # repeat or new findings in an open incident
    acknowledge = "acknowledge"
    resolve = "resolve"


@dataclass(slots=True)
class Incident:
    id: str  # hash of the group labels + start: stable for the incident's life, new after a resolve
    group_key: str  # hash of the group labels: identity across incidents of the same group
    status: Status
    severity: str  # max severity of its findings (critical/error/warning/info)
    title: str
    summary: str
    labels: dict[str, str]  # the group labels (common labels of its findings)
    first_seen: float  # unix seconds
    last_seen: float
    finding_count: int
    annotations: dict[str, str] = field(default_factory=dict)  # runbook_url, description, ...
    acknowledged_by: str | None = None
    resolved_at: float | None = None
    samples: list[dict[str, Any]] = field(default_factory=list)  # bounded list of recent findings (dicts)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Incident:
        """The incident of a notification payload (`OpenIncident.to_dict()` plus status and samples):
        every field by its name, so the payload and this type cannot drift apart."""
        values = {f.name: data[f.name] for f in fields(cls) if f.name in data}
        values["status"] = Status(values["status"])
        return cls(**values)


@dataclass(slots=True)
class Notification:
    """One message for one receiver's channel about one incident; the unit of the durable outbox."""

    id: str  # idempotency key: incident id + event + sequence; receivers dedupe on it
    incident: Incident
    event: Event
    receiver: str  # receiver name from config
    channel: str  # slack, teams, pagerduty, opsgenie, webhook, email, console
    dashboard_url: str  # link to the incident in the dashboard
    created_at: float
    attempt: int = 0
