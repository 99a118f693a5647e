"""The `silences` table (label matchers that mute notifications for a time window)."""

from __future__ import annotations

import json

from watchkeeper.alerts.matchers import parse_matchers
from watchkeeper.alerts.silences import Silence
from watchkeeper.core.store import Tx


def insert(tx: Tx, silence: Silence) -> None:
    tx.execute(
        "INSERT INTO silences VALUES (?,?,?,?,?,?,?,?)",
        (
            silence.id,
            silence.matchers_json(),
            silence.starts_at,
            silence.ends_at,
            silence.created_by,
            silence.comment,
            silence.created_at,
            silence.updated_at,
        ),
    )


def all_silences(tx: Tx) -> list[Silence]:
    return [
        Silence(
            r["id"],
            parse_matchers(json.loads(r["matchers"])),
            r["starts_at"],
            r["ends_at"],
            r["created_by"],
            r["comment"],
            r["created_at"],
            r["updated_at"],
        )
        for r in tx.execute("SELECT * FROM silences ORDER BY created_at, id")
    ]


def expire(tx: Tx, silence_id: str, now: float) -> bool | None:
    """End a silence now; None if unknown, False if it had already ended."""
    row = tx.one(f"SELECT starts_at, ends_at FROM silences WHERE id=?{tx.for_update()}", (silence_id,))
    if row is None:
        return None
    if row["ends_at"] <= now:
        return False
    tx.execute(
        "UPDATE silences SET starts_at=?, ends_at=?, updated_at=? WHERE id=?",
        (min(row["starts_at"], now), now, now, silence_id),
    )
    return True
