"""The daemon's web server: REST API, health, metrics, and the dashboard (static pages that use the API).

aiohttp, in the daemon's asyncio loop. Store calls are blocking SQLite: they run in the default executor so
one slow query never stalls the intake sharing the loop.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from yarl import URL

from watchkeeper.core import metrics
from watchkeeper.core.auth import basic_matches, bearer_matches, host_allowed
from watchkeeper.core.listener import GuardedSite, ListenerLimits, runner_options
from watchkeeper.web import api
from watchkeeper.web.actor import ACTOR_KEY
from watchkeeper.web.api import DAEMON_KEY, TABLES_KEY
from watchkeeper.web.endpoints import EndpointTable, register
from watchkeeper.web.models import Health, Readiness

log = logging.getLogger("watchkeeper.web")

#: API modules beside `api` (one per concept), each with `TABLES` (its EndpointTables).
API_MODULES = (
    "watchkeeper.web.calls_api",
    "watchkeeper.web.approvals_api",
    "watchkeeper.web.feedback_api",
    "watchkeeper.web.activity_api",
    "watchkeeper.web.alertmanager_api",
)

#: Every response, whatever it is: never sniffed into HTML, never framed, no referrer leaks. JSON and metrics
#: get a policy that lets them run nothing; dashboard pages get the dashboard's own policy.
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
DATA_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
#: Set by the auth middleware when auth is configured and the request's credentials are valid.
AUTHENTICATED_KEY: web.RequestKey[bool] = web.RequestKey("authenticated", bool)


class WebServer:
    def __init__(self, cfg: Any, daemon: Any) -> None:  # cfg: WebConfig, daemon: watchkeeper.app.Daemon
        self.cfg = cfg
        self.daemon = daemon
        self._runner: web.AppRunner | None = None
        self._page_csp = DATA_CSP
        self._site: GuardedSite | None = None
        self.port: int = cfg.port

    def build_app(self) -> web.Application:
        app = web.Application(
            middlewares=[self._host_middleware, self._auth_middleware, api.error_middleware],
            client_max_size=1 << 20,
        )
        app[DAEMON_KEY] = self.daemon
        from watchkeeper.web import dashboard

        tables = [*api.TABLES]
        for module in API_MODULES:
            tables.extend(importlib.import_module(module).TABLES)
        tables += [*dashboard.TABLES, health_routes]
        app[TABLES_KEY] = tables
        register(app, tables)
        dashboard.add_routes(app)
        self._page_csp = dashboard.CSP
        app.on_response_prepare.append(self._security_headers)
        return app

    async def start(self) -> None:
        cfg = self.cfg
        limits = ListenerLimits(
            max_connections=cfg.max_connections,
            header_read_timeout_s=cfg.header_read_timeout_s,
            idle_timeout_s=cfg.idle_timeout_s,
            config_prefix="web.",
        )
        self._runner = web.AppRunner(self.build_app(), access_log=None, **runner_options(limits))
        await self._runner.setup()
        self._site = GuardedSite(self._runner, cfg.host, cfg.port, limits)
        self.port = await self._site.start()

    async def stop(self) -> None:
        if self._site is not None:
            await self._site.stop()
            self._site = None
        if self._runner is not None:
            await self._runner.cleanup()

    @web.middleware
    async def _host_middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """Serve only the names we are reached by: a DNS-rebinding page (its own name now resolving to
        127.0.0.1) sends that name in Host, and gets nothing, neither data nor a state change."""
        host = request.headers.get("Host")
        if host is None or host_allowed(host, self.cfg.host_allowlist):  # no Host: not a browser
            return await handler(request)
        name = request.headers.get("Host", "")[:100]
        reason = (
            f"Host {name!r} is not served here: reach the daemon by localhost or an IP address, or add the "
            "name to web.allowed_hosts"
        )
        return web.json_response({"error": "bad_host", "reason": reason}, status=400)

    async def _security_headers(self, request: web.Request, response: web.StreamResponse) -> None:
        for key, value in SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        page = not request.path.startswith("/api/") and request.path != "/metrics"
        response.headers.setdefault("Content-Security-Policy", self._page_csp if page else DATA_CSP)

    @web.middleware
    async def _auth_middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        # The page shell and static assets hold no data: they load freely and ask for the token when the
        # API answers 401. Data (API, metrics) always needs credentials when auth is configured.
        protected = request.path.startswith("/api/") or request.path == "/metrics"
        if protected and request.method not in ("GET", "HEAD", "OPTIONS"):
            refusal = _cross_site_refusal(request)
            if refusal is not None:
                return refusal
        if not self._auth_required():
            return await handler(request)
        identity = self._identify(request.headers.get("Authorization", ""))
        request[AUTHENTICATED_KEY] = identity is not None
        if identity:  # a person proven by a personal token or basic auth: recorded as the actor
            request[ACTOR_KEY] = identity
        if not protected or identity is not None:
            return await handler(request)
        headers = {"WWW-Authenticate": 'Basic realm="watchkeeper"'} if self.cfg.basic_auth_username else {}
        reason = (
            "send Authorization: Bearer <token> (web.auth_token) or basic auth credentials "
            "(web.basic_auth_username / web.basic_auth_password)"
        )
        return web.json_response({"error": "unauthorized", "reason": reason}, status=401, headers=headers)

    def _auth_required(self) -> bool:
        return bool(self.cfg.auth_token or self.cfg.basic_auth_username or self.cfg.api_tokens)

    def _identify(self, header: str) -> str | None:
        """Who the credentials prove: a personal token's actor or the basic-auth user; "" for the shared
        token (authorized, but no person); None when nothing matches."""
        cfg = self.cfg
        found: str | None = None
        for entry in cfg.api_tokens:  # every token compared, in constant time each: no early exit
            if bearer_matches(header, entry.secret.encode()) and found is None:
                found = entry.actor
        if found is not None:
            return found
        if cfg.auth_token and bearer_matches(header, cfg.auth_token.get_secret_value().encode()):
            return ""
        if (
            cfg.basic_auth_username
            and cfg.basic_auth_password
            and basic_matches(header, cfg.basic_auth_username, cfg.basic_auth_password.get_secret_value())
        ):
            return cfg.basic_auth_username
        return None


health_routes = EndpointTable(tag="health")


@health_routes.get(
    "/healthz", operation_id="getHealth", summary="Liveness: the process answers", response=Health, auth=False
)
async def healthz(request: web.Request) -> Any:
    return {"status": "ok"}


@health_routes.get(
    "/readyz",
    operation_id="getReadiness",
    summary="Readiness: every stage of this process can do its job (503 otherwise)",
    response=Readiness,
    extra_responses={503: "a stage is not ready; the body says which and why"},
    auth=False,
)
async def readyz(request: web.Request) -> web.Response:
    """Ready or not, per stage; why not (error texts name files and hosts) only to an authenticated
    caller: anyone else reads the details from /api/v1/status, which auth protects."""
    checks = request.app[DAEMON_KEY].readiness()
    ready = all(c.get("ready") for c in checks.values())
    if not request.get(AUTHENTICATED_KEY, False):
        checks = {name: {"ready": bool(c.get("ready"))} for name, c in checks.items()}
    return web.json_response({"ready": ready, "stages": checks}, status=200 if ready else 503)


@health_routes.get(
    "/metrics",
    operation_id="getMetrics",
    summary="Prometheus metrics of every stage of this process (text exposition format)",
    response={"type": "string"},
    response_content_type=CONTENT_TYPE_LATEST.split(";")[0],
)
async def prometheus_metrics(request: web.Request) -> web.Response:
    # Every process with the store serves the store-derived gauges (also --stage web, which has no alerts
    # stage): they are read from the shared store at scrape time.
    service = getattr(request.app[DAEMON_KEY], "alerts_service", None)
    if service is not None:
        await asyncio.get_running_loop().run_in_executor(None, service.refresh_metrics)
    body = generate_latest(metrics.REGISTRY)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def _cross_site_refusal(request: web.Request) -> web.Response | None:
    """Refuse state changes a foreign web page could make (silence everything, resolve incidents).

    A browser sends `Origin` on cross-site requests, and can send a non-JSON body without a CORS preflight;
    requiring JSON (or no body) and a same-origin `Origin` closes both doors; API clients send neither.
    """
    origin = request.headers.get("Origin")
    if origin is not None and _origin_host(origin) != request.host.lower():
        shown = origin[:100] if origin.isprintable() else "an unreadable origin"
        return web.json_response(
            {"error": "forbidden", "reason": f"cross-site request from {shown} refused"}, status=403
        )
    content_type = request.headers.get("Content-Type")
    if content_type and request.content_type != "application/json":
        return web.json_response(
            {"error": "unsupported_media_type", "reason": "send the request body as application/json"},
            status=415,
        )
    return None


def _origin_host(origin: str) -> str | None:
    """`host[:port]` of an Origin header, lower-cased; None for `null` or anything that is not a URL."""
    try:
        url = URL(origin)
        host = url.host_port_subcomponent if url.scheme in ("http", "https") else None
    except (ValueError, TypeError):
        return None
    return host.lower() if host else None
