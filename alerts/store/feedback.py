"""Feedback: verdicts on findings and incidents, the suppressions a false positive sets, and their metrics.

A verdict is one row; a false positive also writes one suppression per distinct near-duplicate key of its
findings (see `alerts.feedback`) and resolves the incident, all in one transaction with the activity row.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from watchkeeper.alerts.feedback import fingerprint, validate_verdict
from watchkeeper.alerts.store import incidents as incidents_table
from watchkeeper.alerts.store.activity import ActivityMixin
from watchkeeper.alerts.store.errors import NotFound, StoreError
from watchkeeper.alerts.store.rows import finding_dict
from watchkeeper.core import metrics
from watchkeeper.core.findings import Finding
from watchkeeper.core.store import Tx

MAX_FINDINGS_PER_VERDICT = 2000  # an incident's findings fingerprinted by one verdict
SUPPRESSION_CACHE_S = 2.0


class FeedbackMixin(ActivityMixin):
    _suppression_cache: tuple[float, dict[tuple[str, str, str], dict[str, tuple[str, float]]]] | None = None

    # -- verdicts ----------------------------------------------------------------------------------------
    def findings_of(self, target_kind: str, target_id: str) -> list[dict[str, Any]]:
        """The findings a verdict on this target judges: the finding, or the incident's (newest first)."""
        with self.db.read() as db:
            if target_kind == "finding":
                row = db.one("SELECT * FROM findings WHERE id=?", (target_id,))
                if row is None:
                    raise NotFound(f"no finding with id {target_id!r}")
                return [finding_dict(row)]
            if target_kind != "incident":
                raise StoreError(f"feedback targets a finding or an incident, not {target_kind!r}")
            if db.one("SELECT 1 AS x FROM incidents WHERE id=?", (target_id,)) is None:
                raise NotFound(f"no incident with id {target_id!r}")
            return [
                finding_dict(r)
                for r in db.execute(
                    "SELECT * FROM findings WHERE incident_id=? ORDER BY time DESC LIMIT ?",
                    (target_id, MAX_FINDINGS_PER_VERDICT),
                )
            ]

    def add_feedback(
        self,
        target_kind: str,
        target_id: str,
        verdict: str,
        *,
        actor: str,
        comment: str = "",
        verified: bool = False,
        samples: dict[str, dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Record a verdict on a finding or an incident; a false positive resolves the incident and mutes
        its near-duplicates for `alerts.feedback.suppress_for`.

        `samples` (finding id -> text, prompt, call time, ...) is what the export will give as training rows;
        a finding without one is exported with its evidence excerpt."""
        validate_verdict(verdict)
        findings = self.findings_of(target_kind, target_id)
        if not findings:
            raise StoreError(f"incident {target_id} has no stored finding to judge")
        incident_id = target_id if target_kind == "incident" else findings[0]["incident_id"]
        first = findings[0]
        labels = first.get("labels") or {}
        app, detector, category = labels.get("app", ""), first["detector"], first["category"]
        now = self.clock.now()
        keys = sorted({fingerprint(f) for f in findings})
        suppress_for = self.cfg.feedback.suppress_for
        until = now + suppress_for if verdict == "false_positive" and suppress_for > 0 else None
        feedback_id = str(uuid.uuid4())

        def write(tx: Tx) -> None:
            tx.execute(
                "INSERT INTO feedback VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    feedback_id,
                    target_kind,
                    target_id,
                    incident_id,
                    verdict,
                    comment,
                    actor,
                    int(verified),
                    now,
                    app,
                    detector,
                    category,
                    json.dumps([f["id"] for f in findings]),
                    json.dumps(keys),
                    until,
                ),
            )
            tx.executemany(
                "INSERT INTO feedback_items VALUES (?,?,?,?,?,?,?,?,?,?)",
                [_item_row(feedback_id, f, (samples or {}).get(f["id"])) for f in findings],
            )
            if until is not None:
                tx.executemany(
                    "INSERT INTO suppressions (app, detector, category, fingerprint, feedback_id, until) "
                    "VALUES (?,?,?,?,?,?) ON CONFLICT (app, detector, category, fingerprint) DO UPDATE "
                    "SET feedback_id = excluded.feedback_id, until = excluded.until",
                    [(app, detector, category, key, feedback_id, until) for key in keys],
                )
            data = {
                "feedback_id": feedback_id,
                "verdict": verdict,
                "target": target_kind,
                "target_id": target_id,
                "findings": len(findings),
                "suppress_until": until,
            }
            self._activity(
                tx, incident_id, "feedback", actor=actor, comment=comment, verified=verified, data=data
            )
            if verdict == "false_positive":
                inc = incidents_table.lock_open(tx, incident_id) if incident_id else None
                if inc is not None:
                    why = f"false positive: {comment}" if comment else "false positive"
                    self._resolve(tx, inc, by=actor, comment=why, now=now, verified=verified, activity=data)

        self.db.run(write)
        self._suppression_cache = None
        self.refresh_gauges()
        metrics.FEEDBACK.labels(detector=detector, verdict=verdict).inc()
        return self.get_feedback(feedback_id) or {}

    def get_feedback(self, feedback_id: str) -> dict[str, Any] | None:
        with self.db.read() as db:
            row = db.one("SELECT * FROM feedback WHERE id=?", (feedback_id,))
        return feedback_dict(row) if row is not None else None

    def list_feedback(
        self,
        *,
        since: float | None = None,
        detector: str | None = None,
        verdict: str | None = None,
        incident_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[dict[str, Any]], int]:
        where, args = [], []
        for column, value in (("detector", detector), ("verdict", verdict), ("incident_id", incident_id)):
            if value:
                where.append(f"{column} = ?")
                args.append(value)
        if since is not None:
            where.append("time >= ?")
            args.append(since)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        with self.db.read() as db:
            total = int(db.scalar(f"SELECT COUNT(*) AS n FROM feedback {clause}", args) or 0)
            rows = db.execute(
                f"SELECT * FROM feedback {clause} ORDER BY time DESC, id LIMIT ? OFFSET ?",
                [*args, max(0, int(limit)), max(0, int(offset))],
            )
        return [feedback_dict(r) for r in rows], total

    def export_rows(
        self,
        *,
        since: float | None = None,
        detector: str | None = None,
        verdict: str | None = None,
        history: bool = False,
    ) -> list[dict[str, Any]]:
        """Labelled rows for training, oldest verdict first: one per judged finding (its latest verdict
        only, unless `history`)."""
        where, args = [], []
        for column, value in (("f.detector", detector), ("f.verdict", verdict)):
            if value:
                where.append(f"{column} = ?")
                args.append(value)
        if since is not None:
            where.append("f.time >= ?")
            args.append(since)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        with self.db.read() as db:
            rows = db.execute(
                "SELECT f.id AS feedback_id, f.verdict, f.comment, f.actor, f.verified, "
                "f.time AS feedback_time, f.app, f.detector, f.category, f.incident_id, i.finding_id, "
                "i.call_time, i.text, i.prompt, i.text_source, i.trace_id, i.span_id, i.model, i.env "
                f"FROM feedback f JOIN feedback_items i ON i.feedback_id = f.id {clause} "
                "ORDER BY f.time, f.id, i.finding_id",
                args,
            )
        latest: dict[str, dict[str, Any]] = {}
        out: list[dict[str, Any]] = []
        for r in rows:
            label = 1 if r["verdict"] == "confirmed" else 0
            row = {
                "id": f"{r['feedback_id']}:{r['finding_id']}",
                "detector": r["detector"],
                "category": r["category"],
                "verdict": r["verdict"],
                "label": label,
                "labels": {r["category"]: label},
                "text": r["text"],
                "prompt": r["prompt"],
                "app": r["app"],
                "env": r["env"],
                "model": r["model"],
                "time": r["call_time"],
                "feedback_time": r["feedback_time"],
                "by": r["actor"],
                "verified": bool(r["verified"]),
                "comment": r["comment"],
                "finding_id": r["finding_id"],
                "incident_id": r["incident_id"],
                "trace_id": r["trace_id"],
                "span_id": r["span_id"],
                "text_source": r["text_source"],
                "source": "feedback",
            }
            if history:
                out.append(row)
            else:
                latest.pop(r["finding_id"], None)
                latest[r["finding_id"]] = row
        return out if history else list(latest.values())

    # -- suppression at ingest ---------------------------------------------------------------------------
    def _active_suppressions(self, now: float) -> dict[tuple[str, str, str], dict[str, tuple[str, float]]]:
        cache = self._suppression_cache
        if cache is not None and 0 <= now - cache[0] <= SUPPRESSION_CACHE_S:
            return cache[1]
        active: dict[tuple[str, str, str], dict[str, tuple[str, float]]] = {}
        with self.db.read() as db:
            rows = db.execute(
                "SELECT app, detector, category, fingerprint, feedback_id, until FROM suppressions "
                "WHERE until > ?",
                (now,),
            )
        for r in rows:
            key = (r["app"], r["detector"], r["category"])
            active.setdefault(key, {})[r["fingerprint"]] = (r["feedback_id"], r["until"])
        self._suppression_cache = (now, active)
        return active

    def suppression_for(self, finding: Finding, now: float) -> str | None:
        """The feedback id muting this finding (a near-duplicate of a false positive), or None."""
        active = self._active_suppressions(now)
        if not active:
            return None
        keys = active.get((finding.labels.get("app", ""), finding.detector, finding.category))
        if not keys:
            return None
        hit = keys.get(fingerprint({"evidence": finding.evidence, "fingerprint": finding.fingerprint}))
        return hit[0] if hit is not None else None

    def _mark_suppressed(self, tx: Any, rows: list[tuple[str, str, float]]) -> None:
        """Inside the ingest transaction: which findings were muted, by which verdict."""
        tx.executemany("INSERT INTO suppressed_findings VALUES (?,?,?) ON CONFLICT DO NOTHING", rows)
        tx.executemany(
            "UPDATE suppressions SET suppressed = suppressed + 1 WHERE feedback_id = ?",
            [(r[1],) for r in rows],
        )

    # -- metrics -----------------------------------------------------------------------------------------
    def refresh_feedback_gauges(self) -> None:
        """Verdicts per detector and the share of false positives among them, from the table (restarts keep
        them)."""
        counts: dict[str, dict[str, int]] = {}
        with self.db.read() as db:
            rows = db.execute(
                "SELECT detector, verdict, COUNT(*) AS n FROM feedback GROUP BY detector, verdict"
            )
        for r in rows:
            counts.setdefault(r["detector"], {})[r["verdict"]] = int(r["n"])
        for detector, by_verdict in counts.items():
            total = sum(by_verdict.values())
            for verdict in ("false_positive", "confirmed"):
                metrics.FEEDBACK_VERDICTS.labels(detector=detector, verdict=verdict).set(
                    by_verdict.get(verdict, 0)
                )
            metrics.FALSE_POSITIVE_RATE.labels(detector=detector).set(
                by_verdict.get("false_positive", 0) / total
            )


def _item_row(feedback_id: str, finding: dict[str, Any], sample: dict[str, Any] | None) -> tuple[Any, ...]:
    evidence = finding.get("evidence") or {}
    labels = finding.get("labels") or {}
    if sample and sample.get("text"):
        text, prompt, source = sample["text"], sample.get("prompt"), "call"
        call_time = sample.get("time") or finding["time"]
    else:
        text = str(evidence.get("passage") or evidence.get("excerpt") or finding.get("summary") or "")
        prompt, source, call_time = evidence.get("prompt"), "excerpt", finding["time"]
    return (
        feedback_id,
        finding["id"],
        call_time,
        text,
        prompt if isinstance(prompt, str) else None,
        source,
        evidence.get("trace_id"),
        evidence.get("span_id"),
        labels.get("model"),
        labels.get("env"),
    )


def feedback_dict(r: Any) -> dict[str, Any]:
    return {
        "id": r["id"],
        "target": r["target_kind"],
        "target_id": r["target_id"],
        "incident_id": r["incident_id"],
        "verdict": r["verdict"],
        "comment": r["comment"],
        "by": r["actor"],
        "verified": bool(r["verified"]),
        "time": r["time"],
        "app": r["app"],
        "detector": r["detector"],
        "category": r["category"],
        "finding_ids": json.loads(r["finding_ids"]),
        "fingerprints": json.loads(r["fingerprints"]),
        "suppress_until": r["suppress_until"],
        "suppress_active": bool(r["suppress_until"] and r["suppress_until"] > time.time()),
    }
