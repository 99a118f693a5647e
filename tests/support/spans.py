"""Build GenAI spans with the real OpenTelemetry SDK, as an instrumented app would; export them by OTLP."""

from __future__ import annotations

import json
from typing import Any

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from watchkeeper.core import semconv as sc
from watchkeeper.core.records import sha256_text


def chat_attributes(
    system: str,
    prompt: str,
    answer: str,
    model: str = "gpt-4o-mini",
    provider: str = "openai",
    conversation: str = "c1",
) -> dict[str, Any]:
    return {
        sc.OPERATION_NAME: "chat",
        sc.PROVIDER_NAME: provider,
        sc.REQUEST_MODEL: model,
        sc.RESPONSE_MODEL: model,
        sc.USAGE_INPUT_TOKENS: 20,
        sc.USAGE_OUTPUT_TOKENS: 40,
        sc.RESPONSE_FINISH_REASONS: ["stop"],
        sc.CONVERSATION_ID: conversation,
        sc.SYSTEM_INSTRUCTIONS: json.dumps([{"type": "text", "content": system}]),
        sc.INPUT_MESSAGES: json.dumps([{"role": "user", "parts": [{"type": "text", "content": prompt}]}]),
        sc.OUTPUT_MESSAGES: json.dumps(
            [{"role": "assistant", "parts": [{"type": "text", "content": answer}], "finish_reason": "stop"}]
        ),
        sc.WK_SYSTEM_INSTRUCTIONS_SHA256: sha256_text(system),
    }


class SpanFactory:
    """Records finished spans in memory so a test can export them one request at a time."""

    def __init__(self, service: str = "chatbot", environment: str = "test") -> None:
        self.memory = InMemorySpanExporter()
        self.provider = TracerProvider(
            resource=Resource.create({sc.SERVICE_NAME: service, sc.DEPLOYMENT_ENVIRONMENT: environment})
        )
        self.provider.add_span_processor(SimpleSpanProcessor(self.memory))
        self.tracer = self.provider.get_tracer("tests")

    def chat(
        self,
        system: str,
        prompt: str = "What is the capital of France?",
        answer: str = "The capital of France is Paris.",
        **kw: Any,
    ) -> ReadableSpan:
        with self.tracer.start_as_current_span(f"chat {kw.get('model', 'gpt-4o-mini')}") as span:
            span.set_attributes(chat_attributes(system, prompt, answer, **kw))
        finished = self.memory.get_finished_spans()
        self.memory.clear()
        return finished[-1]


def export(endpoint: str, spans: list[ReadableSpan], timeout_s: float = 5.0) -> bool:
    """One OTLP/HTTP protobuf request through the SDK's exporter; True when the intake answered 200."""
    exporter = OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces", timeout=timeout_s)
    try:
        return exporter.export(spans) == SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
