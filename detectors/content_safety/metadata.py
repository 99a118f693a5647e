"""What the content-safety detector tells people: titles, description, severities and evidence layout.

Severities are not opinions: training measures each category's precision at its shipped threshold on labelled
data it did not train on, and writes the severity it earns into `artifacts/calibration.json` (a category pages
only when its measured precision is high enough; see the model card). They are read here, without loading any
model, so the dashboard and the docs show the same reasons the detector acts on.
"""

from __future__ import annotations

import json

from watchkeeper.core.detector import DetectorMetadata
from watchkeeper.core.evidence import EvidenceSchema, Field, KeyValues, Rest, Row, Text
from watchkeeper.core.findings import CALL_LABELS, Severity
from watchkeeper.detectors.content_safety.settings import ARTIFACTS_DIR, HEADS

_UNMEASURED = "precision at the shipped threshold not measured on labelled data: a ticket, not a page"


def _measured() -> tuple[tuple[str, Severity, str], ...]:
    try:
        data = json.loads((ARTIFACTS_DIR / "calibration.json").read_text())
    except (OSError, ValueError):
        data = {}
    severity, reason = data.get("severity", {}), data.get("severity_reason", {})
    out = []
    for head in HEADS:
        try:
            out.append((head, Severity(severity[head]), str(reason.get(head, ""))))
        except (KeyError, ValueError):
            out.append((head, Severity.warning, _UNMEASURED))
    return tuple(out)


METADATA = DetectorMetadata(
    name="content_safety",
    description="harmful content in answers, judged with the request they answer",
    default_severity=Severity.warning,
    severity_reason=_UNMEASURED,
    titles=(
        ("harmful_compliance", "Answer helps with a harmful request"),
        ("", "Harmful content in answers ({kind})"),
    ),
    category_severities=_measured(),
    labels=(*CALL_LABELS, "source"),
    evidence=EvidenceSchema(
        fields=(
            Field("source", "string", "output (the answer) or input (the user's message)"),
            Field("judge", "string", "semantic (the multilingual judge) or lexical (over the CPU budget)"),
            Field("scores", "object", "calibrated probability per category, in [0, 1]"),
            Field("severity_reason", "string", "why the finding has its severity: the measured precision"),
        ),
        layout=(
            Text("excerpt", "Excerpt", highlight=("highlight",)),
            KeyValues(rows=(Row("Why this severity", "severity_reason"), Row("Read by", "judge"))),
            Rest(skip=("trace_id", "span_id", "excerpt", "severity_reason", "judge"), style="json"),
        ),
    ),
)
