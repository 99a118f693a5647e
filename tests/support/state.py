"""Detector state in tests: replaying calls while every app keeps leaving memory and coming back."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from watchkeeper.core.detector import Detector
from watchkeeper.core.detector_state import DetectorState


def findings_with_evictions(
    detector: Detector, state: DetectorState, calls: Iterable[Any], every: int = 97
) -> list[tuple[str, object, dict]]:
    """(id, severity, evidence) of every finding, checkpointing and evicting every app each `every` calls:
    each next call reloads its app from the checkpoint, as after an LRU eviction or a moved partition."""
    out: list[tuple[str, object, dict]] = []
    for n, call in enumerate(calls):
        out += [(f.id, f.severity, f.evidence) for f in detector.observe(call)]
        if n % every == 0:
            state.checkpoint()
            for container in state.containers:
                container.evict(container.apps())
    return out
