"""`/api/v1/calls`: the recent model calls (filters, pagination) and one call with its findings and incident.

A call is named `{trace_id}:{span_id}` (the span of the model call), the same id the dead-letter topic and
the findings' evidence use. The call page links to the user's trace backend through `web.trace_url_template`.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from watchkeeper.calls.store import CallQuery, CallStore
from watchkeeper.web.api import (
    DAEMON_KEY,
    MAX_LIMIT,
    ApiError,
    paged,
    query_bool,
    query_int,
    query_time,
    run_blocking,
)
from watchkeeper.web.times import json_response

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
    alerts = getattr(request.app[DAEMON_KEY], "alerts", None)
    return alerts.store if alerts is not None else None


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


def query_of(request: web.Request) -> CallQuery:
    q = request.query
    sha = (q.get("system_sha256") or "").strip()
    if sha and not HEX_PREFIX.match(sha):
        raise ApiError(400, "bad_request", "system_sha256 must be hex (a full sha256 or a prefix of it)")
    since, until = query_time(request, "since"), query_time(request, "until")
    if since is not None and until is not None and until <= since:
        raise ApiError(400, "bad_request", "until must be after since")
    return CallQuery(
        app=q.get("app") or None,
        env=q.get("env") or None,
        model=q.get("model") or None,
        provider=q.get("provider") or None,
        since=since,
        until=until,
        finish_reason=q.get("finish_reason") or None,
        system_sha256=sha or None,
        has_finding=query_bool(request, "has_finding"),
        detector=q.get("detector") or None,
        error=query_bool(request, "error"),
        conversation_id=q.get("conversation_id") or None,
        trace_id=(q.get("trace_id") or "").lower() or None,
        q=q.get("q") or None,
        limit=query_int(request, "limit", 50, 1, MAX_LIMIT),
        offset=query_int(request, "offset", 0),
    )


async def list_calls(request: web.Request) -> web.Response:
    query = query_of(request)
    items, total = await run_blocking(calls_of(request).list_calls, query)
    return paged(request, items, total, query.limit, query.offset)


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


async def call_facets(request: web.Request) -> web.Response:
    calls = calls_of(request)
    body = await run_blocking(lambda: {**calls.facets(), "stored": calls.counts()})
    return json_response(body)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/calls", list_calls)
    app.router.add_get("/api/v1/calls/facets", call_facets)
    app.router.add_get("/api/v1/calls/{id}", get_call)
