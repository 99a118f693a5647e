"""GenAI client metrics derived from finished spans, recorded on a background thread.

Recording an OpenTelemetry SDK histogram costs more CPU than creating the span it describes (attribute-set
hashing, aggregation lookup, exemplar sampling against the current span). The span already carries every
input of `gen_ai.client.operation.duration` and `gen_ai.client.token.usage` (its duration, token usage,
operation, provider, models, server and error type), so a model call only ends its span; this processor
queues the span (one deque append) and a worker thread records the histograms in batches.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import weakref
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry.metrics import Histogram
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor

from watchkeeper.core import semconv

logger = logging.getLogger("watchkeeper.collector.metrics")

TOKEN_TYPE = "gen_ai.token.type"
_OPERATION = semconv.OPERATION_NAME
_PROVIDER = semconv.PROVIDER_NAME
_REQUEST_MODEL = semconv.REQUEST_MODEL
_RESPONSE_MODEL = semconv.RESPONSE_MODEL
_ADDRESS = semconv.SERVER_ADDRESS
_PORT = semconv.SERVER_PORT
_ERROR = semconv.ERROR_TYPE
_INPUT = semconv.USAGE_INPUT_TOKENS
_OUTPUT = semconv.USAGE_OUTPUT_TOKENS


def metric_attributes(span_attributes: Mapping[str, Any]) -> dict[str, Any]:
    """The metric attributes of a call span: operation, provider, models, server and error type."""
    attrs: dict[str, Any] = {
        _OPERATION: span_attributes.get(_OPERATION),
        _PROVIDER: span_attributes.get(_PROVIDER),
        _REQUEST_MODEL: span_attributes.get(_REQUEST_MODEL, ""),
    }
    address = span_attributes.get(_ADDRESS)
    if address:
        attrs[_ADDRESS] = address
        port = span_attributes.get(_PORT)
        if port:
            attrs[_PORT] = port
    response_model = span_attributes.get(_RESPONSE_MODEL)
    if response_model:
        attrs[_RESPONSE_MODEL] = response_model
    error_type = span_attributes.get(_ERROR)
    if error_type:
        attrs[_ERROR] = error_type
    return attrs


def record_call_metrics(
    duration: Histogram,
    tokens: Histogram,
    duration_s: float,
    span_attributes: Mapping[str, Any],
) -> None:
    """Record the duration and (when known) input/output token histograms of one call."""
    attrs = metric_attributes(span_attributes)
    duration.record(duration_s, attrs)
    input_tokens = span_attributes.get(_INPUT)
    if input_tokens is not None:
        tokens.record(input_tokens, {**attrs, TOKEN_TYPE: "input"})
    output_tokens = span_attributes.get(_OUTPUT)
    if output_tokens is not None:
        tokens.record(output_tokens, {**attrs, TOKEN_TYPE: "output"})


class SpanMetricsProcessor(SpanProcessor):
    """Records the GenAI client histograms from the finished spans of one instrumentation scope.

    `on_end` only appends to a bounded deque; a daemon thread drains it every `interval_s` (or sooner when
    `batch_size` spans wait). `force_flush` and `shutdown` drain synchronously, so a flushed tracer provider
    has recorded every metric. After `shutdown` the processor ignores spans: it may stay attached to a
    provider that outlives the instrumentation, and must then never record twice.
    """

    def __init__(
        self,
        duration: Histogram,
        tokens: Histogram,
        scope_name: str,
        *,
        interval_s: float = 1.0,
        batch_size: int = 512,
        max_queue_size: int = 65536,
    ) -> None:
        self._duration = duration
        self._tokens = tokens
        self._scope_name = scope_name
        self._interval = interval_s
        self._batch_size = batch_size
        self._queue: deque[ReadableSpan] = deque(maxlen=max_queue_size)
        self._wake = threading.Event()
        self._drain_lock = threading.Lock()
        self._stopped = False
        self._thread = self._start_worker()
        # Our atexit hook is registered after the app's providers, so it runs before they shut down.
        self._exit_hook = _weak_call(self, "force_flush")
        atexit.register(self._exit_hook)
        if hasattr(os, "register_at_fork"):  # a forked worker (gunicorn --preload) needs its own thread
            os.register_at_fork(after_in_child=_weak_call(self, "_after_fork"))

    def _start_worker(self) -> threading.Thread:
        thread = threading.Thread(target=self._run, name="watchkeeper-span-metrics", daemon=True)
        thread.start()
        return thread

    def _after_fork(self) -> None:
        self._queue.clear()  # the parent records its own spans
        self._wake = threading.Event()
        self._drain_lock = threading.Lock()
        if not self._stopped:
            self._thread = self._start_worker()

    def on_end(self, span: ReadableSpan) -> None:
        if self._stopped:
            return
        queue = self._queue
        queue.append(span)
        if len(queue) >= self._batch_size:
            self._wake.set()

    def _run(self) -> None:
        while not self._stopped:
            self._wake.wait(self._interval)
            self._wake.clear()
            self._drain()

    def _drain(self) -> None:
        with self._drain_lock:
            queue = self._queue
            scope_name = self._scope_name
            duration, tokens = self._duration, self._tokens
            while queue:
                try:
                    span = queue.popleft()
                except IndexError:
                    return
                scope = span.instrumentation_scope
                attributes = span.attributes
                if (
                    scope is None
                    or scope.name != scope_name
                    or not attributes
                    or _OPERATION not in attributes
                ):
                    continue
                start, end = span.start_time, span.end_time
                if start is None or end is None:
                    continue
                try:
                    record_call_metrics(duration, tokens, (end - start) / 1e9, attributes)
                except Exception:  # a broken metrics pipeline must not stop the worker
                    logger.debug("could not record call metrics", exc_info=True)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        self._drain()
        return True

    def shutdown(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._wake.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._drain()  # what was queued before the stop still counts
        atexit.unregister(self._exit_hook)


def _weak_call(processor: SpanMetricsProcessor, method: str) -> Callable[[], None]:
    """A hook (atexit, fork) calling `method` that does not keep a shut-down processor alive."""
    ref = weakref.ref(processor)

    def hook() -> None:
        alive = ref()
        if alive is not None:
            getattr(alive, method)()

    return hook


__all__ = ["SpanMetricsProcessor", "metric_attributes", "record_call_metrics"]
