"""collector.trace_call: hand-traced model calls carry the same attributes as instrumented ones."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from watchkeeper import collector
from watchkeeper.core import semconv
from watchkeeper.core.records import sha256_text


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    collector.instrument(
        tracer_provider=provider, meter_provider=meter_provider, exporters=(), capture_content=True
    )
    try:
        yield memory
    finally:
        collector.uninstrument()
        provider.shutdown()
        meter_provider.shutdown()


def test_context_manager_records_call(exporter: InMemorySpanExporter) -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi, I am bob@corp.io"},
    ]
    with collector.trace_call(
        provider="Anthropic", model="claude-sonnet", messages=messages, temperature=0.1, max_tokens=50
    ) as call:
        call.set_output("Hello Bob", finish_reason="end_turn")
        call.set_usage(input_tokens=12, output_tokens=3)
        call.set_response(model="claude-sonnet-20250101", response_id="msg_1")
    [span] = exporter.get_finished_spans()
    attrs = span.attributes
    assert span.name == "chat claude-sonnet"
    assert span.kind is SpanKind.CLIENT
    assert attrs[semconv.PROVIDER_NAME] == "anthropic"
    assert attrs[semconv.OPERATION_NAME] == "chat"
    assert attrs[semconv.REQUEST_MODEL] == "claude-sonnet"
    assert attrs[semconv.RESPONSE_MODEL] == "claude-sonnet-20250101"
    assert attrs[semconv.RESPONSE_ID] == "msg_1"
    assert attrs[semconv.REQUEST_TEMPERATURE] == 0.1
    assert attrs[semconv.REQUEST_MAX_TOKENS] == 50
    assert attrs[semconv.USAGE_INPUT_TOKENS] == 12
    assert attrs[semconv.USAGE_OUTPUT_TOKENS] == 3
    assert list(attrs[semconv.RESPONSE_FINISH_REASONS]) == ["end_turn"]
    assert attrs[semconv.WK_SYSTEM_INSTRUCTIONS_SHA256] == sha256_text("Be brief.")
    assert json.loads(attrs[semconv.INPUT_MESSAGES])[0]["parts"][0]["content"] == "Hi, I am [REDACTED:email]"
    assert json.loads(attrs[semconv.OUTPUT_MESSAGES]) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "Hello Bob"}],
            "finish_reason": "end_turn",
        }
    ]


def test_separate_system_argument(exporter: InMemorySpanExporter) -> None:
    with collector.trace_call(provider="gcp.gemini", model="gemini", system="Stay on topic.") as call:
        call.set_output("ok")
    [span] = exporter.get_finished_spans()
    assert span.attributes[semconv.WK_SYSTEM_INSTRUCTIONS_SHA256] == sha256_text("Stay on topic.")
    assert json.loads(span.attributes[semconv.SYSTEM_INSTRUCTIONS]) == [
        {"type": "text", "content": "Stay on topic."}
    ]


def test_exception_marks_error_and_propagates(exporter: InMemorySpanExporter) -> None:
    with pytest.raises(TimeoutError), collector.trace_call(provider="mistral_ai", model="large"):
        raise TimeoutError("model took too long")
    [span] = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[semconv.ERROR_TYPE] == "TimeoutError"


def test_decorator_sync_records_string_result(exporter: InMemorySpanExporter) -> None:
    @collector.trace_call(provider="x_ai", model="grok-4", operation="text_completion")
    def ask(prompt: str) -> str:
        call = collector.current_call()
        assert call is not None
        call.set_usage(input_tokens=len(prompt.split()), output_tokens=2)
        return "forty two"

    assert ask("what is the answer") == "forty two"
    [span] = exporter.get_finished_spans()
    assert span.name == "text_completion grok-4"
    assert span.attributes[semconv.USAGE_INPUT_TOKENS] == 4
    assert json.loads(span.attributes[semconv.OUTPUT_MESSAGES])[0]["parts"][0]["content"] == "forty two"
    assert collector.current_call() is None


def test_decorator_async(exporter: InMemorySpanExporter) -> None:
    @collector.trace_call(provider="groq", model="llama")
    async def ask() -> str:
        await asyncio.sleep(0)
        return "async answer"

    assert asyncio.run(ask()) == "async answer"
    [span] = exporter.get_finished_spans()
    assert span.attributes[semconv.PROVIDER_NAME] == "groq"
    assert "async answer" in span.attributes[semconv.OUTPUT_MESSAGES]


def test_conversation_applies_to_trace_call(exporter: InMemorySpanExporter) -> None:
    with collector.conversation("c-9"), collector.trace_call(provider="openai", model="gpt"):
        pass
    with collector.trace_call(provider="openai", model="gpt"):
        pass
    first, second = sorted(exporter.get_finished_spans(), key=lambda s: s.start_time or 0)
    assert first.attributes[semconv.CONVERSATION_ID] == "c-9"
    assert semconv.CONVERSATION_ID not in second.attributes


def test_unknown_request_parameter_is_refused() -> None:
    with pytest.raises(TypeError, match="unknown request parameters"):
        collector.trace_call(provider="openai", model="gpt", temprature=0.2)


def test_without_instrument_it_is_a_harmless_noop() -> None:
    assert not collector.is_instrumented()
    with collector.trace_call(provider="openai", model="gpt") as call:
        call.set_output("fine")
        call.set_usage(input_tokens=1, output_tokens=1)

    @collector.trace_call(provider="openai", model="gpt")
    def plain() -> int:
        return 3

    assert plain() == 3
