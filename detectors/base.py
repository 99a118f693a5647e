"""The detector interface and the Finding it emits.

A detector sees ModelCalls one at a time, keeps its own state (in memory, or durable through the
`StateStore` it is given), and returns Findings. Findings must be deterministic for a given call so that a
replay after a crash (at-least-once delivery) yields the same finding ids and has no second effect.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from fnmatch import fnmatchcase
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict

from collector.records import ModelCall


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
        data = asdict(self)
        data["severity"] = self.severity.value
        return json.dumps(data, separators=(",", ":"), default=str).encode()

    @classmethod
    def from_json(cls, raw: bytes | str) -> Finding:
        data = json.loads(raw)
        data["severity"] = Severity(data["severity"])
        return cls(**data)


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


class StateStore(Protocol):
    """Durable key/value state for detectors (namespaced per detector by the caller)."""

    def get(self, key: str) -> Any | None: ...

    def put(self, key: str, value: Any) -> None: ...

    def items(self, prefix: str = "") -> list[tuple[str, Any]]: ...


class MemoryState:
    """In-memory StateStore, for tests, `watchkeeper score` and evaluations."""

    def __init__(self) -> None:
        self._data: dict[str, Any] = {}

    def get(self, key: str) -> Any | None:
        return self._data.get(key)

    def put(self, key: str, value: Any) -> None:
        self._data[key] = value

    def items(self, prefix: str = "") -> list[tuple[str, Any]]:
        return sorted((k, v) for k, v in self._data.items() if k.startswith(prefix))


class DetectorSettings(BaseModel):
    """Settings every detector has; a detector subclasses this for its own keys (thresholds, windows, ...)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    apps: list[str] = []  # glob patterns of app names; empty = every app
    severity: Severity | None = None  # overrides the detector's own choice of severity


class Detector(ABC):
    """One detector. Subclasses set `name`, `settings_class`, and implement `observe`."""

    name: ClassVar[str]
    settings_class: ClassVar[type[DetectorSettings]] = DetectorSettings

    def __init__(self, settings: DetectorSettings | None = None, *, state: StateStore | None = None) -> None:
        self.settings = settings if settings is not None else self.settings_class()
        self.state: StateStore = state if state is not None else MemoryState()
        self.apps = list(self.settings.apps)

    def severity(self, default: Severity) -> Severity:
        return self.settings.severity or default

    def score_text(self, text: str, prompt: str = "") -> tuple[dict[str, float], bool] | None:
        """Per-category scores and the verdict for one text (`watchkeeper score`); None if not text-based."""
        return None

    def applies_to(self, call: ModelCall) -> bool:
        return not self.apps or any(fnmatchcase(call.service, pattern) for pattern in self.apps)

    @abstractmethod
    def observe(self, call: ModelCall) -> list[Finding]:
        """Look at one call; return the findings it raises (often none)."""

    def observe_batch(self, calls: list[ModelCall]) -> list[Finding]:
        """Override when a detector is faster on a batch (vectorized models)."""
        out: list[Finding] = []
        for call in calls:
            if self.applies_to(call):
                out.extend(self.observe(call))
        return out

    def close(self) -> None:  # noqa: B027 - optional hook
        """Flush state; called on shutdown."""
