"""The SDK's OTLP export path: its span encoding reads back as exactly the request the OpenTelemetry encoder
builds, and its HTTP transport choice keeps proxies and TLS working as with the plain SDK exporter."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
    set_span_in_context,
)

from tests.support.receivers import Receiver, Reply
from watchkeeper import collector
from watchkeeper.collector.sdk.exporters import otlp, span_encoding
from watchkeeper.collector.sdk.exporters.span_encoding import SpanEncoder

VALUES: dict[str, Any] = {
    "text": "gpt-4o-mini",
    "empty_text": "",
    "long_text": "x" * 5000,
    "unicode": "Réponse : 12 € — ok ✓",
    "int": 42,
    "zero": 0,
    "negative": -7,
    "big": 2**62,
    "true": True,
    "false": False,
    "float": 0.2,
    "float_zero": 0.0,
    "negative_zero": -0.0,
    "nan": math.nan,
    "inf": math.inf,
    "strings": ["stop", "length"],
    "ints": [1, 2, 3],
    "floats": [0.5, -1.25],
    "bools": [True, False],
    "empty_list": [],
}


def _spans() -> list[ReadableSpan]:
    """Finished spans with every kind of value, event, link, status, parent and several resources/scopes."""
    exporter = InMemorySpanExporter()
    resource = Resource.create({"service.name": "support-bot", "deployment.environment.name": "prod"})
    providers = [
        TracerProvider(resource=resource),
        TracerProvider(
            resource=Resource.create({"service.name": "support-bot", "deployment.environment.name": "prod"})
        ),
        TracerProvider(
            resource=Resource({"service.name": "billing"}, schema_url="https://opentelemetry.io/s/1.37")
        ),
    ]
    for provider in providers:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracers = [
        providers[0].get_tracer("watchkeeper.collector", "0.1.0"),
        providers[0].get_tracer(
            "scoped", "2.0", schema_url="https://opentelemetry.io/s/1.36", attributes={"a": 1}
        ),
        providers[1].get_tracer("watchkeeper.collector", "0.1.0"),  # an equal resource, another object
        providers[2].get_tracer("plain"),
    ]
    remote = SpanContext(
        trace_id=0x0AF7651916CD43DD8448EB211C80319C,
        span_id=0x00F067AA0BA902B7,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
        trace_state=TraceState([("vendor", "value"), ("other", "1")]),
    )
    for round_ in range(3):  # the same values again: served from the encoder's cache
        for index, tracer in enumerate(tracers):
            kind = list(SpanKind)[(round_ + index) % len(SpanKind)]
            with tracer.start_as_current_span(f"chat m{index}", kind=kind, attributes=VALUES) as parent:
                parent.set_attribute("gen_ai.response.id", f"chatcmpl-{round_}-{index}")
                parent.set_attribute("gen_ai.usage.output_tokens", round_ + index)
                parent.add_event("gen_ai.choice", {"index": 0, "finish_reason": "stop", "scores": [0.1, 0.9]})
                with tracer.start_as_current_span(
                    "child", links=[Link(remote, {"link.kind": "caused_by"}), Link(parent.get_span_context())]
                ) as child:
                    child.set_status(Status(StatusCode.ERROR, "upstream 429"))
                    child.record_exception(RuntimeError("rate limited"))
            with tracer.start_as_current_span(
                "remote child", context=set_span_in_context(NonRecordingSpan(remote))
            ):
                pass
            tracer.start_span("unset status, no attributes").end()
            tracer.start_span("ok", attributes={"int": True, "true": 1, "float": 1}).end()  # 1, True, 1.0
    return list(exporter.get_finished_spans())


def _decoded(data: bytes) -> ExportTraceServiceRequest:
    return ExportTraceServiceRequest.FromString(data)


def test_encoding_reads_back_as_the_opentelemetry_encoders_request() -> None:
    spans = _spans()
    encoder = SpanEncoder()
    expected = encode_spans(spans)
    assert _decoded(encoder.encode(spans)) == expected
    assert _decoded(encoder.encode(spans)) == expected  # again, every recurring value from the cache
    # one request per resource, one scope entry per scope: equal resources from different objects merged
    assert len(expected.resource_spans) == 2
    assert sorted(len(r.scope_spans) for r in expected.resource_spans) == [1, 2]


def test_equal_values_of_different_types_keep_their_types() -> None:
    spans = _spans()
    request = _decoded(SpanEncoder().encode(spans))
    values = {}
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                if span.name == "ok":
                    values = {kv.key: kv.value for kv in span.attributes}
    assert values["int"].WhichOneof("value") == "bool_value"
    assert values["true"].WhichOneof("value") == "int_value"
    assert values["float"].WhichOneof("value") == "int_value"
    negative_zero = [
        kv.value.double_value
        for r in request.resource_spans
        for s in r.scope_spans
        for span in s.spans
        for kv in span.attributes
        if kv.key == "negative_zero"
    ]
    assert negative_zero and all(math.copysign(1, v) == -1 for v in negative_zero)


def test_a_full_cache_is_cleared_and_the_encoding_stays_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(span_encoding, "_CACHE_ENTRIES", 8)
    spans = _spans()
    encoder = SpanEncoder()
    for _ in range(3):
        assert _decoded(encoder.encode(spans)) == encode_spans(spans)
    assert len(encoder._attributes) <= 8


def test_a_value_that_cannot_be_encoded_is_left_out_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    [span] = [s for s in _spans() if s.name == "ok"][:1]
    broken = ReadableSpan(
        name="broken",
        context=span.context,
        resource=span.resource,
        attributes={"fine": "yes", "odd": {1, 2}},  # a set: no OTLP value type
        instrumentation_scope=span.instrumentation_scope,
    )
    request = _decoded(SpanEncoder().encode([broken]))
    [decoded] = request.resource_spans[0].scope_spans[0].spans
    assert [kv.key for kv in decoded.attributes] == ["fine"]
    assert "Failed to encode key odd" in caplog.text


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """An HTTP endpoint (or forward proxy: `target` is the request target as sent) answering 200."""
    found = Receiver()
    found.default = Reply(body=b"")
    found.start()
    yield found
    found.stop()


@pytest.fixture
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for scheme in ("http", "https", "all", "no"):
        monkeypatch.delenv(f"{scheme}_proxy", raising=False)
        monkeypatch.delenv(f"{scheme.upper()}_PROXY", raising=False)


def _transport(exporter: otlp.OTLPSpanExporter) -> str:
    return type(exporter._client._transport).__name__


def test_a_direct_http_endpoint_gets_the_spans_over_urllib3(receiver: Receiver, no_proxy_env: None) -> None:
    spans = _spans()
    exporter = otlp.OTLPSpanExporter(receiver.url + "/v1/traces", timeout=5)
    assert _transport(exporter) == "Urllib3HTTPTransport"
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    assert exporter.export(spans[:3]) is SpanExportResult.SUCCESS  # the kept-alive connection again
    exporter.shutdown()
    [first, second] = receiver.requests
    assert first.target == "/v1/traces"
    assert _decoded(first.body) == encode_spans(spans)
    assert _decoded(second.body) == encode_spans(spans[:3])


def test_an_exporter_release_without_the_transport_keyword_still_exports(
    receiver: Receiver, no_proxy_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The urllib3 transport is a private keyword of the exporter package: a release without it must not
    break tracing, only cost the `requests` client's CPU."""
    original = otlp.SdkOTLPSpanExporter.__init__

    def without_transport(self: Any, *args: Any, **kwargs: Any) -> None:
        if "_transport" in kwargs:
            raise TypeError("__init__() got an unexpected keyword argument '_transport'")
        original(self, *args, **kwargs)

    monkeypatch.setattr(otlp.SdkOTLPSpanExporter, "__init__", without_transport)
    exporter = otlp.OTLPSpanExporter(receiver.url + "/v1/traces", timeout=5)
    assert _transport(exporter) == "RequestsHTTPTransport"
    assert exporter.export(_spans()[:2]) is SpanExportResult.SUCCESS
    exporter.shutdown()
    assert len(receiver.requests) == 1


def test_a_proxied_endpoint_goes_through_the_proxy(
    receiver: Receiver, no_proxy_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", receiver.url)
    target = "http://intake.example.invalid:4318/v1/traces"  # resolvable only by the proxy
    exporter = otlp.OTLPSpanExporter(target, timeout=5)
    assert _transport(exporter) == "RequestsHTTPTransport"
    assert exporter.export(_spans()[:2]) is SpanExportResult.SUCCESS
    exporter.shutdown()
    [request] = receiver.requests
    assert request.target == target  # absolute-form request target: it went through the proxy


def test_no_proxy_and_https_choose_the_transport(no_proxy_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example.invalid:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    assert _transport(otlp.OTLPSpanExporter("http://127.0.0.1:4318/v1/traces")) == "Urllib3HTTPTransport"
    assert _transport(otlp.OTLPSpanExporter("http://collector:4318/v1/traces")) == "RequestsHTTPTransport"
    monkeypatch.delenv("HTTP_PROXY")
    assert _transport(otlp.OTLPSpanExporter("https://collector:4318/v1/traces")) == "RequestsHTTPTransport"


def test_a_refused_batch_is_a_failure(receiver: Receiver, no_proxy_env: None) -> None:
    receiver.default = Reply(status=400, body=b"")
    exporter = otlp.OTLPSpanExporter(receiver.url + "/v1/traces", timeout=2)
    assert exporter.export(_spans()[:1]) is SpanExportResult.FAILURE


def _calls(count: int) -> None:
    for index in range(count):
        with collector.trace_call(provider="openai", model="gpt-4o-mini", temperature=0.2) as call:
            call.set_output(f"answer {index}")
            call.set_usage(input_tokens=12, output_tokens=3)


def _span_counts(receiver: Receiver) -> list[int]:
    return [
        sum(len(s.spans) for r in _decoded(request.body).resource_spans for s in r.scope_spans)
        for request in receiver.requests
    ]


def test_instrument_batches_as_the_otel_bsp_variables_say(
    receiver: Receiver, no_proxy_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "3")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "600000")
    provider = TracerProvider()
    try:
        collector.instrument(tracer_provider=provider, exporters=("otlp",), otlp_endpoint=receiver.url)
        _calls(7)
        deadline = time.monotonic() + 20
        while len(receiver.requests) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _span_counts(receiver) == [3, 3]  # full batches go at once; the 7th waits for the timer
        assert provider.force_flush(10_000)
        assert _span_counts(receiver) == [3, 3, 1]
        [stats] = collector.export_stats()
        assert (stats.exported, stats.failed, stats.dropped) == (7, 0, 0)
    finally:
        collector.uninstrument()
        provider.shutdown()


def test_by_default_calls_reach_the_daemon_within_about_a_second_in_one_request(
    receiver: Receiver, no_proxy_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Paging within seconds needs the spans soon: the default batch timer is 1 s (not OpenTelemetry's
    5 s), and calls of the same second still share one request."""
    for name in ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "OTEL_BSP_SCHEDULE_DELAY", "OTEL_BSP_MAX_QUEUE_SIZE"):
        monkeypatch.delenv(name, raising=False)
    provider = TracerProvider()
    try:
        collector.instrument(tracer_provider=provider, exporters=("otlp",), otlp_endpoint=receiver.url)
        started = time.monotonic()
        _calls(2)
        deadline = time.monotonic() + 30
        while not receiver.requests and time.monotonic() < deadline:
            time.sleep(0.05)
        waited = time.monotonic() - started
    finally:
        collector.uninstrument()
        provider.shutdown()
    assert _span_counts(receiver) == [2]  # both calls in one request, not one request per call
    assert waited < 4.0  # the 1 s timer, not the 5 s one (a generous bound for a loaded machine)
