"""Span exporters of the SDK against real destinations: an OTLP/HTTP endpoint, the Kafka broker, and an
Azure Monitor ingestion endpoint, all on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from watchkeeper import collector
from watchkeeper.collector.sdk.exporters import CountingBatchSpanProcessor, batch_processor
from watchkeeper.collector.sdk.exporters.kafka import KafkaSpanExporter
from watchkeeper.core import semconv
from watchkeeper.core.records import sha256_text


class CaptureServer:
    """A tiny HTTP endpoint that records POST bodies; `hold` makes it stall until released."""

    def __init__(self, reply: bytes = b"", content_type: str = "application/x-protobuf") -> None:
        self.bodies: list[tuple[str, bytes]] = []
        self.received = threading.Event()
        self.hold = threading.Event()
        self.hold.set()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                owner.bodies.append((self.path, body))
                owner.received.set()
                owner.hold.wait(10)
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> CaptureServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.hold.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def provider() -> Iterator[TracerProvider]:
    tracer_provider = TracerProvider(resource=Resource.create({"service.name": "support-bot"}))
    try:
        yield tracer_provider
    finally:
        collector.uninstrument()
        tracer_provider.shutdown()


def _one_call() -> None:
    with collector.trace_call(
        provider="openai", model="gpt-4o", messages=[{"role": "system", "content": "Rules."}]
    ) as call:
        call.set_output("done")
        call.set_usage(input_tokens=5, output_tokens=1)


def _attributes(request: ExportTraceServiceRequest) -> list[dict[str, Any]]:
    found = []
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                found.append({kv.key: kv.value for kv in span.attributes})
    return found


def test_otlp_exporter_reaches_the_intake(provider: TracerProvider) -> None:
    with CaptureServer() as intake:
        collector.instrument(tracer_provider=provider, exporters=("otlp",), otlp_endpoint=intake.url)
        _one_call()
        assert provider.force_flush(10_000)
        assert intake.received.wait(10)
        path, body = intake.bodies[0]
        [stats] = collector.export_stats()
        assert (stats.exported, stats.failed, stats.dropped) == (1, 0, 0)
    assert path == "/v1/traces"
    request = ExportTraceServiceRequest.FromString(body)
    resource = {kv.key: kv.value.string_value for kv in request.resource_spans[0].resource.attributes}
    assert resource["service.name"] == "support-bot"
    [attrs] = _attributes(request)
    assert attrs[semconv.REQUEST_MODEL].string_value == "gpt-4o"
    assert attrs[semconv.WK_SYSTEM_INSTRUCTIONS_SHA256].string_value == sha256_text("Rules.")
    assert attrs[semconv.USAGE_INPUT_TOKENS].int_value == 5


def test_down_destination_never_breaks_the_call(caplog: pytest.LogCaptureFixture) -> None:
    dead = f"http://127.0.0.1:{_free_port()}/v1/traces"
    processor = batch_processor(OTLPSpanExporter(endpoint=dead, timeout=0.5), f"otlp {dead}")
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(processor)
    collector.instrument(tracer_provider=tracer_provider, exporters=())
    try:
        with caplog.at_level(logging.WARNING, logger="watchkeeper.collector.export"):
            for _ in range(3):
                _one_call()  # returns although nothing can be delivered
            tracer_provider.force_flush(5_000)
    finally:
        collector.uninstrument()
        tracer_provider.shutdown()
    assert processor.stats.failed == 3
    assert processor.stats.exported == 0
    warnings = [r.getMessage() for r in caplog.records if r.name == "watchkeeper.collector.export"]
    assert len(warnings) == 1  # rate-limited: one clear line, not one per batch
    assert dead in warnings[0]


def test_full_queue_drops_are_counted() -> None:
    with CaptureServer() as slow:
        slow.hold.clear()  # the destination stalls on the first batch
        exporter = OTLPSpanExporter(endpoint=slow.url + "/v1/traces", timeout=5)
        processor = batch_processor(
            exporter, "slow", max_queue_size=4, max_export_batch_size=4, schedule_delay_millis=60_000
        )
        assert isinstance(processor, CountingBatchSpanProcessor)
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(processor)
        tracer = tracer_provider.get_tracer("test")
        for _ in range(4):
            tracer.start_span("first-batch").end()
        assert slow.received.wait(10)  # the worker is now stuck in export
        for _ in range(20):
            tracer.start_span("overflow").end()
        assert processor.stats.dropped == 16
        slow.hold.set()
        tracer_provider.shutdown()


_KAFKA_IMPORT_WARNING = "ignore:open_text is deprecated:DeprecationWarning"  # raised inside kafka-python


@pytest.mark.kafka
@pytest.mark.filterwarnings(_KAFKA_IMPORT_WARNING)
def test_kafka_exporter_writes_otlp_proto_keyed_by_service(kafka_bootstrap: str) -> None:
    from kafka import KafkaConsumer, TopicPartition

    topic = f"wk-spans-{uuid.uuid4().hex[:8]}"
    providers = [
        TracerProvider(resource=Resource.create({"service.name": name}))
        for name in ("support-bot", "search-bot")
    ]
    exporter = KafkaSpanExporter(kafka_bootstrap, topic)
    spans = []
    for tracer_provider in providers:
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        memory = InMemorySpanExporter()
        tracer_provider.add_span_processor(SimpleSpanProcessor(memory))
        collector.instrument(tracer_provider=tracer_provider, exporters=())
        _one_call()
        collector.uninstrument()
        spans.extend(memory.get_finished_spans())
    try:
        assert exporter.export(spans).name == "SUCCESS"
    finally:
        exporter.shutdown()
        for tracer_provider in providers:
            tracer_provider.shutdown()

    consumer = KafkaConsumer(bootstrap_servers=kafka_bootstrap, consumer_timeout_ms=10_000)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or {0})]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        records = []
        deadline = time.monotonic() + 20
        while len(records) < 2 and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=1000).values():
                records.extend(batch)
    finally:
        consumer.close()
    by_key = {record.key.decode(): ExportTraceServiceRequest.FromString(record.value) for record in records}
    assert set(by_key) == {"support-bot", "search-bot"}
    for service, request in by_key.items():
        resource = {kv.key: kv.value.string_value for kv in request.resource_spans[0].resource.attributes}
        assert resource["service.name"] == service
        [attrs] = _attributes(request)
        assert attrs[semconv.PROVIDER_NAME].string_value == "openai"


@pytest.mark.filterwarnings(_KAFKA_IMPORT_WARNING)
def test_kafka_exporter_with_no_broker_fails_fast_and_quietly() -> None:
    exporter = KafkaSpanExporter(f"127.0.0.1:{_free_port()}", producer_config={"bootstrap_timeout_ms": 1000})
    processor = batch_processor(exporter, "kafka (down)")
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(processor)
    tracer_provider.get_tracer("t").start_span("s").end()
    tracer_provider.force_flush(10_000)
    tracer_provider.shutdown()
    assert processor.stats.failed == 1
    assert processor.stats.last_error


class _ConnectGuard:
    """Record every address this process tries to reach; anything not loopback is a leak."""

    LOOPBACK = ("127.0.0.1", "::1", "localhost")

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.addresses: list[Any] = []
        real_connect = socket.socket.connect
        real_getaddrinfo = socket.getaddrinfo

        def connect(sock: socket.socket, address: Any) -> Any:
            self.addresses.append(address)
            return real_connect(sock, address)

        def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
            self.addresses.append((host, "dns"))
            return real_getaddrinfo(host, *args, **kwargs)

        monkeypatch.setattr(socket.socket, "connect", connect)
        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)

    def outside(self) -> list[Any]:
        return [a for a in self.addresses if isinstance(a, tuple) and a and a[0] not in self.LOOPBACK]


def test_azure_monitor_exporter_sends_genai_span_locally_only(
    monkeypatch: pytest.MonkeyPatch, provider: TracerProvider
) -> None:
    saved_env = dict(os.environ)
    reply = json.dumps({"itemsReceived": 1, "itemsAccepted": 1, "errors": []}).encode()
    guard = _ConnectGuard(monkeypatch)
    try:
        with CaptureServer(reply=reply, content_type="application/json") as ingestion:
            connection = (
                f"InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint={ingestion.url}/"
            )
            collector.instrument(
                tracer_provider=provider, exporters=("azure_monitor",), azure_connection_string=connection
            )
            _one_call()
            assert provider.force_flush(15_000)
            assert ingestion.received.wait(15)
            collector.uninstrument()
            bodies = [(path, body) for path, body in ingestion.bodies if path.startswith("/v2.1/track")]
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
    assert bodies, [path for path, _ in ingestion.bodies]
    envelopes = [envelope for _, body in bodies for envelope in json.loads(body)]
    properties = [e["data"]["baseData"].get("properties", {}) for e in envelopes]
    genai = [p for p in properties if p.get(semconv.REQUEST_MODEL) == "gpt-4o"]
    assert genai, envelopes
    assert genai[0][semconv.WK_SYSTEM_INSTRUCTIONS_SHA256] == sha256_text("Rules.")
    port = int(ingestion.url.rsplit(":", 1)[1])
    assert ("127.0.0.1", port) in guard.addresses  # the guard did see the exporter's own connection
    assert guard.outside() == []


def test_otlp_endpoint_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    from watchkeeper.collector.sdk.exporters.otlp import DEFAULT_OTLP_ENDPOINT, otlp_traces_endpoint

    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    assert otlp_traces_endpoint() == DEFAULT_OTLP_ENDPOINT == "http://127.0.0.1:4318/v1/traces"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://intake.internal:4318/")
    assert otlp_traces_endpoint() == "http://intake.internal:4318/v1/traces"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://other:4318/custom")
    assert otlp_traces_endpoint() == "http://other:4318/custom"
    assert otlp_traces_endpoint("http://arg:9999") == "http://arg:9999/v1/traces"
    assert otlp_traces_endpoint("http://arg:9999/v1/traces") == "http://arg:9999/v1/traces"


# -- Kafka security: the same settings as the daemon's bus ---------------------------------------------------
EVENT_HUBS = "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=c2VjcmV0"


def _kafka_exporter(**options: Any) -> KafkaSpanExporter:
    from watchkeeper.collector.sdk.exporters import ExporterOptions
    from watchkeeper.collector.sdk.exporters.kafka import plugin

    exporter, _destination = plugin.create(ExporterOptions(**options))
    assert isinstance(exporter, KafkaSpanExporter)
    return exporter


def test_kafka_exporter_takes_event_hubs_settings_without_connecting() -> None:
    exporter = _kafka_exporter(
        kafka_bootstrap="ns.servicebus.windows.net:9093",
        kafka_security=collector.KafkaSecurity.event_hubs(EVENT_HUBS),
    )
    config = exporter._config
    assert config["security_protocol"] == "SASL_SSL" and config["sasl_mechanism"] == "PLAIN"
    assert config["sasl_plain_username"] == "$ConnectionString"
    assert config["sasl_plain_password"] == EVENT_HUBS
    assert EVENT_HUBS not in repr(collector.KafkaSecurity.event_hubs(EVENT_HUBS))  # never in logs
    exporter.shutdown()


def test_kafka_security_from_a_dict_and_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    scram = {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-512"}
    exporter = _kafka_exporter(
        kafka_bootstrap="127.0.0.1:9092", kafka_security={**scram, "sasl_username": "u", "sasl_password": "p"}
    )
    assert exporter._config["sasl_mechanism"] == "SCRAM-SHA-512"
    monkeypatch.setenv("WATCHKEEPER_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("WATCHKEEPER_KAFKA_SASL_MECHANISM", "PLAIN")
    monkeypatch.setenv("WATCHKEEPER_KAFKA_SASL_USERNAME", "$ConnectionString")
    monkeypatch.setenv("WATCHKEEPER_KAFKA_SASL_PASSWORD", EVENT_HUBS)
    monkeypatch.setenv("WATCHKEEPER_KAFKA_SSL_CHECK_HOSTNAME", "true")
    from_env = _kafka_exporter(kafka_bootstrap="ns.servicebus.windows.net:9093")._config
    assert from_env["security_protocol"] == "SASL_SSL" and from_env["sasl_plain_password"] == EVENT_HUBS
    assert from_env["ssl_check_hostname"] is True


@pytest.mark.parametrize(
    ("security", "words"),
    [
        ({"security_protocol": "SASL_SSL"}, "kafka_security.sasl_mechanism"),
        ({"security_protocol": "SASL_SSL", "sasl_mechanism": "PLAIN"}, "kafka_security.sasl_username"),
        ({"security_protocol": "SSL", "ssl_cafile": "/nonexistent/ca.pem"}, "kafka_security.ssl_cafile"),
        ({"sasl_username": "u", "sasl_password": "p"}, "does not use SASL"),
        ({"security_protocol": "TLS"}, "use one of PLAINTEXT"),
        ({"sasl_pasword": "typo"}, "kafka_security.sasl_pasword: unknown"),
    ],
)
def test_wrong_kafka_security_fails_in_instrument_naming_the_key(
    security: dict[str, Any], words: str
) -> None:
    with pytest.raises(ValueError, match=words.replace(".", r"\.")):
        collector.instrument(exporters=("kafka",), kafka_bootstrap="127.0.0.1:9092", kafka_security=security)
    collector.uninstrument()


def test_the_sdk_and_the_bus_build_the_same_client_settings(tmp_path: Path) -> None:
    from watchkeeper.core.bus.config import BusConfig
    from watchkeeper.core.bus.kafka import client_settings

    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    for security in (
        {
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": "PLAIN",
            "sasl_username": "$ConnectionString",
            "sasl_password": EVENT_HUBS,
        },
        {
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": "SCRAM-SHA-256",
            "sasl_username": "u",
            "sasl_password": "p",
        },
        {"security_protocol": "SSL", "ssl_cafile": str(ca), "ssl_check_hostname": False},
    ):
        bus = client_settings(BusConfig(kind="kafka", **security))
        sdk = _kafka_exporter(kafka_bootstrap="127.0.0.1:9092", kafka_security=security)._config
        keys = {k for k in bus if k.startswith(("security_", "sasl_", "ssl_"))}
        assert keys and {k: bus[k] for k in keys} == {k: sdk[k] for k in keys}


@pytest.mark.kafka
@pytest.mark.filterwarnings(_KAFKA_IMPORT_WARNING)
def test_instrumented_app_exports_through_configured_kafka_security(kafka_bootstrap: str) -> None:
    """instrument(exporters=("kafka",), kafka_security=...) end to end against the test broker (PLAINTEXT:
    the broker here has no SASL users; the settings path is the one SASL_SSL takes)."""
    from kafka import KafkaConsumer, TopicPartition

    topic = f"wk-sec-{uuid.uuid4().hex[:8]}"
    tracer_provider = collector.instrument(
        service_name="secure-bot",
        exporters=("kafka",),
        kafka_bootstrap=kafka_bootstrap,
        kafka_topic=topic,
        kafka_security={"security_protocol": "PLAINTEXT"},
    )
    try:
        _one_call()
        assert tracer_provider.force_flush(20_000)
        [stats] = collector.export_stats()
        assert stats.exported == 1 and "PLAINTEXT" in stats.destination
    finally:
        collector.uninstrument()
    consumer = KafkaConsumer(bootstrap_servers=kafka_bootstrap, consumer_timeout_ms=10_000)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or {0})]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        deadline, records = time.monotonic() + 20, []
        while not records and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=1000).values():
                records.extend(batch)
    finally:
        consumer.close()
    assert [r.key for r in records] == [b"secure-bot"]
