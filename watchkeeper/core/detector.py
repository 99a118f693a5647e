"""The detector interface: what a detector is given (settings, state) and what it implements.

A detector sees ModelCalls one at a time, keeps its own state (in memory, or durable through the
`StateStore` it is given), and returns Findings. Findings must be deterministic for a given call so that a
replay after a crash (at-least-once delivery) yields the same finding ids and has no second effect.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from fnmatch import fnmatchcase
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict

from watchkeeper.core.findings import Finding, Severity
from watchkeeper.core.records import ModelCall


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
