"""`CallStore`: recent model calls in one SQLite file (WAL) beside the other state, bounded by age and size.

Written by the detectors stage after the detectors judged a batch and before it commits its input, so a crash
replays the batch and the upsert (keyed by trace and span id) has no second effect. Content is kept only when
the app captured it, and masked again before it is written (`calls.redact`), so the store never holds what
the leakage detector masks in its evidence. Plain SQL with `?` placeholders and `ON CONFLICT`, so the table
moves to another database unchanged.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from watchkeeper.calls.config import CallsConfig
from watchkeeper.core.findings import Finding, Severity
from watchkeeper.core.records import ModelCall

log = logging.getLogger("watchkeeper.calls")

DB_NAME = "calls.sqlite3"
PRUNE_EVERY_S = 30.0
MAX_TEXT = 64_000  # characters kept per text field; a longer answer is cut (and marked) rather than refused

SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    trace_id TEXT NOT NULL, span_id TEXT NOT NULL, time REAL NOT NULL, duration_ms REAL NOT NULL,
    app TEXT NOT NULL, env TEXT NOT NULL, provider TEXT NOT NULL, operation TEXT NOT NULL,
    request_model TEXT NOT NULL, response_model TEXT NOT NULL, model TEXT NOT NULL,
    input_tokens INTEGER, output_tokens INTEGER, finish_reasons TEXT NOT NULL, error_type TEXT,
    conversation_id TEXT, system_sha256 TEXT, ttfc_ms REAL, content_captured INTEGER NOT NULL,
    prompt TEXT, output_text TEXT, system_instructions TEXT, input_messages TEXT, request_params TEXT,
    finding_ids TEXT NOT NULL, detectors TEXT NOT NULL, max_severity TEXT, finding_count INTEGER NOT NULL,
    bytes INTEGER NOT NULL, stored_at REAL NOT NULL,
    PRIMARY KEY (trace_id, span_id)
);
CREATE INDEX IF NOT EXISTS calls_by_time ON calls(time);
CREATE INDEX IF NOT EXISTS calls_by_app ON calls(app, time);
CREATE INDEX IF NOT EXISTS calls_by_prompt ON calls(system_sha256, time);
CREATE INDEX IF NOT EXISTS calls_with_findings ON calls(finding_count, time);
"""

COLUMNS = (
    "trace_id", "span_id", "time", "duration_ms", "app", "env", "provider", "operation", "request_model",
    "response_model", "model", "input_tokens", "output_tokens", "finish_reasons", "error_type",
    "conversation_id", "system_sha256", "ttfc_ms", "content_captured", "prompt", "output_text",
    "system_instructions", "input_messages", "request_params", "finding_ids", "detectors", "max_severity",
    "finding_count", "bytes", "stored_at",
)  # fmt: skip
_UPSERT = (
    f"INSERT INTO calls ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))}) "
    "ON CONFLICT (trace_id, span_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in COLUMNS if c not in ("trace_id", "span_id"))
)
_RANK = {s.value: s.rank for s in Severity}
PREVIEW = 240  # characters of prompt and answer a list row carries
#: What a list row carries: previews of the texts; the whole content is for the call page.
LIST_COLUMNS = tuple(
    f"substr({c}, 1, {PREVIEW}) AS {c}" if c in ("prompt", "output_text") else c
    for c in COLUMNS
    if c not in ("system_instructions", "input_messages", "request_params")
)


@dataclass
class CallQuery:
    """Filters of the calls explorer; every one optional, all must hold."""

    app: str | None = None
    env: str | None = None
    model: str | None = None
    provider: str | None = None
    since: float | None = None
    until: float | None = None
    finish_reason: str | None = None
    system_sha256: str | None = None  # a full hash or a prefix
    has_finding: bool | None = None
    detector: str | None = None
    error: bool | None = None
    conversation_id: str | None = None
    trace_id: str | None = None
    q: str | None = None  # free text in the prompt, the answer and the ids
    limit: int = 50
    offset: int = 0

    def where(self) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        args: list[Any] = []
        for column, value in (
            ("app", self.app),
            ("env", self.env),
            ("provider", self.provider),
            ("conversation_id", self.conversation_id),
            ("trace_id", self.trace_id),
        ):
            if value:
                clauses.append(f"{column} = ?")
                args.append(value)
        if self.model:
            clauses.append("(model = ? OR request_model = ? OR response_model = ?)")
            args.extend([self.model] * 3)
        if self.since is not None:
            clauses.append("time >= ?")
            args.append(self.since)
        if self.until is not None:
            clauses.append("time < ?")
            args.append(self.until)
        if self.finish_reason:
            clauses.append("(',' || finish_reasons || ',') LIKE ?")
            args.append(f"%,{_like(self.finish_reason)},%")
        if self.system_sha256:
            clauses.append("system_sha256 LIKE ? ESCAPE '\\'")
            args.append(_like(self.system_sha256.lower()) + "%")
        if self.has_finding is not None:
            clauses.append("finding_count > 0" if self.has_finding else "finding_count = 0")
        if self.detector:
            clauses.append("(',' || detectors || ',') LIKE ?")
            args.append(f"%,{_like(self.detector)},%")
        if self.error is not None:
            clauses.append("error_type IS NOT NULL" if self.error else "error_type IS NULL")
        if self.q:
            like = f"%{_like(self.q)}%"
            clauses.append(
                "(prompt LIKE ? ESCAPE '\\' OR output_text LIKE ? ESCAPE '\\' OR trace_id = ? OR "
                "conversation_id = ? OR system_sha256 LIKE ? ESCAPE '\\')"
            )
            args.extend([like, like, self.q.strip().lower(), self.q.strip(), _like(self.q.lower()) + "%"])
        return (f"WHERE {' AND '.join(clauses)}" if clauses else ""), args


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass
class _Prune:
    last: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


class CallStore:
    """Thread-safe: one connection per thread, writes serialized by SQLite (WAL: readers never wait)."""

    def __init__(
        self,
        state_dir: Path | str,
        cfg: CallsConfig | None = None,
        *,
        redact: Callable[[str], str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cfg = cfg if cfg is not None else CallsConfig()
        self.path = Path(state_dir) / DB_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.redact = redact if self.cfg.redact else None
        self.clock = clock
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        self._prune = _Prune()
        with self._conn() as db:
            db.executescript(SCHEMA)

    # -- connections -------------------------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
            with self._conns_lock:
                self._conns.append(conn)
        return conn

    def close(self) -> None:
        with self._conns_lock:
            for conn in self._conns:
                conn.close()
            self._conns.clear()
        self._local = threading.local()

    # -- writes ------------------------------------------------------------------------------------------
    def record(self, calls: Sequence[ModelCall], findings: Iterable[Finding] = ()) -> None:
        """Store a judged batch with the findings each call got; a replayed batch overwrites itself."""
        if not calls:
            return
        by_call: dict[tuple[str, str], list[Finding]] = {}
        for f in findings:
            key = (str(f.evidence.get("trace_id") or ""), str(f.evidence.get("span_id") or ""))
            by_call.setdefault(key, []).append(f)
        now = self.clock()
        rows = [self._row(c, by_call.get((c.trace_id, c.span_id), []), now) for c in calls]
        db = self._conn()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(_UPSERT, rows)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self.maybe_prune(now)

    def _text(self, value: str | None) -> str | None:
        if value is None or not self.cfg.store_content:
            return None
        text = self.redact(value) if self.redact is not None else value
        return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + " [cut: longer than 64,000 characters]"

    def _row(self, c: ModelCall, findings: list[Finding], now: float) -> tuple[Any, ...]:
        captured = bool(c.output_text or c.input_messages or c.system_instructions is not None)
        messages = [m.to_dict() for m in c.input_messages]
        if self.cfg.store_content and self.redact is not None:
            messages = [{"role": m["role"], "content": self.redact(m["content"])} for m in messages]
        prompt = self._text(c.prompt_text) if c.input_messages else None
        output = self._text(c.output_text) if c.output_text else None
        system = self._text(c.system_instructions)
        input_json = json.dumps(messages)[: MAX_TEXT * 4] if messages and self.cfg.store_content else None
        params = json.dumps(c.request_params, default=str) if c.request_params else None
        worst = max(findings, key=lambda f: _RANK.get(f.severity.value, 0), default=None)
        size = sum(len(x or "") for x in (prompt, output, system, input_json, params)) + 400
        return (
            c.trace_id,
            c.span_id,
            c.start_time_s,
            float(c.duration_ms),
            c.service,
            c.environment,
            c.provider,
            c.operation,
            c.request_model,
            c.response_model,
            c.model,
            c.input_tokens,
            c.output_tokens,
            ",".join(c.finish_reasons),
            c.error_type,
            c.conversation_id,
            c.system_instructions_sha256,
            c.time_to_first_chunk_ms,
            int(captured),
            prompt,
            output,
            system,
            input_json,
            params,
            json.dumps([f.id for f in findings]),
            ",".join(sorted({f.detector for f in findings})),
            worst.severity.value if worst is not None else None,
            len(findings),
            size,
            now,
        )

    def maybe_prune(self, now: float | None = None) -> int:
        """Prune at most every PRUNE_EVERY_S (the writer calls this after each batch)."""
        now = self.clock() if now is None else now
        with self._prune.lock:
            if now - self._prune.last < PRUNE_EVERY_S:
                return 0
            self._prune.last = now
        return self.prune(now)

    def prune(self, now: float | None = None) -> int:
        """Drop calls older than max_age, then the oldest until both max_calls and max_mb hold."""
        now = self.clock() if now is None else now
        db = self._conn()
        removed = db.execute("DELETE FROM calls WHERE time < ?", (now - self.cfg.max_age,)).rowcount
        count, size = db.execute("SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM calls").fetchone()
        budget = self.cfg.max_mb * 1_000_000
        if count > self.cfg.max_calls or size > budget:
            # The newest calls that fit both limits stay; everything older goes.
            cutoff = db.execute(
                "SELECT time FROM (SELECT time, "
                "SUM(bytes) OVER (ORDER BY time DESC, span_id DESC) AS running, "
                "ROW_NUMBER() OVER (ORDER BY time DESC, span_id DESC) AS n FROM calls) "
                "WHERE running > ? OR n > ? ORDER BY time DESC LIMIT 1",
                (budget, self.cfg.max_calls),
            ).fetchone()
            if cutoff is not None:
                removed += db.execute("DELETE FROM calls WHERE time <= ?", (cutoff[0],)).rowcount
        if removed:
            log.debug("calls store: pruned %d calls", removed)
        return removed

    # -- reads -------------------------------------------------------------------------------------------
    def list_calls(self, query: CallQuery) -> tuple[list[dict[str, Any]], int]:
        clause, args = query.where()
        db = self._conn()
        total = db.execute(f"SELECT COUNT(*) FROM calls {clause}", args).fetchone()[0]
        rows = db.execute(
            f"SELECT {', '.join(LIST_COLUMNS)} FROM calls {clause} "
            "ORDER BY time DESC, span_id LIMIT ? OFFSET ?",
            [*args, max(0, int(query.limit)), max(0, int(query.offset))],
        ).fetchall()
        return [call_dict(r) for r in rows], total

    def get_call(self, trace_id: str, span_id: str) -> dict[str, Any] | None:
        row = (
            self._conn()
            .execute(
                "SELECT * FROM calls WHERE trace_id = ? AND span_id = ?", (trace_id.lower(), span_id.lower())
            )
            .fetchone()
        )
        return call_dict(row, full=True) if row is not None else None

    def prompt_hashes(self, app: str, limit: int = 200) -> list[dict[str, Any]]:
        """The system-prompt hashes an app sent, with how often and when (newest first)."""
        rows = self._conn().execute(
            "SELECT system_sha256, COUNT(*), MIN(time), MAX(time) FROM calls WHERE app = ? AND "
            "system_sha256 IS NOT NULL GROUP BY system_sha256 ORDER BY MAX(time) DESC LIMIT ?",
            (app, limit),
        )
        return [{"sha256": r[0], "calls": r[1], "first_seen": r[2], "last_seen": r[3]} for r in rows]

    def series(
        self,
        since: float,
        until: float,
        fields: str = "time, app, model, duration_ms, input_tokens, output_tokens, error_type",
    ) -> list[sqlite3.Row]:
        """Raw rows of a time range for the overview's aggregates (bounded by retention)."""
        return (
            self._conn()
            .execute(f"SELECT {fields} FROM calls WHERE time >= ? AND time < ? ORDER BY time", (since, until))
            .fetchall()
        )

    def facets(self, limit: int = 200) -> dict[str, list[str]]:
        db = self._conn()
        out: dict[str, list[str]] = {}
        for column in ("app", "model", "env", "provider"):
            out[column] = [
                r[0]
                for r in db.execute(
                    f"SELECT {column} FROM calls GROUP BY {column} ORDER BY MAX(time) DESC LIMIT ?", (limit,)
                )
                if r[0]
            ]
        return out

    def counts(self) -> dict[str, Any]:
        count, size, oldest = (
            self._conn().execute("SELECT COUNT(*), COALESCE(SUM(bytes), 0), MIN(time) FROM calls").fetchone()
        )
        return {"calls": count, "bytes": size, "oldest_at": oldest}


def call_dict(row: sqlite3.Row, full: bool = False) -> dict[str, Any]:
    keys = row.keys()
    out: dict[str, Any] = {k: row[k] for k in keys if k not in ("finding_ids", "bytes", "stored_at")}
    out["id"] = f"{row['trace_id']}:{row['span_id']}"
    out["finish_reasons"] = [r for r in (row["finish_reasons"] or "").split(",") if r]
    out["detectors"] = [d for d in (row["detectors"] or "").split(",") if d]
    out["finding_ids"] = json.loads(row["finding_ids"] or "[]")
    out["content_captured"] = bool(row["content_captured"])
    if full:
        out["input_messages"] = json.loads(row["input_messages"]) if row["input_messages"] else []
        out["request_params"] = json.loads(row["request_params"]) if row["request_params"] else {}
    return out
