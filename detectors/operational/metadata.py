"""What the operational detector tells people: titles, description, severities and evidence layout."""

from __future__ import annotations

from watchkeeper.core.detector import DetectorMetadata
from watchkeeper.core.evidence import EvidenceSchema, Field
from watchkeeper.core.findings import Severity
from watchkeeper.detectors.baseline_layout import BASELINE_LAYOUT

METADATA = DetectorMetadata(
    name="operational",
    description="abnormal latency, token use or error rates",
    default_severity=Severity.warning,
    severity_reason=(
        "a window outside its app's own baseline; error when the typical call is half the band width out "
        "(or a rate reaches 20%), critical when it is a full band width out (or a rate reaches 50%)"
    ),
    titles=(("", "Operational anomaly ({kind})"),),
    evidence=EvidenceSchema(
        fields=(
            Field("metric", "string", "latency, time_to_first_chunk, input_tokens, output_tokens or a rate"),
            Field("unit", "string", "ms or tokens"),
            Field("window_calls", "integer", "calls in the judged window"),
            Field("out_of_band", "integer", "calls of the window outside the normal band"),
            Field("window_median", "number", "median of the window"),
            Field("baseline_median", "number", "median of the baseline"),
            Field("band", "array", "the normal band [low, high]"),
            Field("rate", "number", "observed rate in the window"),
            Field("baseline_rate", "number", "the baseline rate"),
            Field("p_value", "number"),
            Field("examples", "array", "trace ids of calls outside the band"),
        ),
        layout=BASELINE_LAYOUT,
    ),
)
