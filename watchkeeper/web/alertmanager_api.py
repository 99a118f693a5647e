"""A read-only Alertmanager API v2 over Watchkeeper's incidents and silences (`/api/v2/...`).

So the tools people already point at an Alertmanager work against Watchkeeper: `amtool --alertmanager.url`
(alert query, silence query, config routes, cluster show) and Grafana's Alertmanager data source. An open
incident is one alert, with the same labels, annotations and fingerprint the `alertmanager` receiver sends;
its receivers come from the routing tree, `silencedBy` from the active silences that match it and
`inhibitedBy` from the inhibition rules over the other open incidents. Changes go through `/api/v1`
(silences, acknowledge, resolve): the write endpoints of v2 answer 405 saying so.
"""

from __future__ import annotations

import platform
import re
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from watchkeeper.alerts.channels.alertmanager import alert_labels, fingerprint, rfc3339
from watchkeeper.alerts.inhibition import Inhibitor
from watchkeeper.alerts.matchers import Matcher, MatcherError, matcher_from_any, parse_matcher, split_matchers
from watchkeeper.alerts.outbox import incident_url
from watchkeeper.alerts.routing import Route, Router
from watchkeeper.web.api import DAEMON_KEY, run_blocking, store_of
from watchkeeper.web.endpoints import ApiError, EndpointTable
from watchkeeper.web.models import Error

routes = EndpointTable(tag="alertmanager-v2")
TABLES = [routes]

_STARTED = time.time()
#: Open incidents read per request (the store keeps far fewer open at once in practice).
MAX_ALERTS = 10_000
_ROUTING: weakref.WeakKeyDictionary[Any, tuple[Router, Inhibitor, Any]] = weakref.WeakKeyDictionary()


# -- documented shapes (Alertmanager's openapi.yaml, the fields its clients read) -------------------------
class _Shape(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


class AmMatcher(_Shape):
    name: str
    value: str
    isRegex: bool
    isEqual: bool = True


class AmReceiver(_Shape):
    name: str


class AmAlertStatus(_Shape):
    state: str = Field(description="active, suppressed or unprocessed")
    silencedBy: list[str]
    inhibitedBy: list[str]


class AmAlert(_Shape):
    labels: dict[str, str]
    annotations: dict[str, str]
    receivers: list[AmReceiver]
    fingerprint: str
    startsAt: str
    updatedAt: str
    endsAt: str
    generatorURL: str
    status: AmAlertStatus


class AmAlertGroup(_Shape):
    labels: dict[str, str]
    receiver: AmReceiver
    alerts: list[AmAlert]


class AmSilenceStatus(_Shape):
    state: str = Field(description="active, pending or expired")


class AmSilence(_Shape):
    id: str
    status: AmSilenceStatus
    updatedAt: str
    matchers: list[AmMatcher]
    startsAt: str
    endsAt: str
    createdBy: str
    comment: str


class AmStatus(_Shape):
    cluster: dict[str, Any]
    versionInfo: dict[str, str]
    config: dict[str, str]
    uptime: str


class AlertsQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    active: bool = True
    silenced: bool = True
    inhibited: bool = True
    unprocessed: bool = True
    filter: list[str] = Field(default_factory=list, description='matchers, e.g. alertname="integrity"')
    receiver: str | None = Field(None, description="regular expression the receiver name must match")


class SilencesQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    filter: list[str] = Field(default_factory=list, description='matchers, e.g. app="chatbot"')


# -- helpers ------------------------------------------------------------------------------------------------
def _alerts_stage(request: web.Request) -> Any:
    store_of(request)  # 503 naming the fix when the alerts stage runs elsewhere
    return request.app[DAEMON_KEY].alerts


def _routing(request: web.Request) -> tuple[Router, Inhibitor, Any]:
    """The compiled routing tree and inhibition rules of the alerts stage (compiled once per stage)."""
    stage = _alerts_stage(request)
    cached = _ROUTING.get(stage)
    if cached is None:
        cfg = stage.cfg
        cached = _ROUTING[stage] = (Router(cfg.route), Inhibitor(cfg.inhibit_rules), cfg)
    return cached


def _filters(texts: list[str]) -> list[Matcher]:
    matchers: list[Matcher] = []
    try:
        for text in texts:
            matchers += [parse_matcher(part) for part in split_matchers(text)]
    except MatcherError as exc:
        raise ApiError(400, "bad_request", f"filter: {exc}") from None
    return matchers


def _receiver_pattern(text: str | None) -> re.Pattern[str] | None:
    if not text:
        return None
    try:
        return re.compile(f"^(?:{text})$")
    except re.error as exc:
        raise ApiError(400, "bad_request", f"receiver: not a regular expression ({exc})") from None


def _open_incidents(store: Any) -> list[dict[str, Any]]:
    items, _total = store.list_incidents(status="open", limit=MAX_ALERTS, sort="time")
    return list(items)


def _silences(store: Any) -> list[tuple[dict[str, Any], list[Matcher]]]:
    out = []
    for silence in store.list_silences(state="active"):
        out.append((silence, [matcher_from_any(m) for m in silence["matchers"]]))
    return out


def _alerts(request: web.Request) -> list[tuple[AmAlertBody, list[Route]]]:
    store = store_of(request)
    router, inhibitor, cfg = _routing(request)
    stage = _alerts_stage(request)
    incidents = _open_incidents(store)
    silences = _silences(store)
    by_id = {i["id"]: alert_labels(i, {}) for i in incidents}
    sources = [(i["id"], i["labels"]) for i in incidents]
    out = []
    for incident in incidents:
        labels = by_id[incident["id"]]
        routing_labels = {**labels, **incident["labels"]}
        matched = router.match(routing_labels)
        silenced_by = [s["id"] for s, ms in silences if all(m.matches(labels) for m in ms)]
        source = inhibitor.inhibited_by(incident["id"], incident["labels"], sources)
        inhibited_by = [fingerprint(by_id[source])] if source in by_id else []
        url = incident_url(stage.dashboard_url, incident["id"])
        annotations = {
            "summary": incident.get("title") or "",
            "description": incident.get("summary") or "",
            "incident_id": incident["id"],
            "status": incident["status"],
            "dashboard_url": url,
            **{k: str(v) for k, v in (incident.get("annotations") or {}).items()},
        }
        out.append(
            (
                AmAlertBody(
                    labels=labels,
                    annotations={k: v for k, v in annotations.items() if v},
                    receivers=list(dict.fromkeys(r.receiver for r in matched)),
                    fingerprint=fingerprint(labels),
                    starts_at=float(incident["first_seen"]),
                    updated_at=float(incident.get("updated_at") or incident["last_seen"]),
                    ends_at=float(incident["last_seen"]) + float(cfg.resolve_timeout),
                    generator_url=url,
                    silenced_by=silenced_by,
                    inhibited_by=inhibited_by,
                ),
                matched,
            )
        )
    return out


@dataclass(slots=True)
class AmAlertBody:
    """One open incident as an Alertmanager alert (before the query's filters)."""

    labels: dict[str, str]
    annotations: dict[str, str]
    receivers: list[str]
    fingerprint: str
    starts_at: float
    updated_at: float
    ends_at: float
    generator_url: str
    silenced_by: list[str]
    inhibited_by: list[str]

    @property
    def state(self) -> str:
        return "suppressed" if self.silenced_by or self.inhibited_by else "active"

    def to_json(self) -> dict[str, Any]:
        return {
            "labels": self.labels,
            "annotations": self.annotations,
            "receivers": [{"name": name} for name in self.receivers],
            "fingerprint": self.fingerprint,
            "startsAt": rfc3339(self.starts_at),
            "updatedAt": rfc3339(self.updated_at),
            "endsAt": rfc3339(self.ends_at),
            "generatorURL": self.generator_url,
            "status": {"state": self.state, "silencedBy": self.silenced_by, "inhibitedBy": self.inhibited_by},
        }


def _selected(alert: AmAlertBody, query: AlertsQuery, matchers: list[Matcher], pattern: Any) -> bool:
    if alert.silenced_by and not query.silenced:
        return False
    if alert.inhibited_by and not query.inhibited:
        return False
    if alert.state == "active" and not query.active:
        return False
    if not all(m.matches(alert.labels) for m in matchers):
        return False
    return pattern is None or any(pattern.match(name) for name in alert.receivers)


def _duration(seconds: float) -> str:
    """Alertmanager's duration spelling (10s, 5m, 4h, 1500ms)."""
    if seconds != int(seconds):
        return f"{round(seconds * 1000)}ms"
    whole = int(seconds)
    for unit, size in (("h", 3600), ("m", 60)):
        if whole and whole % size == 0:
            return f"{whole // size}{unit}"
    return f"{whole}s"


def _route_yaml(route: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if route.receiver:
        out["receiver"] = route.receiver
    if route.group_by is not None:
        out["group_by"] = list(route.group_by)
    if getattr(route, "continue_", False):
        out["continue"] = True
    if route.matchers:
        out["matchers"] = list(route.matchers)
    for key in ("group_wait", "group_interval", "repeat_interval"):
        value = getattr(route, key, None)
        if value is not None:
            out[key] = _duration(float(value))
    for key in ("mute_time_intervals", "active_time_intervals"):
        if getattr(route, key, None):
            out[key] = list(getattr(route, key))
    if route.routes:
        out["routes"] = [_route_yaml(child) for child in route.routes]
    return out


def alertmanager_config_yaml(cfg: Any) -> str:
    """The routing part of the alerts config in Alertmanager's dialect (receivers by name, no secrets)."""
    doc: dict[str, Any] = {
        "global": {"resolve_timeout": _duration(float(cfg.resolve_timeout))},
        "route": _route_yaml(cfg.route),
        "receivers": [{"name": r.name} for r in cfg.receivers],
    }
    if cfg.inhibit_rules:
        doc["inhibit_rules"] = [
            {
                "source_matchers": list(rule.source_matchers),
                "target_matchers": list(rule.target_matchers),
                **({"equal": list(rule.equal)} if rule.equal else {}),
            }
            for rule in cfg.inhibit_rules
        ]
    if getattr(cfg, "time_intervals", None):
        doc["time_intervals"] = [
            {"name": ti.name, "time_intervals": ti.time_intervals} for ti in cfg.time_intervals
        ]
    return yaml.safe_dump(doc, sort_keys=False)


def silence_json(silence: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": silence["id"],
        "status": {"state": silence["state"]},
        "updatedAt": rfc3339(float(silence["updated_at"])),
        "matchers": [
            {"name": m["name"], "value": m["value"], "isRegex": m["isRegex"], "isEqual": m["isEqual"]}
            for m in silence["matchers"]
        ],
        "startsAt": rfc3339(float(silence["starts_at"])),
        "endsAt": rfc3339(float(silence["ends_at"])),
        "createdBy": silence["created_by"],
        "comment": silence["comment"],
    }


def _silence_matches_filter(silence: Mapping[str, Any], matchers: list[Matcher]) -> bool:
    """Alertmanager's rule: each filter matcher must match the value of an equality matcher of the silence."""
    equal = {m["name"]: m["value"] for m in silence["matchers"] if m["isEqual"] and not m["isRegex"]}
    return all(m.name in equal and m.matches({m.name: equal[m.name]}) for m in matchers)


# -- endpoints ----------------------------------------------------------------------------------------------
@routes.get(
    "/api/v2/status",
    operation_id="amGetStatus",
    summary="Alertmanager-compatible status (cluster disabled, routing config in Alertmanager's dialect)",
    response=AmStatus,
)
async def get_status(request: web.Request) -> Any:
    from watchkeeper import __version__

    _router, _inhibitor, cfg = _routing(request)
    return {
        "cluster": {"name": "", "status": "disabled", "peers": []},
        "versionInfo": {
            "version": f"watchkeeper-{__version__}",
            "revision": "",
            "branch": "",
            "buildUser": "",
            "buildDate": "",
            "goVersion": f"python{platform.python_version()}",
        },
        "config": {"original": alertmanager_config_yaml(cfg)},
        "uptime": rfc3339(_STARTED),
    }


@routes.get(
    "/api/v2/receivers", operation_id="amGetReceivers", summary="Receiver names", response=list[AmReceiver]
)
async def get_receivers(request: web.Request) -> Any:
    _router, _inhibitor, cfg = _routing(request)
    return [{"name": r.name} for r in cfg.receivers]


@routes.get(
    "/api/v2/alerts",
    operation_id="amGetAlerts",
    summary="Open incidents as Alertmanager alerts",
    query=AlertsQuery,
    response=list[AmAlert],
    errors=(400,),
)
async def get_alerts(request: web.Request, query: AlertsQuery) -> Any:
    matchers, pattern = _filters(query.filter), _receiver_pattern(query.receiver)
    alerts = await run_blocking(_alerts, request)
    return [alert.to_json() for alert, _ in alerts if _selected(alert, query, matchers, pattern)]


@routes.get(
    "/api/v2/alerts/groups",
    operation_id="amGetAlertGroups",
    summary="Open incidents grouped per receiver and group labels, as Alertmanager groups them",
    query=AlertsQuery,
    response=list[AmAlertGroup],
    errors=(400,),
)
async def get_alert_groups(request: web.Request, query: AlertsQuery) -> Any:
    matchers, pattern = _filters(query.filter), _receiver_pattern(query.receiver)
    alerts = await run_blocking(_alerts, request)
    groups: dict[tuple[str, tuple[tuple[str, str], ...]], dict[str, Any]] = {}
    for alert, matched in alerts:
        if not _selected(alert, query, matchers, None):
            continue
        for route in matched:
            if pattern is not None and not pattern.match(route.receiver):
                continue
            labels = route.group_labels(alert.labels)
            key = (route.receiver, tuple(sorted(labels.items())))
            group = groups.setdefault(
                key, {"labels": labels, "receiver": {"name": route.receiver}, "alerts": []}
            )
            group["alerts"].append(alert.to_json())
    return list(groups.values())


@routes.get(
    "/api/v2/silences",
    operation_id="amGetSilences",
    summary="Silences in Alertmanager's shape",
    query=SilencesQuery,
    response=list[AmSilence],
    errors=(400,),
)
async def get_silences(request: web.Request, query: SilencesQuery) -> Any:
    matchers = _filters(query.filter)
    silences = await run_blocking(store_of(request).list_silences)
    return [silence_json(s) for s in silences if _silence_matches_filter(s, matchers)]


@routes.get(
    "/api/v2/silence/{silenceID}",
    operation_id="amGetSilence",
    summary="One silence in Alertmanager's shape",
    response=AmSilence,
    errors=(404,),
)
async def get_silence(request: web.Request) -> Any:
    silence_id = request.match_info["silenceID"]
    silence = await run_blocking(store_of(request).get_silence, silence_id)
    if silence is None:
        raise ApiError(404, "not_found", f"no silence with id {silence_id!r}")
    return silence_json(silence)


def _read_only(what: str, instead: str) -> Any:
    async def refuse(request: web.Request) -> Any:
        raise ApiError(
            405, "method_not_allowed", f"the Alertmanager API here is read-only; {what} with {instead}"
        )

    return refuse


for _method, _path, _op, _what, _instead in (
    ("POST", "/api/v2/alerts", "amPostAlerts", "findings come from the detectors", "the OTLP intake"),
    ("POST", "/api/v2/silences", "amPostSilences", "create silences", "POST /api/v1/silences"),
    (
        "DELETE",
        "/api/v2/silence/{silenceID}",
        "amDeleteSilence",
        "expire silences",
        "DELETE /api/v1/silences/{id}",
    ),
):
    routes.route(
        _method,
        _path,
        operation_id=_op,
        summary=f"Not supported (read-only): {_what} with {_instead}",
        response=Error,
        response_description="always: this Alertmanager API is read-only",
        status=405,
    )(_read_only(_what, _instead))
