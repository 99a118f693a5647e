"""A small instrumented Python LLM app, run as its own process by the interop tests.

It drives the real `openai` client against an OpenAI-compatible server under a third-party
instrumentation (the official `opentelemetry-instrumentation-openai-v2`, or OpenLLMetry's
`opentelemetry-instrumentation-openai`) and exports with the OpenTelemetry SDK's OTLP/HTTP exporters,
exactly as a user's app would. A process of its own, because the instrumentations read their mode from
environment variables once, at import or first use.

Input: one JSON argument
    {"instrumentation": "openai_v2" | "openllmetry", "endpoint": "http://127.0.0.1:PORT",
     "openai_base_url": "http://127.0.0.1:PORT/v1", "service": "app", "logs": false,
     "content_as_events": false, "calls": [{"system": "...", "prompt": "..."}]}
`logs` exports log records (OTLP/HTTP /v1/logs); `content_as_events` makes OpenLLMetry send the content as
per-message events (`gen_ai.system.message`, `gen_ai.choice`, ...) instead of span attributes.
Output: one JSON line {"trace_id", "span_id"} per chat call, in order. Exit code 1 when an export failed.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

import openai
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult


class CheckedSpanExporter(SpanExporter):
    """The SDK's OTLP exporter, remembering failures (processors only log them) and the ids it sent."""

    def __init__(self, inner: OTLPSpanExporter) -> None:
        self.inner = inner
        self.failures = 0
        self.sent: list[dict[str, str]] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = self.inner.export(spans)
        if result != SpanExportResult.SUCCESS:
            self.failures += 1
        else:
            for span in spans:
                ctx = span.get_span_context()
                if ctx is not None:
                    self.sent.append({"trace_id": f"{ctx.trace_id:032x}", "span_id": f"{ctx.span_id:016x}"})
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()


class CheckedLogExporter(LogRecordExporter):
    """The SDK's OTLP log exporter, remembering failures."""

    def __init__(self, inner: OTLPLogExporter) -> None:
        self.inner = inner
        self.failures = 0
        self.records = 0

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        result = self.inner.export(batch)
        if result != LogRecordExportResult.SUCCESS:
            self.failures += 1
        else:
            self.records += len(batch)
        return result

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.inner.force_flush(timeout_millis)

    def shutdown(self) -> None:
        self.inner.shutdown()


def _instrumentor(name: str, content_as_events: bool) -> Any:
    if name == "openai_v2":
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

        return OpenAIInstrumentor()
    if name == "openllmetry":
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor as OpenLLMetryInstrumentor

        return OpenLLMetryInstrumentor(use_attributes=not content_as_events)
    raise SystemExit(f"unknown instrumentation {name!r}: use openai_v2 or openllmetry")


def main(argv: list[str]) -> int:
    request = json.loads(argv[1])
    endpoint = request["endpoint"].rstrip("/")
    resource = Resource.create(
        {
            "service.name": request["service"],
            "deployment.environment.name": request.get("environment", "prod"),
        }
    )
    spans = CheckedSpanExporter(OTLPSpanExporter(endpoint=endpoint + "/v1/traces", timeout=10))
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))  # in call order: the baseline first
    logs = CheckedLogExporter(OTLPLogExporter(endpoint=endpoint + "/v1/logs", timeout=10))
    logger_provider = LoggerProvider(resource=resource)
    if request.get("logs"):
        logger_provider.add_log_record_processor(BatchLogRecordProcessor(logs))

    instrumentor = _instrumentor(request["instrumentation"], bool(request.get("content_as_events")))
    instrumentor.instrument(tracer_provider=tracer_provider, logger_provider=logger_provider)
    client = openai.OpenAI(api_key="test-key", base_url=request["openai_base_url"], max_retries=0)
    try:
        for call in request["calls"]:
            client.chat.completions.create(
                model=call.get("model", "gpt-4o-mini"),
                temperature=0.2,
                messages=[
                    {"role": "system", "content": call["system"]},
                    {"role": "user", "content": call["prompt"]},
                ],
            )
    finally:
        instrumentor.uninstrument()
        client.close()
        tracer_provider.shutdown()
        logger_provider.shutdown()  # flushes the batch of log records
    for ids in spans.sent:
        print(json.dumps(ids))
    print(json.dumps({"log_records": logs.records}), file=sys.stderr)
    if spans.failures or logs.failures:
        print(f"export failures: spans {spans.failures}, logs {logs.failures}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
