"""Export spans straight onto the Kafka topic the Watchkeeper pipeline reads (default `watchkeeper.spans`).

Each message is an OTLP `ExportTraceServiceRequest` in protobuf, the exact encoding of the OpenTelemetry
Collector's kafka exporter with `encoding: otlp_proto`, so SDK apps and Collectors can feed the same topic.
Spans are grouped per `service.name`, which is also the record key: one app's spans stay on one partition.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from watchkeeper.collector.sdk.exporters import ExporterOptions, ExporterPlugin
from watchkeeper.collector.sdk.exporters.span_encoding import SpanEncoder
from watchkeeper.core.kafka_security import KafkaSecurity

logger = logging.getLogger("watchkeeper.collector.export.kafka")

DEFAULT_TOPIC = "watchkeeper.spans"
#: Producer settings that keep a dead broker from stalling the export thread for long.
DEFAULT_PRODUCER_CONFIG: dict[str, Any] = {
    "acks": 1,
    "linger_ms": 5,
    "max_block_ms": 5000,
    "request_timeout_ms": 10000,
    "client_id": "watchkeeper-sdk",
}


def group_by_service(spans: Sequence[ReadableSpan]) -> dict[str, list[ReadableSpan]]:
    """Spans per resource service.name, in arrival order."""
    groups: dict[str, list[ReadableSpan]] = {}
    for span in spans:
        resource = span.resource
        service = (
            str(resource.attributes.get("service.name", "unknown_service")) if resource else "unknown_service"
        )
        groups.setdefault(service, []).append(span)
    return groups


class KafkaSpanExporter(SpanExporter):
    """A SpanExporter producing otlp_proto messages keyed by service.name, with kafka-python.

    `producer_config` passes through to `kafka.KafkaProducer` (security_protocol, sasl_*, ssl_*,
    compression...), so the same exporter talks to Apache Kafka, Redpanda or the Kafka endpoint of Azure Event
    Hubs. The producer connects lazily on the export thread: building the exporter never blocks the app.
    """

    def __init__(
        self,
        bootstrap_servers: str | Sequence[str],
        topic: str = DEFAULT_TOPIC,
        *,
        producer_config: Mapping[str, Any] | None = None,
        send_timeout_s: float = 10.0,
        reconnect_interval_s: float = 5.0,
    ) -> None:
        servers = (
            bootstrap_servers.split(",") if isinstance(bootstrap_servers, str) else list(bootstrap_servers)
        )
        self.bootstrap_servers = [server.strip() for server in servers if server.strip()]
        if not self.bootstrap_servers:
            raise ValueError("KafkaSpanExporter needs bootstrap_servers, e.g. '127.0.0.1:9092'")
        self.topic = topic
        self._config = {**DEFAULT_PRODUCER_CONFIG, **(producer_config or {})}
        self._send_timeout_s = send_timeout_s
        self._reconnect_interval_s = reconnect_interval_s
        self._producer: Any = None
        self._next_connect = 0.0
        self._lock = threading.Lock()
        self._shutdown = False
        self._encoder = SpanEncoder()  # ExportTraceServiceRequest protobuf bytes (otlp_proto)

    def _get_producer(self) -> Any:
        if self._producer is not None:
            return self._producer
        if time.monotonic() < self._next_connect:
            raise ConnectionError(f"kafka {self.bootstrap_servers} unreachable; retrying later")
        from kafka import KafkaProducer

        try:
            self._producer = KafkaProducer(bootstrap_servers=self.bootstrap_servers, **self._config)
        except Exception:
            self._next_connect = time.monotonic() + self._reconnect_interval_s
            raise
        return self._producer

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._shutdown:
            return SpanExportResult.FAILURE
        if not spans:
            return SpanExportResult.SUCCESS
        with self._lock:
            producer = self._get_producer()
            futures = [
                producer.send(self.topic, key=service.encode("utf-8"), value=self._encoder.encode(group))
                for service, group in group_by_service(spans).items()
            ]
            producer.flush(timeout=self._send_timeout_s)
            for future in futures:
                future.get(timeout=self._send_timeout_s)  # raises the broker's error, counted by the guard
        return SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        producer = self._producer
        if producer is not None:
            producer.flush(timeout=timeout_millis / 1000)
        return True

    def shutdown(self) -> None:
        self._shutdown = True
        with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            producer.close(timeout=self._send_timeout_s)


def kafka_security(option: Any) -> KafkaSecurity | None:
    """`instrument(kafka_security=...)`: a KafkaSecurity, a dict of its fields, or None (from the env)."""
    if option is None:
        return KafkaSecurity.from_env()
    if isinstance(option, KafkaSecurity):
        return option
    if isinstance(option, Mapping):
        return KafkaSecurity.from_mapping(option, prefix="kafka_security.")
    raise TypeError(
        f"kafka_security: pass a KafkaSecurity or a dict of its fields, not {type(option).__name__}"
    )


def _create(options: ExporterOptions) -> tuple[SpanExporter, str]:
    bootstrap = options.kafka_bootstrap or os.environ.get("WATCHKEEPER_KAFKA_BOOTSTRAP")
    if not bootstrap:
        raise ValueError(
            "the kafka exporter needs kafka_bootstrap='host:port' (or WATCHKEEPER_KAFKA_BOOTSTRAP)"
        )
    security = kafka_security(options.kafka_security)
    # Checked here, in instrument(): a wrong setting fails at start-up, not silently on the export thread.
    producer_config = security.client_settings(prefix="kafka_security.") if security is not None else {}
    exporter = KafkaSpanExporter(bootstrap, options.kafka_topic, producer_config=producer_config)
    protocol = producer_config.get("security_protocol", "PLAINTEXT")
    return exporter, f"kafka {','.join(exporter.bootstrap_servers)} topic {options.kafka_topic} ({protocol})"


plugin = ExporterPlugin(create=_create)
