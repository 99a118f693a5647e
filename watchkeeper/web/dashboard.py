"""The incident dashboard: a single-page app served from local files, plus the two read endpoints it needs.

Pages (`/`, `/incidents/{id}`, `/overview`, `/silences`, `/calls`, ...) all return the same shell; the browser
routes client-side and reads the REST API. Nothing is fetched from outside the daemon, so the dashboard works
on air-gapped hosts. Model outputs are untrusted: the shell ships a strict Content-Security-Policy as a second
line of defence behind the client's text-only rendering.

`/api/v1/ui/summary` and `/api/v1/ui/overview` aggregate what the list and the overview pages show in one
request each (store counts, the daemon's own Prometheus registry, and a short in-memory history of the call
counter, since the store keeps findings but not every traced call).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import BaseModel, Field, field_validator

from watchkeeper.core import metrics
from watchkeeper.web.api import DAEMON_KEY, run_blocking, store_of
from watchkeeper.web.endpoints import EndpointTable
from watchkeeper.web.times import json_response

STATIC_DIR = Path(__file__).with_name("static")
PAGES = (
    "/",
    "/incidents",
    "/incidents/{id}",
    "/overview",
    "/silences",
    "/calls",
    "/calls/{id}",
    "/findings/{id}",
)
SEVERITIES = ("critical", "error", "warning", "info")

SAMPLE_EVERY_S = 5.0
HISTORY_S = 24 * 3600.0
WINDOWS_S = (900, 3600, 6 * 3600, 24 * 3600)
BUCKETS_PER_WINDOW = 60
MAX_FINDINGS_SCANNED = 20_000  # per overview request; beyond this the per-app/model charts are a sample
PAGE = 500

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


# -- counter history ---------------------------------------------------------------------------------------
class CounterHistory:
    """Timestamped snapshots of the calls-traced counter, so the overview can chart traffic over time."""

    def __init__(self, max_age_s: float = HISTORY_S) -> None:
        self.max_age_s = max_age_s
        self.samples: deque[tuple[float, dict[str, float]]] = deque()

    def sample(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        self.samples.append((now, calls_by_app()))
        while self.samples and now - self.samples[0][0] > self.max_age_s:
            self.samples.popleft()

    def rates(self, buckets: list[float], bucket_s: float) -> dict[str, list[float]]:
        """Calls per bucket per app: counter increase between the samples bracketing each bucket."""
        out: dict[str, list[float]] = {}
        if len(self.samples) < 2:
            return out
        samples = list(self.samples)
        for i, start in enumerate(buckets):
            end = start + bucket_s
            before = _value_at(samples, start)
            after = _value_at(samples, end)
            for app, value in after.items():
                delta = max(0.0, value - before.get(app, 0.0))
                series = out.setdefault(app, [0.0] * len(buckets))
                series[i] += delta
        return out


HISTORY_KEY = web.AppKey("dashboard_history", CounterHistory)


def _value_at(samples: list[tuple[float, dict[str, float]]], t: float) -> dict[str, float]:
    """The last snapshot at or before t; before the history began, the first one (nothing counted yet)."""
    if t >= samples[-1][0]:
        return samples[-1][1]
    chosen = samples[0][1]
    for ts, values in samples:
        if ts > t:
            break
        chosen = values
    return chosen


def _samples(metric: Any) -> Iterable[Any]:
    for family in metric.collect():
        yield from family.samples


def calls_by_app() -> dict[str, float]:
    out: dict[str, float] = {}
    for s in _samples(metrics.CALLS_TRACED):
        if s.name.endswith("_total"):
            app = s.labels.get("app", "")
            out[app] = out.get(app, 0.0) + s.value
    return out


def _by_label(metric: Any, suffix: str, label: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for s in _samples(metric):
        if s.name.endswith(suffix):
            key = s.labels.get(label, "")
            out[key] = out.get(key, 0.0) + s.value
    return out


def detector_health() -> list[dict[str, Any]]:
    """Per detector: batches run, mean batch time, exceptions and findings, from the daemon's registry."""
    batches = _by_label(metrics.DETECTOR_SECONDS, "_count", "detector")
    seconds = _by_label(metrics.DETECTOR_SECONDS, "_sum", "detector")
    errors = _by_label(metrics.DETECTOR_ERRORS, "_total", "detector")
    findings = _by_label(metrics.FINDINGS, "_total", "detector")
    names = sorted(set(batches) | set(errors) | set(findings))
    return [
        {
            "detector": name,
            "batches": int(batches.get(name, 0)),
            "mean_batch_ms": round(1000 * seconds.get(name, 0.0) / batches[name], 3)
            if batches.get(name)
            else None,
            "errors": int(errors.get(name, 0)),
            "findings": int(findings.get(name, 0)),
            "healthy": errors.get(name, 0) == 0,
            "coverage": judge_coverage() if name == "content_safety" else None,
        }
        for name in names
    ]


def judge_coverage() -> dict[str, Any] | None:
    """Share of answers the semantic content-safety judge read (the rest: the lexical signal, over CPU
    budget)."""
    semantic = lexical = 0.0
    for s in _samples(metrics.CONTENT_SAFETY_CALLS):
        if s.name.endswith("_total"):
            if s.labels.get("judge") == "semantic":
                semantic += s.value
            else:
                lexical += s.value
    if not semantic + lexical:
        return None
    by_app = {s.labels.get("app", ""): round(s.value, 4) for s in _samples(metrics.CONTENT_SAFETY_COVERAGE)}
    share = round(semantic / (semantic + lexical), 4)
    return {"share": share, "lowest_app_share": min(by_app.values(), default=None), "by_app": by_app}


def registry_snapshot() -> dict[str, Any]:
    notifications: dict[str, dict[str, int]] = {}
    for s in _samples(metrics.NOTIFICATIONS):
        if s.name.endswith("_total"):
            per = notifications.setdefault(s.labels.get("channel", ""), {})
            per[s.labels.get("outcome", "")] = int(s.value)
    return {
        "spans_received": int(sum(_by_label(metrics.SPANS_RECEIVED, "_total", "transport").values())),
        "intake_rejects": int(sum(_by_label(metrics.INTAKE_REJECTS, "_total", "reason").values())),
        "calls_traced": int(sum(calls_by_app().values())),
        "bus_lag": {k: int(v) for k, v in _by_label(metrics.BUS_LAG, "", "group").items()},
        "notifications": notifications,
    }


# -- store helpers -----------------------------------------------------------------------------------------
class OverviewQuery(BaseModel):
    window: int = Field(3600, description=f"seconds, one of {list(WINDOWS_S)}")

    @field_validator("window")
    @classmethod
    def _known(cls, value: int) -> int:
        if value not in WINDOWS_S:
            raise ValueError(f"window must be one of {list(WINDOWS_S)} (seconds)")
        return value


_UI_BODY = {"type": "object", "additionalProperties": True}
routes = EndpointTable(tag="dashboard")
#: The tables of this module (the server serves and documents them).
TABLES = [routes]


def _summary(store: Any) -> dict[str, Any]:
    counts = store.counts()
    open_by_severity = {
        sev: store.list_incidents(status="open", severity=sev, limit=1)[1] for sev in SEVERITIES
    }
    recent, _ = store.list_incidents(limit=PAGE)
    facets: dict[str, set[str]] = {"app": set(), "detector": set(), "model": set(), "env": set()}
    for inc in recent:
        for key, values in facets.items():
            value = (inc.get("labels") or {}).get(key)
            if value:
                values.add(str(value))
    now = time.time()
    hour = store.findings_timeseries(bucket_s=60.0, since=now - 3600.0)
    return {
        "now": now,
        "incidents": counts["incidents"],
        "open_by_severity": open_by_severity,
        "dead_letters": counts["dead_letters"],
        "notifications": counts["notifications"],
        "findings_total": counts["findings_total"],
        "findings_last_hour": sum(sum(v) for v in hour["series"].values()),
        "findings_timeseries": hour,
        "facets": {k: sorted(v) for k, v in facets.items()},
    }


def _bucketize(times_keys: Iterable[tuple[float, str]], start: float, bucket_s: float, n: int) -> dict:
    out: dict[str, list[int]] = {}
    for t, key in times_keys:
        i = int((t - start) // bucket_s)
        if 0 <= i < n:
            out.setdefault(key or "unknown", [0] * n)[i] += 1
    return out


def _overview(store: Any, window: int, history: CounterHistory | None) -> dict[str, Any]:
    now = time.time()
    bucket_s = window / BUCKETS_PER_WINDOW
    start = (now - window) // bucket_s * bucket_s + bucket_s
    buckets = [start + i * bucket_s for i in range(BUCKETS_PER_WINDOW)]
    findings: list[dict[str, Any]] = []
    offset, total = 0, 0
    while offset < MAX_FINDINGS_SCANNED:
        page, total = store.list_findings(limit=PAGE, offset=offset, since=start)
        findings.extend(page)
        offset += PAGE
        if len(page) < PAGE or offset >= total:
            break
    n = len(buckets)

    def by(label: str) -> dict[str, list[int]]:
        return _bucketize(
            ((f["time"], (f.get("labels") or {}).get(label, "")) for f in findings), start, bucket_s, n
        )

    incidents, _ = store.list_incidents(limit=PAGE)
    first_seen = ((i["first_seen"], (i.get("labels") or {}).get("detector", "")) for i in incidents)
    opened = _bucketize(first_seen, start, bucket_s, n)
    if history is not None:
        history.sample(now)
    return {
        "now": now,
        "window_s": window,
        "bucket_s": bucket_s,
        "buckets": buckets,
        "calls_by_app": history.rates(buckets, bucket_s) if history is not None else {},
        "findings": {
            "by_detector": by("detector"),
            "by_app": by("app"),
            "by_model": by("model"),
            "by_severity": _bucketize(
                ((f["time"], f.get("severity", "")) for f in findings), start, bucket_s, n
            ),
            "scanned": len(findings),
            "total_in_window": total,
        },
        "incidents_opened_by_detector": opened,
        "counts": store.counts(),
        "detectors": detector_health(),
        "registry": registry_snapshot(),
        "dead_letters": store.list_dead_letters(limit=50),
    }


def _traffic(calls: Any, buckets: list[float], bucket_s: float) -> dict[str, Any]:
    """Latency, tokens and error rate per app and per model, from the recorded calls of the window."""
    from watchkeeper.calls.aggregate import traffic

    start, n = buckets[0], len(buckets)
    rows = calls.series(start, start + n * bucket_s)
    return {
        "by_app": traffic(rows, start, bucket_s, n, "app"),
        "by_model": traffic(rows, start, bucket_s, n, "model"),
        "calls_in_window": len(rows),
        "stored": calls.counts(),
    }


# -- handlers ----------------------------------------------------------------------------------------------
async def page(request: web.Request) -> web.StreamResponse:
    """Every dashboard route gets the shell; the client renders the page for the URL."""
    return web.FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})


@routes.get(
    "/api/v1/ui/summary",
    operation_id="getDashboardSummary",
    summary="What the dashboard's first screen shows (internal to the dashboard; may change)",
    response=_UI_BODY,
)
async def ui_summary(request: web.Request) -> web.Response:
    return json_response(await run_blocking(_summary, store_of(request)))


@routes.get(
    "/api/v1/ui/overview",
    operation_id="getDashboardOverview",
    summary="Traffic and findings per time bucket for the overview page (internal; may change)",
    query=OverviewQuery,
    response=_UI_BODY,
    errors=(400,),
)
async def ui_overview(request: web.Request, query: OverviewQuery) -> web.Response:
    window = query.window
    store = store_of(request)
    body = await run_blocking(_overview, store, window, request.app.get(HISTORY_KEY))
    daemon = request.app[DAEMON_KEY]
    calls = getattr(daemon, "calls", None)
    if calls is not None:
        body["traffic"] = await run_blocking(_traffic, calls, body["buckets"], body["bucket_s"])
        body["calls_by_app"] = {app: s["calls"] for app, s in body["traffic"]["by_app"].items()}
    body["stages"] = daemon.readiness()
    detectors = getattr(daemon, "detectors", None)
    body["calls_processed"] = getattr(detectors, "calls_processed", None)
    return json_response(body)


async def _history_ctx(app: web.Application) -> AsyncIterator[None]:
    """Sample the call counter in the background while the server runs."""
    history = app[HISTORY_KEY]

    async def loop() -> None:
        while True:
            history.sample()
            await asyncio.sleep(SAMPLE_EVERY_S)

    task = asyncio.create_task(loop())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def add_routes(app: web.Application) -> None:
    """Mount the dashboard pages, its static assets and the /api/v1/ui/* endpoints on the daemon's app."""
    for path in PAGES:
        app.router.add_get(path, page)
    app.router.add_static("/static/", STATIC_DIR, append_version=False)
    app[HISTORY_KEY] = CounterHistory()
    app.cleanup_ctx.append(_history_ctx)
