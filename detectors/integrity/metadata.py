"""What the integrity detector tells people: titles, description, severities and evidence layout."""

from __future__ import annotations

from watchkeeper.core.detector import DetectorMetadata
from watchkeeper.core.evidence import Diff, EvidenceSchema, Field, KeyValues, Note, Row, Text
from watchkeeper.core.findings import CALL_LABELS, Severity

METADATA = DetectorMetadata(
    name="integrity",
    description="an unapproved system-prompt change",
    default_severity=Severity.warning,
    severity_reason="a parameter or serving-config change alters answers but is often a routine rollout",
    titles=(
        ("system_prompt_change", "Unapproved system prompt change"),
        ("model_change", "Response model changed"),
        ("parameter_change", "Request parameters changed"),
        ("provider_config_change", "Provider changed its serving configuration"),
    ),
    category_severities=(
        (
            "system_prompt_change",
            Severity.critical,
            "an unapproved system prompt changes what the app says to every user, from its first call",
        ),
        ("model_change", Severity.error, "another model answers than the one the app was tested with"),
        ("parameter_change", Severity.warning, "sampling parameters changed; answers may drift"),
        ("provider_config_change", Severity.warning, "the provider changed its serving configuration"),
    ),
    labels=(*CALL_LABELS, "prompt_sha", "param"),
    evidence=EvidenceSchema(
        fields=(
            Field("diff", "string", "unified diff, approved -> observed prompt (when the text was captured)"),
            Field("old_sha256", "string", "sha256 of the approved (or learned) system prompt"),
            Field("new_sha256", "string", "sha256 of the observed system prompt"),
            Field("text_captured", "boolean", "whether the app sent the prompt text (else only its hash)"),
            Field("request_model", "string"),
            Field("old_response_model", "string"),
            Field("new_response_model", "string"),
            Field("param", "string", "the request parameter that changed"),
            Field("old_value", ("string", "number", "boolean", "array", "object")),
            Field("new_value", ("string", "number", "boolean", "array", "object")),
        ),
        layout=(
            Diff("diff", "System prompt diff (approved → observed)"),
            Text("excerpt", "Excerpt", unless="diff"),
            Note(
                "The prompt text was not captured by the app; only its hash changed.", "text_captured", False
            ),
            KeyValues(
                (
                    Row("Approved sha256", "old_sha256", "code"),
                    Row("Observed sha256", "new_sha256", "code"),
                )
            ),
        ),
    ),
)
