"""REST API v1: incidents, findings, silences, dead letters; JSON errors with reasons; header pagination.

Lists are JSON arrays; the total count and the next page come in `X-Total-Count` and `Link` headers (the
GitHub convention), so a client that only wants the list reads the body and nothing else.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from aiohttp import web

from watchkeeper.core.detector import detector_plugins
from watchkeeper.web.actor import actor_of
from watchkeeper.web.times import json_response, parse_time

DAEMON_KEY: web.AppKey[Any] = web.AppKey("daemon", object)

log = logging.getLogger("watchkeeper.web")

MAX_LIMIT = 500


class ApiError(Exception):
    def __init__(self, status: int, error: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.error, self.reason = status, error, reason


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
    alerts = getattr(request.app[DAEMON_KEY], "alerts", None)
    if alerts is None:
        raise ApiError(
            503,
            "unavailable",
            "the alerts stage does not run in this process; query the process that "
            "runs --stage alerts (or all)",
        )
    return alerts.store


async def run_blocking(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(None, partial(fn, *args, **kwargs))


def _int(request: web.Request, name: str, default: int, lo: int = 0, hi: int = 1 << 31) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(
            400, "bad_request", f"query parameter {name} must be an integer, got {raw!r}"
        ) from None
    if not lo <= value <= hi:
        raise ApiError(400, "bad_request", f"query parameter {name} must be between {lo} and {hi}")
    return value


def _time(request: web.Request, name: str) -> float | None:
    """A time query parameter: ISO 8601 with a zone, or unix seconds; absent or empty is None."""
    raw = request.query.get(name)
    if not raw:
        return None
    try:
        return parse_time(raw, f"query parameter {name}")
    except ValueError as exc:
        raise ApiError(400, "bad_request", str(exc)) from None


def query_int(request: web.Request, name: str, default: int, lo: int = 0, hi: int = 1 << 31) -> int:
    """An integer query parameter within [lo, hi] (400 naming the parameter otherwise)."""
    return _int(request, name, default, lo, hi)


def query_time(request: web.Request, name: str) -> float | None:
    """A time query parameter: ISO 8601 with a zone, or unix seconds."""
    return _time(request, name)


def query_bool(request: web.Request, name: str) -> bool | None:
    raw = (request.query.get(name) or "").strip().lower()
    if not raw:
        return None
    if raw in ("1", "true", "yes"):
        return True
    if raw in ("0", "false", "no"):
        return False
    raise ApiError(400, "bad_request", f"query parameter {name} must be true or false, got {raw!r}")


def paged(request: web.Request, items: list[Any], total: int, limit: int, offset: int) -> web.Response:
    """A list answer: the page as a JSON array, X-Total-Count, and a Link to the next page."""
    return _paged(request, items, total, limit, offset)


async def json_body(request: web.Request, model: type[Any]) -> Any:
    """The request body validated by a pydantic model; 400 naming the field and the fix otherwise."""
    from pydantic import ValidationError

    body = await _json_body(request)
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
        )
        raise ApiError(400, "bad_request", problems) from None


def _paged(request: web.Request, items: list[Any], total: int, limit: int, offset: int) -> web.Response:
    headers = {"X-Total-Count": str(total)}
    if offset + limit < total:
        url = request.url.update_query(limit=limit, offset=offset + limit)
        headers["Link"] = f'<{url.path_qs}>; rel="next"'
    return json_response(items, headers=headers)


async def _json_body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ApiError(400, "bad_request", "request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "bad_request", "request body must be a JSON object")
    return body


STATUSES = {"triggered", "acknowledged", "resolved", "open"}
#: severity: open before resolved, then the most severe, then the latest; time: the latest first.
SORTS = ("severity", "time")


async def list_incidents(request: web.Request) -> web.Response:
    status = request.query.get("status") or None  # `?status=` (empty) means every status
    if status is not None and status not in STATUSES:
        raise ApiError(400, "bad_request", f"status must be one of {', '.join(sorted(STATUSES))}")
    sort = request.query.get("sort") or "severity"
    if sort not in SORTS:
        raise ApiError(400, "bad_request", f"sort must be one of {', '.join(SORTS)}")
    limit = _int(request, "limit", 50, 1, MAX_LIMIT)
    offset = _int(request, "offset", 0)
    items, total = await run_blocking(
        store_of(request).list_incidents,
        status=status,
        severity=request.query.get("severity"),
        app=request.query.get("app"),
        detector=request.query.get("detector"),
        q=request.query.get("q"),
        sort=sort,
        limit=limit,
        offset=offset,
    )
    return _paged(request, items, total, limit, offset)


async def get_incident(request: web.Request) -> web.Response:
    incident = await run_blocking(store_of(request).get_incident, request.match_info["id"])
    if incident is None:
        raise ApiError(404, "not_found", f"no incident with id {request.match_info['id']!r}")
    return json_response(incident)


async def _transition(request: web.Request, action: str) -> web.Response:
    body = await _json_body(request)
    store = store_of(request)
    incident_id = request.match_info["id"]
    if await run_blocking(store.get_incident, incident_id) is None:
        raise ApiError(404, "not_found", f"no incident with id {incident_id!r}")
    fn = store.acknowledge if action == "ack" else store.resolve
    by, verified = actor_of(request, body.get("by") or body.get("author"))
    try:
        result = await run_blocking(
            fn, incident_id, by=by, comment=str(body.get("comment") or ""), verified=verified
        )
    except ValueError as exc:
        raise ApiError(409, "conflict", str(exc)) from None
    return json_response(result)


async def ack_incident(request: web.Request) -> web.Response:
    return await _transition(request, "ack")


async def resolve_incident(request: web.Request) -> web.Response:
    return await _transition(request, "resolve")


async def list_findings(request: web.Request) -> web.Response:
    limit = _int(request, "limit", 100, 1, MAX_LIMIT)
    offset = _int(request, "offset", 0)
    result = await run_blocking(
        store_of(request).list_findings,
        limit=limit,
        offset=offset,
        incident_id=request.query.get("incident_id"),
        detector=request.query.get("detector"),
        since=_time(request, "since"),
        app=request.query.get("app"),
    )
    items, total = result if isinstance(result, tuple) else (result, len(result))
    return _paged(request, items, total, limit, offset)


async def list_silences(request: web.Request) -> web.Response:
    state = request.query.get("state")
    if state is not None and state not in {"pending", "active", "expired"}:
        raise ApiError(400, "bad_request", "state must be one of pending, active, expired")
    return json_response(await run_blocking(store_of(request).list_silences, state=state))


async def create_silence(request: web.Request) -> web.Response:
    body = await _json_body(request)
    matchers = body.get("matchers")
    if not isinstance(matchers, list) or not matchers:
        raise ApiError(400, "bad_request", 'matchers must be a non-empty list, e.g. ["app=\\"chatbot\\""]')
    by, verified = actor_of(request, body.get("created_by"), default="")
    for key, value in (("created_by", by), ("comment", body.get("comment"))):
        if not str(value or "").strip():
            raise ApiError(400, "bad_request", f"{key} is required: say who silences and why")
    store = store_of(request)
    try:
        silence = await run_blocking(
            store.create_silence,
            matchers=matchers,
            starts_at=body.get("starts_at"),
            ends_at=body.get("ends_at"),
            created_by=by,
            comment=str(body["comment"]),
        )
    except ValueError as exc:
        raise ApiError(400, "bad_request", str(exc)) from None
    from watchkeeper.web.activity_api import note_silence

    await run_blocking(note_silence, store, silence, by, verified)
    return json_response(silence, status=201)


async def delete_silence(request: web.Request) -> web.Response:
    """DELETE /api/v1/silences/{id}, or DELETE /api/v1/silences?id=... (both spellings are in use)."""
    silence_id = request.match_info.get("id") or request.query.get("id")
    if not silence_id:
        raise ApiError(400, "bad_request", "name the silence: DELETE /api/v1/silences/{id} or ?id=")
    try:
        silence = await run_blocking(store_of(request).expire_silence, silence_id)
    except KeyError:
        raise ApiError(404, "not_found", f"no silence with id {silence_id!r}") from None
    return json_response(silence)


async def list_dead_letters(request: web.Request) -> web.Response:
    return json_response(await run_blocking(store_of(request).list_dead_letters))


async def replay_dead_letter(request: web.Request) -> web.Response:
    try:
        result = await run_blocking(store_of(request).replay_dead_letter, request.match_info["id"])
    except KeyError:
        raise ApiError(404, "not_found", f"no dead letter with id {request.match_info['id']!r}") from None
    return json_response(result if result is not None else {"replayed": request.match_info["id"]})


async def status(request: web.Request) -> web.Response:
    daemon = request.app[DAEMON_KEY]
    body: dict[str, Any] = {"stages": daemon.readiness()}
    if daemon.detectors is not None:
        body["calls_processed"] = daemon.detectors.calls_processed
    return web.json_response(body)


async def list_detectors(request: web.Request) -> web.Response:
    """Every installed detector's metadata (built-ins and plug-ins alike); the dashboard renders evidence
    from each detector's schema."""
    return web.json_response([p.metadata.to_json() for p in detector_plugins().values()])


async def get_detector(request: web.Request) -> web.Response:
    plugin = detector_plugins().get(request.match_info["name"])
    if plugin is None:
        raise ApiError(404, "not_found", f"no detector named {request.match_info['name']!r} is installed")
    return web.json_response(plugin.metadata.to_json())


async def openapi(request: web.Request) -> web.Response:
    from watchkeeper.web.openapi import document

    return web.json_response(document())


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/v1/incidents", list_incidents)
    r.add_get("/api/v1/incidents/{id}", get_incident)
    r.add_post("/api/v1/incidents/{id}/ack", ack_incident)
    r.add_post("/api/v1/incidents/{id}/resolve", resolve_incident)
    r.add_get("/api/v1/findings", list_findings)
    r.add_get("/api/v1/silences", list_silences)
    r.add_post("/api/v1/silences", create_silence)
    r.add_delete("/api/v1/silences", delete_silence)
    r.add_delete("/api/v1/silences/{id}", delete_silence)
    r.add_get("/api/v1/deadletters", list_dead_letters)
    r.add_post("/api/v1/deadletters/{id}/replay", replay_dead_letter)
    r.add_get("/api/v1/status", status)
    r.add_get("/api/v1/detectors", list_detectors)
    r.add_get("/api/v1/detectors/{name}", get_detector)
    r.add_get("/api/v1/openapi.json", openapi)
