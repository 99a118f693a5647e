"""The notification outbox as the dispatcher sees it: what is due, what to suppress, how each send ended."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from watchkeeper.alerts.model import Event
from watchkeeper.alerts.store.database import StoreBase
from watchkeeper.alerts.store.errors import NotFound
from watchkeeper.alerts.store.rows import OutboxRow, notification_dict
from watchkeeper.alerts.store.schema import NEVER_TOLD

_LIFECYCLE = (Event.acknowledge.value, Event.resolve.value)


class OutboxMixin(StoreBase):
    """Delivery order, send-time suppression (silences, inhibition, supersession) and dead letters."""

    def due_notifications(
        self, limit: int = 200, exclude: Iterable[tuple[str, str, int]] = ()
    ) -> list[OutboxRow]:
        """Pending rows whose time has come and that are first in line for their incident+receiver+channel."""
        now = self.clock.now()
        skip = set(exclude)
        rows = (
            self._conn()
            .execute(
                "SELECT o.* FROM outbox o WHERE o.status='pending' AND o.next_attempt_at <= ? "
                "AND NOT EXISTS ("
                " SELECT 1 FROM outbox p WHERE p.incident_id=o.incident_id AND p.receiver=o.receiver"
                " AND p.channel_idx=o.channel_idx AND p.seq < o.seq AND p.status='pending')"
                " ORDER BY o.next_attempt_at, o.rowid LIMIT ?",
                (now, limit + len(skip)),
            )
            .fetchall()
        )
        out = []
        for r in rows:
            row = OutboxRow(
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
            if row.order_key not in skip:
                out.append(row)
        return out[:limit]

    def next_notification_due(self) -> float | None:
        return (
            self._conn()
            .execute("SELECT MIN(next_attempt_at) FROM outbox WHERE status='pending'")
            .fetchone()[0]
        )

    def suppression(self, row: OutboxRow) -> tuple[str, str] | None:
        """(status, reason) if the row must not be sent now; checked at send time, as Alertmanager does."""
        db = self._conn()
        key = (row.incident_id, row.receiver, row.channel_idx)
        if row.event in (Event.trigger.value, Event.update.value):
            later = db.execute(
                "SELECT event FROM outbox WHERE incident_id=? AND receiver=? AND channel_idx=? AND seq>? "
                "AND status='sent' LIMIT 1",
                (*key, row.seq),
            ).fetchone()
            if later is not None:
                return "superseded", f"a later {later[0]} notification was already delivered"
            labels = json.loads(row.payload).get("labels", {})
            silence = self.muting_silence(labels)
            if silence is not None:
                return "suppressed", f"silenced by {silence.id}"
            source = self._inhibitor_source(row.incident_id, labels)
            if source is not None:
                return "suppressed", f"inhibited by incident {source}"
            return None
        # Only a delivered trigger announces: a dead one never reached the receiver, which must not get a
        # resolve for an incident it never saw (a replayed trigger is sent first, then this row again).
        announced = db.execute(
            "SELECT 1 FROM outbox WHERE incident_id=? AND receiver=? AND channel_idx=? AND seq<? "
            "AND event='trigger' AND status='sent' LIMIT 1",
            (*key, row.seq),
        ).fetchone()
        if announced is None:
            return "suppressed", NEVER_TOLD
        return None

    def _inhibitor_source(self, incident: str, labels: Mapping[str, str]) -> str | None:
        if not self.inhibitor.rules:
            return None
        with self._lock:
            sources: list[tuple[str, Mapping[str, str]]] = [
                (i.id, i.labels) for i in self._open_by_id.values()
            ]
        return self.inhibitor.inhibited_by(incident, labels, sources)

    def mark_sent(self, row: OutboxRow, status: int | None) -> None:
        now = self.clock.now()
        with self._lock, self._tx() as db:
            db.execute(
                "UPDATE outbox SET status='sent', attempts=attempts+1, sent_at=?, last_status=?, "
                "last_error=NULL, updated_at=? WHERE rowid=?",
                (now, status, now, row.rowid),
            )

    def mark_retry(self, row: OutboxRow, *, delay_s: float, error: str | None, status: int | None) -> None:
        now = self.clock.now()
        with self._lock, self._tx() as db:
            db.execute(
                "UPDATE outbox SET attempts=attempts+1, next_attempt_at=?, last_error=?, last_status=?, "
                "updated_at=? WHERE rowid=?",
                (now + delay_s, error, status, now, row.rowid),
            )

    def mark_dead(self, row: OutboxRow, *, error: str | None, status: int | None, reason: str) -> None:
        now = self.clock.now()
        with self._lock, self._tx() as db:
            db.execute(
                "UPDATE outbox SET status='dead', attempts=attempts+1, last_error=?, last_status=?, "
                "reason=?, "
                "updated_at=? WHERE rowid=?",
                (error, status, reason, now, row.rowid),
            )
            if row.event == Event.trigger.value:
                self._unannounce_unless_delivered(db, row.incident_id, row.receiver)
        self.refresh_gauges()

    @staticmethod
    def _unannounce_unless_delivered(db: Any, incident: str, receiver: str) -> None:
        """A trigger that never arrived is no announcement: the next group flush triggers again, on the
        channels that have not got one (unless another trigger for the receiver is sent or on its way)."""
        db.execute(
            "UPDATE targets SET announced=0 WHERE incident_id=? AND receiver=? AND NOT EXISTS ("
            " SELECT 1 FROM outbox WHERE incident_id=? AND receiver=? AND event='trigger'"
            " AND status IN ('pending','sent'))",
            (incident, receiver, incident, receiver),
        )

    def mark_suppressed(self, row: OutboxRow, status: str, reason: str) -> None:
        now = self.clock.now()
        with self._lock, self._tx() as db:
            db.execute(
                "UPDATE outbox SET status=?, reason=?, updated_at=? WHERE rowid=?",
                (status, reason, now, row.rowid),
            )
            if row.event == Event.trigger.value and status == "suppressed":
                # Not announced after all: the next group flush tries again (e.g. once the silence ends).
                db.execute(
                    "UPDATE targets SET announced=0 WHERE incident_id=? AND receiver=?",
                    (row.incident_id, row.receiver),
                )

    def list_dead_letters(self, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        rows = (
            self._conn()
            .execute(
                "SELECT * FROM outbox WHERE status='dead' ORDER BY updated_at DESC LIMIT ? OFFSET ?",
                (limit, offset),
            )
            .fetchall()
        )
        return [notification_dict(r) for r in rows]

    def replay_dead_letter(self, notification_id: str) -> dict[str, Any]:
        """Queue a dead letter again so the receiver ends up with the incident's current state.

        Refused (marked superseded) if a later message of its line already went out. A dead trigger is queued
        again together with the acknowledge/resolve that were held back because the receiver never got it, in
        their order, so the receiver hears "trigger, then resolve"; older dead triggers of the same line are
        superseded by the newest one (one page, not one per attempt window)."""
        now = self.clock.now()
        with self._lock, self._tx() as db:
            row = db.execute("SELECT * FROM outbox WHERE id=?", (notification_id,)).fetchone()
            if row is None or row["status"] != "dead":
                raise NotFound(f"no dead letter with id {notification_id!r}")
            line = (row["incident_id"], row["receiver"], row["channel_idx"])
            later = db.execute(
                "SELECT 1 FROM outbox WHERE incident_id=? AND receiver=? AND channel_idx=? AND seq>? "
                "AND status='sent' LIMIT 1",
                (*line, row["seq"]),
            ).fetchone()
            if later is not None:
                self._supersede(
                    db, row["rowid"], "a later notification for this incident was already delivered", now
                )
            elif row["event"] == Event.trigger.value:
                self._replay_trigger(db, line, now)
            else:
                self._requeue(db, [row["rowid"]], now)
            out = db.execute("SELECT * FROM outbox WHERE rowid=?", (row["rowid"],)).fetchone()
        self.refresh_gauges()
        return notification_dict(out)

    def _replay_trigger(self, db: Any, line: tuple[str, str, int], now: float) -> None:
        triggers = db.execute(
            "SELECT rowid, status FROM outbox WHERE incident_id=? AND receiver=? AND channel_idx=? "
            "AND event='trigger' AND status IN ('pending','dead') ORDER BY seq",
            line,
        ).fetchall()
        if any(t["status"] == "pending" for t in triggers):  # a trigger is already on its way
            for t in triggers:
                if t["status"] == "dead":
                    self._supersede(db, t["rowid"], "a later trigger for this incident is queued", now)
            return
        newest = triggers[-1]
        for t in triggers[:-1]:
            self._supersede(db, t["rowid"], "replayed as a later trigger for this incident", now)
        seq = db.execute("SELECT seq FROM outbox WHERE rowid=?", (newest["rowid"],)).fetchone()[0]
        held = [
            r[0]
            for r in db.execute(
                "SELECT rowid FROM outbox WHERE incident_id=? AND receiver=? AND channel_idx=? AND seq>? "
                "AND event IN (?, ?) AND (status='dead' OR (status='suppressed' AND reason=?)) ORDER BY seq",
                (*line, seq, *_LIFECYCLE, NEVER_TOLD),
            )
        ]
        self._requeue(db, [newest["rowid"], *held], now)
        db.execute("UPDATE targets SET announced=1 WHERE incident_id=? AND receiver=?", line[:2])

    @staticmethod
    def _requeue(db: Any, rowids: list[int], now: float) -> None:
        """Pending again with a fresh retry budget; the line's seq order keeps them in sequence."""
        db.executemany(
            "UPDATE outbox SET status='pending', attempts=0, next_attempt_at=?, retry_from=?, reason=NULL, "
            "updated_at=? WHERE rowid=?",
            [(now, now, now, rowid) for rowid in rowids],
        )

    @staticmethod
    def _supersede(db: Any, rowid: int, why: str, now: float) -> None:
        db.execute(
            "UPDATE outbox SET status='superseded', reason=?, updated_at=? WHERE rowid=?",
            (f"not replayed: {why}", now, rowid),
        )
