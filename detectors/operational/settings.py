"""Settings of the operational detector: the keys of `detectors.operational` in watchkeeper.yaml.

Kept apart from the detector so the configuration is validated without loading its models.
"""

from __future__ import annotations

from pydantic import Field

from watchkeeper.core.detector import DetectorSettings
from watchkeeper.core.findings import Severity
from watchkeeper.detectors.refusals import REFUSAL_PHRASES


class OperationalSettings(DetectorSettings):
    """Keys of `detectors.operational` in watchkeeper.yaml."""

    window_calls: int = Field(50, ge=5, description="a window closes after this many calls of an app+model")
    window_seconds: float = Field(
        300.0, gt=0, description="... or after this long, if it has min_window_calls"
    )
    min_window_calls: int = Field(10, ge=1, description="calls a window needs to be judged")
    min_samples: int = Field(200, ge=10, description="baseline calls needed before any finding (warm-up)")
    reference_size: int = Field(1000, ge=50, description="recent normal values kept per metric")
    tail: float = Field(
        0.95, gt=0.5, lt=1, description="a call is in the tail beyond this quantile of the app's baseline"
    )
    alpha: float = Field(1e-4, gt=0, lt=1, description="binomial test level for a window")
    min_out_of_band: int = Field(3, ge=1, description="calls in the tail a value finding needs")
    min_latency_shift_ms: float = Field(100.0, ge=0, description="smallest latency shift (of the median)")
    min_token_shift: float = Field(20.0, ge=0, description="smallest token-count shift (of the median)")
    min_relative_shift: float = Field(0.25, ge=0, description="smallest relative shift of the median")
    sustain_windows: int = Field(
        2, ge=1, description="windows in a row a latency shift must last, unless it is far"
    )
    token_shift_severity: Severity = Field(
        Severity.info,
        description="severity of a sustained token-count shift (on clean traffic they follow changes in what "
        "users ask; real token problems show first in the truncation and refusal rates)",
    )
    token_sustain_windows: int = Field(
        3, ge=1, description="windows in a row a token-count shift must last (counts follow what users ask)"
    )
    far_quantile: float = Field(
        0.95, gt=0.5, lt=1, description="far: the window's median beyond this quantile of the baseline"
    )
    far_tail_share: float = Field(0.3, gt=0, le=1, description="far: this share of the window in the tail")
    extreme_quantile: float = Field(
        0.99, gt=0.5, le=1, description="extreme: the median beyond this quantile, and twice the usual"
    )
    min_rate_increase: float = Field(
        0.05, ge=0, le=1, description="absolute rate increase a rate finding needs"
    )
    far_rate_increase: float = Field(0.2, ge=0, le=1, description="far: a rate this much above the baseline")
    extreme_rate: float = Field(0.5, ge=0, le=1, description="extreme: a rate of at least this")
    escalate_windows: int = Field(3, ge=1, description="windows an extreme shift lasts before it is critical")
    adapt_after_windows: int = Field(10, ge=1, description="consecutive anomalous windows -> new normal")
    forest: bool = Field(
        False,
        description="multivariate IsolationForest over window features (off: unmeasured precision, and it "
        "flagged traffic-mix changes on the clean replay)",
    )
    forest_min_windows: int = Field(20, ge=8, description="normal windows before the forest is fitted")
    forest_refit_every: int = Field(50, ge=1, description="windows between refits")
    forest_trees: int = Field(64, ge=8)
    forest_margin: float = Field(0.08, ge=0, description="score margin below the lowest training score")
    combined_z: float = Field(
        5.0, gt=0, description="robust z of a window feature that counts as far out (2 such -> combined)"
    )
    persist_every_windows: int = Field(
        10,
        ge=1,
        description="deprecated, no effect: baselines are checkpointed by the detectors stage "
        "(detectors.checkpoint_interval_s) with the input position",
    )
    refusal_phrases: list[str] = Field(default_factory=lambda: list(REFUSAL_PHRASES))
    max_keys: int = Field(
        1000, ge=1, description="models with a baseline per app (least recently used dropped)"
    )
