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

from watchkeeper.alerts.store import NotFound, StoreError
from watchkeeper.web.actor import actor_of
from watchkeeper.web.api import DAEMON_KEY, ApiError, paged, run_blocking, store_of
from watchkeeper.web.endpoints import EndpointTable
from watchkeeper.web.models import ANY_LIST, ANY_OBJECT, Finding, Optional, Page, TimeParam
from watchkeeper.web.times import iso, json_response, with_iso_times

routes = EndpointTable(tag="feedback")
TABLES = [routes]


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


class FeedbackFilter(BaseModel):
    since: TimeParam = Field(None, description="verdicts given at or after this time")
    detector: Optional(str) = None
    verdict: Optional(Literal["false_positive", "confirmed"]) = None


class FeedbackQuery(Page, FeedbackFilter):
    limit: int = Field(100, ge=1, le=500, description="page size")
    incident_id: Optional(str) = None


class ExportQuery(FeedbackFilter):
    history: Optional(bool) = Field(None, description="every verdict, not only each finding's latest")


async def _feedback(request: web.Request, body: FeedbackRequest, kind: str) -> web.Response:
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


_FEEDBACK = {"body": FeedbackRequest, "response": ANY_OBJECT, "status": 201, "errors": (404, 409)}


@routes.post(
    "/api/v1/findings/{id}/feedback",
    operation_id="giveFindingFeedback",
    summary="A verdict on a finding (a false positive resolves its incident and mutes near-duplicates)",
    **_FEEDBACK,
)
async def finding_feedback(request: web.Request, body: FeedbackRequest) -> web.Response:
    return await _feedback(request, body, "finding")


@routes.post(
    "/api/v1/incidents/{id}/feedback",
    operation_id="giveIncidentFeedback",
    summary="A verdict on every finding of an incident",
    **_FEEDBACK,
)
async def incident_feedback(request: web.Request, body: FeedbackRequest) -> web.Response:
    return await _feedback(request, body, "incident")


@routes.get(
    "/api/v1/findings/{id}",
    operation_id="getFinding",
    summary="One finding, with the id of the call it judged",
    tags=["findings"],
    response=Finding,
    errors=(404,),
)
async def get_finding(request: web.Request) -> web.Response:
    finding = await run_blocking(store_of(request).get_finding, request.match_info["id"])
    if finding is None:
        raise ApiError(404, "not_found", f"no finding with id {request.match_info['id']!r}")
    evidence = finding.get("evidence") or {}
    if evidence.get("trace_id") and evidence.get("span_id"):
        finding["call_id"] = f"{evidence['trace_id']}:{evidence['span_id']}"
    return json_response(finding)


@routes.get(
    "/api/v1/feedback",
    operation_id="listFeedback",
    summary="Verdicts given on findings and incidents, newest first",
    query=FeedbackQuery,
    response=ANY_LIST,
    paginated=True,
)
async def list_feedback(request: web.Request, query: FeedbackQuery) -> web.Response:
    items, total = await run_blocking(
        store_of(request).list_feedback,
        since=query.since,
        detector=query.detector,
        verdict=query.verdict,
        incident_id=query.incident_id,
        limit=query.limit,
        offset=query.offset,
    )
    return paged(request, items, total, query.limit, query.offset)


@routes.get(
    "/api/v1/feedback/export",
    operation_id="exportFeedback",
    summary="Labelled rows for retraining: JSON lines, one per judged finding",
    query=ExportQuery,
    response={"type": "string", "description": "one JSON object per line"},
    response_content_type="application/x-ndjson",
)
async def export_feedback(request: web.Request, query: ExportQuery) -> web.StreamResponse:
    """JSON lines, one labelled row per judged finding (its latest verdict; `history=true` for all)."""
    rows = await run_blocking(
        store_of(request).export_rows,
        since=query.since,
        detector=query.detector,
        verdict=query.verdict,
        history=bool(query.history),
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
