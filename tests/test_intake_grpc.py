"""OTLP/gRPC intake against real sockets and the real embedded bus."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc.error_details_pb2 import RetryInfo
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from tests.support.intake import (
    TOPICS,
    GatedProducer,
    RunningIntake,
    count_spans,
    genai_span,
    intake_config,
    logs_request,
    metric,
    read_all,
    resource_spans,
    spans_on_bus,
    traces_request,
)
from watchkeeper.config import BusConfig
from watchkeeper.core.bus import Bus, Producer, make_bus

TRACE_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
LOGS_EXPORT = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[Bus]:
    b = make_bus(BusConfig(), tmp_path)
    yield b
    b.close()


def grpc_intake(bus_producer: Producer, **overrides: Any) -> RunningIntake:
    return RunningIntake(intake_config(grpc_enabled=True, **overrides), bus_producer)


@pytest.fixture
def intake(bus: Bus) -> Iterator[RunningIntake]:
    running = grpc_intake(bus.producer(), max_body_bytes=64 * 1024, max_inflight_bytes=1024 * 1024)
    yield running
    running.stop()


def call(
    target: str,
    method: str,
    body: bytes,
    *,
    metadata: tuple[tuple[str, str], ...] = (),
    compression: grpc.Compression | None = None,
) -> bytes:
    """One unary call with raw bytes, so tests can also send what a generated stub never would."""
    with grpc.insecure_channel(target) as channel:
        fn = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
        return fn(body, timeout=10, metadata=metadata, compression=compression)


def call_error(target: str, method: str, body: bytes, **kwargs: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call(target, method, body, **kwargs)
    return info.value


def retry_delay_s(err: grpc.RpcError) -> int:
    details = dict(err.trailing_metadata() or ())["grpc-status-details-bin"]  # type: ignore[attr-defined]
    status = Status.FromString(details)
    assert status.code == err.code().value[0]  # type: ignore[attr-defined]
    info = RetryInfo()
    assert status.details[0].Unpack(info)
    return info.retry_delay.seconds


def test_sdk_grpc_exporter_with_gzip(intake: RunningIntake, bus: Bus) -> None:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import Compression, OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    before = metric("watchkeeper_intake_spans_received_total", transport="grpc")
    provider = TracerProvider(resource=Resource.create({"service.name": "grpc-app"}))
    exporter = OTLPSpanExporter(endpoint=intake.grpc_target, insecure=True, compression=Compression.Gzip)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    for i in range(3):
        with tracer.start_as_current_span(f"chat {i}") as span:
            span.set_attribute("gen_ai.usage.input_tokens", 10 + i)
    provider.shutdown()
    records = spans_on_bus(bus)
    assert {k for k, _ in records} == {b"grpc-app"}
    assert sum(count_spans(r) for _, r in records) == 3
    assert metric("watchkeeper_intake_spans_received_total", transport="grpc") - before == 3


def test_http_and_grpc_served_together(intake: RunningIntake, bus: Bus) -> None:
    import httpx

    assert intake.intake.grpc_port not in (None, 0, intake.intake.http_port)
    body = traces_request(2).SerializeToString()
    assert (
        httpx.post(
            intake.url + "/v1/traces", content=body, headers={"Content-Type": "application/x-protobuf"}
        ).status_code
        == 200
    )
    call(intake.grpc_target, TRACE_EXPORT, body)
    assert [v for _, v in read_all(bus, TOPICS.spans)] == [body, body]


def test_logs_export(intake: RunningIntake, bus: Bus) -> None:
    body = logs_request(2, service="svc").SerializeToString()
    resp = ExportLogsServiceResponse.FromString(call(intake.grpc_target, LOGS_EXPORT, body))
    assert not resp.HasField("partial_success")
    assert read_all(bus, TOPICS.logs) == [(b"svc", body)]


def test_partial_success(intake: RunningIntake, bus: Bus) -> None:
    req = ExportTraceServiceRequest(
        resource_spans=[
            resource_spans("a", [genai_span(0), genai_span(1, trace_id=b"short")]),
            resource_spans("b", [genai_span(2)]),
        ]
    )
    resp = ExportTraceServiceResponse.FromString(
        call(intake.grpc_target, TRACE_EXPORT, req.SerializeToString())
    )
    assert resp.partial_success.rejected_spans == 1
    assert "trace_id must be 16 bytes, got 5" in resp.partial_success.error_message
    assert {k: count_spans(r) for k, r in spans_on_bus(bus)} == {b"a": 1, b"b": 1}


def test_malformed_and_empty_are_invalid_argument(intake: RunningIntake, bus: Bus) -> None:
    before = metric("watchkeeper_intake_rejects_total", transport="grpc", reason="malformed")
    err = call_error(intake.grpc_target, TRACE_EXPORT, b"\x0a\xff\xff\xff\xff\x0f")
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a protobuf" in err.details()
    assert metric("watchkeeper_intake_rejects_total", transport="grpc", reason="malformed") - before == 1
    err = call_error(intake.grpc_target, TRACE_EXPORT, b"")
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "empty" in err.details()
    assert read_all(bus, TOPICS.spans) == []
    call(intake.grpc_target, TRACE_EXPORT, traces_request(1).SerializeToString())  # still serving


def test_too_large_message_refused(intake: RunningIntake, bus: Bus) -> None:
    big = traces_request(400).SerializeToString()
    assert len(big) > 64 * 1024
    err = call_error(intake.grpc_target, TRACE_EXPORT, big)
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert read_all(bus, TOPICS.spans) == []


def test_unknown_method_is_unimplemented(intake: RunningIntake) -> None:
    err = call_error(
        intake.grpc_target, "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export", b""
    )
    assert err.code() == grpc.StatusCode.UNIMPLEMENTED


def test_auth(bus: Bus) -> None:
    running = grpc_intake(bus.producer(), auth_token="tok-123")
    body = traces_request(1).SerializeToString()
    try:
        err = call_error(running.grpc_target, TRACE_EXPORT, body)
        assert err.code() == grpc.StatusCode.UNAUTHENTICATED
        err = call_error(
            running.grpc_target, TRACE_EXPORT, body, metadata=(("authorization", "Bearer nope"),)
        )
        assert err.code() == grpc.StatusCode.UNAUTHENTICATED
        call(running.grpc_target, TRACE_EXPORT, body, metadata=(("authorization", "Bearer tok-123"),))
    finally:
        running.stop()
    assert len(read_all(bus, TOPICS.spans)) == 1


def test_busy_is_resource_exhausted_with_retry_info(bus: Bus) -> None:
    producer = GatedProducer(bus.producer())
    running = grpc_intake(producer, max_inflight_requests=1, retry_after_s=3)
    body = traces_request(1).SerializeToString()
    try:
        first = threading.Thread(target=call, args=(running.grpc_target, TRACE_EXPORT, body))
        first.start()
        assert producer.entered.wait(10)
        err = call_error(running.grpc_target, TRACE_EXPORT, body)
        assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert retry_delay_s(err) == 3
        producer.gate.set()
        first.join(10)
    finally:
        producer.gate.set()
        running.stop()
    assert len(read_all(bus, TOPICS.spans)) == 1


def test_rate_limited_is_resource_exhausted_with_retry_info(bus: Bus) -> None:
    running = grpc_intake(bus.producer(), rate_limit_per_s=1, rate_limit_burst=5)
    try:
        call(running.grpc_target, TRACE_EXPORT, traces_request(5).SerializeToString())
        err = call_error(running.grpc_target, TRACE_EXPORT, traces_request(3).SerializeToString())
        assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert retry_delay_s(err) >= 1
    finally:
        running.stop()


def test_bus_failure_is_unavailable(bus: Bus) -> None:
    producer = bus.producer()
    producer.close()
    running = grpc_intake(producer)
    try:
        err = call_error(running.grpc_target, TRACE_EXPORT, traces_request(1).SerializeToString())
        assert err.code() == grpc.StatusCode.UNAVAILABLE
        assert retry_delay_s(err) >= 1
    finally:
        running.stop()


def test_port_in_use_fails_start_and_leaves_nothing_open(intake: RunningIntake, bus: Bus) -> None:
    import socket

    from watchkeeper.collector.intake import Intake

    taken = intake.intake.grpc_port
    second = Intake(intake_config(grpc_enabled=True, grpc_port=taken), bus.producer(), TOPICS)
    with pytest.raises(OSError, match=r"intake\.grpc_port"):
        intake.call(second.start())
    http_port = second.http_port
    with socket.socket() as s:  # the HTTP listener it opened first was closed again
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", http_port))
