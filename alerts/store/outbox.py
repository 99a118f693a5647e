"""The `outbox` table: every notification is a row before any send; workers claim rows with a lease.

Order: a row is claimable only while no earlier row of its line (incident + receiver + channel) is pending,
and a claimed row stays pending until its outcome is written, so a later row never overtakes it, in one
worker or across several. A worker that dies holding claims loses them when the lease expires.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from watchkeeper.alerts.store.rows import OutboxRow, notification_dict, outbox_row
from watchkeeper.alerts.store.schema import NEVER_TOLD
from watchkeeper.core.store import Row, Tx

_HEAD = (
    "NOT EXISTS (SELECT 1 FROM outbox p WHERE p.incident_id=o.incident_id AND p.receiver=o.receiver "
    "AND p.channel_idx=o.channel_idx AND p.seq < o.seq AND p.status='pending')"
)
_FREE = "(o.claimed_by IS NULL OR o.claim_expires_at <= ?)"


def insert(tx: Tx, rows: Sequence[tuple[Any, ...]]) -> None:
    """(id, incident_id, receiver, channel_idx, channel, seq, event, is_repeat, payload, created_at, status,
    attempts, next_attempt_at, updated_at) rows; the id is the idempotency key receivers see."""
    tx.executemany(
        "INSERT INTO outbox (id, incident_id, receiver, channel_idx, channel, seq, event, is_repeat, "
        "payload, "
        "created_at, status, attempts, next_attempt_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
        "ON CONFLICT DO NOTHING",
        rows,
    )


def any_claimable(tx: Tx, now: float) -> bool:
    """A cheap read before the claiming write: is any pending row due and free?"""
    return (
        tx.one(
            "SELECT 1 AS x FROM outbox o WHERE o.status='pending' AND o.next_attempt_at <= ? "
            f"AND {_FREE} LIMIT 1",
            (now, now),
        )
        is not None
    )


def claim(tx: Tx, worker: str, now: float, lease_s: float, limit: int) -> list[OutboxRow]:
    """Claim up to `limit` due rows at the head of their line for `worker` until now + lease_s."""
    candidates = tx.execute(
        f"SELECT o.rowid FROM outbox o WHERE o.status='pending' AND o.next_attempt_at <= ? AND {_FREE} "
        f"AND {_HEAD} ORDER BY o.next_attempt_at, o.rowid LIMIT ?{tx.for_update(skip_locked=True)}",
        (now, now, limit),
    )
    if not candidates:
        return []
    ids = [r["rowid"] for r in candidates]
    marks = ",".join("?" * len(ids))
    rows = tx.execute(
        f"UPDATE outbox SET claimed_by=?, claim_expires_at=? WHERE rowid IN ({marks}) RETURNING *",
        (worker, now + lease_s, *ids),
    )
    return sorted((outbox_row(r) for r in rows), key=lambda r: r.rowid)


def renew(tx: Tx, worker: str, rowids: Sequence[int], until: float) -> None:
    if rowids:
        marks = ",".join("?" * len(rowids))
        tx.execute(
            f"UPDATE outbox SET claim_expires_at=? WHERE claimed_by=? AND status='pending' "
            f"AND rowid IN ({marks})",
            (until, worker, *rowids),
        )


def next_due(tx: Tx, now: float) -> float | None:
    """When a row becomes claimable: the earliest retry time or claim expiry among line heads."""
    return tx.scalar(
        "SELECT MIN(CASE WHEN o.claimed_by IS NOT NULL AND o.claim_expires_at > ? THEN o.claim_expires_at "
        f"ELSE o.next_attempt_at END) AS t FROM outbox o WHERE o.status='pending' AND {_HEAD}",
        (now,),
    )


def _finish(tx: Tx, row: OutboxRow, worker: str, sets: str, params: Sequence[Any]) -> bool:
    """Write an outcome if this worker still holds the claim (else another worker took over: its outcome
    stands)."""
    n = tx.rowcount(
        f"UPDATE outbox SET {sets}, claimed_by=NULL, claim_expires_at=NULL WHERE rowid=? "
        "AND status='pending' "
        "AND (claimed_by=? OR claimed_by IS NULL)",
        (*params, row.rowid, worker),
    )
    return n > 0


def mark_sent(tx: Tx, row: OutboxRow, worker: str, status: int | None, now: float) -> bool:
    return _finish(
        tx,
        row,
        worker,
        "status='sent', attempts=attempts+1, sent_at=?, last_status=?, last_error=NULL, updated_at=?",
        (now, status, now),
    )


def mark_retry(
    tx: Tx, row: OutboxRow, worker: str, at: float, error: str | None, status: int | None, now: float
) -> bool:
    return _finish(
        tx,
        row,
        worker,
        "attempts=attempts+1, next_attempt_at=?, last_error=?, last_status=?, updated_at=?",
        (at, error, status, now),
    )


def mark_dead(
    tx: Tx, row: OutboxRow, worker: str, error: str | None, status: int | None, reason: str, now: float
) -> bool:
    return _finish(
        tx,
        row,
        worker,
        "status='dead', attempts=attempts+1, last_error=?, last_status=?, reason=?, updated_at=?",
        (error, status, reason, now),
    )


def mark_suppressed(tx: Tx, row: OutboxRow, worker: str, status: str, reason: str, now: float) -> bool:
    return _finish(tx, row, worker, "status=?, reason=?, updated_at=?", (status, reason, now))


def later_sent_event(tx: Tx, row: OutboxRow) -> str | None:
    """The event of a later row of the same line that was already delivered, if any."""
    found = tx.one(
        "SELECT event FROM outbox WHERE incident_id=? AND receiver=? AND channel_idx=? AND seq>? "
        "AND status='sent' LIMIT 1",
        (row.incident_id, row.receiver, row.channel_idx, row.seq),
    )
    return None if found is None else found["event"]


def announced_before(tx: Tx, row: OutboxRow) -> bool:
    """Whether an earlier trigger of this line reached the receiver. Only a delivered trigger announces: a
    dead one never arrived, and the receiver must not get a resolve for an incident it never saw."""
    return (
        tx.one(
            "SELECT 1 AS x FROM outbox WHERE incident_id=? AND receiver=? AND channel_idx=? AND seq<? "
            "AND event='trigger' AND status='sent' LIMIT 1",
            (row.incident_id, row.receiver, row.channel_idx, row.seq),
        )
        is not None
    )


def told_channels(tx: Tx, incident: str, receiver: str) -> set[int]:
    """Channels of a receiver that got the incident's trigger."""
    return {
        r["channel_idx"]
        for r in tx.execute(
            "SELECT DISTINCT channel_idx FROM outbox WHERE incident_id=? AND receiver=? "
            "AND event='trigger' AND status='sent'",
            (incident, receiver),
        )
    }


def unannounce_unless_delivered(tx: Tx, incident: str, receiver: str) -> None:
    """A trigger that never arrived is no announcement: the next group flush triggers again, on the channels
    that have not got one (unless another trigger for the receiver is sent or on its way)."""
    tx.execute(
        "UPDATE targets SET announced=0 WHERE incident_id=? AND receiver=? AND NOT EXISTS ("
        " SELECT 1 FROM outbox WHERE incident_id=? AND receiver=? AND event='trigger'"
        " AND status IN ('pending','sent'))",
        (incident, receiver, incident, receiver),
    )


def replay_trigger(tx: Tx, line: tuple[str, str, int], now: float) -> None:
    """Queue a dead trigger again with the acknowledge/resolve held back because the receiver never got it,
    in their order; older dead triggers of the line are superseded by the newest (one page, not several)."""
    triggers = tx.execute(
        "SELECT rowid, status, seq FROM outbox WHERE incident_id=? AND receiver=? AND channel_idx=? "
        "AND event='trigger' AND status IN ('pending','dead') ORDER BY seq",
        line,
    )
    if any(t["status"] == "pending" for t in triggers):  # a trigger is already on its way
        for t in triggers:
            if t["status"] == "dead":
                supersede(tx, t["rowid"], "not replayed: a later trigger for this incident is queued", now)
        return
    newest = triggers[-1]
    for t in triggers[:-1]:
        supersede(tx, t["rowid"], "not replayed: replayed as a later trigger for this incident", now)
    held = [
        r["rowid"]
        for r in tx.execute(
            "SELECT rowid FROM outbox WHERE incident_id=? AND receiver=? AND channel_idx=? AND seq>? "
            "AND event IN ('acknowledge', 'resolve') "
            "AND (status='dead' OR (status='suppressed' AND reason=?)) ORDER BY seq",
            (*line, newest["seq"], NEVER_TOLD),
        )
    ]
    for rowid in (newest["rowid"], *held):
        requeue(tx, rowid, now)
    tx.execute("UPDATE targets SET announced=1 WHERE incident_id=? AND receiver=?", line[:2])


def trigger_channels(tx: Tx, incident: str, receiver: str) -> list[tuple[int, str]]:
    """Channels of a receiver that were told (or are being told) about the incident's trigger."""
    return [
        (r["channel_idx"], r["channel"])
        for r in tx.execute(
            "SELECT DISTINCT channel_idx, channel FROM outbox WHERE incident_id=? AND receiver=? "
            "AND event='trigger' AND status IN ('pending','sent','dead') ORDER BY channel_idx",
            (incident, receiver),
        )
    ]


def dead_letters(tx: Tx, limit: int, offset: int) -> list[dict[str, Any]]:
    rows = tx.execute(
        "SELECT * FROM outbox WHERE status='dead' ORDER BY updated_at DESC LIMIT ? OFFSET ?", (limit, offset)
    )
    return [notification_dict(r) for r in rows]


def get(tx: Tx, notification_id: str, *, lock: bool = False) -> Row | None:
    return tx.one(f"SELECT * FROM outbox WHERE id=?{tx.for_update() if lock else ''}", (notification_id,))


def by_rowid(tx: Tx, rowid: int) -> Row | None:
    return tx.one("SELECT * FROM outbox WHERE rowid=?", (rowid,))


def requeue(tx: Tx, rowid: int, now: float) -> None:
    """Pending again with a fresh retry budget; the line's seq order keeps requeued rows in sequence."""
    tx.execute(
        "UPDATE outbox SET status='pending', attempts=0, next_attempt_at=?, retry_from=?, reason=NULL, "
        "claimed_by=NULL, claim_expires_at=NULL, updated_at=? WHERE rowid=?",
        (now, now, now, rowid),
    )


def supersede(tx: Tx, rowid: int, reason: str, now: float) -> None:
    tx.execute(
        "UPDATE outbox SET status='superseded', reason=?, updated_at=? WHERE rowid=?", (reason, now, rowid)
    )


def of_incident(tx: Tx, incident: str) -> list[dict[str, Any]]:
    return [
        notification_dict(r)
        for r in tx.execute("SELECT * FROM outbox WHERE incident_id=? ORDER BY rowid", (incident,))
    ]


def prune(tx: Tx, updated_before: float) -> int:
    return tx.rowcount(
        "DELETE FROM outbox WHERE status IN ('sent','suppressed','superseded') AND updated_at < ?",
        (updated_before,),
    )


def release(tx: Tx, row: OutboxRow, worker: str, at: float) -> None:
    """Give a claim back unsent (its destination is paced): claimable again at `at`, no attempt counted."""
    tx.execute(
        "UPDATE outbox SET claimed_by=NULL, claim_expires_at=NULL, next_attempt_at=? "
        "WHERE rowid=? AND claimed_by=? AND status='pending'",
        (at, row.rowid, worker),
    )


def claim_owners(tx: Tx) -> list[str]:
    """Workers holding claims on pending rows."""
    return [
        r["claimed_by"]
        for r in tx.execute(
            "SELECT DISTINCT claimed_by FROM outbox WHERE status='pending' AND claimed_by IS NOT NULL"
        )
    ]


def release_owner(tx: Tx, worker: str) -> int:
    """Give back every claim of `worker` (a process known to be gone): claimable at once."""
    return tx.rowcount(
        "UPDATE outbox SET claimed_by=NULL, claim_expires_at=NULL WHERE claimed_by=? AND status='pending'",
        (worker,),
    )
