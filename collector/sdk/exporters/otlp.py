"""The OTLP/HTTP exporter (the default destination: Watchkeeper's intake or any OpenTelemetry Collector)."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from opentelemetry.sdk.trace.export import SpanExporter

from watchkeeper.collector.sdk.exporters import ExporterOptions, ExporterPlugin

DEFAULT_OTLP_ENDPOINT = "http://127.0.0.1:4318/v1/traces"


def otlp_traces_endpoint(endpoint: str | None = None) -> str:
    """The OTLP/HTTP traces URL: the argument, else the OTEL_* env vars, else the local Watchkeeper intake.

    A base URL (no path) gets `/v1/traces` appended, as the OTLP spec does for OTEL_EXPORTER_OTLP_ENDPOINT.
    """
    if endpoint:
        return endpoint if urlsplit(endpoint).path not in ("", "/") else endpoint.rstrip("/") + "/v1/traces"
    traces = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if traces:
        return traces
    base = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if base:
        return base.rstrip("/") + "/v1/traces"
    return DEFAULT_OTLP_ENDPOINT


def _create(options: ExporterOptions) -> tuple[SpanExporter, str]:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    url = otlp_traces_endpoint(options.otlp_endpoint)
    return OTLPSpanExporter(endpoint=url, timeout=5), f"otlp {url}"


plugin = ExporterPlugin(create=_create)
