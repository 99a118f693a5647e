"""Settings of the drift detector: the keys of `detectors.drift` in watchkeeper.yaml.

Kept apart from the detector so the configuration is validated without loading its models.
"""

from __future__ import annotations

from pydantic import Field

from watchkeeper.core.detector import DetectorSettings


class DriftSettings(DetectorSettings):
    """Keys of `detectors.drift` in watchkeeper.yaml."""

    reference_size: int = Field(500, ge=50, description="outputs in the reference window")
    window_size: int = Field(500, ge=50, description="outputs in the recent (sliding) window")
    test_every: int = Field(100, ge=1, description="calls between tests once both windows are full")
    alpha: float = Field(0.001, gt=0, lt=1, description="family-wise test level (split over the 3 tests)")
    topics: int = Field(12, ge=2, le=64, description="k-means clusters of the topic histogram")
    rebaseline_after: int = Field(
        20, ge=1, description="consecutive drifted tests after which the recent window becomes the reference"
    )
    min_refusals: int = Field(5, ge=1, description="refusals (both windows) needed to test the refusal rate")
    # Effect sizes a drift must also reach: with 500 outputs a side, the tests find differences nobody would
    # act on (a 14% longer median answer after a change of traffic mix).
    min_length_effect: float = Field(
        0.2, ge=0, le=1, description="smallest Kolmogorov-Smirnov distance of output lengths reported"
    )
    min_refusal_change: float = Field(
        0.03, ge=0, le=1, description="smallest absolute change of the refusal rate reported"
    )
    min_topic_divergence: float = Field(
        0.05, ge=0, le=1, description="smallest Jensen-Shannon divergence of the topic mix reported"
    )
