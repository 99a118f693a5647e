"""The daemon's web server: REST API, health, metrics, and the dashboard (static pages that use the API).

aiohttp, in the daemon's asyncio loop. Store calls are blocking SQLite: they run in the default executor so
one slow query never stalls the intake sharing the loop.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import logging
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from watchkeeper import metrics
from watchkeeper.web import api
from watchkeeper.web.api import DAEMON_KEY

log = logging.getLogger("watchkeeper.web")



class WebServer:
    def __init__(self, cfg: Any, daemon: Any) -> None:  # cfg: WebConfig, daemon: watchkeeper.app.Daemon
        self.cfg = cfg
        self.daemon = daemon
        self._runner: web.AppRunner | None = None
        self.port: int = cfg.port
        if cfg.host not in ("127.0.0.1", "localhost", "::1") and not (
            cfg.auth_token or (cfg.basic_auth_username and cfg.basic_auth_password)
        ):
            raise ValueError(
                f"web.host is {cfg.host!r} (not loopback) but no auth is configured: set web.auth_token or "
                "web.basic_auth_username/web.basic_auth_password, or bind web.host to 127.0.0.1"
            )

    def build_app(self) -> web.Application:
        app = web.Application(
            middlewares=[self._auth_middleware, api.error_middleware], client_max_size=1 << 20
        )
        app[DAEMON_KEY] = self.daemon
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics)
        api.add_routes(app)
        try:
            from watchkeeper.web import dashboard
        except ImportError:
            dashboard = None
        if dashboard is not None:
            dashboard.add_routes(app)
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(self.build_app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.cfg.host, self.cfg.port)
        await site.start()
        server = site._server
        if server is not None and getattr(server, "sockets", None):
            self.port = server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # -- handlers ----------------------------------------------------------------------------------
    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _readyz(self, request: web.Request) -> web.Response:
        checks = self.daemon.readiness()
        ready = all(c.get("ready") for c in checks.values())
        return web.json_response({"ready": ready, "stages": checks}, status=200 if ready else 503)

    async def _metrics(self, request: web.Request) -> web.Response:
        alerts = getattr(self.daemon, "alerts", None)
        if alerts is not None and hasattr(alerts, "refresh_metrics"):
            await asyncio.get_running_loop().run_in_executor(None, alerts.refresh_metrics)
        body = generate_latest(metrics.REGISTRY)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    @web.middleware
    async def _auth_middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        # The page shell and static assets hold no data: they load freely and ask for the token when the
        # API answers 401. Data (API, metrics) always needs credentials when auth is configured.
        protected = request.path.startswith("/api/") or request.path == "/metrics"
        if not protected or not self._auth_required():
            return await handler(request)
        if self._authorized(request.headers.get("Authorization", "")):
            return await handler(request)
        headers = {"WWW-Authenticate": 'Basic realm="watchkeeper"'} if self.cfg.basic_auth_username else {}
        reason = ("send Authorization: Bearer <token> (web.auth_token) or basic auth credentials "
                  "(web.basic_auth_username / web.basic_auth_password)")
        return web.json_response({"error": "unauthorized", "reason": reason}, status=401, headers=headers)

    def _auth_required(self) -> bool:
        return bool(self.cfg.auth_token or self.cfg.basic_auth_username)

    def _authorized(self, header: str) -> bool:
        token = self.cfg.auth_token.get_secret_value() if self.cfg.auth_token else None
        if token and header.startswith("Bearer "):
            return hmac.compare_digest(header[7:].strip().encode(), token.encode())
        if self.cfg.basic_auth_username and self.cfg.basic_auth_password and header.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            except Exception:
                return False
            return hmac.compare_digest(
                user.encode(), self.cfg.basic_auth_username.encode()
            ) and hmac.compare_digest(
                password.encode(), self.cfg.basic_auth_password.get_secret_value().encode()
            )
        return False
