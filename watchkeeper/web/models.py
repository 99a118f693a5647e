"""The REST API v1's request and response models: the handlers validate with them, OpenAPI is built from them.

Request models reject what the handler could not act on (with the field named); response models describe
what the store returns and allow extra keys, so adding a field never breaks a client.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, field_validator

from watchkeeper.web.times import parse_time


class _Response(BaseModel):
    model_config = ConfigDict(extra="allow")


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore")


# -- shared types -----------------------------------------------------------------------------------------
#: A time in a response: RFC 3339 in UTC (`2026-12-01T11:34:26.071Z`); the stores keep unix seconds.
Time = datetime


def _query_time(value: Any) -> Any:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, int | float):
        return float(value)
    return parse_time(str(value), "time")


#: A time in a query string or body: ISO 8601 with a zone, or unix seconds; empty means absent.
TimeParam = Annotated[
    float | None,
    BeforeValidator(_query_time),
    WithJsonSchema(
        {
            "anyOf": [{"type": "string"}, {"type": "number"}, {"type": "null"}],
            "description": "ISO 8601 with a zone (2026-12-01T11:34:26Z) or unix seconds",
        }
    ),
]


def _blank_is_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


def Optional(tp: Any) -> Any:
    """An optional query value where `?name=` (empty) means absent."""
    return Annotated[tp | None, BeforeValidator(_blank_is_none)]


# -- errors ------------------------------------------------------------------------------------------------
class Error(BaseModel):
    """Every error: a short machine-readable code and a reason that says what to change."""

    error: str = Field(examples=["bad_request"])
    reason: str = Field(examples=["query: limit: Input should be less than or equal to 500"])


# -- pagination --------------------------------------------------------------------------------------------
MAX_LIMIT = 500


class Page(_Request):
    limit: int = Field(50, ge=1, le=MAX_LIMIT, description="page size")
    offset: int = Field(0, ge=0, description="items to skip")


# -- incidents ---------------------------------------------------------------------------------------------
IncidentStatus = Literal["triggered", "acknowledged", "resolved"]
SeverityName = Literal["critical", "error", "warning", "info"]


class IncidentQuery(Page):
    status: Optional(Literal["triggered", "acknowledged", "resolved", "open"]) = Field(
        None, description="triggered, acknowledged, resolved, or open (= not resolved); empty: every status"
    )
    sort: Optional(Literal["severity", "time"]) = Field(
        None, description="severity (default: open first, then the most severe, then the latest) or time"
    )
    severity: str | None = Field(None, description="critical, error, warning, info (comma-separated)")
    app: str | None = Field(None, description="app (service.name), comma-separated for several")
    detector: str | None = Field(None, description="detector name, comma-separated for several")
    q: str | None = Field(None, description="text search in title, summary and labels, or an incident id")


class Incident(_Response):
    """An incident: a group of findings with one lifecycle (triggered -> acknowledged -> resolved)."""

    id: str
    group_key: str
    route: str
    status: IncidentStatus
    severity: SeverityName
    title: str
    summary: str
    labels: dict[str, str]
    annotations: dict[str, str]
    runbook_url: str | None = None
    first_seen: Time
    last_seen: Time
    finding_count: int
    severity_counts: dict[str, int] = {}
    acknowledged_by: str | None = None
    acknowledged_at: Time | None = None
    resolved_at: Time | None = None
    resolved_by: str | None = None
    comment: str | None = None


class Finding(_Response):
    """One detector verdict about one model call (or a window of calls)."""

    id: str
    detector: str
    category: str
    severity: SeverityName
    score: float
    summary: str
    labels: dict[str, str]
    evidence: dict[str, Any]
    time: Time = Field(description="when the observed call happened")
    fingerprint: str
    annotations: dict[str, str] = {}
    incident_id: str | None = None
    received_at: Time | None = None


class Notification(_Response):
    """One message for one channel of one receiver about one incident (a row of the durable outbox)."""

    id: str
    incident_id: str
    receiver: str
    channel: str
    channel_index: int
    event: Literal["trigger", "update", "acknowledge", "resolve"]
    repeat: bool
    sequence: int
    status: str = Field(description="pending, sent, dead, suppressed or superseded")
    attempts: int
    next_attempt_at: Time | None = None
    last_error: str | None = None
    last_status: int | None = None
    reason: str | None = None
    created_at: Time
    sent_at: Time | None = None
    updated_at: Time


class IncidentTarget(_Response):
    receiver: str
    route: str
    announced: bool
    next_flush_at: Time | None = None
    last_notified_at: Time | None = None


class IncidentDetail(Incident):
    """An incident with its findings timeline, its notifications and the receivers it was routed to."""

    findings: list[Finding]
    notifications: list[Notification]
    receivers: list[IncidentTarget]


class Transition(_Request):
    """Who acknowledges or resolves, and why (both optional)."""

    by: str | None = Field(None, max_length=200, description="who (default: api)")
    author: str | None = Field(None, max_length=200, description="alias of `by`")
    comment: str | None = Field(None, max_length=10_000)


# -- findings ----------------------------------------------------------------------------------------------
class FindingQuery(Page):
    limit: int = Field(100, ge=1, le=MAX_LIMIT, description="page size")
    incident_id: str | None = Field(None, description="findings of one incident")
    detector: str | None = Field(None, description="detector name")
    since: TimeParam = Field(None, description="findings observed at or after this time")
    app: str | None = Field(None, description="app (service.name)")


# -- silences ----------------------------------------------------------------------------------------------
class Matcher(_Response):
    name: str
    value: str
    isRegex: bool  # Alertmanager's field names
    isEqual: bool
    op: Literal["=", "!=", "=~", "!~"]


class Silence(_Response):
    id: str
    matchers: list[Matcher]
    matchers_text: list[str] = Field(description='the matchers as written, e.g. app="chatbot"')
    starts_at: Time
    ends_at: Time
    created_by: str
    comment: str
    created_at: Time
    updated_at: Time
    state: Literal["pending", "active", "expired"]


class SilenceQuery(_Request):
    state: Optional(Literal["pending", "active", "expired"]) = None


class SilenceId(_Request):
    id: str | None = Field(None, description="the silence to expire (same as DELETE /api/v1/silences/{id})")


class SilenceRequest(_Request):
    """A new silence: which incidents it mutes, from when to when, who and why."""

    matchers: list[str] = Field(
        min_length=1,
        description="label matchers (=, !=, =~, !~), all must match",
        examples=[['app="chatbot"', 'severity=~"warning|info"']],
    )
    starts_at: float | str | None = Field(None, description="unix seconds or ISO 8601; default now")
    ends_at: float | str | None = Field(None, description="unix seconds or ISO 8601 (required)")
    created_by: str | None = Field(
        None, max_length=200, description="who; required unless the credentials name a person"
    )
    comment: str = Field(max_length=10_000)

    @field_validator("comment")
    @classmethod
    def _said(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("comment is required: say who silences and why")
        return value.strip()


# -- detectors -------------------------------------------------------------------------------------------
class DetectorInfo(_Response):
    """An installed detector's metadata (built-in or plug-in)."""

    name: str
    description: str = Field(description="completes 'Watchkeeper saw ...'")
    default_severity: SeverityName
    severity_reason: str | None = None
    titles: list[dict[str, Any]] = []
    category_severities: list[dict[str, Any]] = []
    evidence_schema: dict[str, Any] = Field(
        default_factory=dict, description="JSON Schema of Finding.evidence (x-layout: how it is shown)"
    )
    labels: list[str] = Field(default_factory=list, description="label names its findings may carry")


# -- status ------------------------------------------------------------------------------------------------
class StageCheck(_Response):
    ready: bool
    error: str | None = None


class DaemonStatus(_Response):
    stages: dict[str, StageCheck]
    calls_processed: int | None = None


class Readiness(_Response):
    ready: bool
    stages: dict[str, StageCheck]


class Health(_Response):
    status: Literal["ok"]


#: Response bodies not (yet) described field by field.
ANY_OBJECT: dict[str, Any] = {"type": "object", "additionalProperties": True}
ANY_LIST: dict[str, Any] = {"type": "array", "items": ANY_OBJECT}


class AppFilter(_Request):
    app: Optional(str) = Field(None, description="one app (service.name); absent: every app")


class AppRequired(_Request):
    app: str = Field(min_length=1, description="the app (service.name)")
