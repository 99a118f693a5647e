"""The detectors stage's decoder: bus records (OTLP traces and logs exports) -> ModelCalls.

Implements `watchkeeper.core.decoding.CallDecoder`: spans become ModelCalls, and a call whose content travels
as log events waits (bounded) for them in the `LogJoiner`.
"""

from __future__ import annotations

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from watchkeeper.collector.translate.log_join import LogJoiner
from watchkeeper.collector.translate.otlp_model import decode_request, parse_traces
from watchkeeper.core.bus.base import Record
from watchkeeper.core.decoding import Decoded
from watchkeeper.core.records import ModelCall


class SpanDecoder:
    """Records of the logs topic are OTLP logs exports; every other record is an OTLP traces export."""

    def __init__(self, logs_topic: str, *, hold_s: float = 2.0) -> None:
        self.logs_topic = logs_topic
        self.joiner = LogJoiner(hold_s=hold_s)

    def decode(self, record: Record) -> Decoded:
        if record.topic == self.logs_topic:
            req = ExportLogsServiceRequest()
            req.ParseFromString(record.value)
            return Decoded(calls=self.joiner.add_logs(req))
        decoded = decode_request(parse_traces(record.value))
        decoded.calls = self.joiner.add_calls(decoded.calls)
        return decoded

    def flush(self, now: float) -> list[ModelCall]:
        return self.joiner.flush(now)

    def pending(self) -> list[ModelCall]:
        return self.joiner.pending()

    def restore(self, calls: list[ModelCall]) -> list[ModelCall]:
        return self.joiner.restore(calls)

    def discard(self, services: set[str]) -> int:
        return self.joiner.discard(services)
