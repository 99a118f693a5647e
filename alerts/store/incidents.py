"""The `incidents` table: open incidents by group, lifecycle columns, the counters ingest folds in."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from watchkeeper.alerts.incidents import OpenIncident, incident_id
from watchkeeper.alerts.model import Status
from watchkeeper.alerts.store.rows import dumps, incident_row, open_incident_from_row
from watchkeeper.alerts.store.schema import OPEN_STATUSES
from watchkeeper.core.store import Row, Tx

_OPEN = "status IN ('triggered', 'acknowledged')"
_CHUNK = 500


def open_by_group(tx: Tx, group_keys: Iterable[str]) -> dict[str, OpenIncident]:
    """Open incidents of these groups, locked until the end of the transaction (PostgreSQL)."""
    keys = sorted(set(group_keys))
    out: dict[str, OpenIncident] = {}
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        rows = tx.execute(
            f"SELECT * FROM incidents WHERE group_key IN ({marks}) AND {_OPEN} ORDER BY id{tx.for_update()}",
            chunk,
        )
        out.update({r["group_key"]: open_incident_from_row(r) for r in rows})
    return out


def lock(tx: Tx, incident: str, *, skip_locked: bool = False) -> Row | None:
    """The incident's row, locked (None if unknown, or held by another worker with `skip_locked`)."""
    return tx.one(f"SELECT * FROM incidents WHERE id=?{tx.for_update(skip_locked=skip_locked)}", (incident,))


def lock_open(tx: Tx, incident: str, *, skip_locked: bool = False) -> OpenIncident | None:
    row = lock(tx, incident, skip_locked=skip_locked)
    return open_incident_from_row(row) if row is not None and row["status"] in OPEN_STATUSES else None


def all_open(tx: Tx) -> list[OpenIncident]:
    return [open_incident_from_row(r) for r in tx.execute(f"SELECT * FROM incidents WHERE {_OPEN}")]


def open_labels(tx: Tx) -> list[tuple[str, dict[str, str]]]:
    return [
        (r["id"], json.loads(r["labels"]))
        for r in tx.execute(f"SELECT id, labels FROM incidents WHERE {_OPEN}")
    ]


def new_id(tx: Tx, group_key: str, first_seen: float, taken: set[str]) -> str:
    salt = 0
    while True:
        candidate = incident_id(group_key, first_seen, salt)
        if candidate not in taken and tx.one("SELECT 1 AS x FROM incidents WHERE id=?", (candidate,)) is None:
            return candidate
        salt += 1


def insert(tx: Tx, incidents: Sequence[OpenIncident], now: float) -> None:
    tx.executemany(
        "INSERT INTO incidents VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [incident_row(inc, now) for inc in incidents],
    )


def update_folded(tx: Tx, incidents: Sequence[OpenIncident], now: float) -> None:
    """Write what folding findings changed (counts, severity, labels, times)."""
    tx.executemany(
        "UPDATE incidents SET severity=?, summary=?, labels=?, annotations=?, first_seen=?, last_seen=?, "
        "last_received_at=?, finding_count=?, severity_counts=?, updated_at=? WHERE id=?",
        [
            (
                i.severity,
                i.summary,
                dumps(i.labels),
                dumps(i.annotations),
                i.first_seen,
                i.last_seen,
                i.last_received_at,
                i.finding_count,
                dumps(i.severity_counts),
                now,
                i.id,
            )
            for i in incidents
        ],
    )


def set_acknowledged(tx: Tx, incident: str, by: str, comment: str, now: float) -> None:
    tx.execute(
        "UPDATE incidents SET status=?, acknowledged_by=?, acknowledged_at=?, comment=?, updated_at=? "
        "WHERE id=?",
        (Status.acknowledged.value, by, now, comment, now, incident),
    )


def set_resolved(tx: Tx, incident: str, by: str, comment: str, now: float) -> None:
    tx.execute(
        "UPDATE incidents SET status=?, resolved_at=?, resolved_by=?, comment=?, updated_at=? WHERE id=?",
        (Status.resolved.value, now, by, comment, now, incident),
    )


def quiet_ids(tx: Tx, received_before: float, limit: int = 500) -> list[str]:
    """Open incidents whose last finding arrived before the cut-off (resolve_timeout), oldest first."""
    return [
        r["id"]
        for r in tx.execute(
            f"SELECT id FROM incidents WHERE {_OPEN} AND last_received_at <= ? "
            "ORDER BY last_received_at LIMIT ?",
            (received_before, limit),
        )
    ]


def oldest_received(tx: Tx) -> float | None:
    return tx.scalar(f"SELECT MIN(last_received_at) AS t FROM incidents WHERE {_OPEN}")


def status_of(tx: Tx, incident: str) -> str | None:
    row = tx.one("SELECT status FROM incidents WHERE id=?", (incident,))
    return None if row is None else row["status"]


def open_count(tx: Tx) -> int:
    return int(tx.scalar(f"SELECT COUNT(*) AS n FROM incidents WHERE {_OPEN}") or 0)


def as_dicts(rows: Iterable[Row]) -> list[dict[str, Any]]:
    from watchkeeper.alerts.store.rows import incident_dict

    return [incident_dict(r) for r in rows]
