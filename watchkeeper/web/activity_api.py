"""An incident's activity log, and the silence preview (which open incidents a silence would mute)."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from watchkeeper.alerts.matchers import MatcherError, all_match, parse_matchers
from watchkeeper.web.api import ApiError, run_blocking, store_of
from watchkeeper.web.endpoints import EndpointTable
from watchkeeper.web.models import ANY_LIST, ANY_OBJECT
from watchkeeper.web.times import json_response

routes = EndpointTable(tag="incidents")
TABLES = [routes]

PREVIEW_SCAN = 2000  # open incidents a preview looks at


class SilencePreviewRequest(BaseModel):
    """POST /api/v1/silences/preview: the matchers of a silence about to be created."""

    model_config = ConfigDict(extra="ignore")

    matchers: list[str | dict[str, Any]] = Field(min_length=1, description='e.g. ["app=\\"support-bot\\""]')


def open_incidents_matching(store: Any, matchers: list[Any]) -> list[dict[str, Any]]:
    items, _ = store.list_incidents(status="open", limit=PREVIEW_SCAN, sort="severity")
    return [i for i in items if all_match(matchers, i.get("labels") or {})]


def note_silence(store: Any, silence: dict[str, Any], by: str, verified: bool) -> None:
    """A new silence appears in the activity of every open incident it mutes."""
    matchers = parse_matchers(silence.get("matchers_text") or [])
    for inc in open_incidents_matching(store, matchers):
        store.record_activity(
            inc["id"],
            "silence",
            actor=by,
            comment=silence.get("comment", ""),
            verified=verified,
            data={
                "silence_id": silence["id"],
                "matchers": silence.get("matchers_text"),
                "ends": silence.get("ends_at"),
            },
        )


@routes.get(
    "/api/v1/incidents/{id}/activity",
    operation_id="getIncidentActivity",
    summary="What happened to an incident, who did it and when (opened, findings, notifications, ack, ...)",
    response=ANY_LIST,
    errors=(404,),
)
async def incident_activity(request: web.Request) -> web.Response:
    store = store_of(request)
    incident_id = request.match_info["id"]
    if await run_blocking(store.get_incident, incident_id) is None:
        raise ApiError(404, "not_found", f"no incident with id {incident_id!r}")
    return json_response(await run_blocking(store.activity, incident_id))


@routes.post(
    "/api/v1/silences/preview",
    operation_id="previewSilence",
    summary="Which open incidents a silence with these matchers would mute",
    tags=["silences"],
    body=SilencePreviewRequest,
    response=ANY_OBJECT,
    errors=(400,),
)
async def preview_silence(request: web.Request, body: SilencePreviewRequest) -> web.Response:
    try:
        matchers = parse_matchers(body.matchers)
    except (MatcherError, ValueError) as exc:
        raise ApiError(400, "bad_request", str(exc)) from None
    muted = await run_blocking(open_incidents_matching, store_of(request), matchers)
    return json_response(
        {
            "matchers": [str(m) for m in matchers],
            "count": len(muted),
            "incidents": [
                {k: i.get(k) for k in ("id", "title", "severity", "status", "labels", "last_seen")}
                for i in muted
            ],
            "checked_at": time.time(),
        }
    )
