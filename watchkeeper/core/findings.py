"""Finding and Severity: what a detector concludes about a model call, as every later stage reads it.

A finding's id derives from the observed span, so a replay after a crash (at-least-once delivery) yields the
same id and has no second effect downstream.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any

from watchkeeper.core.records import ModelCall


class Severity(StrEnum):
    critical = "critical"
    error = "error"
    warning = "warning"
    info = "info"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Severity.info: 0, Severity.warning: 1, Severity.error: 2, Severity.critical: 3}


def fingerprint(labels: dict[str, str]) -> str:
    """Identity of a finding's label set (order-independent), like Alertmanager's alert fingerprint."""
    payload = json.dumps(sorted(labels.items()), separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


@dataclass(slots=True)
class Finding:
    detector: str
    category: str
    severity: Severity
    score: float
    summary: str
    labels: dict[str, str]
    evidence: dict[str, Any]  # trace_id, span_id, excerpt, and detector-specific extras (diff, samples, ...)
    time: float  # unix seconds of the observed call
    id: str  # unique per (detector, observation): replays produce the same id
    fingerprint: str
    annotations: dict[str, str] = field(default_factory=dict)  # runbook_url, description, ...

    def to_json(self) -> bytes:
        # Field by field, not dataclasses.asdict: asdict deep-copies every nested value first, which was
        # most of the alerts stage's ingest time. Labels, evidence and annotations are JSON values already.
        data = {name: getattr(self, name) for name in _FIELDS}
        data["severity"] = self.severity.value
        return json.dumps(data, separators=(",", ":"), default=str).encode()

    @classmethod
    def from_json(cls, raw: bytes | str) -> Finding:
        data = json.loads(raw)
        data["severity"] = Severity(data["severity"])
        return cls(**data)


_FIELDS = tuple(f.name for f in fields(Finding))


#: the labels `call_labels` gives every finding (a detector's metadata lists what it adds or drops)
CALL_LABELS = ("app", "env", "model", "provider", "detector", "category")


def call_labels(call: ModelCall, detector: str, category: str, **extra: str) -> dict[str, str]:
    labels = {
        "app": call.service,
        "env": call.environment,
        "model": call.model or "unknown",
        "provider": call.provider,
        "detector": detector,
        "category": category,
    }
    labels.update({k: str(v) for k, v in extra.items()})
    return labels


def make_finding(
    call: ModelCall,
    *,
    detector: str,
    category: str,
    severity: Severity,
    score: float,
    summary: str,
    excerpt: str = "",
    labels: dict[str, str] | None = None,
    evidence: dict[str, Any] | None = None,
    annotations: dict[str, str] | None = None,
    id_salt: str = "",
) -> Finding:
    """A finding about one call; its id is derived from the call's span so replays are idempotent."""
    labels = labels if labels is not None else call_labels(call, detector, category)
    ev = {"trace_id": call.trace_id, "span_id": call.span_id, "excerpt": excerpt[:2000]}
    if evidence:
        ev.update(evidence)
    raw_id = f"{detector}|{category}|{call.trace_id}|{call.span_id}|{id_salt}"
    return Finding(
        detector=detector,
        category=category,
        severity=severity,
        score=float(score),
        summary=summary,
        labels=labels,
        evidence=ev,
        time=call.start_time_s,
        id=hashlib.sha256(raw_id.encode()).hexdigest()[:24],
        fingerprint=fingerprint(labels),
        annotations=annotations or {},
    )
