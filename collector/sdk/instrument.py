"""`collector.instrument()`: one call, and every model call made through `openai` is traced.

Arguments win over the standard OpenTelemetry environment variables (OTEL_SERVICE_NAME,
OTEL_RESOURCE_ATTRIBUTES, OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT, WATCHKEEPER_SDK_METRICS), which win over the defaults,
so the same app is configured in code on a laptop and by environment in a deployment.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from opentelemetry import metrics as otel_metrics
from opentelemetry import trace
from opentelemetry.metrics import MeterProvider
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

from watchkeeper.collector.sdk import decorator, openai_client, xai
from watchkeeper.collector.sdk.exporters import (
    CountingBatchSpanProcessor,
    ExporterOptions,
    ExportStats,
    batch_processor,
    exporter_names,
    exporter_plugin,
)
from watchkeeper.collector.sdk.metrics_from_spans import SpanMetricsProcessor
from watchkeeper.collector.sdk.redact import Redactor, default_redactor
from watchkeeper.core.kafka_security import KafkaSecurity

logger = logging.getLogger("watchkeeper.collector")

INSTRUMENTATION_NAME = "watchkeeper.collector"
INSTRUMENTATION_VERSION = "0.1.0"
_CAPTURE_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
_CAPTURE_ON = frozenset(("1", "true", "yes", "on", "span_only", "span_and_event"))
_METRICS_ENV = "WATCHKEEPER_SDK_METRICS"
_TRUE = frozenset(("1", "true", "yes", "on"))
_FALSE = frozenset(("0", "false", "no", "off", ""))

RedactOption = Redactor | Callable[[str], str] | Iterable[str] | bool | None


class _State:
    """What uninstrument() has to undo."""

    created_provider: TracerProvider | None = None
    processors: list[SpanProcessor] = []


_STATE = _State()


def capture_from_env() -> bool:
    """OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT = true, SPAN_ONLY or SPAN_AND_EVENT: capture."""
    return os.environ.get(_CAPTURE_ENV, "").strip().lower() in _CAPTURE_ON


def metrics_from_env() -> bool | None:
    """WATCHKEEPER_SDK_METRICS = true/false; None when unset. A typo is an error, not a silent default."""
    raw = os.environ.get(_METRICS_ENV)
    if raw is None:
        return None
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{_METRICS_ENV}={raw!r}: use true or false")


def _redactor(option: RedactOption) -> Callable[[str], str] | None:
    if option is None or option is True:
        return default_redactor()
    if option is False:
        return None
    if callable(option):
        return option
    return Redactor(list(option))


def _exporter_processor(name: str, options: ExporterOptions) -> SpanProcessor:
    exporter, destination = exporter_plugin(name).create(options)
    return batch_processor(exporter, destination)


def instrument(
    *,
    service_name: str | None = None,
    capture_content: bool | None = None,
    redact: RedactOption = None,
    exporters: Sequence[str] = ("otlp",),
    otlp_endpoint: str | None = None,
    kafka_bootstrap: str | Sequence[str] | None = None,
    kafka_topic: str = "watchkeeper.spans",
    kafka_security: KafkaSecurity | Mapping[str, Any] | None = None,
    azure_connection_string: str | None = None,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
    metrics: bool | None = None,
) -> TracerProvider:
    """Trace every `openai` chat call (and `trace_call` blocks); returns the TracerProvider spans go through.

    metrics: record the gen_ai.client.operation.duration and gen_ai.client.token.usage histograms in the
    app (default: WATCHKEEPER_SDK_METRICS, else on when `meter_provider` is given, else off). Off by default
    because recording them costs more CPU than the span, and the daemon derives the same distributions from
    the spans it receives (watchkeeper_genai_* on its /metrics). They go to `meter_provider` (else the global
    one), recorded from the finished spans in the background: `tracer_provider.force_flush()` before reading.

    kafka_security: TLS/SASL of the kafka exporter, the same settings as the daemon's bus: a KafkaSecurity
    (`KafkaSecurity.event_hubs(connection_string)` for Azure Event Hubs) or a dict of security_protocol,
    sasl_mechanism, sasl_username, sasl_password, ssl_cafile, ssl_certfile, ssl_keyfile, ssl_check_hostname;
    default: the WATCHKEEPER_KAFKA_<SETTING> variables, else PLAINTEXT.

    capture_content: record message content (default: the OTEL_* env var, else off). redact: None/True = the
    built-in patterns, False = none, a list of kind names, or any `str -> str` callable. exporters: any of
    "otlp", "kafka", "azure_monitor", each behind its own bounded batch queue, added to `tracer_provider` when
    given (else to a new provider, which also becomes the global one if none was set). Calling it again
    reconfigures: the previous setup is undone first.

    Export batching follows OTEL_BSP_SCHEDULE_DELAY, OTEL_BSP_MAX_EXPORT_BATCH_SIZE and
    OTEL_BSP_MAX_QUEUE_SIZE, else a batch every second (or as soon as 512 spans wait), 2048 queued at most:
    a call reaches the daemon about a second after it ends, so a harmful answer pages within seconds.
    OTEL_BSP_SCHEDULE_DELAY=5000 (OpenTelemetry's default) sends fuller batches, at less CPU per call (an HTTP
    request costs several times a span), for that latency.
    """
    known = exporter_names()
    unknown = [name for name in exporters if name not in known]
    if unknown:
        raise ValueError(f"unknown exporters {unknown}; choose from {known}")
    if metrics is None:
        metrics = metrics_from_env()
    if metrics is None:
        metrics = meter_provider is not None
    uninstrument()
    created = None
    if tracer_provider is None:
        attributes = {SERVICE_NAME: service_name} if service_name else {}
        tracer_provider = created = TracerProvider(resource=Resource.create(attributes))
    elif service_name:
        logger.warning(
            "service_name is ignored when tracer_provider is given: set it on the provider's resource"
        )
    options = ExporterOptions(
        otlp_endpoint=otlp_endpoint,
        kafka_bootstrap=kafka_bootstrap,
        kafka_topic=kafka_topic,
        kafka_security=kafka_security,
        azure_connection_string=azure_connection_string,
    )
    processors = [_exporter_processor(name, options) for name in dict.fromkeys(exporters)]
    if not metrics:
        meter_provider = otel_metrics.NoOpMeterProvider()  # sampled-out calls record nothing either
    meter = (meter_provider or otel_metrics.get_meter_provider()).get_meter(
        INSTRUMENTATION_NAME, INSTRUMENTATION_VERSION
    )
    telemetry = decorator.Telemetry(
        tracer=tracer_provider.get_tracer(INSTRUMENTATION_NAME, INSTRUMENTATION_VERSION),
        duration=meter.create_histogram(
            decorator.METRIC_OPERATION_DURATION,
            unit="s",
            description="GenAI operation duration",
            explicit_bucket_boundaries_advisory=decorator.DURATION_BUCKETS,
        ),
        tokens=meter.create_histogram(
            decorator.METRIC_TOKEN_USAGE,
            unit="{token}",
            description="Measures number of input and output tokens used",
            explicit_bucket_boundaries_advisory=decorator.TOKEN_BUCKETS,
        ),
        capture_content=capture_from_env() if capture_content is None else bool(capture_content),
    )
    if telemetry.capture_content:
        telemetry.redact = _redactor(redact)
    if metrics:  # recorded from our finished spans on a worker thread, not on the call path
        processors.append(SpanMetricsProcessor(telemetry.duration, telemetry.tokens, INSTRUMENTATION_NAME))
    for processor in processors:
        tracer_provider.add_span_processor(processor)
    _STATE.created_provider = created
    _STATE.processors = processors
    if created is not None and _global_provider_unset():
        trace.set_tracer_provider(created)
    decorator.activate(telemetry)
    if not openai_client.patch():
        logger.info("the openai package is not installed: only collector.trace_call() blocks will be traced")
    xai.trace_xai_sdk(tracer_provider)  # the official xAI SDK traces itself; send its spans to our provider
    return tracer_provider


def _global_provider_unset() -> bool:
    return isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


def uninstrument() -> None:
    """Restore the openai methods and stop tracing; flushes the exporters this module added."""
    openai_client.unpatch()
    xai.untrace_xai_sdk()
    decorator.activate(None)
    created, _STATE.created_provider = _STATE.created_provider, None
    processors, _STATE.processors = _STATE.processors, []
    if created is not None and trace.get_tracer_provider() is not created:
        created.shutdown()  # a provider we made and nobody else uses
    else:
        for processor in processors:
            processor.shutdown()


def is_instrumented() -> bool:
    return decorator.active() is not None


def export_stats() -> list[ExportStats]:
    """Counters (exported / failed / dropped) of each destination `instrument()` set up."""
    return [p.stats for p in _STATE.processors if isinstance(p, CountingBatchSpanProcessor)]
