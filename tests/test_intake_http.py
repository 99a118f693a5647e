"""OTLP/HTTP intake against real sockets and the real embedded bus.

The helpers (RunningIntake, builders, bus readers) live in tests/support/intake.py, shared with the gRPC and
fuzz tests.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import httpx
import pytest
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tests.support.intake import (
    PB,
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
from watchkeeper.core.bus import Bus, make_bus


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[Bus]:
    b = make_bus(BusConfig(), tmp_path)
    yield b
    b.close()


@pytest.fixture
def intake(bus: Bus) -> Iterator[RunningIntake]:
    running = RunningIntake(
        intake_config(max_body_bytes=64 * 1024, max_inflight_bytes=1024 * 1024), bus.producer()
    )
    yield running
    running.stop()


def post(url: str, body: bytes, content_type: str = PB, **headers: str) -> httpx.Response:
    with httpx.Client(timeout=10) as client:
        return client.post(url, content=body, headers={"Content-Type": content_type, **headers})


def status_of(resp: httpx.Response) -> Status:
    if resp.headers["Content-Type"].startswith("application/json"):
        doc = json.loads(resp.content)
        return Status(code=doc.get("code", 0), message=doc.get("message", ""))
    return Status.FromString(resp.content)


# --------------------------------------------------------------------------------------------- happy paths
def test_sdk_exporter_spans_reach_the_bus(intake: RunningIntake, bus: Bus) -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    before = metric("watchkeeper_intake_spans_received_total", transport="http")
    provider = TracerProvider(resource=Resource.create({"service.name": "chatbot"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=intake.url + "/v1/traces")))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("chat gpt-4o") as parent:
        parent.set_attribute("gen_ai.request.model", "gpt-4o")
        with tracer.start_as_current_span("tool call"):
            pass
    provider.shutdown()

    records = spans_on_bus(bus)
    assert {k for k, _ in records} == {b"chatbot"}
    spans = [s for _, r in records for rs in r.resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert sorted(s.name for s in spans) == ["chat gpt-4o", "tool call"]
    chat = next(s for s in spans if s.name == "chat gpt-4o")
    assert any(a.key == "gen_ai.request.model" and a.value.string_value == "gpt-4o" for a in chat.attributes)
    assert metric("watchkeeper_intake_spans_received_total", transport="http") - before == 2


def test_protobuf_published_unchanged_and_answered_in_protobuf(intake: RunningIntake, bus: Bus) -> None:
    body = traces_request(5).SerializeToString()
    resp = post(intake.url + "/v1/traces", body)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith(PB)
    assert not ExportTraceServiceResponse.FromString(resp.content).HasField("partial_success")
    assert read_all(bus, TOPICS.spans) == [(b"app-a", body)]


def test_json_with_hex_ids_int_enums_and_unknown_fields(intake: RunningIntake, bus: Bus) -> None:
    trace_id, span_id, parent_id = "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174", "eee19b7ec3c1b173"
    doc = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-app"}}]},
                "scopeSpans": [
                    {
                        "scope": {"name": "manual"},
                        "spans": [
                            {
                                "traceId": trace_id,
                                "spanId": span_id,
                                "parentSpanId": parent_id,
                                "name": "chat",
                                "kind": 3,
                                "startTimeUnixNano": "1700000000000000000",
                                "endTimeUnixNano": 1700000000500000000,
                                "attributes": [
                                    {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "12"}}
                                ],
                                "links": [{"traceId": trace_id, "spanId": parent_id}],
                                "status": {"code": 2, "message": "boom"},
                                "someFutureField": {"x": 1},
                            }
                        ],
                    }
                ],
            }
        ],
        "anotherUnknownField": True,
    }
    resp = post(intake.url + "/v1/traces", json.dumps(doc).encode(), "application/json")
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"].startswith("application/json")
    assert json.loads(resp.content) == {}
    [(key, req)] = spans_on_bus(bus)
    assert key == b"json-app"
    span = req.resource_spans[0].scope_spans[0].spans[0]
    assert span.trace_id.hex() == trace_id and span.span_id.hex() == span_id
    assert span.parent_span_id.hex() == parent_id
    assert span.kind == Span.SPAN_KIND_CLIENT and span.status.code == 2
    assert span.links[0].trace_id.hex() == trace_id
    assert span.attributes[0].value.int_value == 12


def test_gzip_body_is_inflated_before_publishing(intake: RunningIntake, bus: Bus) -> None:
    body = traces_request(4).SerializeToString()
    resp = post(intake.url + "/v1/traces", gzip.compress(body), **{"Content-Encoding": "gzip"})
    assert resp.status_code == 200
    assert read_all(bus, TOPICS.spans) == [(b"app-a", body)]


def test_chunked_body_from_a_generator(intake: RunningIntake, bus: Bus) -> None:
    body = traces_request(20).SerializeToString()

    async def pieces() -> AsyncIterator[bytes]:
        for i in range(0, len(body), 333):
            yield body[i : i + 333]

    async def send() -> int:
        async with (
            aiohttp.ClientSession() as session,
            session.post(intake.url + "/v1/traces", data=pieces(), headers={"Content-Type": PB}) as resp,
        ):
            assert resp.request_info.headers.get("Transfer-Encoding") == "chunked"
            await resp.read()
            return resp.status

    assert asyncio.run(send()) == 200
    assert read_all(bus, TOPICS.spans) == [(b"app-a", body)]


def test_one_request_with_several_services_is_split_per_service(intake: RunningIntake, bus: Bus) -> None:
    req = ExportTraceServiceRequest(
        resource_spans=[
            resource_spans("app-a", [genai_span(0), genai_span(1)]),
            resource_spans("app-b", [genai_span(2)]),
            resource_spans("app-a", [genai_span(3)]),
            resource_spans(None, [genai_span(4)]),
        ]
    )
    assert post(intake.url + "/v1/traces", req.SerializeToString()).status_code == 200
    records = dict(spans_on_bus(bus))
    assert set(records) == {b"app-a", b"app-b", b"unknown_service"}
    assert count_spans(records[b"app-a"]) == 3 and len(records[b"app-a"].resource_spans) == 2
    assert count_spans(records[b"app-b"]) == 1 and count_spans(records[b"unknown_service"]) == 1


def test_logs_protobuf_and_json_go_to_the_logs_topic(intake: RunningIntake, bus: Bus) -> None:
    body = logs_request(3).SerializeToString()
    resp = post(intake.url + "/v1/logs", body)
    assert resp.status_code == 200
    assert not ExportLogsServiceResponse.FromString(resp.content).HasField("partial_success")
    doc = {
        "resourceLogs": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "app-b"}}]},
                "scopeLogs": [
                    {
                        "logRecords": [
                            {
                                "traceId": "5b8efff798038103d269b633813fc60c",
                                "spanId": "eee19b7ec3c1b174",
                                "severityNumber": 9,
                                "body": {"stringValue": "hi"},
                            }
                        ]
                    }
                ],
            }
        ]
    }
    assert post(intake.url + "/v1/logs", json.dumps(doc).encode(), "application/json").status_code == 200
    records = read_all(bus, TOPICS.logs)
    assert [k for k, _ in records] == [b"app-a", b"app-b"]
    assert records[0][1] == body
    rec = ExportLogsServiceRequest.FromString(records[1][1]).resource_logs[0].scope_logs[0].log_records[0]
    assert rec.trace_id.hex() == "5b8efff798038103d269b633813fc60c" and rec.severity_number == 9
    assert read_all(bus, TOPICS.spans) == []


# ------------------------------------------------------------------------------------------- partial success
def test_invalid_spans_are_dropped_and_reported(intake: RunningIntake, bus: Bus) -> None:
    spans = [
        genai_span(0),
        genai_span(1, trace_id=b"\x01" * 4),
        genai_span(2),
        genai_span(3, span_id=b"\x02" * 3),
        genai_span(4, trace_id=bytes(16)),
    ]
    req = ExportTraceServiceRequest(resource_spans=[resource_spans("app-a", spans)])
    before = metric("watchkeeper_intake_rejects_total", transport="http", reason="invalid_span")
    resp = post(intake.url + "/v1/traces", req.SerializeToString())
    assert resp.status_code == 200
    partial = ExportTraceServiceResponse.FromString(resp.content).partial_success
    assert partial.rejected_spans == 3
    assert "trace_id must be 16 bytes, got 4" in partial.error_message
    assert "span_id must be 8 bytes, got 3" in partial.error_message
    [(key, published)] = spans_on_bus(bus)
    assert key == b"app-a" and count_spans(published) == 2
    assert metric("watchkeeper_intake_rejects_total", transport="http", reason="invalid_span") - before == 3


def test_json_id_of_wrong_length_is_a_partial_success(intake: RunningIntake, bus: Bus) -> None:
    good = {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174", "name": "ok"}
    short = {"traceId": "5b8efff7", "spanId": "eee19b7ec3c1b175", "name": "short"}
    doc = {"resourceSpans": [{"scopeSpans": [{"spans": [good, short]}]}]}
    resp = post(intake.url + "/v1/traces", json.dumps(doc).encode(), "application/json")
    assert resp.status_code == 200
    body = json.loads(resp.content)
    assert body["partialSuccess"]["rejectedSpans"] == "1"
    assert "trace_id must be 16 bytes, got 4" in body["partialSuccess"]["errorMessage"]
    [(_, published)] = spans_on_bus(bus)
    assert [s.name for s in published.resource_spans[0].scope_spans[0].spans] == ["ok"]


def test_all_spans_invalid_publishes_nothing(intake: RunningIntake, bus: Bus) -> None:
    req = ExportTraceServiceRequest(resource_spans=[resource_spans("a", [genai_span(0, span_id=b"")])])
    resp = post(intake.url + "/v1/traces", req.SerializeToString())
    assert resp.status_code == 200
    assert ExportTraceServiceResponse.FromString(resp.content).partial_success.rejected_spans == 1
    assert read_all(bus, TOPICS.spans) == []


# --------------------------------------------------------------------------------------------- bad input
def _gzip_bomb() -> bytes:
    return gzip.compress(b"\x00" * (2 * 1024 * 1024))  # ~2 KB on the wire, 2 MB inflated


BAD_INPUTS: list[tuple[str, str, str, bytes, dict[str, str], int, str]] = [
    # id, method, path, body, headers, status, metric reason
    ("malformed-protobuf", "POST", "/v1/traces", b"\x0a\xff\xff\xff\xff\x0f", {}, 400, "malformed"),
    (
        "bad-json",
        "POST",
        "/v1/traces",
        b'{"resourceSpans": [',
        {"Content-Type": "application/json"},
        400,
        "bad_json",
    ),
    (
        "json-not-hex-id",
        "POST",
        "/v1/traces",
        b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz8efff798038103d269b633813fc60c"}]}]}]}',
        {"Content-Type": "application/json"},
        400,
        "bad_json",
    ),
    (
        "json-wrong-type",
        "POST",
        "/v1/traces",
        b'{"resourceSpans": 5}',
        {"Content-Type": "application/json"},
        400,
        "bad_json",
    ),
    ("empty-body", "POST", "/v1/traces", b"", {}, 400, "empty"),
    (
        "wrong-content-type",
        "POST",
        "/v1/traces",
        b"hello",
        {"Content-Type": "text/plain"},
        415,
        "content_type",
    ),
    ("no-content-type", "POST", "/v1/logs", b"hello", {"Content-Type": ""}, 415, "content_type"),
    ("too-large", "POST", "/v1/traces", b"\x00" * (65 * 1024), {}, 413, "too_large"),
    ("gzip-bomb", "POST", "/v1/traces", _gzip_bomb(), {"Content-Encoding": "gzip"}, 413, "too_large"),
    ("bad-gzip", "POST", "/v1/traces", b"this is not gzip", {"Content-Encoding": "gzip"}, 400, "bad_gzip"),
    (
        "truncated-gzip",
        "POST",
        "/v1/traces",
        gzip.compress(b"x" * 1000)[:-12],
        {"Content-Encoding": "gzip"},
        400,
        "bad_gzip",
    ),
    ("unknown-encoding", "POST", "/v1/traces", b"x", {"Content-Encoding": "br"}, 415, "content_encoding"),
    ("wrong-method", "GET", "/v1/traces", b"", {}, 405, "method"),
    ("wrong-path", "POST", "/v1/metrics", b"x", {}, 404, "not_found"),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "status", "reason"),
    [pytest.param(*case[1:], id=case[0]) for case in BAD_INPUTS],
)
def test_bad_input_is_refused_with_a_reason(
    intake: RunningIntake,
    bus: Bus,
    method: str,
    path: str,
    body: bytes,
    headers: dict[str, str],
    status: int,
    reason: str,
) -> None:
    before = metric("watchkeeper_intake_rejects_total", transport="http", reason=reason)
    with httpx.Client(timeout=10) as client:
        resp = client.request(
            method, intake.url + path, content=body, headers={"Content-Type": PB, **headers}
        )
        assert resp.status_code == status
        assert len(status_of(resp).message) > 10  # a sentence a human can act on
        assert metric("watchkeeper_intake_rejects_total", transport="http", reason=reason) - before == 1
        # the server keeps serving
        ok = client.post(
            intake.url + "/v1/traces",
            content=traces_request(1).SerializeToString(),
            headers={"Content-Type": PB},
        )
        assert ok.status_code == 200
    assert len(read_all(bus, TOPICS.spans)) == 1


def test_error_body_uses_the_request_encoding(intake: RunningIntake) -> None:
    resp = post(intake.url + "/v1/traces", b"{", "application/json")
    assert resp.status_code == 400 and resp.headers["Content-Type"].startswith("application/json")
    assert "not valid JSON" in json.loads(resp.content)["message"]
    resp = post(intake.url + "/v1/traces", b"\xff")
    assert resp.status_code == 400 and resp.headers["Content-Type"].startswith(PB)
    assert Status.FromString(resp.content).code == 3  # INVALID_ARGUMENT


# --------------------------------------------------------------------------------------------- limits
def test_slow_bus_gives_503_with_retry_after(bus: Bus) -> None:
    producer = GatedProducer(bus.producer())
    running = RunningIntake(intake_config(max_inflight_requests=1), producer)
    try:
        results: list[int] = []
        first = threading.Thread(
            target=lambda: results.append(
                post(running.url + "/v1/traces", traces_request(2).SerializeToString()).status_code
            )
        )
        first.start()
        assert producer.entered.wait(10)
        before = metric("watchkeeper_intake_rejects_total", transport="http", reason="busy")
        busy = post(running.url + "/v1/traces", traces_request(1).SerializeToString())
        assert busy.status_code == 503
        assert int(busy.headers["Retry-After"]) >= 1
        assert "busy" in status_of(busy).message
        assert metric("watchkeeper_intake_rejects_total", transport="http", reason="busy") - before == 1
        producer.gate.set()
        first.join(10)
        assert results == [200]
    finally:
        producer.gate.set()
        running.stop()
    assert [count_spans(r) for _, r in spans_on_bus(bus)] == [2]


def test_inflight_bytes_bound(bus: Bus) -> None:
    producer = GatedProducer(bus.producer())
    cfg = intake_config(max_body_bytes=8 * 1024, max_inflight_bytes=8 * 1024)
    running = RunningIntake(cfg, producer)
    try:
        first = threading.Thread(
            target=post, args=(running.url + "/v1/traces", traces_request(30).SerializeToString())
        )
        first.start()
        assert producer.entered.wait(10)
        busy = post(running.url + "/v1/traces", traces_request(30).SerializeToString())
        assert busy.status_code == 503 and "bytes" in status_of(busy).message
        producer.gate.set()
        first.join(10)
    finally:
        producer.gate.set()
        running.stop()


def test_bus_failure_gives_503_and_is_logged_once(bus: Bus, caplog: pytest.LogCaptureFixture) -> None:
    producer = bus.producer()
    producer.close()  # every publish now fails inside the real bus
    running = RunningIntake(intake_config(retry_after_s=7), producer)
    try:
        with caplog.at_level(logging.ERROR, logger="watchkeeper.collector.intake"):
            for _ in range(3):
                resp = post(running.url + "/v1/traces", traces_request(1).SerializeToString())
                assert resp.status_code == 503
                assert resp.headers["Retry-After"] == "7"
    finally:
        running.stop()
    assert len([r for r in caplog.records if "bus publish failed" in r.getMessage()]) == 1


def test_rate_limit_gives_429(bus: Bus) -> None:
    running = RunningIntake(intake_config(rate_limit_per_s=0.5, rate_limit_burst=10), bus.producer())
    try:
        assert post(running.url + "/v1/traces", traces_request(10).SerializeToString()).status_code == 200
        limited = post(running.url + "/v1/traces", traces_request(5).SerializeToString())
        assert limited.status_code == 429
        assert int(limited.headers["Retry-After"]) >= 2
        assert "rate limit" in status_of(limited).message
    finally:
        running.stop()
    assert [count_spans(r) for _, r in spans_on_bus(bus)] == [10]


def test_bearer_auth(bus: Bus, caplog: pytest.LogCaptureFixture) -> None:
    token = "s3cr3t-token-value"
    running = RunningIntake(intake_config(auth_token=token), bus.producer())
    body = traces_request(1).SerializeToString()
    try:
        with caplog.at_level(logging.DEBUG):
            missing = post(running.url + "/v1/traces", body)
            wrong = post(running.url + "/v1/traces", body, Authorization="Bearer nope")
            basic = post(running.url + "/v1/traces", body, Authorization=f"Basic {token}")
            good = post(running.url + "/v1/traces", body, Authorization=f"Bearer {token}")
    finally:
        running.stop()
    assert [missing.status_code, wrong.status_code, basic.status_code, good.status_code] == [
        401,
        401,
        401,
        200,
    ]
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert token not in caplog.text
    assert len(read_all(bus, TOPICS.spans)) == 1


def test_stop_lets_in_flight_requests_finish(bus: Bus) -> None:
    producer = GatedProducer(bus.producer())
    running = RunningIntake(intake_config(), producer)
    results: list[int] = []
    sender = threading.Thread(
        target=lambda: results.append(
            post(running.url + "/v1/traces", traces_request(3).SerializeToString()).status_code
        )
    )
    sender.start()
    assert producer.entered.wait(10)
    stopper = threading.Thread(target=running.stop)
    stopper.start()
    producer.gate.set()
    stopper.join(30)
    sender.join(10)
    assert results == [200]
    assert [count_spans(r) for _, r in spans_on_bus(bus)] == [3]


def test_body_that_never_completes_gets_408(bus: Bus) -> None:
    import socket

    running = RunningIntake(intake_config(read_timeout_s=0.3), bus.producer())
    try:
        with socket.create_connection(("127.0.0.1", running.intake.http_port), timeout=10) as sock:
            sock.sendall(
                b"POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\n"
                b"Content-Length: 100\r\n\r\n0123456789"
            )
            reply = sock.recv(65536)
        assert reply.startswith(b"HTTP/1.1 408")
        assert b"not received in time" in reply
        assert post(running.url + "/v1/traces", traces_request(1).SerializeToString()).status_code == 200
    finally:
        running.stop()
