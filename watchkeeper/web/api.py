"""REST API v1: incidents, findings, silences, dead letters; JSON errors with reasons; header pagination.

Lists are JSON arrays; the total count and the next page come in `X-Total-Count` and `Link` headers (the
GitHub convention), so a client that only wants the list reads the body and nothing else.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from aiohttp import web

from watchkeeper.core.detector import detector_plugins
from watchkeeper.web.actor import actor_of
from watchkeeper.web.endpoints import ApiError, EndpointTable
from watchkeeper.web.models import (
    DaemonStatus,
    DetectorInfo,
    FindingQuery,
    Incident,
    IncidentDetail,
    IncidentQuery,
    Notification,
    Silence,
    SilenceId,
    SilenceQuery,
    SilenceRequest,
    Transition,
)
from watchkeeper.web.models import (
    Finding as FindingModel,
)
from watchkeeper.web.times import json_response

DAEMON_KEY: web.AppKey[Any] = web.AppKey("daemon", object)
#: Every EndpointTable the app serves (the OpenAPI document is built from them).
TABLES_KEY: web.AppKey[list[EndpointTable]] = web.AppKey("endpoint_tables", list)

log = logging.getLogger("watchkeeper.web")

routes = EndpointTable(tag="incidents")
silence_routes = EndpointTable(tag="silences")
delivery_routes = EndpointTable(tag="deliveries")
meta_routes = EndpointTable(tag="meta")


@web.middleware
async def error_middleware(request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        body = {"error": exc.error, "reason": exc.reason, **(getattr(exc, "details", None) or {})}
        return json_response(body, status=exc.status)
    except web.HTTPException as exc:
        if not request.path.startswith("/api/"):
            raise
        return web.json_response({"error": exc.reason, "reason": exc.text or exc.reason}, status=exc.status)
    except Exception:
        log.exception("API handler failed for %s %s", request.method, request.path)
        return web.json_response(
            {"error": "internal", "reason": "internal error; see the daemon log"}, status=500
        )


def store_of(request: web.Request) -> Any:
    service = getattr(request.app[DAEMON_KEY], "alerts_service", None)
    if service is None:
        raise ApiError(
            503,
            "unavailable",
            "this process has no store (it runs --stage collector only); query a process that runs "
            "--stage web, alerts or all",
        )
    return service


async def run_blocking(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(None, partial(fn, *args, **kwargs))


def paged(request: web.Request, items: list[Any], total: int, limit: int, offset: int) -> web.Response:
    """A list answer: the page as a JSON array, X-Total-Count, and a Link to the next page."""
    headers = {"X-Total-Count": str(total)}
    if offset + limit < total:
        url = request.url.update_query(limit=limit, offset=offset + limit)
        headers["Link"] = f'<{url.path_qs}>; rel="next"'
    return json_response(items, headers=headers)


def _not_found(kind: str, ident: str) -> ApiError:
    return ApiError(404, "not_found", f"no {kind} with id {ident!r}")


# -- incidents ---------------------------------------------------------------------------------------------
@routes.get(
    "/api/v1/incidents",
    operation_id="listIncidents",
    summary="List incidents, newest activity first",
    query=IncidentQuery,
    response=list[Incident],
    paginated=True,
    errors=(400,),
)
async def list_incidents(request: web.Request, query: IncidentQuery) -> web.Response:
    items, total = await run_blocking(
        store_of(request).list_incidents,
        status=query.status,
        severity=query.severity,
        app=query.app,
        detector=query.detector,
        q=query.q,
        sort=query.sort or "severity",
        limit=query.limit,
        offset=query.offset,
    )
    return paged(request, items, total, query.limit, query.offset)


@routes.get(
    "/api/v1/incidents/{id}",
    operation_id="getIncident",
    summary="One incident with its findings timeline, evidence and notifications",
    response=IncidentDetail,
    errors=(404,),
)
async def get_incident(request: web.Request) -> Any:
    incident = await run_blocking(store_of(request).get_incident, request.match_info["id"])
    if incident is None:
        raise _not_found("incident", request.match_info["id"])
    return incident


async def _transition(request: web.Request, body: Transition | None, action: str) -> Any:
    store = store_of(request)
    incident_id = request.match_info["id"]
    if await run_blocking(store.get_incident, incident_id) is None:
        raise _not_found("incident", incident_id)
    fn = store.acknowledge if action == "ack" else store.resolve
    body = body or Transition()
    by, verified = actor_of(request, body.by or body.author)
    try:
        return await run_blocking(fn, incident_id, by=by, comment=str(body.comment or ""), verified=verified)
    except ValueError as exc:
        raise ApiError(409, "conflict", str(exc)) from None


@routes.post(
    "/api/v1/incidents/{id}/ack",
    operation_id="acknowledgeIncident",
    summary="Acknowledge an incident (the channels that were told about it hear of it at once)",
    body=Transition,
    body_required=False,
    response=Incident,
    errors=(400, 404, 409),
)
async def ack_incident(request: web.Request, body: Transition | None) -> Any:
    return await _transition(request, body, "ack")


@routes.post(
    "/api/v1/incidents/{id}/resolve",
    operation_id="resolveIncident",
    summary="Resolve an incident (never reopened: the next finding of its group starts a new one)",
    body=Transition,
    body_required=False,
    response=Incident,
    errors=(400, 404, 409),
)
async def resolve_incident(request: web.Request, body: Transition | None) -> Any:
    return await _transition(request, body, "resolve")


@routes.get(
    "/api/v1/findings",
    operation_id="listFindings",
    summary="List findings, newest first",
    tags=["findings"],
    query=FindingQuery,
    response=list[FindingModel],
    paginated=True,
    errors=(400,),
)
async def list_findings(request: web.Request, query: FindingQuery) -> web.Response:
    result = await run_blocking(
        store_of(request).list_findings,
        limit=query.limit,
        offset=query.offset,
        incident_id=query.incident_id,
        detector=query.detector,
        since=query.since,
        app=query.app,
    )
    items, total = result if isinstance(result, tuple) else (result, len(result))
    return paged(request, items, total, query.limit, query.offset)


# -- silences ----------------------------------------------------------------------------------------------
@silence_routes.get(
    "/api/v1/silences",
    operation_id="listSilences",
    summary="List silences",
    query=SilenceQuery,
    response=list[Silence],
    errors=(400,),
)
async def list_silences(request: web.Request, query: SilenceQuery) -> Any:
    return await run_blocking(store_of(request).list_silences, state=query.state)


@silence_routes.post(
    "/api/v1/silences",
    operation_id="createSilence",
    summary="Create a silence (mutes matching incidents' notifications at send time)",
    body=SilenceRequest,
    response=Silence,
    status=201,
    errors=(400,),
)
async def create_silence(request: web.Request, body: SilenceRequest) -> Any:
    by, verified = actor_of(request, body.created_by, default="")
    if not by.strip():
        raise ApiError(400, "bad_request", "created_by is required: say who silences and why")
    store = store_of(request)
    try:
        silence = await run_blocking(
            store.create_silence,
            matchers=body.matchers,
            starts_at=body.starts_at,
            ends_at=body.ends_at,
            created_by=by,
            comment=body.comment,
        )
    except ValueError as exc:
        raise ApiError(400, "bad_request", str(exc)) from None
    from watchkeeper.web.activity_api import note_silence

    await run_blocking(note_silence, store, silence, by, verified)
    return silence


async def _expire(request: web.Request, silence_id: str | None) -> Any:
    if not silence_id:
        raise ApiError(400, "bad_request", "name the silence: DELETE /api/v1/silences/{id} or ?id=")
    try:
        return await run_blocking(store_of(request).expire_silence, silence_id)
    except KeyError:
        raise _not_found("silence", silence_id) from None


@silence_routes.delete(
    "/api/v1/silences",
    operation_id="expireSilenceByQuery",
    summary="Expire a silence named by ?id= (same as DELETE /api/v1/silences/{id})",
    query=SilenceId,
    response=Silence,
    errors=(400, 404),
)
async def delete_silence_by_query(request: web.Request, query: SilenceId) -> Any:
    return await _expire(request, query.id)


@silence_routes.delete(
    "/api/v1/silences/{id}",
    operation_id="expireSilence",
    summary="Expire a silence",
    response=Silence,
    errors=(404,),
)
async def delete_silence(request: web.Request) -> Any:
    return await _expire(request, request.match_info["id"])


# -- deliveries --------------------------------------------------------------------------------------------
@delivery_routes.get(
    "/api/v1/deadletters",
    operation_id="listDeadLetters",
    summary="Notifications that could not be delivered (after the last attempt or a final refusal)",
    response=list[Notification],
)
async def list_dead_letters(request: web.Request) -> Any:
    return await run_blocking(store_of(request).list_dead_letters)


@delivery_routes.post(
    "/api/v1/deadletters/{id}/replay",
    operation_id="replayDeadLetter",
    summary="Put a dead letter back in the outbox (sent at once, with the incident's current state)",
    response={"type": "object", "additionalProperties": True},
    errors=(404,),
)
async def replay_dead_letter(request: web.Request) -> Any:
    try:
        result = await run_blocking(store_of(request).replay_dead_letter, request.match_info["id"])
    except KeyError:
        raise _not_found("dead letter", request.match_info["id"]) from None
    return result if result is not None else {"replayed": request.match_info["id"]}


# -- meta --------------------------------------------------------------------------------------------------
@meta_routes.get(
    "/api/v1/status",
    operation_id="getStatus",
    summary="Which stages run in this process and whether each is ready",
    response=DaemonStatus,
)
async def status(request: web.Request) -> Any:
    daemon = request.app[DAEMON_KEY]
    body: dict[str, Any] = {"stages": daemon.readiness()}
    if daemon.detectors is not None:
        body["calls_processed"] = daemon.detectors.calls_processed
    return body


@meta_routes.get(
    "/api/v1/detectors",
    operation_id="listDetectors",
    summary="Installed detectors: description, pager titles, severities, evidence schema",
    tags=["detectors"],
    response=list[DetectorInfo],
)
async def list_detectors(request: web.Request) -> Any:
    """Every installed detector's metadata (built-ins and plug-ins alike); the dashboard renders evidence
    from each detector's schema."""
    return web.json_response([p.metadata.to_json() for p in detector_plugins().values()])


@meta_routes.get(
    "/api/v1/detectors/{name}",
    operation_id="getDetector",
    summary="One detector's metadata",
    tags=["detectors"],
    response=DetectorInfo,
    errors=(404,),
)
async def get_detector(request: web.Request) -> Any:
    plugin = detector_plugins().get(request.match_info["name"])
    if plugin is None:
        raise ApiError(404, "not_found", f"no detector named {request.match_info['name']!r} is installed")
    return web.json_response(plugin.metadata.to_json())


@meta_routes.get(
    "/api/v1/openapi.json",
    operation_id="getOpenApi",
    summary="This document",
    response={"type": "object", "additionalProperties": True},
)
async def openapi(request: web.Request) -> Any:
    from watchkeeper.web.openapi import document

    return document(request.app[TABLES_KEY])


#: The tables of this module, in the order they appear in the document.
TABLES = [routes, silence_routes, delivery_routes, meta_routes]
