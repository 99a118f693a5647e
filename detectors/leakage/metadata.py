"""What the leakage detector tells people: titles, description, severities and evidence layout."""

from __future__ import annotations

from watchkeeper.core.detector import DetectorMetadata
from watchkeeper.core.evidence import Chips, EvidenceSchema, Field, Text
from watchkeeper.core.findings import Severity
from watchkeeper.detectors.leakage.settings import CATEGORIES

_REASONS = {
    Severity.critical: "a live credential in an answer can be used by anyone who reads it",
    Severity.error: "identifying or financial data that must not leave the system",
    Severity.warning: "contact data: often legitimate, worth a look",
}

METADATA = DetectorMetadata(
    name="leakage",
    description="secrets or personal data in model answers",
    default_severity=Severity.warning,
    severity_reason=_REASONS[Severity.warning],
    titles=(
        ("leakage.secret.", "Secret leaked in answers ({kind})"),
        ("leakage.pii.", "Personal data in answers ({kind})"),
    ),
    category_severities=tuple(
        (f"leakage.{kind}.{category}", severity, _REASONS[severity])
        for category, (kind, severity) in CATEGORIES.items()
    ),
    evidence=EvidenceSchema(
        fields=(
            Field("count", "integer", "values of this category in the answer"),
            Field("matches", "array", "each value found, masked: category, masked, offset"),
        ),
        layout=(
            Text("excerpt", "Answer excerpt (values masked)", highlight_items=("matches", "masked")),
            Chips("matches", label="category", value="masked", style="hot"),
        ),
    ),
)
