"""Settings of the content safety detector: the keys of `detectors.content_safety` in watchkeeper.yaml.

Kept apart from the detector so the configuration is validated without loading its models.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pydantic import field_validator, model_validator

from watchkeeper.core.detector import DetectorSettings
from watchkeeper.core.findings import Severity

log = logging.getLogger("watchkeeper.detectors")

ARTIFACTS_DIR = Path(__file__).resolve().parent / "artifacts"
CATEGORIES: tuple[str, ...] = (
    "hate",
    "harassment",
    "violence",
    "self_harm",
    "sexual",
    "sexual_minors",
    "extremism",
    # the answer helps with a harmful request (judged with the request when it is known)
    "harmful_compliance",
)
#: What the judge scores, in this order; `any` is the worst of them.
SCORED: tuple[str, ...] = CATEGORIES
HEADS: tuple[str, ...] = (*CATEGORIES, "any")


def _check_keys(value: dict[str, Any], what: str) -> dict[str, Any]:
    unknown = sorted(set(value) - set(HEADS))
    if unknown:
        raise ValueError(f"unknown content-safety {what} key(s) {unknown}; valid keys: {', '.join(HEADS)}")
    return value


class ContentSafetySettings(DetectorSettings):
    thresholds: dict[str, float] = {}  # per-category overrides of the shipped thresholds, in [0, 1]
    check_inputs: bool = False  # also score the user's messages (finds abusive users, not only bad answers)
    severities: dict[str, Severity] = {}  # per-category overrides of the measured default severities
    artifacts_dir: str | None = None  # where the weights are; default: the ones shipped in the package
    excerpt_sentences: int = 2
    # Share of one CPU core the semantic judge may spend (per detectors worker). Above it, the worker judges
    # the
    # most suspicious calls (by the cheap lexical signal) and an even sample of the rest with the semantic
    # judge,
    # and the others with the lexical signal alone; `watchkeeper_content_safety_coverage` says how many were
    # read.
    semantic_cpu_share: float = 0.8
    tier: str | None = None  # deprecated: there is one semantic tier, on every call

    @model_validator(mode="after")
    def _deprecated_tier(self) -> ContentSafetySettings:
        if self.tier is not None:
            log.warning(
                "detectors.content_safety.tier is deprecated and ignored: the semantic judge reads every "
                "call (remove the key)"
            )
        return self

    @field_validator("semantic_cpu_share")
    @classmethod
    def _share(cls, value: float) -> float:
        if not 0.0 < value <= 16.0:
            raise ValueError(f"content_safety semantic_cpu_share = {value}: must be > 0 (cores, e.g. 0.8)")
        return value

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
