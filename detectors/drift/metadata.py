"""What the drift detector tells people: titles, description, severities and evidence layout."""

from __future__ import annotations

from watchkeeper.core.detector import DetectorMetadata
from watchkeeper.core.evidence import EvidenceSchema, Field
from watchkeeper.core.findings import Severity
from watchkeeper.detectors.baseline_layout import BASELINE_LAYOUT

METADATA = DetectorMetadata(
    name="drift",
    description="a shift in the model's behaviour",
    default_severity=Severity.warning,
    severity_reason=(
        "recent answers differ from the reference window (a test at the family-wise level, and an effect "
        "size floor); always a warning: how often a drift is worth an engineer's time is unmeasured"
    ),
    titles=(("", "Behaviour drift ({kind})"),),
    labels=("app", "env", "detector", "category"),
    evidence=EvidenceSchema(
        fields=(
            Field("test", "string", "kolmogorov-smirnov, two-proportion z or chi-square"),
            Field("statistic", "number"),
            Field("p_value", "number"),
            Field("reference_median_chars", "number"),
            Field("recent_median_chars", "number"),
            Field("reference_rate", "number"),
            Field("recent_rate", "number"),
            Field("jensen_shannon", "number", "divergence of the topic histograms"),
            Field("reference_size", "integer"),
            Field("window_size", "integer"),
        ),
        layout=BASELINE_LAYOUT,
    ),
)
