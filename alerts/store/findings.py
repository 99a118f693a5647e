"""The `findings` table: every finding once (its id is the unique key: replays have no second effect)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from watchkeeper.core.store import Tx

_CHUNK = 500


def existing_ids(tx: Tx, ids: Iterable[str]) -> set[str]:
    ids = list(ids)
    found: set[str] = set()
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        found.update(r["id"] for r in tx.execute(f"SELECT id FROM findings WHERE id IN ({marks})", chunk))
    return found


def insert(tx: Tx, rows: Sequence[tuple[Any, ...]]) -> None:
    """(id, incident_id, detector, category, severity, app, time, received_at, summary, data) rows."""
    tx.executemany("INSERT INTO findings VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING", rows)


def samples_json(tx: Tx, incident: str, n: int) -> list[str]:
    """The incident's latest findings as their stored JSON objects."""
    return [
        r["data"]
        for r in tx.execute(
            "SELECT data FROM findings WHERE incident_id=? ORDER BY time DESC LIMIT ?", (incident, n)
        )
    ]


def prune(tx: Tx, received_before: float) -> int:
    """Findings older than the retention whose incident is closed."""
    return tx.rowcount(
        "DELETE FROM findings WHERE received_at < ? AND incident_id NOT IN "
        "(SELECT id FROM incidents WHERE status != 'resolved')",
        (received_before,),
    )
