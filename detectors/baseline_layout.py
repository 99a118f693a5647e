"""The evidence layout of detectors that judge a value against its baseline (operational, drift).

Shared by both, so it lives beside them: the band chart of a value, rate comparisons, a length comparison,
then every other key, then the example calls.
"""

from __future__ import annotations

from watchkeeper.core.evidence import BandChart, Chips, Compare, Rest

BASELINE_LAYOUT = (
    BandChart(
        "{metric} around the anomaly",
        band="band",
        baseline="baseline_median",
        observed="window_median",
        unit_field="unit",
        units=(("ms", " ms"),),
        defaults=(("metric", "metric"),),
    ),
    Compare("{metric} vs baseline", "baseline_rate", "rate", percent=True, defaults=(("metric", "rate"),)),
    Compare(
        "rate: reference vs recent",
        "reference_rate",
        "recent_rate",
        percent=True,
        labels=("reference", "recent"),
    ),
    Compare(
        "median answer length",
        "reference_median_chars",
        "recent_median_chars",
        unit=" chars",
        labels=("reference", "recent"),
    ),
    Rest(skip=("trace_id", "span_id", "excerpt", "examples", "band", "matches")),
    Chips("examples", "Example calls", style="id"),
)
