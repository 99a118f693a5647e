"""IncidentStore: the durable state of the alerts stage in one SQLite file (WAL), safe from several threads.

It holds findings (deduplicated by id), incidents, per-receiver group timers ("targets"), silences and the
outbox. Every change that implies a notification writes the outbox row in the same transaction, so a crash
can delay a notification but never lose it. The dashboard and the API read through the same object and get
plain JSON-ready dicts.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alerts.clock import Clock, SystemClock
from alerts.config import AlertsConfig
from alerts.incidents import (
    SEVERITY_RANK,
    OpenIncident,
    Target,
    flush_decision,
    incident_id,
    next_flush,
    routing_labels,
)
from alerts.inhibition import Inhibitor
from alerts.model import Event, Status
from alerts.routing import Route, Router
from alerts.silences import STATES, Silence, validate_silence
from detectors.base import Finding
from watchkeeper import metrics

DB_NAME = "alerts.sqlite3"
_SNAPSHOT_SAMPLES = 5  # findings embedded in each notification (the full list lives in the dashboard)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS incidents (
    id TEXT PRIMARY KEY, group_key TEXT NOT NULL, route TEXT NOT NULL, status TEXT NOT NULL,
    severity TEXT NOT NULL, title TEXT NOT NULL, summary TEXT NOT NULL, labels TEXT NOT NULL,
    annotations TEXT NOT NULL, app TEXT, detector TEXT, first_seen REAL NOT NULL, last_seen REAL NOT NULL,
    last_received_at REAL NOT NULL, finding_count INTEGER NOT NULL, severity_counts TEXT NOT NULL,
    acknowledged_by TEXT, acknowledged_at REAL, resolved_at REAL, resolved_by TEXT, comment TEXT,
    created_at REAL NOT NULL, updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS incidents_by_status ON incidents(status, last_seen);
CREATE INDEX IF NOT EXISTS incidents_by_seen ON incidents(last_seen);
CREATE TABLE IF NOT EXISTS findings (
    id TEXT PRIMARY KEY, incident_id TEXT NOT NULL, detector TEXT NOT NULL, category TEXT NOT NULL,
    severity TEXT NOT NULL, app TEXT, time REAL NOT NULL, received_at REAL NOT NULL, summary TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS findings_by_incident ON findings(incident_id, time);
CREATE INDEX IF NOT EXISTS findings_by_time ON findings(time);
CREATE INDEX IF NOT EXISTS findings_by_received ON findings(received_at);
CREATE TABLE IF NOT EXISTS targets (
    incident_id TEXT NOT NULL, receiver TEXT NOT NULL, route TEXT NOT NULL, group_wait REAL NOT NULL,
    group_interval REAL NOT NULL, repeat_interval REAL NOT NULL, send_resolved INTEGER NOT NULL,
    next_flush_at REAL, last_notified_at REAL, notified_count INTEGER NOT NULL DEFAULT 0,
    announced INTEGER NOT NULL DEFAULT 0, seq INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (incident_id, receiver)
);
CREATE INDEX IF NOT EXISTS targets_due ON targets(next_flush_at) WHERE next_flush_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS outbox (
    rowid INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, incident_id TEXT NOT NULL,
    receiver TEXT NOT NULL, channel_idx INTEGER NOT NULL, channel TEXT NOT NULL, seq INTEGER NOT NULL,
    event TEXT NOT NULL, is_repeat INTEGER NOT NULL DEFAULT 0, payload TEXT NOT NULL,
    created_at REAL NOT NULL,
    status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at REAL NOT NULL,
    last_error TEXT, last_status INTEGER, reason TEXT, sent_at REAL, updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox(status, next_attempt_at);
CREATE INDEX IF NOT EXISTS outbox_order ON outbox(incident_id, receiver, channel_idx, seq);
CREATE TABLE IF NOT EXISTS silences (
    id TEXT PRIMARY KEY, matchers TEXT NOT NULL, starts_at REAL NOT NULL, ends_at REAL NOT NULL,
    created_by TEXT NOT NULL, comment TEXT NOT NULL, created_at REAL NOT NULL, updated_at REAL NOT NULL
);
"""

OPEN_STATUSES = (Status.triggered.value, Status.acknowledged.value)
#: Outbox row states. pending: to send (also while in flight: a crash resends it); sent; dead (dead letter);
#: suppressed (silenced, inhibited or never announced); superseded (a later message already went out).
OUTBOX_STATES = ("pending", "sent", "dead", "suppressed", "superseded")


class StoreError(ValueError):
    """A request the store refuses (unknown id, invalid transition, bad input); str() says why."""


class NotFound(StoreError, KeyError):
    """No such incident, silence or dead letter (a KeyError too, for callers that map lookups to 404)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "not found"


class InvalidTransition(StoreError):
    """The incident is not in a state that allows the requested change."""


@dataclass(slots=True)
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    incidents_created: int = 0


@dataclass(slots=True)
class OutboxRow:
    rowid: int
    id: str
    incident_id: str
    receiver: str
    channel_idx: int
    channel: str
    seq: int
    event: str
    is_repeat: bool
    payload: str
    created_at: float
    attempts: int

    @property
    def order_key(self) -> tuple[str, str, int]:
        return (self.incident_id, self.receiver, self.channel_idx)


def _timestamp(value: Any, key: str) -> float:
    """Unix seconds from a number, a numeric string or an ISO 8601 string (naive means UTC)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            return parsed.timestamp()
    raise StoreError(f"{key}: {value!r} is not a time; use unix seconds or ISO 8601 (2025-01-31T18:00:00Z)")


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


class IncidentStore:
    """All alerts state. `channel_kinds` maps receiver -> channel kinds, for the rows a flush must write."""

    def __init__(
        self,
        state_dir: Path | str,
        cfg: AlertsConfig | None = None,
        *,
        clock: Clock | None = None,
        channel_kinds: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.cfg = cfg if cfg is not None else AlertsConfig()
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.path = Path(state_dir) / DB_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.router = Router(self.cfg.route)
        self.inhibitor = Inhibitor(self.cfg.inhibit_rules)
        self.channel_kinds: dict[str, list[str]] = {k: list(v) for k, v in (channel_kinds or {}).items()}
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        self._lock = threading.RLock()  # one writer at a time; also guards the open-incident cache
        with self._conn() as db:
            db.executescript(_SCHEMA)
        self._open: dict[str, OpenIncident] = {}  # group_key -> open incident
        self._open_by_id: dict[str, OpenIncident] = {}
        self._silences_cache: tuple[float, list[Silence]] | None = None
        self._load_open()
        self.refresh_gauges()

    # ------------------------------------------------------------------ connections
    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL survives a killed process
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
            with self._conns_lock:
                self._conns.append(conn)
        return conn

    def close(self) -> None:
        with self._conns_lock:
            for conn in self._conns:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
            self._conns.clear()
        self._local = threading.local()

    class _Tx:
        def __init__(self, db: sqlite3.Connection) -> None:
            self.db = db

        def __enter__(self) -> sqlite3.Connection:
            self.db.execute("BEGIN IMMEDIATE")
            return self.db

        def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
            if exc_type is None:
                self.db.execute("COMMIT")
            elif self.db.in_transaction:  # SQLite may already have rolled back (disk full, I/O error)
                self.db.execute("ROLLBACK")

    def _tx(self) -> IncidentStore._Tx:
        return IncidentStore._Tx(self._conn())

    # ------------------------------------------------------------------ loading
    def _load_open(self) -> None:
        rows = (
            self._conn().execute("SELECT * FROM incidents WHERE status IN (?, ?)", OPEN_STATUSES).fetchall()
        )
        for row in rows:
            inc = OpenIncident(
                id=row["id"],
                group_key=row["group_key"],
                route=row["route"],
                status=Status(row["status"]),
                severity=row["severity"],
                title=row["title"],
                summary=row["summary"],
                labels=json.loads(row["labels"]),
                annotations=json.loads(row["annotations"]),
                first_seen=row["first_seen"],
                last_seen=row["last_seen"],
                last_received_at=row["last_received_at"],
                finding_count=row["finding_count"],
                severity_counts=json.loads(row["severity_counts"]),
                acknowledged_by=row["acknowledged_by"],
                acknowledged_at=row["acknowledged_at"],
                created_at=row["created_at"],
            )
            self._open[inc.group_key] = inc
            self._open_by_id[inc.id] = inc

    # ------------------------------------------------------------------ ingest
    def ingest(self, findings: Sequence[Finding]) -> IngestResult:
        """Store findings and fold them into incidents in one transaction; replays have no second effect."""
        result = IngestResult()
        if not findings:
            return result
        with self._lock:
            now = self.clock.now()
            unique: dict[str, Finding] = {}
            for f in findings:
                unique.setdefault(f.id, f)
            result.duplicates = len(findings) - len(unique)
            known = self._existing_finding_ids(list(unique))
            result.duplicates += len(known)
            touched: dict[str, OpenIncident] = {}
            created: list[tuple[OpenIncident, list[Route]]] = []
            finding_rows: list[tuple[Any, ...]] = []
            for f in unique.values():
                if f.id in known:
                    continue
                labels = routing_labels(f)
                routes = self.router.match(labels)
                primary = routes[0]
                group_key = primary.group_key(labels)
                inc = self._open.get(group_key)
                if inc is None:
                    inc = OpenIncident.start(
                        incident=self._new_incident_id(group_key, f.time),
                        group_key=group_key,
                        route=primary.path,
                        finding=f,
                        labels=labels,
                        annotations=primary.annotations,
                        now=now,
                    )
                    self._open[group_key] = inc
                    self._open_by_id[inc.id] = inc
                    created.append((inc, routes))
                else:
                    inc.add(f, labels, now)
                touched[inc.id] = inc
                finding_rows.append(
                    (
                        f.id,
                        inc.id,
                        f.detector,
                        f.category,
                        f.severity.value,
                        f.labels.get("app"),
                        f.time,
                        now,
                        f.summary,
                        f.to_json().decode(),
                    )
                )
            result.accepted = len(finding_rows)
            result.incidents_created = len(created)
            if not finding_rows:
                return result
            try:
                with self._tx() as db:
                    db.executemany(
                        "INSERT OR IGNORE INTO findings VALUES (?,?,?,?,?,?,?,?,?,?)", finding_rows
                    )
                    new_ids = {inc.id for inc, _ in created}
                    db.executemany(
                        "INSERT INTO incidents VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                        [self._incident_row(inc, now) for inc in touched.values() if inc.id in new_ids],
                    )
                    db.executemany(
                        "UPDATE incidents SET severity=?, summary=?, labels=?, annotations=?, first_seen=?, "
                        "last_seen=?, last_received_at=?, finding_count=?, severity_counts=?, updated_at=? "
                        "WHERE id=?",
                        [
                            (
                                i.severity,
                                i.summary,
                                _dumps(i.labels),
                                _dumps(i.annotations),
                                i.first_seen,
                                i.last_seen,
                                i.last_received_at,
                                i.finding_count,
                                _dumps(i.severity_counts),
                                now,
                                i.id,
                            )
                            for i in touched.values()
                            if i.id not in new_ids
                        ],
                    )
                    target_rows = []
                    for inc, routes in created:
                        seen: set[str] = set()
                        for route in routes:
                            if route.receiver in seen:
                                continue
                            seen.add(route.receiver)
                            target_rows.append(
                                (
                                    inc.id,
                                    route.receiver,
                                    route.path,
                                    route.group_wait,
                                    route.group_interval,
                                    route.repeat_interval,
                                    int(route.send_resolved),
                                    now + route.group_wait,
                                )
                            )
                    db.executemany(
                        "INSERT OR IGNORE INTO targets (incident_id, receiver, route, group_wait, "
                        "group_interval, "
                        "repeat_interval, send_resolved, next_flush_at) VALUES (?,?,?,?,?,?,?,?)",
                        target_rows,
                    )
            except BaseException:
                # The cache ran ahead of the database: rebuild it from the committed state.
                self._open.clear()
                self._open_by_id.clear()
                self._load_open()
                raise
        if created:
            self.refresh_gauges()
        return result

    def _existing_finding_ids(self, ids: list[str]) -> set[str]:
        found: set[str] = set()
        db = self._conn()
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            found.update(r[0] for r in db.execute(f"SELECT id FROM findings WHERE id IN ({marks})", chunk))
        return found

    def _new_incident_id(self, group_key: str, first_seen: float) -> str:
        db = self._conn()
        salt = 0
        while True:
            candidate = incident_id(group_key, first_seen, salt)
            if db.execute("SELECT 1 FROM incidents WHERE id=?", (candidate,)).fetchone() is None:
                return candidate
            salt += 1

    @staticmethod
    def _incident_row(inc: OpenIncident, now: float) -> tuple[Any, ...]:
        return (
            inc.id,
            inc.group_key,
            inc.route,
            inc.status.value,
            inc.severity,
            inc.title,
            inc.summary,
            _dumps(inc.labels),
            _dumps(inc.annotations),
            inc.labels.get("app"),
            inc.labels.get("detector"),
            inc.first_seen,
            inc.last_seen,
            inc.last_received_at,
            inc.finding_count,
            _dumps(inc.severity_counts),
            inc.acknowledged_by,
            inc.acknowledged_at,
            None,
            None,
            None,
            inc.created_at or now,
            now,
        )

    # ------------------------------------------------------------------ scheduling
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
                        target = self._target(row)
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
                            self._enqueue(tx, target, inc, event, now, repeat=repeat)
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

    @staticmethod
    def _target(row: sqlite3.Row) -> Target:
        return Target(
            incident_id=row["incident_id"],
            receiver=row["receiver"],
            route=row["route"],
            group_wait=row["group_wait"],
            group_interval=row["group_interval"],
            repeat_interval=row["repeat_interval"],
            send_resolved=bool(row["send_resolved"]),
            next_flush_at=row["next_flush_at"],
            last_notified_at=row["last_notified_at"],
            notified_count=row["notified_count"],
            announced=bool(row["announced"]),
            seq=row["seq"],
        )

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
        payload = _dumps(self._snapshot(db, inc, status=status or inc.status, resolved_at=resolved_at))
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

    # ------------------------------------------------------------------ lifecycle
    def acknowledge(self, incident: str, by: str, comment: str = "") -> dict[str, Any]:
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
        self.refresh_gauges()
        return self.get_incident(incident) or {}

    def resolve(self, incident: str, by: str, comment: str = "") -> dict[str, Any]:
        with self._lock:
            inc = self._open_by_id.get(incident)
            if inc is None:
                self._raise_unknown_or_closed(incident, "resolve")
            assert inc is not None
            self._resolve(inc, by=by, comment=comment, now=self.clock.now())
        return self.get_incident(incident) or {}

    def _raise_unknown_or_closed(self, incident: str, action: str) -> None:
        row = self._conn().execute("SELECT status FROM incidents WHERE id=?", (incident,)).fetchone()
        if row is None:
            raise NotFound(f"no incident with id {incident!r}")
        raise InvalidTransition(
            f"cannot {action} incident {incident}: it is {row['status']} "
            "(a resolved incident is never reopened; a new finding starts a new incident)"
        )

    def _resolve(self, inc: OpenIncident, *, by: str, comment: str, now: float) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE incidents SET status=?, resolved_at=?, resolved_by=?, comment=?, updated_at=? "
                "WHERE id=?",
                (Status.resolved.value, now, by, comment, now, inc.id),
            )
            self._announce_change(db, inc, Event.resolve, now, status=Status.resolved, resolved_at=now)
            db.execute("UPDATE targets SET next_flush_at=NULL WHERE incident_id=?", (inc.id,))
        inc.status = Status.resolved
        self._open.pop(inc.group_key, None)
        self._open_by_id.pop(inc.id, None)
        self.refresh_gauges()

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
            target = self._target(row)
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

    # ------------------------------------------------------------------ outbox (used by the dispatcher)
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
        announced = db.execute(
            "SELECT 1 FROM outbox WHERE incident_id=? AND receiver=? AND channel_idx=? AND seq<? "
            "AND event='trigger' AND status IN ('sent','dead') LIMIT 1",
            (*key, row.seq),
        ).fetchone()
        if announced is None:
            return "suppressed", "the receiver was never told about this incident"
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
        self.refresh_gauges()

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

    # ------------------------------------------------------------------ dead letters
    def list_dead_letters(self, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        rows = (
            self._conn()
            .execute(
                "SELECT * FROM outbox WHERE status='dead' ORDER BY updated_at DESC LIMIT ? OFFSET ?",
                (limit, offset),
            )
            .fetchall()
        )
        return [self._notification_dict(r) for r in rows]

    def replay_dead_letter(self, notification_id: str) -> dict[str, Any]:
        """Queue a dead letter again; refused (marked superseded) if a later message already went out."""
        now = self.clock.now()
        with self._lock, self._tx() as db:
            row = db.execute("SELECT * FROM outbox WHERE id=?", (notification_id,)).fetchone()
            if row is None or row["status"] != "dead":
                raise NotFound(f"no dead letter with id {notification_id!r}")
            later = db.execute(
                "SELECT 1 FROM outbox WHERE incident_id=? AND receiver=? AND channel_idx=? AND seq>? "
                "AND status='sent' LIMIT 1",
                (row["incident_id"], row["receiver"], row["channel_idx"], row["seq"]),
            ).fetchone()
            if later is not None:
                db.execute(
                    "UPDATE outbox SET status='superseded', reason=?, updated_at=? WHERE rowid=?",
                    (
                        "not replayed: a later notification for this incident was already delivered",
                        now,
                        row["rowid"],
                    ),
                )
            else:
                db.execute(
                    "UPDATE outbox SET status='pending', attempts=0, next_attempt_at=?, reason=NULL, "
                    "updated_at=? WHERE rowid=?",
                    (now, now, row["rowid"]),
                )
            out = db.execute("SELECT * FROM outbox WHERE rowid=?", (row["rowid"],)).fetchone()
        self.refresh_gauges()
        return self._notification_dict(out)

    @staticmethod
    def _notification_dict(r: sqlite3.Row) -> dict[str, Any]:
        return {
            "id": r["id"],
            "incident_id": r["incident_id"],
            "receiver": r["receiver"],
            "channel": r["channel"],
            "channel_index": r["channel_idx"],
            "event": r["event"],
            "repeat": bool(r["is_repeat"]),
            "sequence": r["seq"],
            "status": r["status"],
            "attempts": r["attempts"],
            "next_attempt_at": r["next_attempt_at"] if r["status"] == "pending" else None,
            "last_error": r["last_error"],
            "last_status": r["last_status"],
            "reason": r["reason"],
            "created_at": r["created_at"],
            "sent_at": r["sent_at"],
            "updated_at": r["updated_at"],
        }

    # ------------------------------------------------------------------ silences
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
        start = now if starts_at in (None, "") else _timestamp(starts_at, "starts_at")
        if ends_at in (None, ""):
            raise StoreError("ends_at is required (unix seconds or ISO 8601): when should the silence end?")
        end = _timestamp(ends_at, "ends_at")
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
        from alerts.matchers import parse_matchers

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

    # ------------------------------------------------------------------ reads for the API
    def list_incidents(
        self,
        status: str | None = None,
        severity: str | None = None,
        app: str | None = None,
        detector: str | None = None,
        q: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[dict[str, Any]], int]:
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
            f"SELECT * FROM incidents {clause} ORDER BY last_seen DESC, id LIMIT ? OFFSET ?",
            [*args, max(0, int(limit)), max(0, int(offset))],
        ).fetchall()
        return [self._incident_dict(r) for r in rows], total

    @staticmethod
    def _incident_dict(r: sqlite3.Row) -> dict[str, Any]:
        return {
            "id": r["id"],
            "group_key": r["group_key"],
            "route": r["route"],
            "status": r["status"],
            "severity": r["severity"],
            "title": r["title"],
            "summary": r["summary"],
            "labels": json.loads(r["labels"]),
            "annotations": json.loads(r["annotations"]),
            "runbook_url": json.loads(r["annotations"]).get("runbook_url"),
            "first_seen": r["first_seen"],
            "last_seen": r["last_seen"],
            "finding_count": r["finding_count"],
            "severity_counts": json.loads(r["severity_counts"]),
            "acknowledged_by": r["acknowledged_by"],
            "acknowledged_at": r["acknowledged_at"],
            "resolved_at": r["resolved_at"],
            "resolved_by": r["resolved_by"],
            "comment": r["comment"],
            "created_at": r["created_at"],
            "updated_at": r["updated_at"],
        }

    def get_incident(self, incident: str) -> dict[str, Any] | None:
        db = self._conn()
        row = db.execute("SELECT * FROM incidents WHERE id=?", (incident,)).fetchone()
        if row is None:
            return None
        out = self._incident_dict(row)
        out["findings"] = [
            self._finding_dict(r)
            for r in db.execute(
                "SELECT * FROM findings WHERE incident_id=? ORDER BY time DESC, id LIMIT ?",
                (incident, self.cfg.max_samples),
            )
        ]
        out["notifications"] = [
            self._notification_dict(r)
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

    @staticmethod
    def _finding_dict(r: sqlite3.Row) -> dict[str, Any]:
        data = json.loads(r["data"])
        data["incident_id"] = r["incident_id"]
        data["received_at"] = r["received_at"]
        return data

    def list_findings(
        self,
        limit: int = 50,
        offset: int = 0,
        incident_id: str | None = None,
        detector: str | None = None,
        since: float | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        where, args = [], []
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
        db = self._conn()
        total = db.execute(f"SELECT COUNT(*) FROM findings {clause}", args).fetchone()[0]
        rows = db.execute(
            f"SELECT * FROM findings {clause} ORDER BY time DESC, id LIMIT ? OFFSET ?",
            [*args, max(0, int(limit)), max(0, int(offset))],
        ).fetchall()
        return [self._finding_dict(r) for r in rows], total

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

    # ------------------------------------------------------------------ housekeeping
    def prune(self) -> int:
        """Drop findings and finished outbox rows older than the retention; keeps the file bounded."""
        cutoff = self.clock.now() - self.cfg.findings_retention_hours * 3600.0
        with self._lock, self._tx() as db:
            n = db.execute(
                "DELETE FROM findings WHERE received_at < ? AND incident_id NOT IN "
                "(SELECT id FROM incidents WHERE status != 'resolved')",
                (cutoff,),
            ).rowcount
            n += db.execute(
                "DELETE FROM outbox WHERE status IN ('sent','suppressed','superseded') AND updated_at < ?",
                (cutoff,),
            ).rowcount
        return n

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


def severity_at_least(severity: str, floor: str) -> bool:
    return SEVERITY_RANK.get(severity, 0) >= SEVERITY_RANK.get(floor, 0)
