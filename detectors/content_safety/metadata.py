"""What the content-safety detector tells people: titles, description, severities and evidence layout."""

from __future__ import annotations

from watchkeeper.core.detector import DetectorMetadata
from watchkeeper.core.evidence import EvidenceSchema, Field, Rest, Text
from watchkeeper.core.findings import Severity

METADATA = DetectorMetadata(
    name="content_safety",
    description="unsafe or controversial content",
    default_severity=Severity.warning,
    severity_reason="harmful content without a more specific category",
    titles=(("", "Harmful content in answers ({kind})"),),
    category_severities=(
        ("sexual_minors", Severity.critical, "sexual content involving minors: always page"),
        ("extremism", Severity.critical, "extremist propaganda in the app's voice"),
        ("self_harm", Severity.error, "content that can encourage self-harm"),
        ("hate", Severity.error, "hateful content about protected groups"),
        ("violence", Severity.error, "violent content"),
        ("harassment", Severity.warning, "insulting or harassing language"),
        ("sexual", Severity.warning, "sexual content, inappropriate for most apps"),
        ("any", Severity.warning, "unsafe content without a more specific category"),
    ),
    evidence=EvidenceSchema(
        fields=(
            Field("source", "string", "output (the answer) or input (the user's message)"),
            Field("scores", "object", "score per category, in [0, 1]"),
        ),
        layout=(Text("excerpt", "Excerpt", highlight=("highlight",)), Rest(style="json")),
    ),
)
