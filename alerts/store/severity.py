"""Severity comparison on the stored severity names."""

from __future__ import annotations

from watchkeeper.alerts.incidents import SEVERITY_RANK


def severity_at_least(severity: str, floor: str) -> bool:
    """True if `severity` is at or above `floor`; unknown names rank lowest."""
    return SEVERITY_RANK.get(severity, 0) >= SEVERITY_RANK.get(floor, 0)
