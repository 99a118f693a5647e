"""The intake as the daemon runs it: both listeners (OTLP/HTTP, OTLP/gRPC) over one `IntakeCore`."""

from __future__ import annotations

import asyncio
import logging

from watchkeeper.collector.intake.backpressure import BacklogProbe, Backpressure
from watchkeeper.collector.intake.config import IntakeConfig
from watchkeeper.collector.intake.core import IntakeCore
from watchkeeper.collector.intake.grpc import GrpcIntake
from watchkeeper.collector.intake.http import HttpIntake
from watchkeeper.core.bus.base import Producer, TopicsConfig

__all__ = ["Intake"]

log = logging.getLogger("watchkeeper.collector.intake")  # the name its records always had


class Intake:
    def __init__(
        self,
        cfg: IntakeConfig,
        producer: Producer,
        topics: TopicsConfig,
        backlog: BacklogProbe | None = None,
    ) -> None:
        """`backlog`: the detectors' unread input in records (see `backpressure`), None to never refuse."""
        self.cfg = cfg
        self._core = IntakeCore(cfg, producer, topics, backlog)
        self._http = HttpIntake(self._core)
        self._grpc = GrpcIntake(self._core) if cfg.grpc_enabled else None
        self._started = False

    async def start(self) -> None:
        """Bind both listeners inside the running loop; on a bind failure nothing is left open."""
        await self._core.start()
        try:
            await self._http.start()
            if self._grpc is not None:
                await self._grpc.start()
        except BaseException:
            await self._http.stop()
            if self._grpc is not None:
                await self._grpc.stop()
            await self._core.stop()
            raise
        self._started = True
        if not self.cfg.loopback and self.cfg.auth_token is None:
            log.warning(
                "intake on %s accepts spans from the network without authentication "
                "(intake.allow_unauthenticated_network is true): make sure a firewall limits who reaches it",
                self.cfg.host,
            )

    async def stop(self) -> None:
        """Stop accepting, let requests in flight finish (their publishes included), then stop publishing."""
        if not self._started:
            return
        self._started = False
        listeners = [self._http.stop()] + ([self._grpc.stop()] if self._grpc is not None else [])
        await asyncio.gather(*listeners)  # both stop accepting at once, then drain together
        await self._core.stop()

    @property
    def backpressure(self) -> Backpressure:
        return self._core.backpressure

    @property
    def http_port(self) -> int:
        return self._http.port

    @property
    def grpc_port(self) -> int | None:
        return self._grpc.port if self._grpc is not None else None
