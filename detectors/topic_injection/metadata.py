"""What the topic-injection detector tells people: titles, description, severities and evidence layout."""

from __future__ import annotations

from watchkeeper.core.detector import DetectorMetadata
from watchkeeper.core.evidence import Column, EvidenceSchema, Field, KeyValues, Row, Table, Text
from watchkeeper.core.findings import Severity

METADATA = DetectorMetadata(
    name="topic_injection",
    description="a recurring off-topic passage in unrelated answers",
    default_severity=Severity.warning,
    severity_reason=(
        "a theme recurring across unrelated conversations is suspicious but may be harmless; error "
        "when it reaches three times the conversations needed to report it, and critical when it matches a "
        "sensitive narrative of the watchlist"
    ),
    titles=(("", "Recurring off-topic theme across unrelated conversations"),),
    labels=("app", "env", "detector", "category", "theme", "narrative"),
    evidence=EvidenceSchema(
        fields=(
            Field("theme", "string", "the theme's most characteristic words"),
            Field("passage", "string", "the recurring passage, as it appeared in this answer"),
            Field("overlap", "number", "overlap with its own prompt and answer (low: off-topic)"),
            Field("conversations", "integer", "distinct conversations the theme appeared in, in the window"),
            Field("window_seconds", "number"),
            Field("prompt", "string", "the user's prompt of this call (unrelated to the passage)"),
            Field("model", "string"),
            Field("narrative", "object", "the watchlist narrative the theme matches: id, title, description"),
            Field("examples", "array", "sample calls: conversation_id, prompt, passage, trace_id, model"),
        ),
        layout=(
            Text("passage", "Recurring passage", fallback="excerpt", highlight=("passage", "excerpt")),
            Text("prompt", "Prompt of this call (unrelated to the passage)"),
            KeyValues(
                (
                    Row("Theme", "theme"),
                    Row("Conversations", "conversations", "number"),
                    Row("Window", "window_seconds", "duration"),
                    Row("Watchlist narrative", "narrative", "template", "{title} — {description}"),
                )
            ),
            Table(
                "examples",
                "Sample conversations ({count})",
                (
                    Column("Conversation", "conversation_id", "code"),
                    Column("User asked", "prompt", "clamp"),
                    Column("Answer contained", "passage", "clamp", highlight=("passage", "excerpt")),
                    Column("Trace", "trace_id", "code-small"),
                ),
            ),
        ),
    ),
)
