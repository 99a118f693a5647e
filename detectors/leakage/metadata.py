"""What the leakage detector tells people: titles, description, severities and evidence layout."""

from __future__ import annotations

from watchkeeper.core.detector import DetectorMetadata
from watchkeeper.core.evidence import Chips, EvidenceSchema, Field, KeyValues, Row, Text
from watchkeeper.core.findings import Severity
from watchkeeper.detectors.leakage.settings import CATEGORIES

_SECRET_REASONS = {
    Severity.critical: "a live credential in an answer can be used by anyone who reads it",
    Severity.error: "a signed token: often short-lived, but it may grant access while it lasts",
}
_PII_REASON = (
    "one personal datum in an answer is info (a made-up contact line in a generated document), two or more "
    "distinct ones a warning (settings single_datum_severity, several_data_severity); reserved example "
    "values, placeholders, role addresses and echoes of the request are never reported"
)


def _category_severity(category: str, kind: str, severity: Severity) -> tuple[str, Severity, str]:
    if kind == "pii":
        return f"leakage.pii.{category}", Severity.info, _PII_REASON
    return f"leakage.{kind}.{category}", severity, _SECRET_REASONS[severity]


METADATA = DetectorMetadata(
    name="leakage",
    description="secrets or personal data in model answers",
    default_severity=Severity.warning,
    severity_reason=_PII_REASON,
    titles=(
        ("leakage.secret.", "Secret leaked in answers ({kind})"),
        ("leakage.pii.", "Personal data in answers ({kind})"),
    ),
    category_severities=tuple(
        _category_severity(category, kind, severity) for category, (kind, severity) in CATEGORIES.items()
    ),
    evidence=EvidenceSchema(
        fields=(
            Field("count", "integer", "values of this category in the answer (not echoed, not reserved)"),
            Field("matches", "array", "each value found, masked: category, masked, offset"),
            Field("redacted", "boolean", "the SDK removed the values before export: counts only"),
            Field("redaction_kind", "string", "the SDK's name of what it removed (email, card, ...)"),
            Field("removed", "integer", "values the SDK's redaction removed from the answer"),
            Field("echoed", "integer", "of those, values the request or system prompt already held"),
            Field("reserved", "integer", "of those, reserved example or test values"),
        ),
        layout=(
            Text("excerpt", "Answer excerpt (values masked)", highlight_items=("matches", "masked")),
            Chips("matches", label="category", value="masked", style="hot"),
            KeyValues(
                (
                    Row("Redacted by the SDK", "redaction_kind"),
                    Row("Removed", "removed", "number"),
                    Row("Echoed from the request", "echoed", "number"),
                    Row("Reserved examples", "reserved", "number"),
                )
            ),
        ),
    ),
)
