"""The activity log of each incident: who did what, when and why (ack, resolve, feedback, approvals,
silences).

People's actions are rows written in the same transaction as the change they record; what the pipeline did
(the findings that opened and grew the incident, each notification) is read from its own tables, so the log
is one merged timeline without a second copy of those facts.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from watchkeeper.alerts.clock import Clock
from watchkeeper.core.store import Database, Tx

#: Kinds of stored rows (people's actions); "opened", "finding" and "notification" are derived at read time.
KINDS = ("acknowledged", "resolved", "feedback", "approval", "silence", "comment")
MAX_FINDINGS_SHOWN = 50


class ActivityMixin:
    """Part of `AlertsService`: the incident activity log (a mixin for its size, not for reuse)."""

    db: Database
    clock: Clock

    def _activity(
        self,
        db: Tx,
        incident_id: str,
        kind: str,
        *,
        actor: str,
        comment: str = "",
        verified: bool = False,
        data: dict[str, Any] | None = None,
        now: float | None = None,
    ) -> str:
        """Append one row inside the caller's transaction; returns its id."""
        row_id = str(uuid.uuid4())
        db.execute(
            "INSERT INTO activity VALUES (?,?,?,?,?,?,?,?)",
            (
                row_id,
                incident_id,
                self.clock.now() if now is None else now,
                kind,
                actor,
                int(verified),
                comment,
                json.dumps(data or {}, separators=(",", ":")),
            ),
        )
        return row_id

    def record_activity(
        self,
        incident_id: str,
        kind: str,
        *,
        actor: str,
        comment: str = "",
        verified: bool = False,
        data: dict[str, Any] | None = None,
    ) -> str:
        """A person's action on an incident made elsewhere (an approval, a silence from its page)."""
        if kind not in KINDS:
            raise ValueError(f"unknown activity kind {kind!r}")
        return self.db.run(
            lambda db: self._activity(
                db, incident_id, kind, actor=actor, comment=comment, verified=verified, data=data
            )
        )

    def activity(self, incident_id: str) -> list[dict[str, Any]]:
        """The incident's timeline, oldest first: opened, findings, notifications and people's actions."""
        with self.db.read() as db:
            return self._timeline(db, incident_id)

    def _timeline(self, db: Tx, incident_id: str) -> list[dict[str, Any]]:
        inc = db.one("SELECT * FROM incidents WHERE id=?", (incident_id,))
        if inc is None:
            return []
        out: list[dict[str, Any]] = [
            {
                "kind": "opened",
                "time": inc["first_seen"],
                "actor": "watchkeeper",
                "verified": True,
                "comment": "",
                "data": {"severity": inc["severity"], "route": inc["route"]},
            }
        ]
        findings = db.execute(
            "SELECT id, time, severity, category, summary FROM findings WHERE incident_id=? "
            "ORDER BY time DESC, id LIMIT ?",
            (incident_id, MAX_FINDINGS_SHOWN),
        )
        out.extend(
            {
                "kind": "finding",
                "time": r["time"],
                "actor": "watchkeeper",
                "verified": True,
                "comment": r["summary"],
                "data": {"finding_id": r["id"], "severity": r["severity"], "category": r["category"]},
            }
            for r in findings
        )
        for r in db.execute(
            "SELECT id, receiver, channel, event, status, attempts, reason, last_error, created_at, sent_at, "
            "updated_at FROM outbox WHERE incident_id=? ORDER BY rowid",
            (incident_id,),
        ):
            out.append(
                {
                    "kind": "notification",
                    "time": r["sent_at"] or r["updated_at"] or r["created_at"],
                    "actor": "watchkeeper",
                    "verified": True,
                    "comment": r["reason"] or r["last_error"] or "",
                    "data": {
                        "notification_id": r["id"],
                        "receiver": r["receiver"],
                        "channel": r["channel"],
                        "event": r["event"],
                        "status": r["status"],
                        "attempts": r["attempts"],
                    },
                }
            )
        for r in db.execute("SELECT * FROM activity WHERE incident_id=? ORDER BY time, id", (incident_id,)):
            out.append(
                {
                    "id": r["id"],
                    "kind": r["kind"],
                    "time": r["time"],
                    "actor": r["actor"],
                    "verified": bool(r["verified"]),
                    "comment": r["comment"],
                    "data": json.loads(r["data"]),
                }
            )
        order = {"opened": 0, "finding": 1, "notification": 2}
        out.sort(key=lambda e: (e["time"] or 0.0, order.get(e["kind"], 3)))
        total = int(db.scalar("SELECT COUNT(*) AS n FROM findings WHERE incident_id=?", (incident_id,)) or 0)
        if total > MAX_FINDINGS_SHOWN:
            out.append(
                {
                    "kind": "note",
                    "time": None,
                    "actor": "watchkeeper",
                    "verified": True,
                    "comment": f"{total - MAX_FINDINGS_SHOWN} older findings are not listed here",
                    "data": {"findings_total": total},
                }
            )
        return out
