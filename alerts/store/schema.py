"""The alerts tables (component `alerts` of the shared store) and the status vocabularies stored in them.

Portable SQL for SQLite and PostgreSQL. One open incident per group is enforced by the database (a partial
unique index), so several alerts workers can never open two incidents for one group.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from watchkeeper.alerts.model import Status
from watchkeeper.core.store import Migration, Tx
from watchkeeper.core.store.migrations import adapt_types, split_statements

COMPONENT = "alerts"
LEGACY_DB_NAME = "alerts.sqlite3"  # the alerts stage's own file before the shared store

_V1 = """
CREATE TABLE incidents (
    id TEXT PRIMARY KEY, group_key TEXT NOT NULL, route TEXT NOT NULL, status TEXT NOT NULL,
    severity TEXT NOT NULL, title TEXT NOT NULL, summary TEXT NOT NULL, labels TEXT NOT NULL,
    annotations TEXT NOT NULL, app TEXT, detector TEXT, first_seen DOUBLE PRECISION NOT NULL,
    last_seen DOUBLE PRECISION NOT NULL, last_received_at DOUBLE PRECISION NOT NULL,
    finding_count INTEGER NOT NULL, severity_counts TEXT NOT NULL, acknowledged_by TEXT,
    acknowledged_at DOUBLE PRECISION, resolved_at DOUBLE PRECISION, resolved_by TEXT, comment TEXT,
    created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX incidents_by_status ON incidents(status, last_seen);
CREATE INDEX incidents_by_seen ON incidents(last_seen);
CREATE UNIQUE INDEX incidents_open_group ON incidents(group_key)
    WHERE status IN ('triggered', 'acknowledged');
CREATE TABLE findings (
    id TEXT PRIMARY KEY, incident_id TEXT NOT NULL, detector TEXT NOT NULL, category TEXT NOT NULL,
    severity TEXT NOT NULL, app TEXT, time DOUBLE PRECISION NOT NULL, received_at DOUBLE PRECISION NOT NULL,
    summary TEXT NOT NULL, data TEXT NOT NULL
);
CREATE INDEX findings_by_incident ON findings(incident_id, time);
CREATE INDEX findings_by_time ON findings(time);
CREATE INDEX findings_by_received ON findings(received_at);
CREATE TABLE targets (
    incident_id TEXT NOT NULL, receiver TEXT NOT NULL, route TEXT NOT NULL,
    group_wait DOUBLE PRECISION NOT NULL, group_interval DOUBLE PRECISION NOT NULL,
    repeat_interval DOUBLE PRECISION NOT NULL, send_resolved INTEGER NOT NULL,
    next_flush_at DOUBLE PRECISION, last_notified_at DOUBLE PRECISION,
    notified_count INTEGER NOT NULL DEFAULT 0, announced INTEGER NOT NULL DEFAULT 0,
    seq INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (incident_id, receiver)
);
CREATE INDEX targets_due ON targets(next_flush_at) WHERE next_flush_at IS NOT NULL;
CREATE TABLE outbox (
    rowid BIGINTPK, id TEXT NOT NULL UNIQUE, incident_id TEXT NOT NULL,
    receiver TEXT NOT NULL, channel_idx INTEGER NOT NULL, channel TEXT NOT NULL, seq INTEGER NOT NULL,
    event TEXT NOT NULL, is_repeat INTEGER NOT NULL DEFAULT 0, payload TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at DOUBLE PRECISION NOT NULL, last_error TEXT, last_status INTEGER, reason TEXT,
    sent_at DOUBLE PRECISION, updated_at DOUBLE PRECISION NOT NULL,
    claimed_by TEXT, claim_expires_at DOUBLE PRECISION, retry_from DOUBLE PRECISION
);
CREATE INDEX outbox_due ON outbox(status, next_attempt_at);
CREATE INDEX outbox_order ON outbox(incident_id, receiver, channel_idx, seq);
CREATE TABLE silences (
    id TEXT PRIMARY KEY, matchers TEXT NOT NULL, starts_at DOUBLE PRECISION NOT NULL,
    ends_at DOUBLE PRECISION NOT NULL, created_by TEXT NOT NULL, comment TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE activity (
    id TEXT PRIMARY KEY, incident_id TEXT NOT NULL, time DOUBLE PRECISION NOT NULL, kind TEXT NOT NULL,
    actor TEXT NOT NULL, verified INTEGER NOT NULL, comment TEXT NOT NULL, data TEXT NOT NULL
);
CREATE INDEX activity_by_incident ON activity(incident_id, time);
CREATE TABLE feedback (
    id TEXT PRIMARY KEY, target_kind TEXT NOT NULL, target_id TEXT NOT NULL, incident_id TEXT NOT NULL,
    verdict TEXT NOT NULL, comment TEXT NOT NULL, actor TEXT NOT NULL, verified INTEGER NOT NULL,
    time DOUBLE PRECISION NOT NULL, app TEXT NOT NULL, detector TEXT NOT NULL, category TEXT NOT NULL,
    finding_ids TEXT NOT NULL, fingerprints TEXT NOT NULL, suppress_until DOUBLE PRECISION
);
CREATE INDEX feedback_by_time ON feedback(time);
CREATE INDEX feedback_by_incident ON feedback(incident_id);
CREATE TABLE feedback_items (
    feedback_id TEXT NOT NULL, finding_id TEXT NOT NULL, call_time DOUBLE PRECISION NOT NULL,
    text TEXT NOT NULL, prompt TEXT, text_source TEXT NOT NULL, trace_id TEXT, span_id TEXT, model TEXT,
    env TEXT, PRIMARY KEY (feedback_id, finding_id)
);
CREATE TABLE suppressions (
    app TEXT NOT NULL, detector TEXT NOT NULL, category TEXT NOT NULL, fingerprint TEXT NOT NULL,
    feedback_id TEXT NOT NULL, until DOUBLE PRECISION NOT NULL, suppressed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (app, detector, category, fingerprint)
);
CREATE TABLE suppressed_findings (
    finding_id TEXT PRIMARY KEY, feedback_id TEXT NOT NULL, time DOUBLE PRECISION NOT NULL
);
"""

_IMPORTED = (
    "incidents",
    "findings",
    "targets",
    "outbox",
    "silences",
    "activity",
    "feedback",
    "feedback_items",
    "suppressions",
    "suppressed_findings",
)


def _v1(legacy_dir: Path | None) -> Callable[[Tx, str], None]:
    def apply(tx: Tx, dialect: str) -> None:
        for statement in split_statements(adapt_types(_V1, dialect)):
            tx.execute(statement)
        if legacy_dir is not None and (legacy_dir / LEGACY_DB_NAME).is_file():
            import_legacy(tx, legacy_dir / LEGACY_DB_NAME)

    return apply


def import_legacy(tx: Tx, path: Path) -> None:
    """Upgrade path: the alerts stage's own SQLite file (before the shared store) is copied in once, as is."""
    src = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        for table in _IMPORTED:
            cols = [r[1] for r in src.execute(f"PRAGMA table_info({table})")]
            if not cols:
                continue
            names = ", ".join(cols)
            marks = ", ".join("?" * len(cols))
            rows = src.execute(f"SELECT {names} FROM {table}")
            while chunk := rows.fetchmany(1000):
                tx.executemany(
                    f"INSERT INTO {table} ({names}) VALUES ({marks}) ON CONFLICT DO NOTHING", chunk
                )
    finally:
        src.close()


def migrations(legacy_dir: Path | None = None) -> list[Migration]:
    """The alerts schema history; `legacy_dir` is where an older release kept alerts.sqlite3 (imported
    once)."""
    return [
        Migration(
            1,
            "incidents, findings, targets, outbox with claims, silences, activity, feedback, suppressions",
            _v1(legacy_dir),
        )
    ]


#: Why an ack/resolve was not sent: the receiver never got the trigger (so it has nothing to resolve).
NEVER_TOLD = "the receiver was never told about this incident"

OPEN_STATUSES = (Status.triggered.value, Status.acknowledged.value)
#: Outbox row states. pending: to send (also while claimed by a worker: a crash resends it after the lease);
#: sent; dead (dead letter); suppressed (silenced, inhibited or never announced); superseded (a later message
#: already went out).
OUTBOX_STATES = ("pending", "sent", "dead", "suppressed", "superseded")
