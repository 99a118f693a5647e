"""Settings of the content safety detector: the keys of `detectors.content_safety` in watchkeeper.yaml.

Kept apart from the detector so the configuration is validated without loading its models.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import field_validator

from watchkeeper.core.detector import DetectorSettings
from watchkeeper.core.findings import Severity

CATEGORIES: tuple[str, ...] = (
    "hate",
    "harassment",
    "violence",
    "self_harm",
    "sexual",
    "sexual_minors",
    "extremism",
)
HEADS: tuple[str, ...] = (*CATEGORIES, "any")


def _check_keys(value: dict[str, Any], what: str) -> dict[str, Any]:
    unknown = sorted(set(value) - set(HEADS))
    if unknown:
        raise ValueError(f"unknown content-safety {what} key(s) {unknown}; valid keys: {', '.join(HEADS)}")
    return value


class ContentSafetySettings(DetectorSettings):
    tier: Literal["fast", "embedding"] = "fast"
    thresholds: dict[str, float] = {}  # per-category overrides of the shipped thresholds, in [0, 1]
    check_inputs: bool = False  # also score the user's messages (finds abusive users, not only bad answers)
    severities: dict[str, Severity] = {}  # per-category overrides of DEFAULT_SEVERITY
    artifacts_dir: str | None = None  # where the weights are; default: the ones shipped in the package
    excerpt_sentences: int = 2

    @field_validator("thresholds")
    @classmethod
    def _thresholds(cls, value: dict[str, float]) -> dict[str, float]:
        for key, threshold in _check_keys(value, "thresholds").items():
            if not 0.0 <= threshold <= 1.0:
                raise ValueError(f"content_safety thresholds.{key} = {threshold}: must be within [0, 1]")
        return value

    @field_validator("severities")
    @classmethod
    def _severities(cls, value: dict[str, Severity]) -> dict[str, Severity]:
        return _check_keys(value, "severities")
