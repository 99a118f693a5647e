"""Row types and the mapping between stored rows and Python values (JSON columns, timestamps, dicts)."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from watchkeeper.alerts.incidents import OpenIncident, Target
from watchkeeper.alerts.model import Status
from watchkeeper.alerts.store.errors import StoreError
from watchkeeper.core.store import Row


@dataclass(slots=True)
class IngestResult:
    """What one `ingest` call did; replays count as duplicates, so callers can see idempotence."""

    accepted: int = 0
    duplicates: int = 0
    incidents_created: int = 0
    suppressed: int = 0  # near-duplicates of a false positive: stored, not folded into an incident
    flushed: int = 0  # new incidents flushed in the same transaction (no group_wait): notifications queued
    next_flush_at: float | None = None  # earliest group flush the new incidents are now waiting for


@dataclass(slots=True)
class OutboxRow:
    """One pending notification as the dispatcher needs it (payload already rendered at enqueue time)."""

    rowid: int
    id: str
    incident_id: str
    receiver: str
    channel_idx: int
    channel: str
    seq: int
    event: str
    is_repeat: bool
    payload: str
    created_at: float
    attempts: int
    retry_from: float  # start of the retry budget: created_at, or when the row was replayed

    @property
    def order_key(self) -> tuple[str, str, int]:
        """Rows with the same key are delivered strictly in `seq` order."""
        return (self.incident_id, self.receiver, self.channel_idx)


def parse_timestamp(value: Any, key: str) -> float:
    """Unix seconds from a number, a numeric string or an ISO 8601 string (naive means UTC)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            return parsed.timestamp()
    raise StoreError(f"{key}: {value!r} is not a time; use unix seconds or ISO 8601 (2025-01-31T18:00:00Z)")


_ENCODER = json.JSONEncoder(separators=(",", ":"), default=str)


def dumps(value: Any) -> str:
    """Compact JSON for TEXT columns; `default=str` so odd label values never fail a write. One encoder
    for the process: `json.dumps` with options builds a new one per call, a cost paid per incident row."""
    return _ENCODER.encode(value)


def incident_row(inc: OpenIncident, now: float) -> tuple[Any, ...]:
    """A new incident as an `incidents` row, in column order."""
    return (
        inc.id,
        inc.group_key,
        inc.route,
        inc.status.value,
        inc.severity,
        inc.title,
        inc.summary,
        dumps(inc.labels),
        dumps(inc.annotations),
        inc.labels.get("app"),
        inc.labels.get("detector"),
        inc.first_seen,
        inc.last_seen,
        inc.last_received_at,
        inc.finding_count,
        dumps(inc.severity_counts),
        inc.acknowledged_by,
        inc.acknowledged_at,
        None,
        None,
        None,
        inc.created_at or now,
        now,
    )


_OPEN_INCIDENT_FIELDS = tuple(f.name for f in fields(OpenIncident))


def open_incident_from_row(row: Row) -> OpenIncident:
    """An open `incidents` row as the `OpenIncident` the grouping policy folds findings into: the columns
    are decoded once, by `incident_dict` (the one reader of an incidents row), and taken by field name."""
    data = incident_dict(row)
    values = {name: data.get(name) for name in _OPEN_INCIDENT_FIELDS}
    values["status"] = Status(values["status"])
    values["last_received_at"] = row["last_received_at"]
    return OpenIncident(**values)


def outbox_row(r: Row) -> OutboxRow:
    return OutboxRow(
        r["rowid"],
        r["id"],
        r["incident_id"],
        r["receiver"],
        r["channel_idx"],
        r["channel"],
        r["seq"],
        r["event"],
        bool(r["is_repeat"]),
        r["payload"],
        r["created_at"],
        r["attempts"],
        r["retry_from"] if r["retry_from"] is not None else r["created_at"],
    )


def target_from_row(row: Row) -> Target:
    """A `targets` row (one receiver's group timer for an incident) as a `Target`."""
    return Target(
        incident_id=row["incident_id"],
        receiver=row["receiver"],
        route=row["route"],
        group_wait=row["group_wait"],
        group_interval=row["group_interval"],
        repeat_interval=row["repeat_interval"],
        send_resolved=bool(row["send_resolved"]),
        next_flush_at=row["next_flush_at"],
        last_notified_at=row["last_notified_at"],
        notified_count=row["notified_count"],
        announced=bool(row["announced"]),
        seq=row["seq"],
    )


def notification_dict(r: Row) -> dict[str, Any]:
    """An `outbox` row for the API (no payload; `next_attempt_at` only while pending)."""
    return {
        "id": r["id"],
        "incident_id": r["incident_id"],
        "receiver": r["receiver"],
        "channel": r["channel"],
        "channel_index": r["channel_idx"],
        "event": r["event"],
        "repeat": bool(r["is_repeat"]),
        "sequence": r["seq"],
        "status": r["status"],
        "attempts": r["attempts"],
        "next_attempt_at": r["next_attempt_at"] if r["status"] == "pending" else None,
        "last_error": r["last_error"],
        "last_status": r["last_status"],
        "reason": r["reason"],
        "created_at": r["created_at"],
        "sent_at": r["sent_at"],
        "updated_at": r["updated_at"],
    }


def incident_dict(r: Row) -> dict[str, Any]:
    """An `incidents` row for the API, JSON columns decoded (each once)."""
    annotations = json.loads(r["annotations"])
    return {
        "id": r["id"],
        "group_key": r["group_key"],
        "route": r["route"],
        "status": r["status"],
        "severity": r["severity"],
        "title": r["title"],
        "summary": r["summary"],
        "labels": json.loads(r["labels"]),
        "annotations": annotations,
        "runbook_url": annotations.get("runbook_url"),
        "first_seen": r["first_seen"],
        "last_seen": r["last_seen"],
        "finding_count": r["finding_count"],
        "severity_counts": json.loads(r["severity_counts"]),
        "acknowledged_by": r["acknowledged_by"],
        "acknowledged_at": r["acknowledged_at"],
        "resolved_at": r["resolved_at"],
        "resolved_by": r["resolved_by"],
        "comment": r["comment"],
        "created_at": r["created_at"],
        "updated_at": r["updated_at"],
    }


def finding_dict(r: Row) -> dict[str, Any]:
    """A stored finding as the detector emitted it, plus where and when the store filed it."""
    data = json.loads(r["data"])
    data["incident_id"] = r["incident_id"]
    data["received_at"] = r["received_at"]
    return data
