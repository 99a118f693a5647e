"""Silences: label matchers that mute notifications for a time window (checked at send time)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from watchkeeper.alerts.silences import STATES, Silence, validate_silence
from watchkeeper.alerts.store.database import StoreBase
from watchkeeper.alerts.store.errors import NotFound, StoreError
from watchkeeper.alerts.store.rows import parse_timestamp


class SilencesMixin(StoreBase):
    """Create, list, expire silences; `muting_silence` keeps a 1 s cache for the dispatcher's hot path."""

    def create_silence(
        self,
        matchers: Sequence[Any],
        starts_at: float | str | None,
        ends_at: float | str | None,
        created_by: str,
        comment: str = "",
    ) -> dict[str, Any]:
        """Times are unix seconds or ISO 8601 strings; starts_at defaults to now."""
        now = self.clock.now()
        start = now if starts_at in (None, "") else parse_timestamp(starts_at, "starts_at")
        if ends_at in (None, ""):
            raise StoreError("ends_at is required (unix seconds or ISO 8601): when should the silence end?")
        end = parse_timestamp(ends_at, "ends_at")
        try:
            parsed = validate_silence(matchers, start, end, created_by)
        except ValueError as exc:
            raise StoreError(str(exc)) from None
        if end <= now:
            raise StoreError("ends_at is in the past: the silence would never be active")
        silence = Silence(str(uuid.uuid4()), parsed, start, end, created_by, comment, now, now)
        with self._lock, self._tx() as db:
            db.execute(
                "INSERT INTO silences VALUES (?,?,?,?,?,?,?,?)",
                (
                    silence.id,
                    silence.matchers_json(),
                    silence.starts_at,
                    silence.ends_at,
                    created_by,
                    comment,
                    now,
                    now,
                ),
            )
        self._silences_cache = None
        return silence.to_dict(now)

    def _silences(self) -> list[Silence]:
        from watchkeeper.alerts.matchers import parse_matchers

        rows = self._conn().execute("SELECT * FROM silences ORDER BY created_at").fetchall()
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
            for r in rows
        ]

    def list_silences(self, state: str | None = None) -> list[dict[str, Any]]:
        if state is not None and state not in STATES:
            raise StoreError(f"unknown silence state {state!r}: use one of {', '.join(STATES)}")
        now = self.clock.now()
        out = [s.to_dict(now) for s in self._silences()]
        return [s for s in out if state is None or s["state"] == state]

    def get_silence(self, silence_id: str) -> dict[str, Any] | None:
        now = self.clock.now()
        return next((s.to_dict(now) for s in self._silences() if s.id == silence_id), None)

    def expire_silence(self, silence_id: str) -> dict[str, Any]:
        now = self.clock.now()
        with self._lock, self._tx() as db:
            row = db.execute("SELECT starts_at, ends_at FROM silences WHERE id=?", (silence_id,)).fetchone()
            if row is None:
                raise NotFound(f"no silence with id {silence_id!r}")
            if row["ends_at"] > now:
                db.execute(
                    "UPDATE silences SET starts_at=MIN(starts_at, ?), ends_at=?, updated_at=? WHERE id=?",
                    (now, now, now, silence_id),
                )
        self._silences_cache = None
        return self.get_silence(silence_id) or {}

    def muting_silence(self, labels: Mapping[str, str]) -> Silence | None:
        now = self.clock.now()
        cache = self._silences_cache
        if cache is None or now - cache[0] > 1.0 or now < cache[0]:
            cache = (now, self._silences())
            self._silences_cache = cache
        for silence in cache[1]:
            if silence.mutes(labels, now):
                return silence
        return None
