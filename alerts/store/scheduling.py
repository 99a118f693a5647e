"""Group timers: auto-resolve quiet incidents and turn due flushes into outbox rows."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from watchkeeper.alerts.incidents import OpenIncident, Target, flush_decision, next_flush
from watchkeeper.alerts.model import Event, Status
from watchkeeper.alerts.store.database import StoreBase
from watchkeeper.alerts.store.rows import dumps, target_from_row

_SNAPSHOT_SAMPLES = 5  # findings embedded in each notification (the full list lives in the dashboard)


class SchedulingMixin(StoreBase):
    """Decides when each receiver hears about an incident; writes the outbox rows that say so."""

    def run_due(self) -> float | None:
        """Auto-resolve quiet incidents and flush due groups into the outbox; returns the next due time."""
        with self._lock:
            now = self.clock.now()
            timeout = self.cfg.resolve_timeout
            for inc in [i for i in self._open.values() if i.last_received_at + timeout <= now]:
                self._resolve(inc, by="watchkeeper", comment=f"no new findings for {timeout:g}s", now=now)
            db = self._conn()
            due = db.execute(
                "SELECT * FROM targets WHERE next_flush_at IS NOT NULL AND next_flush_at <= ? "
                "ORDER BY next_flush_at",
                (now,),
            ).fetchall()
            if due:
                with self._tx() as tx:
                    for row in due:
                        target = target_from_row(row)
                        inc = self._open_by_id.get(target.incident_id)
                        if inc is None:  # resolved meanwhile: its timers stop
                            tx.execute(
                                "UPDATE targets SET next_flush_at=NULL WHERE incident_id=? AND receiver=?",
                                (target.incident_id, target.receiver),
                            )
                            continue
                        decision = flush_decision(target, inc, now)
                        if decision is not None:
                            event, repeat = decision
                            self._enqueue(
                                tx,
                                target,
                                inc,
                                event,
                                now,
                                repeat=repeat,
                                channels=self._untold_channels(tx, target)
                                if event == Event.trigger
                                else None,
                            )
                            target.last_notified_at = now
                            target.notified_count = inc.finding_count
                            if event == Event.trigger:
                                target.announced = True
                        target.next_flush_at = next_flush(target, now)
                        tx.execute(
                            "UPDATE targets SET next_flush_at=?, last_notified_at=?, notified_count=?, "
                            "announced=?, "
                            "seq=? WHERE incident_id=? AND receiver=?",
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
            nxt = db.execute(
                "SELECT MIN(next_flush_at) FROM targets WHERE next_flush_at IS NOT NULL"
            ).fetchone()[0]
            quiet = min((i.last_received_at + timeout for i in self._open.values()), default=None)
        candidates = [t for t in (nxt, quiet) if t is not None]
        return min(candidates) if candidates else None

    def _untold_channels(self, db: sqlite3.Connection, target: Target) -> list[tuple[int, str]]:
        """The receiver's channels that have not got a trigger yet: a trigger that dead-lettered on one
        channel is sent again there, not to the channels that already paged."""
        told = {
            r[0]
            for r in db.execute(
                "SELECT DISTINCT channel_idx FROM outbox WHERE incident_id=? AND receiver=? "
                "AND event='trigger' AND status='sent'",
                (target.incident_id, target.receiver),
            )
        }
        kinds = self.channel_kinds.get(target.receiver, [])
        return [(idx, kind) for idx, kind in enumerate(kinds) if idx not in told]

    def _snapshot(
        self, db: sqlite3.Connection, inc: OpenIncident, *, status: Status, resolved_at: float | None
    ) -> dict[str, Any]:
        samples = [
            json.loads(r[0])
            for r in db.execute(
                "SELECT data FROM findings WHERE incident_id=? ORDER BY time DESC LIMIT ?",
                (inc.id, _SNAPSHOT_SAMPLES),
            )
        ]
        data = inc.to_dict()
        data["status"] = status.value
        data["resolved_at"] = resolved_at
        data["samples"] = samples
        return data

    def _enqueue(
        self,
        db: sqlite3.Connection,
        target: Target,
        inc: OpenIncident,
        event: Event,
        now: float,
        *,
        repeat: bool = False,
        status: Status | None = None,
        resolved_at: float | None = None,
        channels: Sequence[tuple[int, str]] | None = None,
    ) -> int:
        """Write one outbox row per channel of the receiver (in the caller's transaction)."""
        if channels is None:
            channels = list(enumerate(self.channel_kinds.get(target.receiver, [])))
        if not channels:
            return 0
        target.seq += 1
        payload = dumps(self._snapshot(db, inc, status=status or inc.status, resolved_at=resolved_at))
        rows = [
            (
                f"{inc.id}-{target.receiver}-{idx}-{target.seq}-{event.value}",
                inc.id,
                target.receiver,
                idx,
                kind,
                target.seq,
                event.value,
                int(repeat),
                payload,
                now,
                "pending",
                0,
                now,
                now,
            )
            for idx, kind in channels
        ]
        db.executemany(
            "INSERT OR IGNORE INTO outbox (id, incident_id, receiver, channel_idx, channel, seq, event, "
            "is_repeat, "
            "payload, created_at, status, attempts, next_attempt_at, updated_at) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
        return len(rows)
