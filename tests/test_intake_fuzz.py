"""Mutation fuzzing of the intake: whatever arrives, no 5xx and nothing unparseable or invalid on the bus.

Seeds are valid requests (protobuf and OTLP/JSON); hypothesis flips, inserts, deletes and truncates bytes, or
swaps JSON nodes for arbitrary values, and shrinks any failure to a small reproducer.
"""

from __future__ import annotations

import contextlib
import gzip
import json
from collections.abc import Iterator
from typing import Any

import grpc
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.support.intake import (
    TOPICS,
    RunningIntake,
    genai_span,
    intake_config,
    logs_request,
    read_all,
    resource_spans,
    traces_request,
)
from watchkeeper.collector.intake.errors import Rejected
from watchkeeper.collector.intake.http import gunzip
from watchkeeper.collector.translate.otlp_json import OtlpJsonError, logs_from_json, traces_from_json
from watchkeeper.config import BusConfig
from watchkeeper.core.bus import Bus, make_bus

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

PB_SEEDS = [
    traces_request(3).SerializeToString(),
    ExportTraceServiceRequest(
        resource_spans=[
            resource_spans("a", [genai_span(0)]),
            resource_spans("b", [genai_span(1), genai_span(2)]),
        ]
    ).SerializeToString(),
    logs_request(2).SerializeToString(),
]
JSON_SEED: dict[str, Any] = {
    "resourceSpans": [
        {
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "fuzz-app"}}]},
            "scopeSpans": [
                {
                    "scope": {"name": "s", "version": "1"},
                    "spans": [
                        {
                            "traceId": "5b8efff798038103d269b633813fc60c",
                            "spanId": "eee19b7ec3c1b174",
                            "parentSpanId": "eee19b7ec3c1b173",
                            "name": "chat",
                            "kind": 3,
                            "startTimeUnixNano": "1700000000000000000",
                            "endTimeUnixNano": "1700000000500000000",
                            "attributes": [
                                {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "12"}},
                                {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}},
                                {"key": "list", "value": {"arrayValue": {"values": [{"doubleValue": 1.5}]}}},
                            ],
                            "events": [{"timeUnixNano": "1700000000100000000", "name": "gen_ai.choice"}],
                            "links": [
                                {"traceId": "5b8efff798038103d269b633813fc60d", "spanId": "eee19b7ec3c1b175"}
                            ],
                            "status": {"code": 1},
                        }
                    ],
                }
            ],
        }
    ],
}


@st.composite
def mutated_bytes(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate"]))
        if not data:
            data.extend(draw(st.binary(min_size=1, max_size=8)))
            continue
        pos = draw(st.integers(0, len(data) - 1))
        if op == "flip":
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "set":
            data[pos] = draw(st.sampled_from([0x00, 0x01, 0x7F, 0x80, 0xFF, 0x0A, 0x12, 0x1A]))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 8))]
        else:
            del data[pos:]
    return bytes(data)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=40)
    | st.sampled_from(["5b8efff798038103d269b633813fc60c", "eee19b7e", "zz", "", "1700000000000000000"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["traceId", "spanId", "spans", "name", "kind", "value", "attributes", "x"])
            | st.text(max_size=8),
            inner,
            max_size=3,
        )
    ),
    max_leaves=8,
)


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(node, dict):
        for k, v in node.items():
            out.extend(_paths(v, (*path, k)))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.extend(_paths(v, (*path, i)))
    return out


@st.composite
def mutated_json(draw: st.DrawFn) -> bytes:
    doc: Any = json.loads(json.dumps(JSON_SEED))
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        if draw(st.booleans()):
            parent[path[-1]] = draw(json_values)
        elif isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent.pop(path[-1])
    text = json.dumps(doc)
    if draw(st.integers(0, 9)) == 0:  # occasionally break the syntax too
        cut = draw(st.integers(0, len(text)))
        text = text[:cut]
    return text.encode()


# ------------------------------------------------------------------------------------------- a shared server
@pytest.fixture(scope="module")
def fuzz_bus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bus]:
    b = make_bus(BusConfig(), tmp_path_factory.mktemp("fuzz-bus"))
    yield b
    b.close()


@pytest.fixture(scope="module")
def server(fuzz_bus: Bus) -> Iterator[RunningIntake]:
    running = RunningIntake(intake_config(grpc_enabled=True, max_body_bytes=256 * 1024), fuzz_bus.producer())
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as c:
        yield c


def assert_bus_clean(bus: Bus) -> None:
    """Everything published parses, and every span/log record in it has well-formed ids."""
    for _, value in read_all(bus, TOPICS.spans, group="fuzz-check"):
        req = ExportTraceServiceRequest.FromString(value)
        for rs in req.resource_spans:
            for ss in rs.scope_spans:
                for span in ss.spans:
                    assert len(span.trace_id) == 16 and len(span.span_id) == 8
                    assert len(span.parent_span_id) in (0, 8)
    for _, value in read_all(bus, TOPICS.logs, group="fuzz-check"):
        logs = ExportLogsServiceRequest.FromString(value)
        for rl in logs.resource_logs:
            for sl in rl.scope_logs:
                for rec in sl.log_records:
                    assert len(rec.trace_id) in (0, 16) and len(rec.span_id) in (0, 8)


def _post(
    client: httpx.Client, server: RunningIntake, path: str, body: bytes, ctype: str, **headers: str
) -> httpx.Response:
    resp = client.post(server.url + path, content=body, headers={"Content-Type": ctype, **headers})
    assert resp.status_code < 500, (resp.status_code, resp.content[:300])
    assert resp.status_code in (200, 400, 413), resp.status_code
    return resp


# --------------------------------------------------------------------------------------------- the fuzz tests
@FUZZ
@given(body=mutated_bytes(PB_SEEDS), path=st.sampled_from(["/v1/traces", "/v1/logs"]))
def test_mutated_protobuf(
    server: RunningIntake, fuzz_bus: Bus, client: httpx.Client, body: bytes, path: str
) -> None:
    _post(client, server, path, body, "application/x-protobuf")
    assert_bus_clean(fuzz_bus)


@FUZZ
@given(body=mutated_json())
def test_mutated_json(server: RunningIntake, fuzz_bus: Bus, client: httpx.Client, body: bytes) -> None:
    _post(client, server, "/v1/traces", body, "application/json")
    assert_bus_clean(fuzz_bus)


@FUZZ
@given(body=mutated_bytes([gzip.compress(s) for s in PB_SEEDS]))
def test_mutated_gzip(server: RunningIntake, fuzz_bus: Bus, client: httpx.Client, body: bytes) -> None:
    _post(client, server, "/v1/traces", body, "application/x-protobuf", **{"Content-Encoding": "gzip"})
    assert_bus_clean(fuzz_bus)


@settings(max_examples=80, deadline=None)
@given(body=mutated_bytes(PB_SEEDS))
def test_mutated_grpc(server: RunningIntake, fuzz_bus: Bus, body: bytes) -> None:
    with grpc.insecure_channel(server.grpc_target) as channel:
        export = channel.unary_unary(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            request_serializer=None,
            response_deserializer=None,
        )
        try:
            export(body, timeout=10)
        except grpc.RpcError as err:
            assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, (err.code(), err.details())
    assert_bus_clean(fuzz_bus)


@settings(max_examples=300, deadline=None)
@given(body=mutated_json() | st.binary(max_size=200))
def test_json_parser_raises_only_its_own_error(body: bytes) -> None:
    for parse in (traces_from_json, logs_from_json):
        with contextlib.suppress(OtlpJsonError):
            parse(body)


@settings(max_examples=300, deadline=None)
@given(body=mutated_bytes([gzip.compress(b"x" * 5000), gzip.compress(PB_SEEDS[0])]))
def test_gunzip_raises_only_rejections(body: bytes) -> None:
    try:
        out = gunzip(body, 64 * 1024)
    except Rejected:
        return
    assert len(out) <= 64 * 1024
