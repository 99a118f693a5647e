"""The OTLP/HTTP exporter (the default destination: Watchkeeper's intake or any OpenTelemetry Collector).

It is the OpenTelemetry SDK's `OTLPSpanExporter` (endpoint, headers, TLS, compression, retries and the
OTEL_EXPORTER_OTLP_* variables as documented there) with two changes that halve the CPU an instrumented app
spends exporting each model call:
- spans are encoded by `SpanEncoder` (the same request at a fraction of the CPU per span);
- to a plain `http://` endpoint that no proxy variable applies to (a local intake, a sidecar Collector), the
  requests are sent with the exporter package's urllib3 transport, which costs half the CPU per request of
  `requests` (the library underneath it). HTTPS and proxied endpoints keep `requests`, so its CA bundle,
  REQUESTS_CA_BUNDLE and HTTPS_PROXY / NO_PROXY behave as with the plain SDK exporter.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as SdkOTLPSpanExporter
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.semconv.attributes.http_attributes import HTTP_RESPONSE_STATUS_CODE

from watchkeeper.collector.sdk.exporters import ExporterOptions, ExporterPlugin
from watchkeeper.collector.sdk.exporters.span_encoding import SpanEncoder

logger = logging.getLogger("watchkeeper.collector.export")

DEFAULT_OTLP_ENDPOINT = "http://127.0.0.1:4318/v1/traces"
#: Variables that make the SDK build its HTTP session from a credential-provider plug-in (needs requests).
_CREDENTIAL_PROVIDER_ENV = (
    "OTEL_PYTHON_EXPORTER_OTLP_HTTP_CREDENTIAL_PROVIDER",
    "OTEL_PYTHON_EXPORTER_OTLP_HTTP_TRACES_CREDENTIAL_PROVIDER",
)


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


def _direct_http(url: str) -> bool:
    """True for a plain-HTTP URL that no proxy setting (HTTP_PROXY, ALL_PROXY, NO_PROXY...) applies to."""
    if urlsplit(url).scheme != "http" or any(os.environ.get(name) for name in _CREDENTIAL_PROVIDER_ENV):
        return False
    import urllib.request

    proxies = urllib.request.getproxies()
    host = urlsplit(url).hostname or ""
    return not (proxies.get("http") or proxies.get("all")) or bool(urllib.request.proxy_bypass(host))


def _urllib3_transport() -> Any:
    """The exporter package's urllib3 transport (half the CPU per request of `requests`), or None if this
    release of the package has none."""
    try:
        from opentelemetry.exporter.http.transport._urllib3 import Urllib3HTTPTransport
    except ImportError:
        return None
    return Urllib3HTTPTransport()


class OTLPSpanExporter(SdkOTLPSpanExporter):
    """The SDK's OTLP/HTTP span exporter, encoding with `SpanEncoder` (see the module docstring)."""

    def __init__(self, endpoint: str, **kwargs: Any) -> None:
        transport = _urllib3_transport() if _direct_http(endpoint) and "session" not in kwargs else None
        try:
            if transport is None:
                super().__init__(endpoint=endpoint, **kwargs)
            else:
                super().__init__(endpoint=endpoint, _transport=transport, **kwargs)
        except TypeError:
            if transport is None:
                raise
            # an exporter release without the (private) transport keyword: its own `requests` client
            super().__init__(endpoint=endpoint, **kwargs)
        self._encoder = SpanEncoder()
        # The SDK's export() encodes with its own encoder; ours sends through the same client and metrics.
        self._fast = all(hasattr(self, name) for name in ("_client", "_metrics", "_max_request_size"))

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if not self._fast:
            return super().export(spans)
        if self._shutdown:
            logger.warning("Exporter already shutdown, ignoring batch")
            return SpanExportResult.FAILURE
        with self._metrics.export_operation(len(spans)) as result:
            try:
                data = self._encoder.encode(spans)
            except Exception as error:
                logger.error("Failed to encode span batch: %s", error)
                result.error = error
                return SpanExportResult.FAILURE
            if 0 < self._max_request_size < len(data):
                logger.warning(
                    "Dropping span batch: serialized size %d bytes exceeds max_request_size %d bytes.",
                    len(data),
                    self._max_request_size,
                )
                result.error = ValueError(f"span batch of {len(data)} bytes over {self._max_request_size}")
                return SpanExportResult.FAILURE
            outcome = self._client.export(data)
            if not outcome.success:
                result.error = outcome.error
                if outcome.status_code is not None:
                    result.error_attrs = {HTTP_RESPONSE_STATUS_CODE: outcome.status_code}
                return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS


def _create(options: ExporterOptions) -> tuple[SpanExporter, str]:
    url = otlp_traces_endpoint(options.otlp_endpoint)
    return OTLPSpanExporter(endpoint=url, timeout=5), f"otlp {url}"


plugin = ExporterPlugin(create=_create)
