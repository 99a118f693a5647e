"""The `targets` table: one receiver's group timers and notification sequence for one incident."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from watchkeeper.alerts.incidents import Target
from watchkeeper.alerts.store.rows import target_from_row
from watchkeeper.core.store import Tx


def insert(tx: Tx, rows: Sequence[tuple[Any, ...]]) -> None:
    """(incident_id, receiver, route, group_wait, group_interval, repeat_interval, send_resolved,
    next_flush_at) rows; an existing target is kept."""
    tx.executemany(
        "INSERT INTO targets (incident_id, receiver, route, group_wait, group_interval, repeat_interval, "
        "send_resolved, next_flush_at) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING",
        rows,
    )


def due_incidents(tx: Tx, now: float, limit: int = 500) -> list[str]:
    """Incidents with a group flush due, earliest first."""
    rows = tx.execute(
        "SELECT incident_id, MIN(next_flush_at) AS due FROM targets WHERE next_flush_at IS NOT NULL "
        "AND next_flush_at <= ? GROUP BY incident_id ORDER BY due LIMIT ?",
        (now, limit),
    )
    return [r["incident_id"] for r in rows]


def of_incident(tx: Tx, incident: str) -> list[Target]:
    """All targets of an incident, locked (the caller holds the incident's lock: lock order incident ->
    targets -> outbox everywhere)."""
    rows = tx.execute(
        f"SELECT * FROM targets WHERE incident_id=? ORDER BY receiver{tx.for_update()}", (incident,)
    )
    return [target_from_row(r) for r in rows]


def save(tx: Tx, target: Target) -> None:
    tx.execute(
        "UPDATE targets SET next_flush_at=?, last_notified_at=?, notified_count=?, announced=?, seq=? "
        "WHERE incident_id=? AND receiver=?",
        (
            target.next_flush_at,
            target.last_notified_at,
            target.notified_count,
            int(target.announced),
            target.seq,
            target.incident_id,
            target.receiver,
        ),
    )


def stop(tx: Tx, incident: str) -> None:
    """No more group flushes for this incident (resolved)."""
    tx.execute("UPDATE targets SET next_flush_at=NULL WHERE incident_id=?", (incident,))


def unannounce(tx: Tx, incident: str, receiver: str) -> None:
    tx.execute("UPDATE targets SET announced=0 WHERE incident_id=? AND receiver=?", (incident, receiver))


def next_due(tx: Tx) -> float | None:
    return tx.scalar("SELECT MIN(next_flush_at) AS t FROM targets WHERE next_flush_at IS NOT NULL")
