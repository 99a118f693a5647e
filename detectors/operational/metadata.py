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
        "a sustained shift from the app's own baseline: warning when shifted, error when far from it for "
        "two windows (or extreme at once), critical when extreme for several windows (precision 0.94 to 1.0 "
        "per category and severity on the operational simulation); token-count shifts are info (on the clean "
        "replay they follow what users ask)"
    ),
    titles=(("", "Operational anomaly ({kind})"),),
    category_severities=(
        (
            "operational.input_tokens",
            Severity.info,
            "token counts follow what users ask (settings token_shift_severity)",
        ),
        (
            "operational.output_tokens",
            Severity.info,
            "token counts follow what users ask: a 3x shorter median for two windows on the clean replay "
            "(settings token_shift_severity)",
        ),
        ("operational.combined", Severity.warning, "the opt-in IsolationForest: its precision is unmeasured"),
    ),
    evidence=EvidenceSchema(
        fields=(
            Field("metric", "string", "latency, time_to_first_chunk, input_tokens, output_tokens or a rate"),
            Field("unit", "string", "ms or tokens"),
            Field("direction", "string", "higher or lower than usual"),
            Field("window_calls", "integer", "calls in the judged window"),
            Field("beyond_tail", "integer", "calls of the window beyond the baseline's tail"),
            Field("windows_in_a_row", "integer", "consecutive windows with the same shift"),
            Field("since", "number", "when the shift started (unix seconds)"),
            Field("window_median", "number", "median of the window"),
            Field("baseline_median", "number", "median of the baseline"),
            Field("tail_edge", "number", "where the baseline's tail starts"),
            Field("band", "array", "the baseline's usual range [low, high]"),
            Field("rate", "number", "observed rate in the window"),
            Field("baseline_rate", "number", "the baseline rate"),
            Field("p_value", "number"),
            Field("examples", "array", "trace ids of calls outside the band"),
        ),
        layout=BASELINE_LAYOUT,
    ),
)
