"""Grouping findings into incidents, and the notification decision at each group flush.

Pure logic, no I/O: the store persists what these functions decide. One incident is one Alertmanager
aggregation group instance: the group labels of the first matching route, from its first finding until it
resolves. A resolved incident is never reopened; the next finding of that group starts a new incident
(new id = hash of the group key and the new first_seen).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, fields
from typing import Any

from watchkeeper.alerts.model import Event, Status
from watchkeeper.core.detector import detector_metadata
from watchkeeper.core.findings import Finding, Severity

SEVERITY_RANK = {s.value: s.rank for s in Severity}


def routing_labels(finding: Finding) -> dict[str, str]:
    """What routes, silences and inhibition see: the finding's labels plus detector, category, severity."""
    labels = {str(k): str(v) for k, v in finding.labels.items()}
    labels.setdefault("detector", finding.detector)
    labels.setdefault("category", finding.category)
    labels.setdefault("severity", finding.severity.value)
    return labels


def incident_id(group_key: str, first_seen: float, salt: int = 0) -> str:
    raw = f"{group_key}|{first_seen:.6f}|{salt}"
    return hashlib.sha256(raw.encode()).hexdigest()[:20]


def make_title(labels: dict[str, str], finding: Finding) -> str:
    """Plain words first, then where: 'Unapproved system prompt change in support-bot'.

    The words come from the detector's metadata (its title per category prefix), read through the core's
    plug-in registry; a detector that is not installed here gets 'detector/category'.
    """
    detector = labels.get("detector", finding.detector)
    category = labels.get("category", finding.category)
    app = labels.get("app") or finding.labels.get("app", "")
    head = detector if not category or category == detector else f"{detector}/{category}"
    metadata = detector_metadata(detector)
    title = metadata.title(category) if metadata is not None else None
    if title:
        head = title
    narrative = labels.get("narrative") or finding.labels.get("narrative")
    if narrative:
        head += f": {narrative.replace('_', ' ')}"
    return f"{head} in {app}" if app else head


@dataclass(slots=True)
class OpenIncident:
    """In-memory state of an open (triggered or acknowledged) incident; mirrors its `incidents` row."""

    id: str
    group_key: str
    route: str
    status: Status
    severity: str
    title: str
    summary: str
    labels: dict[str, str]  # common labels of its findings (plus the current max severity)
    annotations: dict[str, str]
    first_seen: float
    last_seen: float
    last_received_at: float  # clock time of the last finding: drives resolve_timeout
    finding_count: int
    severity_counts: dict[str, int] = field(default_factory=dict)
    acknowledged_by: str | None = None
    acknowledged_at: float | None = None
    created_at: float = 0.0

    @classmethod
    def start(
        cls,
        *,
        incident: str,
        group_key: str,
        route: str,
        finding: Finding,
        labels: dict[str, str],
        annotations: dict[str, str],
        now: float,
    ) -> OpenIncident:
        return cls(
            id=incident,
            group_key=group_key,
            route=route,
            status=Status.triggered,
            severity=finding.severity.value,
            title=make_title(labels, finding),
            summary=finding.summary,
            labels=dict(labels),
            annotations={**annotations, **finding.annotations},
            first_seen=finding.time,
            last_seen=finding.time,
            last_received_at=now,
            finding_count=1,
            severity_counts={finding.severity.value: 1},
            created_at=now,
        )

    def add(self, finding: Finding, labels: dict[str, str], now: float) -> None:
        self.finding_count += 1
        sev = finding.severity.value
        self.severity_counts[sev] = self.severity_counts.get(sev, 0) + 1
        if SEVERITY_RANK[sev] > SEVERITY_RANK[self.severity]:
            self.severity = sev
        self.labels = {k: v for k, v in self.labels.items() if labels.get(k) == v or k == "severity"}
        self.labels["severity"] = self.severity
        self.first_seen = min(self.first_seen, finding.time)
        if finding.time >= self.last_seen:
            self.last_seen = finding.time
            self.summary = finding.summary
        self.last_received_at = max(self.last_received_at, now)
        if finding.annotations:
            self.annotations.update(finding.annotations)

    def to_dict(self) -> dict[str, Any]:
        """The incident as notifications carry it (the payload `Incident.from_dict` reads back)."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["status"] = self.status.value
        data["resolved_at"] = None
        return data


@dataclass(slots=True)
class Target:
    """One receiver's view of one incident: its group timers and what it was last told."""

    incident_id: str
    receiver: str
    route: str
    group_wait: float
    group_interval: float
    repeat_interval: float
    send_resolved: bool
    next_flush_at: float | None
    last_notified_at: float | None = None
    notified_count: int = 0
    announced: bool = False
    seq: int = 0


def flush_decision(target: Target, incident: OpenIncident, now: float) -> tuple[Event, bool] | None:
    """What to send at a group flush: (event, is_repeat), or None. Mirrors Alertmanager's DedupStage.

    - not announced yet: trigger (unless someone already acknowledged the incident in the dashboard);
    - new findings since the last notification: update;
    - nothing new but repeat_interval passed while still unacknowledged: update marked as a repeat.
    """
    if not target.announced:
        if incident.status == Status.acknowledged:
            return None
        return Event.trigger, False
    if incident.finding_count > target.notified_count:
        return Event.update, False
    if (
        incident.status == Status.triggered
        and target.last_notified_at is not None
        and now - target.last_notified_at >= target.repeat_interval
    ):
        return Event.update, True
    return None


def next_flush(target: Target, now: float) -> float:
    """Keep the group_interval cadence (as Alertmanager's ticker does), but never schedule in the past."""
    prev = target.next_flush_at if target.next_flush_at is not None else now
    nxt = prev + target.group_interval
    return nxt if nxt > now else now + target.group_interval
