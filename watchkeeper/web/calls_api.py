"""`/api/v1/calls`: the recent model calls (filters, pagination) and one call with its findings and incident.

A call is named `{trace_id}:{span_id}` (the span of the model call), the same id the dead-letter topic and
the findings' evidence use. The call page links to the user's trace backend through `web.trace_url_template`.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from pydantic import Field, field_validator, model_validator

from watchkeeper.calls.store import CallQuery, CallStore
from watchkeeper.web.api import DAEMON_KEY, ApiError, paged, run_blocking
from watchkeeper.web.endpoints import EndpointTable
from watchkeeper.web.models import ANY_LIST, ANY_OBJECT, Optional, Page, TimeParam
from watchkeeper.web.times import json_response

routes = EndpointTable(tag="calls")
TABLES = [routes]

CALL_ID = re.compile(r"^([0-9a-fA-F]{32}):([0-9a-fA-F]{16})$")
HEX_PREFIX = re.compile(r"^[0-9a-fA-F]{1,64}$")


def calls_of(request: web.Request) -> CallStore:
    calls = getattr(request.app[DAEMON_KEY], "calls", None)
    if calls is None:
        raise ApiError(
            503,
            "unavailable",
            "this daemon does not record calls (calls.enabled is false); enable it to use the calls explorer",
        )
    return calls


def alerts_store(request: web.Request) -> Any | None:
    return getattr(request.app[DAEMON_KEY], "alerts_service", None)


def parse_call_id(raw: str) -> tuple[str, str]:
    match = CALL_ID.match(raw.strip())
    if match is None:
        raise ApiError(
            400,
            "bad_request",
            f"{raw!r} is not a call id: use <trace_id>:<span_id> (32 and 16 hex characters)",
        )
    return match.group(1).lower(), match.group(2).lower()


def trace_url(template: str | None, call: dict[str, Any]) -> str | None:
    """The user's trace backend link for a call, or None when no template is configured."""
    if not template:
        return None
    start_ms = int(call["time"] * 1000)
    return template.format(
        trace_id=call["trace_id"],
        span_id=call["span_id"],
        app=call["app"],
        start_ms=start_ms - 60_000,
        end_ms=start_ms + int(call["duration_ms"]) + 60_000,
    )


class CallsQuery(Page):
    """Filters of the calls explorer (all optional, combined with AND)."""

    app: Optional(str) = None
    env: Optional(str) = None
    model: Optional(str) = None
    provider: Optional(str) = None
    since: TimeParam = None
    until: TimeParam = None
    finish_reason: Optional(str) = None
    system_sha256: Optional(str) = Field(None, description="a full sha256 or a hex prefix of it")
    has_finding: Optional(bool) = None
    detector: Optional(str) = None
    error: Optional(bool) = Field(None, description="only failed (true) or only successful (false) calls")
    conversation_id: Optional(str) = None
    trace_id: Optional(str) = None
    q: Optional(str) = Field(None, description="text search in the captured content")

    @field_validator("system_sha256")
    @classmethod
    def _hex(cls, value: str | None) -> str | None:
        value = (value or "").strip()
        if value and not HEX_PREFIX.match(value):
            raise ValueError("system_sha256 must be hex (a full sha256 or a prefix of it)")
        return value or None

    @model_validator(mode="after")
    def _window(self) -> CallsQuery:
        if self.since is not None and self.until is not None and self.until <= self.since:
            raise ValueError("until must be after since")
        return self

    def to_store(self) -> CallQuery:
        fields = self.model_dump()
        fields["trace_id"] = (self.trace_id or "").lower() or None
        return CallQuery(**fields)


@routes.get(
    "/api/v1/calls",
    operation_id="listCalls",
    summary="Recent model calls, newest first",
    query=CallsQuery,
    response=ANY_LIST,
    paginated=True,
    errors=(503,),
)
async def list_calls(request: web.Request, query: CallsQuery) -> web.Response:
    items, total = await run_blocking(calls_of(request).list_calls, query.to_store())
    return paged(request, items, total, query.limit, query.offset)


@routes.get(
    "/api/v1/calls/facets",
    operation_id="getCallFacets",
    summary="The values each calls filter can take, and how many calls are stored",
    response=ANY_OBJECT,
    errors=(503,),
)
async def call_facets(request: web.Request) -> web.Response:
    calls = calls_of(request)
    body = await run_blocking(lambda: {**calls.facets(), "stored": calls.counts()})
    return json_response(body)


def _call_detail(calls: CallStore, store: Any, trace_id: str, span_id: str, template: str | None) -> Any:
    call = calls.get_call(trace_id, span_id)
    if call is None:
        return None
    findings = store.findings_by_ids(call["finding_ids"]) if store is not None else []
    incidents = store.incidents_by_ids([f["incident_id"] for f in findings]) if store is not None else []
    call["findings"] = findings
    call["incidents"] = [
        {k: i[k] for k in ("id", "title", "status", "severity", "first_seen", "last_seen")} for i in incidents
    ]
    call["trace_url"] = trace_url(template, call)
    return call


@routes.get(
    "/api/v1/calls/{id}",
    operation_id="getCall",
    summary="One call (<trace_id>:<span_id>) with its findings, incidents and a link to the trace",
    response=ANY_OBJECT,
    errors=(400, 404, 503),
)
async def get_call(request: web.Request) -> web.Response:
    trace_id, span_id = parse_call_id(request.match_info["id"])
    template = request.app[DAEMON_KEY].settings.web.trace_url_template
    call = await run_blocking(
        _call_detail, calls_of(request), alerts_store(request), trace_id, span_id, template
    )
    if call is None:
        raise ApiError(
            404,
            "not_found",
            f"no recorded call {trace_id}:{span_id}; calls are kept for calls.max_age (and within "
            "calls.max_mb / calls.max_calls), so an older one is gone",
        )
    return json_response(call)
