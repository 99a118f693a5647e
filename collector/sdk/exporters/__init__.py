"""Span exporters of the SDK and the batching that keeps them off the application's call path.

Every destination sits behind its own `BatchSpanProcessor` with a bounded queue: a model call only appends its
span to a deque. When a destination is slow or down, spans are dropped (and counted) instead of blocking the
app, and one clear log line per destination and minute says so instead of a traceback per batch.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from watchkeeper.core import plugins

logger = logging.getLogger("watchkeeper.collector.export")


@dataclass
class ExportStats:
    """Counters of one destination (read them in tests, health checks or a metrics callback)."""

    destination: str
    exported: int = 0
    failed: int = 0  # spans in batches the destination refused or could not be reached for
    dropped: int = 0  # spans thrown away because the queue was full
    last_error: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, *, exported: int = 0, failed: int = 0, dropped: int = 0) -> None:
        with self._lock:
            self.exported += exported
            self.failed += failed
            self.dropped += dropped


class _RateLimitedWarning:
    """At most one warning per interval, carrying how much was lost since the previous one."""

    def __init__(self, stats: ExportStats, interval_s: float) -> None:
        self._stats = stats
        self._interval = interval_s
        self._next = 0.0
        self._lost_at_last = 0
        self._lock = threading.Lock()

    def maybe_log(self, problem: str) -> None:
        now = time.monotonic()
        with self._lock:
            if now < self._next:
                return
            self._next = now + self._interval
            stats = self._stats
            lost = stats.failed + stats.dropped
            since, self._lost_at_last = lost - self._lost_at_last, lost
        logger.warning(
            "span export to %s failing: %s; %d spans lost since the last report "
            "(%d failed, %d dropped in total)",
            stats.destination,
            problem,
            since,
            stats.failed,
            stats.dropped,
        )


class GuardedExporter(SpanExporter):
    """Wrap an exporter so that its exceptions are counted and reported, never raised into the SDK worker."""

    def __init__(self, inner: SpanExporter, destination: str, *, log_interval_s: float = 60.0) -> None:
        self.inner = inner
        self.stats = ExportStats(destination)
        self.warning = _RateLimitedWarning(self.stats, log_interval_s)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            result = self.inner.export(spans)
        except Exception as exc:
            self.stats.last_error = f"{type(exc).__name__}: {exc}"
            result = SpanExportResult.FAILURE
        if result is SpanExportResult.SUCCESS:
            self.stats.add(exported=len(spans))
        else:
            self.stats.add(failed=len(spans))
            self.warning.maybe_log(
                self.stats.last_error or "the destination refused the batch or is unreachable"
            )
        return result

    def shutdown(self) -> None:
        try:
            self.inner.shutdown()
        except Exception:
            logger.debug("exporter shutdown failed", exc_info=True)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        try:
            return self.inner.force_flush(timeout_millis)
        except Exception:
            return False


class CountingBatchSpanProcessor(BatchSpanProcessor):
    """BatchSpanProcessor that counts spans lost to a full queue (the SDK only logs the first one)."""

    def __init__(self, exporter: GuardedExporter, **kwargs: Any) -> None:
        super().__init__(exporter, **kwargs)
        self.stats = exporter.stats
        self._warning = exporter.warning
        self._queue = getattr(getattr(self, "_batch_processor", None), "_queue", None)
        self._capacity = getattr(self._queue, "maxlen", None) or kwargs.get("max_queue_size") or 2048
        self._stopped = False

    def shutdown(self) -> None:
        self._stopped = True  # later spans are ignored quietly (the provider may outlive us)
        super().shutdown()

    def on_end(self, span: ReadableSpan) -> None:
        if self._stopped:
            return
        queue = self._queue
        if queue is not None and len(queue) >= self._capacity:
            self.stats.add(dropped=1)
            self._warning.maybe_log(
                f"queue full ({self._capacity} spans): the destination is slower than the app"
            )
        super().on_end(span)


DEFAULT_SCHEDULE_DELAY_MS = 1000  # a call reaches the daemon within about a second of its end


def batch_processor(
    exporter: SpanExporter,
    destination: str,
    *,
    max_queue_size: int | None = None,
    max_export_batch_size: int | None = None,
    schedule_delay_millis: float | None = None,
    log_interval_s: float = 60.0,
) -> CountingBatchSpanProcessor:
    """The processor every destination gets: bounded queue, background export, drops counted.

    A setting not given comes from the standard OTEL_BSP_MAX_QUEUE_SIZE, OTEL_BSP_MAX_EXPORT_BATCH_SIZE and
    OTEL_BSP_SCHEDULE_DELAY variables, else 2048 spans queued and batches of up to 512 (the OpenTelemetry
    defaults), sent every second (DEFAULT_SCHEDULE_DELAY_MS) or as soon as 512 are waiting. The second,
    not OpenTelemetry's 5 s, because a harmful answer should page within seconds; fuller requests cost the
    app less CPU per call (its CPU per request is several times its CPU per span), and
    OTEL_BSP_SCHEDULE_DELAY=5000 trades that latency for it.
    """
    if schedule_delay_millis is None and not os.environ.get("OTEL_BSP_SCHEDULE_DELAY"):
        schedule_delay_millis = DEFAULT_SCHEDULE_DELAY_MS
    guarded = GuardedExporter(exporter, destination, log_interval_s=log_interval_s)
    if max_queue_size is not None and max_export_batch_size is not None:
        max_export_batch_size = min(max_export_batch_size, max_queue_size)
    return CountingBatchSpanProcessor(
        guarded,
        max_queue_size=max_queue_size,
        max_export_batch_size=max_export_batch_size,
        schedule_delay_millis=schedule_delay_millis,
    )


@dataclass(frozen=True, slots=True)
class ExporterOptions:
    """The destinations' settings `instrument()` was given; each exporter reads the ones it needs."""

    otlp_endpoint: str | None = None
    kafka_bootstrap: str | Sequence[str] | None = None
    kafka_topic: str = "watchkeeper.spans"
    #: a KafkaSecurity, or a dict of its fields (security_protocol, sasl_*, ssl_*); None: WATCHKEEPER_KAFKA_*
    kafka_security: Any = None
    azure_connection_string: str | None = None


@dataclass(frozen=True, slots=True)
class ExporterPlugin:
    """What a `watchkeeper.exporters` entry point names: `create(options)` -> (exporter, destination text
    for logs and `export_stats()`). Import heavy clients inside `create`: instrumented apps load this."""

    create: Callable[[ExporterOptions], tuple[SpanExporter, str]]


def exporter_names() -> tuple[str, ...]:
    """The installed exporters (entry-point group `watchkeeper.exporters`), without importing them."""
    return plugins.names(plugins.EXPORTERS)


def exporter_plugin(name: str) -> ExporterPlugin:
    """The exporter plug-in called `name` (only that one is imported)."""
    obj = plugins.load_one(plugins.EXPORTERS, name)
    if not isinstance(obj, ExporterPlugin):
        raise plugins.PluginError(
            f"the {plugins.EXPORTERS} entry point {name!r} names {obj!r}: point it at an ExporterPlugin"
        )
    return obj


__all__ = [
    "CountingBatchSpanProcessor",
    "ExportStats",
    "ExporterOptions",
    "ExporterPlugin",
    "GuardedExporter",
    "batch_processor",
    "exporter_names",
    "exporter_plugin",
]
