"""Findings by id and people's verdicts on them: "not a problem" (false_positive) or "confirmed".

`POST /api/v1/findings/{id}/feedback` and `/api/v1/incidents/{id}/feedback` take `{verdict, comment}`. The
answer and prompt of each judged call are copied from the calls store into the verdict when they are still
there, so `GET /api/v1/feedback/export` (JSON lines, the format `watchkeeper train` reads as extra rows)
keeps working after the calls are pruned.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from watchkeeper.alerts.feedback import VERDICTS
from watchkeeper.alerts.store import NotFound, StoreError
from watchkeeper.web.actor import actor_of
from watchkeeper.web.api import (
    DAEMON_KEY,
    MAX_LIMIT,
    ApiError,
    json_body,
    paged,
    query_bool,
    query_int,
    query_time,
    run_blocking,
    store_of,
)
from watchkeeper.web.times import iso, json_response, with_iso_times


class FeedbackRequest(BaseModel):
    """A verdict on a finding or an incident."""

    model_config = ConfigDict(extra="forbid")

    verdict: Literal["false_positive", "confirmed"]
    comment: str = Field("", max_length=4000)
    by: str | None = Field(
        None, description="who (recorded as unverified unless the request is authenticated)"
    )


def samples_for(calls: Any, findings: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """finding id -> the judged call's answer and prompt, from the calls store (when still recorded)."""
    out: dict[str, dict[str, Any]] = {}
    if calls is None:
        return out
    for f in findings:
        evidence = f.get("evidence") or {}
        trace_id, span_id = evidence.get("trace_id"), evidence.get("span_id")
        if not (isinstance(trace_id, str) and isinstance(span_id, str)):
            continue
        call = calls.get_call(trace_id, span_id)
        if call is not None and call.get("output_text"):
            out[f["id"]] = {"text": call["output_text"], "prompt": call.get("prompt"), "time": call["time"]}
    return out


def _judge(
    store: Any, calls: Any, kind: str, target: str, body: FeedbackRequest, by: str, verified: bool
) -> dict[str, Any]:
    findings = store.findings_of(kind, target)
    return store.add_feedback(
        kind,
        target,
        body.verdict,
        actor=by,
        comment=body.comment,
        verified=verified,
        samples=samples_for(calls, findings),
    )


async def _feedback(request: web.Request, kind: str) -> web.Response:
    body = await json_body(request, FeedbackRequest)
    by, verified = actor_of(request, body.by)
    target = request.match_info["id"]
    calls = getattr(request.app[DAEMON_KEY], "calls", None)
    try:
        result = await run_blocking(_judge, store_of(request), calls, kind, target, body, by, verified)
    except NotFound as exc:
        raise ApiError(404, "not_found", str(exc)) from None
    except (StoreError, ValueError) as exc:
        raise ApiError(409, "conflict", str(exc)) from None
    incident = await run_blocking(store_of(request).get_incident, result["incident_id"])
    result["incident_status"] = incident["status"] if incident else None
    return json_response(result, status=201)


async def finding_feedback(request: web.Request) -> web.Response:
    return await _feedback(request, "finding")


async def incident_feedback(request: web.Request) -> web.Response:
    return await _feedback(request, "incident")


async def get_finding(request: web.Request) -> web.Response:
    finding = await run_blocking(store_of(request).get_finding, request.match_info["id"])
    if finding is None:
        raise ApiError(404, "not_found", f"no finding with id {request.match_info['id']!r}")
    evidence = finding.get("evidence") or {}
    if evidence.get("trace_id") and evidence.get("span_id"):
        finding["call_id"] = f"{evidence['trace_id']}:{evidence['span_id']}"
    return json_response(finding)


def _verdict(request: web.Request) -> str | None:
    verdict = request.query.get("verdict") or None
    if verdict is not None and verdict not in VERDICTS:
        raise ApiError(400, "bad_request", f"verdict must be one of {', '.join(VERDICTS)}")
    return verdict


async def list_feedback(request: web.Request) -> web.Response:
    limit = query_int(request, "limit", 100, 1, MAX_LIMIT)
    offset = query_int(request, "offset", 0)
    items, total = await run_blocking(
        store_of(request).list_feedback,
        since=query_time(request, "since"),
        detector=request.query.get("detector") or None,
        verdict=_verdict(request),
        incident_id=request.query.get("incident_id") or None,
        limit=limit,
        offset=offset,
    )
    return paged(request, items, total, limit, offset)


async def export_feedback(request: web.Request) -> web.StreamResponse:
    """JSON lines, one labelled row per judged finding (its latest verdict; `history=true` for all)."""
    rows = await run_blocking(
        store_of(request).export_rows,
        since=query_time(request, "since"),
        detector=request.query.get("detector") or None,
        verdict=_verdict(request),
        history=bool(query_bool(request, "history")),
    )
    response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson; charset=utf-8"})
    response.headers["X-Total-Count"] = str(len(rows))
    await response.prepare(request)
    for start in range(0, len(rows), 200):
        chunk = "".join(
            json.dumps(export_row(r), ensure_ascii=False) + "\n" for r in rows[start : start + 200]
        )
        await response.write(chunk.encode())
    await response.write_eof()
    return response


def export_row(row: dict[str, Any]) -> dict[str, Any]:
    out = with_iso_times(row)
    out["time"] = iso(row["time"])
    return out


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/findings/{id}", get_finding)
    app.router.add_post("/api/v1/findings/{id}/feedback", finding_feedback)
    app.router.add_post("/api/v1/incidents/{id}/feedback", incident_feedback)
    app.router.add_get("/api/v1/feedback", list_feedback)
    app.router.add_get("/api/v1/feedback/export", export_feedback)
