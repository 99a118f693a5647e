"""Read models for the API and the dashboard: plain JSON-ready dicts, never live objects."""

from __future__ import annotations

from typing import Any

from watchkeeper.alerts.model import Status
from watchkeeper.alerts.store import outbox
from watchkeeper.alerts.store.rows import finding_dict, incident_dict
from watchkeeper.alerts.store.schema import OPEN_STATUSES, OUTBOX_STATES
from watchkeeper.core.store import Tx

_SEVERITY_RANK = "CASE severity WHEN 'critical' THEN 0 WHEN 'error' THEN 1 WHEN 'warning' THEN 2 ELSE 3 END"
_ORDER = {
    "time": "last_seen DESC, id",
    "severity": f"CASE WHEN status = 'resolved' THEN 1 ELSE 0 END, {_SEVERITY_RANK}, last_seen DESC, id",
}


def list_incidents(
    tx: Tx,
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
    for column, value in (("status", status), ("severity", severity), ("app", app), ("detector", detector)):
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
    total = tx.scalar(f"SELECT COUNT(*) AS n FROM incidents {clause}", args)
    rows = tx.execute(
        f"SELECT * FROM incidents {clause} ORDER BY {_ORDER[sort]} LIMIT ? OFFSET ?",
        [*args, max(0, int(limit)), max(0, int(offset))],
    )
    return [incident_dict(r) for r in rows], int(total or 0)


def get_incident(tx: Tx, incident: str, max_samples: int) -> dict[str, Any] | None:
    row = tx.one("SELECT * FROM incidents WHERE id=?", (incident,))
    if row is None:
        return None
    out = incident_dict(row)
    out["findings"] = [
        finding_dict(r)
        for r in tx.execute(
            "SELECT * FROM findings WHERE incident_id=? ORDER BY time DESC, id LIMIT ?",
            (incident, max_samples),
        )
    ]
    out["notifications"] = outbox.of_incident(tx, incident)
    out["receivers"] = [
        {
            "receiver": r["receiver"],
            "route": r["route"],
            "announced": bool(r["announced"]),
            "next_flush_at": r["next_flush_at"],
            "last_notified_at": r["last_notified_at"],
        }
        for r in tx.execute("SELECT * FROM targets WHERE incident_id=? ORDER BY receiver", (incident,))
    ]
    return out


def list_findings(
    tx: Tx,
    limit: int = 50,
    offset: int = 0,
    incident_id: str | None = None,
    detector: str | None = None,
    since: float | None = None,
    app: str | None = None,
) -> tuple[list[dict[str, Any]], int]:
    where, args = [], []
    if app:
        where.append("app = ?")
        args.append(app)
    if incident_id:
        where.append("incident_id = ?")
        args.append(incident_id)
    if detector:
        where.append("detector = ?")
        args.append(detector)
    if since is not None:
        where.append("time >= ?")
        args.append(float(since))
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    total = tx.scalar(f"SELECT COUNT(*) AS n FROM findings {clause}", args)
    rows = tx.execute(
        f"SELECT * FROM findings {clause} ORDER BY time DESC, id LIMIT ? OFFSET ?",
        [*args, max(0, int(limit)), max(0, int(offset))],
    )
    return [finding_dict(r) for r in rows], int(total or 0)


def get_finding(tx: Tx, finding_id: str) -> dict[str, Any] | None:
    row = tx.one("SELECT * FROM findings WHERE id=?", (finding_id,))
    return finding_dict(row) if row is not None else None


def findings_by_ids(tx: Tx, ids: list[str]) -> list[dict[str, Any]]:
    """The stored findings among `ids` (a call's findings), newest first."""
    out: list[dict[str, Any]] = []
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        out.extend(
            finding_dict(r) for r in tx.execute(f"SELECT * FROM findings WHERE id IN ({marks})", chunk)
        )
    return sorted(out, key=lambda f: (-f["time"], f["id"]))


def incidents_by_ids(tx: Tx, ids: list[str]) -> list[dict[str, Any]]:
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return []
    marks = ",".join("?" * len(wanted))
    return [incident_dict(r) for r in tx.execute(f"SELECT * FROM incidents WHERE id IN ({marks})", wanted)]


def findings_timeseries(
    tx: Tx, now: float, bucket_s: float = 60.0, since: float | None = None
) -> dict[str, Any]:
    """Findings per detector per time bucket (observation time), zero-filled, for the dashboard chart."""
    bucket = max(1.0, float(bucket_s))
    start = float(since) if since is not None else now - 3600.0
    start = (start // bucket) * bucket
    floor = "FLOOR" if tx.dialect == "postgresql" else ""  # SQLite's CAST truncates; PostgreSQL's rounds
    rows = tx.execute(
        f"SELECT CAST({floor}((time - ?) / ?) AS INTEGER) AS b, detector, COUNT(*) AS n FROM findings "
        "WHERE time >= ? GROUP BY 1, 2",
        (start, bucket, start),
    )
    n = max(1, int((max(now, start) - start) // bucket) + 1)
    if rows:
        n = max(n, max(int(r["b"]) for r in rows) + 1)
    series: dict[str, list[int]] = {}
    for r in rows:
        series.setdefault(r["detector"], [0] * n)[int(r["b"])] = int(r["n"])
    return {
        "bucket_s": bucket,
        "since": start,
        "buckets": [start + i * bucket for i in range(n)],
        "series": series,
    }


def _by_status(tx: Tx) -> dict[str, int]:
    by_status = {s.value: 0 for s in Status}
    by_status.update(
        {
            r["status"]: int(r["n"])
            for r in tx.execute("SELECT status, COUNT(*) AS n FROM incidents GROUP BY status")
        }
    )
    return by_status


def counts(tx: Tx) -> dict[str, Any]:
    notifications = {s: 0 for s in OUTBOX_STATES}
    notifications.update(
        {
            r["status"]: int(r["n"])
            for r in tx.execute("SELECT status, COUNT(*) AS n FROM outbox GROUP BY status")
        }
    )
    findings = {
        r["detector"]: int(r["n"])
        for r in tx.execute("SELECT detector, COUNT(*) AS n FROM findings GROUP BY detector")
    }
    return {
        "incidents": _by_status(tx),
        "notifications": notifications,
        "dead_letters": notifications["dead"],
        "findings_by_detector": findings,
        "findings_total": sum(findings.values()),
    }


def counts_light(tx: Tx) -> dict[str, Any]:
    dead = tx.scalar("SELECT COUNT(*) AS n FROM outbox WHERE status='dead'")
    return {"incidents": _by_status(tx), "dead_letters": int(dead or 0)}


def open_incident_ids(tx: Tx) -> list[str]:
    return [
        r["id"] for r in tx.execute("SELECT id FROM incidents WHERE status IN ('triggered','acknowledged')")
    ]
