"""The one path every OTLP request takes, whatever its transport: decode, validate, limit, publish, answer.

Nothing reaches the bus before it parsed and validated, and no success is answered before the bus said the
records are durable.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from google.protobuf.message import Message

from watchkeeper.collector.intake.backpressure import BacklogProbe, Backpressure
from watchkeeper.collector.intake.config import IntakeConfig
from watchkeeper.collector.intake.errors import Reason, Rejected
from watchkeeper.collector.intake.limits import Admission, Slot, TokenBucket
from watchkeeper.collector.intake.publish import Publisher
from watchkeeper.collector.intake.signals import LOGS, TRACES, Signal
from watchkeeper.collector.translate.otlp_json import OtlpJsonError
from watchkeeper.core import metrics
from watchkeeper.core.bus.base import BusError, Producer, TopicsConfig
from watchkeeper.core.metrics import INTAKE_REJECTS, SPANS_RECEIVED

log = logging.getLogger(__name__)

_OFFLOAD_BYTES = 1024 * 1024  # parse bigger bodies in a thread so the loop keeps answering
_BUS_LOG_INTERVAL_S = 60.0
T = TypeVar("T")


def _brief(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc)[:200]}"


class IntakeCore:
    def __init__(
        self,
        cfg: IntakeConfig,
        producer: Producer,
        topics: TopicsConfig,
        backlog: BacklogProbe | None = None,
    ) -> None:
        """`backlog` measures the detectors' unread input (backpressure); None: never refuse for it."""
        self.cfg = cfg
        self.topics = topics
        self.admission = Admission(cfg.max_inflight_requests, cfg.max_inflight_bytes, cfg.retry_after_s)
        self.bucket = TokenBucket(cfg.rate_limit_per_s, cfg.bucket_size) if cfg.rate_limit_per_s else None
        self.publisher = Publisher(producer, cfg.publish_batch_bytes)
        self._last_bus_log = -_BUS_LOG_INTERVAL_S
        self._suppressed_bus_errors = 0
        self._cpu = ThreadPoolExecutor(max_workers=2, thread_name_prefix="intake-cpu")
        zero_intake_metrics()
        self.backpressure = Backpressure(
            backlog,
            max_spans=cfg.max_detector_lag_spans,
            max_bytes=cfg.max_detector_lag_bytes,
            interval_s=cfg.lag_check_interval_s,
            retry_after_s=cfg.retry_after_s,
        )

    async def start(self) -> None:
        await self.publisher.start()
        await self.backpressure.start(self._cpu)

    async def stop(self) -> None:
        await self.backpressure.stop()
        await self.publisher.stop()
        self._cpu.shutdown(wait=False, cancel_futures=True)

    def topic(self, signal: Signal) -> str:
        return self.topics.spans if signal is TRACES else self.topics.logs

    def admit(self) -> Slot:
        return self.admission.enter()

    async def decode(self, signal: Signal, body: bytes, json: bool) -> Message:
        """Bytes -> request message; raises Rejected for empty, malformed protobuf or bad JSON."""
        if not body:
            raise Rejected(Reason.EMPTY, f"empty body: send an Export{signal.name.title()}ServiceRequest")
        if len(body) > _OFFLOAD_BYTES:
            return await self.offload(self._decode, signal, body, json)
        return self._decode(signal, body, json)

    async def offload(self, fn: Callable[..., T], *args: Any) -> T:
        """Run CPU work (big parses, gunzip) on the intake's own threads: never on the loop, and never on the
        default executor the web API shares, so a flood of hostile bodies cannot slow the dashboard."""
        return await asyncio.get_running_loop().run_in_executor(self._cpu, fn, *args)

    @staticmethod
    def _decode(signal: Signal, body: bytes, json: bool) -> Message:
        if json:
            try:
                return signal.from_json(body)
            except OtlpJsonError as exc:
                raise Rejected(Reason.BAD_JSON, str(exc)) from None
            except Exception as exc:  # whatever the parser meets, the client sent it: a 400, never a 500
                raise Rejected(Reason.BAD_JSON, f"body is not valid OTLP/JSON: {_brief(exc)}") from None
        try:
            return signal.request_type.FromString(body)
        except Exception as exc:  # DecodeError, RecursionError, ValueError, ...
            raise Rejected(
                Reason.MALFORMED,
                f"body is not a protobuf Export{signal.name.title()}ServiceRequest: {_brief(exc)}",
            ) from None

    async def export(self, signal: Signal, request: Message, raw: bytes | None, transport: str) -> Message:
        """Validate, rate-limit and publish one decoded request; return the OTLP response to send.

        `raw` is the client's protobuf encoding (None for JSON), published as is when nothing was dropped.
        """
        checked = signal.check(request)
        if checked.rejected:
            INTAKE_REJECTS.labels(transport, "invalid_" + ("span" if signal is TRACES else "log")).inc(
                checked.rejected
            )
        if checked.accepted:
            behind = self.backpressure.over()
            if behind is not None:
                raise Rejected(Reason.BACKPRESSURE, behind, self.cfg.retry_after_s)
            if self.bucket is not None:
                self.bucket.take(checked.accepted)
            records = signal.encode_groups(checked, raw)
            try:
                await self.publisher.publish(self.topic(signal), records)
            except Exception as exc:
                self._log_bus_error(exc)
                raise Rejected(
                    Reason.BUS_UNAVAILABLE,
                    "the bus cannot take records right now; retry later",
                    self.cfg.retry_after_s,
                ) from None
            if signal is TRACES:  # the backlog is measured on the spans topic
                self.backpressure.published(len(records), checked.accepted, sum(len(v) for _, v in records))
                SPANS_RECEIVED.labels(transport).inc(checked.accepted)
        return signal.response(checked)

    def _log_bus_error(self, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._last_bus_log < _BUS_LOG_INTERVAL_S:
            self._suppressed_bus_errors += 1
            return
        skipped = self._suppressed_bus_errors
        more = f" ({skipped} more since the last report)" if skipped else ""
        self._last_bus_log = now
        self._suppressed_bus_errors = 0
        if isinstance(exc, BusError):
            log.error("intake: bus publish failed, answering 503: %s%s", exc, more)
        else:
            log.error("intake: unexpected publish failure, answering 503%s", more, exc_info=exc)


TRANSPORTS = ("http", "grpc")


def zero_intake_metrics() -> None:
    """Every transport and refusal reason at 0 on /metrics from the start."""
    reasons = [r.label for r in Reason] + ["invalid_span", "invalid_log"]
    metrics.zero(SPANS_RECEIVED, [(t,) for t in TRANSPORTS])
    metrics.zero(INTAKE_REJECTS, [(t, reason) for t in TRANSPORTS for reason in reasons])


def count_reject(transport: str, rejected: Rejected) -> None:
    INTAKE_REJECTS.labels(transport, rejected.reason.label).inc()


SIGNALS: dict[str, Signal] = {"traces": TRACES, "logs": LOGS}
