"""Helpers for the intake tests (HTTP, gRPC, fuzz): a running intake on real sockets, OTLP request builders,
and readers of what reached the bus."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Sequence
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import ResourceLogs, ScopeLogs
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from watchkeeper.collector.intake import Intake
from watchkeeper.collector.intake.config import IntakeConfig
from watchkeeper.core.bus import Bus, Producer
from watchkeeper.core.bus.base import TopicsConfig
from watchkeeper.core.metrics import REGISTRY

PB = "application/x-protobuf"
TOPICS = TopicsConfig()


class RunningIntake:
    """An Intake on its own event loop in a thread, so tests can use blocking clients against it."""

    def __init__(self, cfg: IntakeConfig, producer: Producer, topics: TopicsConfig = TOPICS) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="intake-loop", daemon=True)
        self.thread.start()
        self.intake = self.call(self._make(cfg, producer, topics))
        self.call(self.intake.start())

    @staticmethod
    async def _make(cfg: IntakeConfig, producer: Producer, topics: TopicsConfig) -> Intake:
        return Intake(cfg, producer, topics)

    def call(self, coro: Any, timeout: float = 30.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.intake.http_port}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.intake.grpc_port}"

    def stop(self) -> None:
        try:
            self.call(self.intake.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()


def intake_config(**overrides: Any) -> IntakeConfig:
    """Loopback, free ports, small limits."""
    base: dict[str, Any] = {"host": "127.0.0.1", "http_port": 0, "grpc_port": 0, "grpc_enabled": False}
    base.update(overrides)
    return IntakeConfig(**base)


def kv(key: str, value: str | int) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def genai_span(i: int = 0, trace_id: bytes | None = None, span_id: bytes | None = None) -> Span:
    return Span(
        trace_id=trace_id if trace_id is not None else os.urandom(16),
        span_id=span_id if span_id is not None else os.urandom(8),
        name="chat gpt-4o-mini",
        kind=Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=1_700_000_000_000_000_000 + i,
        end_time_unix_nano=1_700_000_000_500_000_000 + i,
        attributes=[
            kv("gen_ai.operation.name", "chat"),
            kv("gen_ai.provider.name", "openai"),
            kv("gen_ai.request.model", "gpt-4o-mini"),
            kv("gen_ai.usage.input_tokens", 120 + i),
            kv("gen_ai.usage.output_tokens", 40),
        ],
    )


def resource_spans(service: str | None, spans: Sequence[Span]) -> ResourceSpans:
    attrs = [kv("service.name", service)] if service is not None else []
    rs = ResourceSpans(scope_spans=[ScopeSpans(spans=list(spans))])
    rs.resource.attributes.extend(attrs)
    return rs


def traces_request(n: int = 3, service: str | None = "app-a") -> ExportTraceServiceRequest:
    return ExportTraceServiceRequest(
        resource_spans=[resource_spans(service, [genai_span(i) for i in range(n)])]
    )


def logs_request(n: int = 2, service: str = "app-a") -> ExportLogsServiceRequest:
    rl = ResourceLogs(scope_logs=[ScopeLogs()])
    rl.resource.attributes.append(kv("service.name", service))
    for i in range(n):
        rec = rl.scope_logs[0].log_records.add()
        rec.time_unix_nano = 1_700_000_000_000_000_000 + i
        rec.trace_id = os.urandom(16)
        rec.span_id = os.urandom(8)
        rec.event_name = "gen_ai.client.inference.operation.details"
        rec.body.string_value = f"event {i}"
    return ExportLogsServiceRequest(resource_logs=[rl])


def read_all(bus: Bus, topic: str, group: str = "test-reader") -> list[tuple[bytes | None, bytes]]:
    """Everything on `topic` not yet read by `group` (records are durable before the 200, so no waiting)."""
    consumer = bus.consumer(group, [topic])
    try:
        out: list[tuple[bytes | None, bytes]] = []
        while True:
            batch = consumer.poll(max_records=1000, timeout_s=0)
            if not batch:
                return out
            out.extend((r.key, r.value) for r in batch)
            consumer.commit()
    finally:
        consumer.close()


def spans_on_bus(bus: Bus, topic: str = TOPICS.spans) -> list[tuple[bytes | None, ExportTraceServiceRequest]]:
    return [(k, ExportTraceServiceRequest.FromString(v)) for k, v in read_all(bus, topic)]


def count_spans(req: ExportTraceServiceRequest) -> int:
    return sum(len(ss.spans) for rs in req.resource_spans for ss in rs.scope_spans)


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class GatedProducer(Producer):
    """The real producer behind a gate: publish waits until the test opens it (a slow bus)."""

    def __init__(self, inner: Producer) -> None:
        self.inner = inner
        self.entered = threading.Event()
        self.gate = threading.Event()

    def publish(self, topic: str, records: Sequence[tuple[bytes | None, bytes]]) -> None:
        self.entered.set()
        if not self.gate.wait(30):
            raise TimeoutError("test gate never opened")
        self.inner.publish(topic, records)
