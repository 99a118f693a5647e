"""The daemon: owns the process lifecycle (start/stop/run) so tests and other programs can embed it.

Stages run in threads of one process (the embedded default) or alone (`--stage`, against Kafka). The
intake and the web server share one asyncio loop in a background thread.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any

from watchkeeper.config import Settings
from watchkeeper.core.bus import make_bus
from watchkeeper.core.bus.base import DETECTORS_GROUP, Bus, BusError
from watchkeeper.core.store import Database, DatabaseError, open_store

if TYPE_CHECKING:  # the stages are imported when they start: a process loads only the stages it runs
    from watchkeeper.alerts.service import AlertsService
    from watchkeeper.alerts.stage import AlertsStage
    from watchkeeper.calls.store import CallStore
    from watchkeeper.collector.intake import Intake
    from watchkeeper.detectors.stage import DetectorsStage
    from watchkeeper.web.server import WebServer

log = logging.getLogger("watchkeeper")

STAGES = ("collector", "detectors", "alerts", "web")
#: What `all` runs; `web` alone serves the API and dashboard from the shared store (every process serves
# them).
ALL_STAGES = ("collector", "detectors", "alerts")


class StartupError(RuntimeError):
    """The daemon cannot start (port in use, bus unreachable, bad state dir): the message says what to fix."""


class Daemon:
    def __init__(self, settings: Settings, stage: str = "all") -> None:
        if stage != "all" and stage not in STAGES:
            raise StartupError(f"unknown stage {stage!r}: use one of all, {', '.join(STAGES)}")
        self.settings = settings
        self.stages = set(ALL_STAGES) if stage == "all" else {stage}
        if stage not in ("all", "web") and settings.bus.kind == "embedded":
            log.warning(
                "running stage %r alone on the embedded bus: the other stages must run in processes "
                "sharing the same state_dir, or use bus.kind=kafka",
                stage,
            )
        self.state_dir = Path(settings.state_dir)
        self.bus: Bus | None = None
        self.store: Database | None = None
        self.alerts_service: AlertsService | None = None  # incidents, silences, outbox: what the API serves
        self.intake: Intake | None = None
        self.detectors: DetectorsStage | None = None
        self.alerts: AlertsStage | None = None
        self.calls: CallStore | None = None  # recent calls for the explorer (None with calls.enabled: false)
        self.web: WebServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None
        self._stopped = threading.Event()
        self._stop_requested = threading.Event()

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        """Start every stage of this process; on any failure, stop what started and raise StartupError."""
        try:
            self._start()
        except Exception as exc:
            self.stop()
            if isinstance(exc, StartupError):
                raise
            raise StartupError(f"cannot start: {type(exc).__name__}: {exc}") from exc

    def _log_alerts_config_warnings(self) -> None:
        """Once at start: Alertmanager keys that have no effect, and group_by labels no detector sets."""
        from watchkeeper.alerts.amdialect import label_warnings
        from watchkeeper.core import plugins

        cfg = self.settings.alerts
        produced = {n: tuple(p.metadata.labels) for n, p in plugins.load("watchkeeper.detectors").items()}
        for line in [str(note) for note in cfg.unsupported] + label_warnings(
            cfg.route, cfg.inhibit_rules, produced
        ):
            log.warning("alerts config: %s (see `watchkeeper alerts check-config`)", line)

    def _start(self) -> None:
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StartupError(
                f"cannot create state_dir {self.state_dir}: {exc.strerror}; "
                "set state_dir (or WATCHKEEPER_STATE_DIR) to a writable directory"
            ) from exc
        self._size_connection_caps()
        s = self.settings
        if s.store.url is None and len(self.stages) < len(ALL_STAGES) and self.stages != {"collector"}:
            log.warning(
                "stage %s runs with the SQLite store in %s: processes on other hosts cannot share it; set "
                "store.url (WATCHKEEPER_STORE__URL) to a PostgreSQL database to scale out",
                ",".join(sorted(self.stages)),
                self.state_dir,
            )
        if self.stages != {"collector"}:
            try:
                self.store = open_store(s.store, self.state_dir)
            except DatabaseError as exc:
                raise StartupError(f"store.url: {exc}") from exc
            log.info("store: %s", self.store.url)
        if self.stages != {"web"}:
            try:
                self.bus = make_bus(s.bus, self.state_dir)
            except BusError as exc:
                raise StartupError(str(exc)) from exc
            log.info(
                "bus: %s%s",
                s.bus.kind,
                f" ({s.bus.bootstrap_servers})"
                if s.bus.kind == "kafka"
                else f" ({self.state_dir / 'bus.sqlite3'})",
            )

        if "alerts" in self.stages:
            from watchkeeper.alerts.stage import AlertsStage

            self._log_alerts_config_warnings()
            assert self.bus is not None
            self.alerts = AlertsStage(
                s.alerts,
                self.bus,
                s.bus.topics,
                self.state_dir,
                dashboard_url=s.web.base_url,
                store=self.store,
            )
            self.alerts_service = self.alerts.store
            self.alerts.start()
        elif self.store is not None:
            from watchkeeper.alerts.service import AlertsService

            # API writes (ack, resolve, silences) go to the shared store; alerts workers deliver them.
            self.alerts_service = AlertsService(self.store, s.alerts)
        if s.calls.enabled:
            from watchkeeper.calls.store import CallStore
            from watchkeeper.collector.sdk.redact import default_redactor

            self.calls = CallStore(self.state_dir, s.calls, redact=default_redactor())
        if "detectors" in self.stages:
            from watchkeeper.collector.translate.decoder import SpanDecoder
            from watchkeeper.detectors.stage import DetectorsStage

            assert self.bus is not None
            decoder = SpanDecoder(s.bus.topics.logs, hold_s=s.detectors.log_hold_s)
            self.detectors = DetectorsStage(
                s.detectors,
                self.bus,
                s.bus.topics,
                self.state_dir,
                decoder=decoder,
                store=self.store,
                recorder=self.calls.record if self.calls is not None else None,
            )
            self.detectors.start()

        self._loop = asyncio.new_event_loop()
        self._loop.set_exception_handler(_quiet_accept_errors)
        self._loop_thread = threading.Thread(
            target=self._loop.run_forever, name="watchkeeper-io", daemon=True
        )
        self._loop_thread.start()
        try:
            self._call(self._start_io())
        except OSError as exc:
            raise StartupError(
                f"cannot bind a port: {exc.strerror or exc}; another process may hold it. "
                "Stop it or choose other ports (intake.http_port, intake.grpc_port, web.port)"
            ) from exc
        log.info("watchkeeper started: stages %s", ", ".join(sorted(self.stages)))
        if self.intake is not None:
            grpc = f", OTLP/gRPC on {s.intake.host}:{self.intake.grpc_port}" if self.intake.grpc_port else ""
            log.info(
                "intake: OTLP/HTTP on http://%s:%d/v1/traces%s", s.intake.host, self.intake.http_port, grpc
            )
        log.info("dashboard and API on %s", self.web_url)

    def _size_connection_caps(self) -> None:
        """Raise the open-files limit, then keep the listeners' connection caps inside it."""
        from watchkeeper.core.resources import fit_connection_caps, raise_open_files_limit

        s = self.settings
        caps = {"web.max_connections": s.web.max_connections}
        if "collector" in self.stages:
            caps["intake.max_connections (OTLP/HTTP)"] = s.intake.max_connections
            if s.intake.grpc_enabled:
                caps["intake.max_connections (OTLP/gRPC)"] = s.intake.max_connections
        fitted = fit_connection_caps(caps, raise_open_files_limit())
        if fitted == caps:
            return
        web_cap = fitted.pop("web.max_connections")
        update: dict[str, Any] = {"web": s.web.model_copy(update={"max_connections": web_cap})}
        if fitted:  # the intake's listeners share one key: the smaller fitted cap
            update["intake"] = s.intake.model_copy(update={"max_connections": min(fitted.values())})
        self.settings = s.model_copy(update=update)

    async def _start_io(self) -> None:
        from watchkeeper.web.server import WebServer

        if "collector" in self.stages:
            from watchkeeper.collector.intake import Intake

            assert self.bus is not None
            bus, spans_topic = self.bus, self.settings.bus.topics.spans
            self.intake = Intake(
                self.settings.intake,
                bus.producer(),
                self.settings.bus.topics,
                backlog=lambda: bus.backlog(DETECTORS_GROUP, [spans_topic]),
            )
            await self.intake.start()
        self.web = WebServer(self.settings.web, daemon=self)
        await self.web.start()

    def _call(self, coro: Any, timeout: float = 30.0) -> Any:
        assert self._loop is not None
        fut: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return fut.result(timeout)

    def stop(self) -> None:
        """Stop accepting, drain, commit, release. Idempotent."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        log.info("watchkeeper stopping")
        if self._loop is not None and self._loop.is_running():
            try:
                if self.intake is not None:
                    self._call(self.intake.stop())
                if self.web is not None:
                    self._call(self.web.stop())
            except Exception:
                log.exception("error while stopping the intake/web server")
        if self.detectors is not None:
            self.detectors.stop()
        if self.alerts is not None:
            self.alerts.stop()
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            if self._loop_thread is not None:
                self._loop_thread.join(5)
        if self.calls is not None:
            self.calls.close()
        if self.bus is not None:
            self.bus.close()
        if self.store is not None:
            self.store.close()
        log.info("watchkeeper stopped")

    def request_stop(self) -> None:
        self._stop_requested.set()

    def run(self) -> int:
        """Start, wait for SIGTERM/SIGINT, stop cleanly; the exit code for the CLI."""
        for sig in (signal.SIGTERM, signal.SIGINT):  # before start: a stop during a slow start is clean too
            signal.signal(sig, lambda *_: self.request_stop())
        self.start()
        while not self._stop_requested.wait(0.5):
            pass
        self.stop()
        return 0

    # -- status ------------------------------------------------------------------------------------
    @property
    def web_url(self) -> str:
        port = self.web.port if self.web is not None else self.settings.web.port
        return f"http://{self.settings.web.host}:{port}"

    @property
    def intake_url(self) -> str:
        port = self.intake.http_port if self.intake is not None else self.settings.intake.http_port
        return f"http://{self.settings.intake.host}:{port}"

    def readiness(self) -> dict[str, Any]:
        """What /readyz reports: each running stage and whether it can do its job now."""
        checks: dict[str, Any] = {}
        if "collector" in self.stages:
            checks["collector"] = {"ready": self.intake is not None}
        if "detectors" in self.stages and self.detectors is not None:
            checks["detectors"] = {"ready": self.detectors.healthy, "error": self.detectors.last_error}
        if "alerts" in self.stages and self.alerts is not None:
            checks["alerts"] = {"ready": self.alerts.healthy, "error": self.alerts.last_error}
        if self.store is not None:
            checks["store"] = self._store_check()
        return checks

    def _store_check(self) -> dict[str, Any]:
        assert self.store is not None
        try:
            with self.store.read() as tx:
                tx.execute("SELECT 1 AS ok")
        except Exception as exc:  # the store being down is exactly what readiness must say
            return {"ready": False, "error": f"{type(exc).__name__}: {exc}"}
        return {"ready": True}


def _quiet_accept_errors(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """asyncio logs every failed accept (out of file descriptors) with a traceback, many times a second:
    one line without it says the same (and the log filter summarizes the repeats)."""
    exc = context.get("exception")
    if isinstance(exc, OSError) and "accept" in str(context.get("message", "")):
        log.error("cannot accept a connection: %s (raise LimitNOFILE or lower max_connections)", exc)
        return
    loop.default_exception_handler(context)
