"""The SQLite schema and the status vocabularies stored in it (one file, WAL; see `database`)."""

from __future__ import annotations

from watchkeeper.alerts.model import Status

DB_NAME = "alerts.sqlite3"

SCHEMA = """
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
    last_error TEXT, last_status INTEGER, reason TEXT, sent_at REAL, updated_at REAL NOT NULL,
    retry_from REAL
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox(status, next_attempt_at);
CREATE INDEX IF NOT EXISTS outbox_order ON outbox(incident_id, receiver, channel_idx, seq);
CREATE TABLE IF NOT EXISTS activity (
    id TEXT PRIMARY KEY, incident_id TEXT NOT NULL, time REAL NOT NULL, kind TEXT NOT NULL,
    actor TEXT NOT NULL, verified INTEGER NOT NULL, comment TEXT NOT NULL, data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS activity_by_incident ON activity(incident_id, time);
CREATE TABLE IF NOT EXISTS feedback (
    id TEXT PRIMARY KEY, target_kind TEXT NOT NULL, target_id TEXT NOT NULL, incident_id TEXT NOT NULL,
    verdict TEXT NOT NULL, comment TEXT NOT NULL, actor TEXT NOT NULL, verified INTEGER NOT NULL,
    time REAL NOT NULL, app TEXT NOT NULL, detector TEXT NOT NULL, category TEXT NOT NULL,
    finding_ids TEXT NOT NULL, fingerprints TEXT NOT NULL, suppress_until REAL
);
CREATE INDEX IF NOT EXISTS feedback_by_time ON feedback(time);
CREATE INDEX IF NOT EXISTS feedback_by_incident ON feedback(incident_id);
CREATE TABLE IF NOT EXISTS feedback_items (
    feedback_id TEXT NOT NULL, finding_id TEXT NOT NULL, call_time REAL NOT NULL, text TEXT NOT NULL,
    prompt TEXT, text_source TEXT NOT NULL, trace_id TEXT, span_id TEXT, model TEXT, env TEXT,
    PRIMARY KEY (feedback_id, finding_id)
);
CREATE TABLE IF NOT EXISTS suppressions (
    app TEXT NOT NULL, detector TEXT NOT NULL, category TEXT NOT NULL, fingerprint TEXT NOT NULL,
    feedback_id TEXT NOT NULL, until REAL NOT NULL, suppressed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (app, detector, category, fingerprint)
);
CREATE TABLE IF NOT EXISTS suppressed_findings (
    finding_id TEXT PRIMARY KEY, feedback_id TEXT NOT NULL, time REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS silences (
    id TEXT PRIMARY KEY, matchers TEXT NOT NULL, starts_at REAL NOT NULL, ends_at REAL NOT NULL,
    created_by TEXT NOT NULL, comment TEXT NOT NULL, created_at REAL NOT NULL, updated_at REAL NOT NULL
);
"""

#: Columns added after a table first shipped: (table, column, declaration), added when missing at open.
ADDED_COLUMNS = (("outbox", "retry_from", "REAL"),)

#: Why an ack/resolve was not sent: the receiver never got the trigger (so it has nothing to resolve).
NEVER_TOLD = "the receiver was never told about this incident"

OPEN_STATUSES = (Status.triggered.value, Status.acknowledged.value)
#: Outbox row states. pending: to send (also while in flight: a crash resends it); sent; dead (dead letter);
#: suppressed (silenced, inhibited or never announced); superseded (a later message already went out).
OUTBOX_STATES = ("pending", "sent", "dead", "suppressed", "superseded")
