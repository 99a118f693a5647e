"""Incident lifecycle: acknowledge and resolve, each announced to the channels that saw the trigger."""

from __future__ import annotations

import sqlite3
from typing import Any

from watchkeeper.alerts.incidents import OpenIncident
from watchkeeper.alerts.model import Event, Status
from watchkeeper.alerts.store.activity import ActivityMixin
from watchkeeper.alerts.store.errors import InvalidTransition, NotFound
from watchkeeper.alerts.store.rows import target_from_row


class LifecycleMixin(ActivityMixin):
    """triggered -> acknowledged -> resolved; a resolved incident is never reopened."""

    def acknowledge(
        self, incident: str, by: str, comment: str = "", *, verified: bool = False
    ) -> dict[str, Any]:
        """`verified`: `by` was authenticated (a personal token or basic auth), not just claimed."""
        with self._lock:
            inc = self._open_by_id.get(incident)
            if inc is None:
                self._raise_unknown_or_closed(incident, "acknowledge")
            assert inc is not None
            if inc.status == Status.acknowledged:
                raise InvalidTransition(
                    f"incident {incident} is already acknowledged by {inc.acknowledged_by}"
                )
            now = self.clock.now()
            with self._tx() as db:
                inc.status = Status.acknowledged
                inc.acknowledged_by = by
                inc.acknowledged_at = now
                db.execute(
                    "UPDATE incidents SET status=?, acknowledged_by=?, acknowledged_at=?, comment=?, "
                    "updated_at=? WHERE id=?",
                    (inc.status.value, by, now, comment, now, inc.id),
                )
                self._announce_change(db, inc, Event.acknowledge, now, status=Status.acknowledged)
                self._activity(
                    db, inc.id, "acknowledged", actor=by, comment=comment, verified=verified, now=now
                )
        self.refresh_gauges()
        return self.get_incident(incident) or {}

    def resolve(self, incident: str, by: str, comment: str = "", *, verified: bool = False) -> dict[str, Any]:
        with self._lock:
            inc = self._open_by_id.get(incident)
            if inc is None:
                self._raise_unknown_or_closed(incident, "resolve")
            assert inc is not None
            self._resolve(inc, by=by, comment=comment, now=self.clock.now(), verified=verified)
        return self.get_incident(incident) or {}

    def _raise_unknown_or_closed(self, incident: str, action: str) -> None:
        row = self._conn().execute("SELECT status FROM incidents WHERE id=?", (incident,)).fetchone()
        if row is None:
            raise NotFound(f"no incident with id {incident!r}")
        raise InvalidTransition(
            f"cannot {action} incident {incident}: it is {row['status']} "
            "(a resolved incident is never reopened; a new finding starts a new incident)"
        )

    def _resolve(
        self,
        inc: OpenIncident,
        *,
        by: str,
        comment: str,
        now: float,
        verified: bool = False,
        db: sqlite3.Connection | None = None,
        activity: dict[str, Any] | None = None,
    ) -> None:
        """Resolve in a transaction of its own, or inside the caller's (`db`: a false-positive verdict)."""
        if db is None:
            with self._tx() as own:
                self._resolve_in(
                    own, inc, by=by, comment=comment, now=now, verified=verified, activity=activity
                )
        else:
            self._resolve_in(db, inc, by=by, comment=comment, now=now, verified=verified, activity=activity)
        inc.status = Status.resolved
        self._open.pop(inc.group_key, None)
        self._open_by_id.pop(inc.id, None)
        self.refresh_gauges()

    def _resolve_in(
        self,
        db: sqlite3.Connection,
        inc: OpenIncident,
        *,
        by: str,
        comment: str,
        now: float,
        verified: bool,
        activity: dict[str, Any] | None,
    ) -> None:
        db.execute(
            "UPDATE incidents SET status=?, resolved_at=?, resolved_by=?, comment=?, updated_at=? WHERE id=?",
            (Status.resolved.value, now, by, comment, now, inc.id),
        )
        self._announce_change(db, inc, Event.resolve, now, status=Status.resolved, resolved_at=now)
        db.execute("UPDATE targets SET next_flush_at=NULL WHERE incident_id=?", (inc.id,))
        self._activity(
            db, inc.id, "resolved", actor=by, comment=comment, verified=verified, data=activity, now=now
        )

    def _announce_change(
        self,
        db: sqlite3.Connection,
        inc: OpenIncident,
        event: Event,
        now: float,
        *,
        status: Status,
        resolved_at: float | None = None,
    ) -> None:
        """Acknowledge/resolve go only to the channels that were told about the incident (its trigger row)."""
        for row in db.execute("SELECT * FROM targets WHERE incident_id=?", (inc.id,)).fetchall():
            target = target_from_row(row)
            if event == Event.resolve and not target.send_resolved:
                continue
            channels = [
                (r[0], r[1])
                for r in db.execute(
                    "SELECT DISTINCT channel_idx, channel FROM outbox WHERE incident_id=? AND receiver=? "
                    "AND event='trigger' AND status IN ('pending','sent','dead') ORDER BY channel_idx",
                    (inc.id, target.receiver),
                )
            ]
            if not channels:
                continue
            self._enqueue(
                db, target, inc, event, now, status=status, resolved_at=resolved_at, channels=channels
            )
            db.execute(
                "UPDATE targets SET seq=? WHERE incident_id=? AND receiver=?",
                (target.seq, inc.id, target.receiver),
            )
