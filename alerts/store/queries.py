"""Read models for the API and the dashboard: plain JSON-ready dicts, never live objects."""

from __future__ import annotations

import sqlite3
from typing import Any

from watchkeeper.alerts.model import Status
from watchkeeper.alerts.store.database import StoreBase
from watchkeeper.alerts.store.rows import finding_dict, incident_dict, notification_dict
from watchkeeper.alerts.store.schema import OPEN_STATUSES, OUTBOX_STATES
from watchkeeper.core import metrics

_SEVERITY_RANK = "CASE severity WHEN 'critical' THEN 0 WHEN 'error' THEN 1 WHEN 'warning' THEN 2 ELSE 3 END"
_ORDER = {
    "time": "last_seen DESC, id",
    "severity": f"CASE WHEN status = 'resolved' THEN 1 ELSE 0 END, {_SEVERITY_RANK}, last_seen DESC, id",
}


class QueriesMixin(StoreBase):
    """Lists, details and counts (plus the gauges derived from them); reads use the per-thread connection."""

    def list_incidents(
        self,
        status: str | None = None,
        severity: str | None = None,
        app: str | None = None,
        detector: str | None = None,
        q: str | None = None,
        limit: int = 50,
        offset: int = 0,
        sort: str = "time",
    ) -> tuple[list[dict[str, Any]], int]:
        """A page of incidents; `sort="severity"`: open first, then by severity, then the latest first."""
        where, args = [], []
        for column, value in (
            ("status", status),
            ("severity", severity),
            ("app", app),
            ("detector", detector),
        ):
            if value:
                if column == "status" and value == "open":
                    value = ",".join(OPEN_STATUSES)
                values = [v.strip() for v in value.split(",") if v.strip()]
                where.append(f"{column} IN ({','.join('?' * len(values))})")
                args.extend(values)
        if q:
            where.append("(title LIKE ? OR summary LIKE ? OR labels LIKE ? OR id = ?)")
            like = f"%{q}%"
            args.extend([like, like, like, q])
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        db = self._conn()
        total = db.execute(f"SELECT COUNT(*) FROM incidents {clause}", args).fetchone()[0]
        rows = db.execute(
            f"SELECT * FROM incidents {clause} ORDER BY {_ORDER[sort]} LIMIT ? OFFSET ?",
            [*args, max(0, int(limit)), max(0, int(offset))],
        ).fetchall()
        return [incident_dict(r) for r in rows], total

    def get_incident(self, incident: str) -> dict[str, Any] | None:
        db = self._conn()
        row = db.execute("SELECT * FROM incidents WHERE id=?", (incident,)).fetchone()
        if row is None:
            return None
        out = incident_dict(row)
        out["findings"] = [
            finding_dict(r)
            for r in db.execute(
                "SELECT * FROM findings WHERE incident_id=? ORDER BY time DESC, id LIMIT ?",
                (incident, self.cfg.max_samples),
            )
        ]
        out["notifications"] = [
            notification_dict(r)
            for r in db.execute("SELECT * FROM outbox WHERE incident_id=? ORDER BY rowid", (incident,))
        ]
        out["receivers"] = [
            {
                "receiver": r["receiver"],
                "route": r["route"],
                "announced": bool(r["announced"]),
                "next_flush_at": r["next_flush_at"],
                "last_notified_at": r["last_notified_at"],
            }
            for r in db.execute("SELECT * FROM targets WHERE incident_id=? ORDER BY receiver", (incident,))
        ]
        return out

    def list_findings(
        self,
        limit: int = 50,
        offset: int = 0,
        incident_id: str | None = None,
        detector: str | None = None,
        since: float | None = None,
        app: str | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        where, args = [], []
        if incident_id:
            where.append("incident_id = ?")
            args.append(incident_id)
        if app:
            where.append("app = ?")
            args.append(app)
        if detector:
            where.append("detector = ?")
            args.append(detector)
        if since is not None:
            where.append("time >= ?")
            args.append(float(since))
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        db = self._conn()
        total = db.execute(f"SELECT COUNT(*) FROM findings {clause}", args).fetchone()[0]
        rows = db.execute(
            f"SELECT * FROM findings {clause} ORDER BY time DESC, id LIMIT ? OFFSET ?",
            [*args, max(0, int(limit)), max(0, int(offset))],
        ).fetchall()
        return [finding_dict(r) for r in rows], total

    def get_finding(self, finding_id: str) -> dict[str, Any] | None:
        row = self._conn().execute("SELECT * FROM findings WHERE id=?", (finding_id,)).fetchone()
        return finding_dict(row) if row is not None else None

    def findings_by_ids(self, ids: list[str]) -> list[dict[str, Any]]:
        """The stored findings among `ids` (a call's findings), newest first."""
        out: list[dict[str, Any]] = []
        db = self._conn()
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            out.extend(
                finding_dict(r) for r in db.execute(f"SELECT * FROM findings WHERE id IN ({marks})", chunk)
            )
        return sorted(out, key=lambda f: (-f["time"], f["id"]))

    def incidents_by_ids(self, ids: list[str]) -> list[dict[str, Any]]:
        wanted = sorted({i for i in ids if i})
        if not wanted:
            return []
        marks = ",".join("?" * len(wanted))
        rows = self._conn().execute(f"SELECT * FROM incidents WHERE id IN ({marks})", wanted).fetchall()
        return [incident_dict(r) for r in rows]

    def findings_timeseries(self, bucket_s: float = 60.0, since: float | None = None) -> dict[str, Any]:
        """Findings per detector per time bucket (observation time), zero-filled, for the dashboard chart."""
        bucket = max(1.0, float(bucket_s))
        now = self.clock.now()
        start = float(since) if since is not None else now - 3600.0
        start = (start // bucket) * bucket
        rows = (
            self._conn()
            .execute(
                "SELECT CAST((time - ?) / ? AS INTEGER) AS b, detector, COUNT(*) FROM findings "
                "WHERE time >= ? "
                "GROUP BY b, detector",
                (start, bucket, start),
            )
            .fetchall()
        )
        n = max(1, int((max(now, start) - start) // bucket) + 1)
        if rows:
            n = max(n, max(r[0] for r in rows) + 1)
        series: dict[str, list[int]] = {}
        for b, detector, count in rows:
            series.setdefault(detector, [0] * n)[b] = count
        return {
            "bucket_s": bucket,
            "since": start,
            "buckets": [start + i * bucket for i in range(n)],
            "series": series,
        }

    def counts(self) -> dict[str, Any]:
        db = self._conn()
        by_status = {s.value: 0 for s in Status}
        by_status.update(
            {r[0]: r[1] for r in db.execute("SELECT status, COUNT(*) FROM incidents GROUP BY status")}
        )
        outbox = {s: 0 for s in OUTBOX_STATES}
        outbox.update({r[0]: r[1] for r in db.execute("SELECT status, COUNT(*) FROM outbox GROUP BY status")})
        findings = {
            r[0]: r[1] for r in db.execute("SELECT detector, COUNT(*) FROM findings GROUP BY detector")
        }
        return {
            "incidents": by_status,
            "notifications": outbox,
            "dead_letters": outbox["dead"],
            "findings_by_detector": findings,
            "findings_total": sum(findings.values()),
        }

    def open_incident_ids(self) -> list[str]:
        with self._lock:
            return list(self._open_by_id)

    def refresh_gauges(self) -> None:
        try:
            c = self.counts_light()
        except sqlite3.Error:
            return
        for status, n in c["incidents"].items():
            metrics.INCIDENTS.labels(status=status).set(n)
        metrics.DEAD_LETTERS.set(c["dead_letters"])

    def counts_light(self) -> dict[str, Any]:
        db = self._conn()
        by_status = {s.value: 0 for s in Status}
        by_status.update(
            {r[0]: r[1] for r in db.execute("SELECT status, COUNT(*) FROM incidents GROUP BY status")}
        )
        dead = db.execute("SELECT COUNT(*) FROM outbox WHERE status='dead'").fetchone()[0]
        return {"incidents": by_status, "dead_letters": dead}
