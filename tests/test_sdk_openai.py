"""The openai client, instrumented, against a real OpenAI-compatible HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import openai
import pytest
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import SpanKind, StatusCode

from tests.support.fake_openai import FINGERPRINT, USAGE_INPUT, USAGE_OUTPUT, FakeOpenAI
from watchkeeper import collector
from watchkeeper.core import semconv
from watchkeeper.core.records import sha256_text

METRIC_DURATION = "gen_ai.client.operation.duration"
METRIC_TOKENS = "gen_ai.client.token.usage"
SYSTEM = "You are the support bot of ACME. Never discuss politics."
MESSAGES = [
    {"role": "system", "content": SYSTEM},
    {"role": "user", "content": "Where is my order? Mail me at jane.doe@example.com"},
]


@dataclass
class Traced:
    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader
    provider: TracerProvider

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def only_span(self) -> ReadableSpan:
        spans = self.spans()
        assert len(spans) == 1, [s.name for s in spans]
        return spans[0]

    def histogram_points(self, name: str) -> list[Any]:
        self.provider.force_flush()  # the histograms are recorded from finished spans in the background
        data = self.reader.get_metrics_data()
        points = []
        for resource_metrics in data.resource_metrics if data else ():
            for scope in resource_metrics.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        points.extend(metric.data.data_points)
        return points


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


def _traced(capture: bool, **kwargs: Any) -> Iterator[Traced]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    returned = collector.instrument(
        tracer_provider=provider,
        meter_provider=meter_provider,
        exporters=(),
        capture_content=capture,
        **kwargs,
    )
    assert returned is provider
    try:
        yield Traced(exporter, reader, provider)
    finally:
        collector.uninstrument()
        meter_provider.shutdown()
        provider.shutdown()


@pytest.fixture
def traced() -> Iterator[Traced]:
    yield from _traced(capture=False)


@pytest.fixture
def traced_content() -> Iterator[Traced]:
    yield from _traced(capture=True)


@pytest.fixture
def client(server: FakeOpenAI) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0) as c:
        yield c


def test_sync_call_has_genai_attributes(traced: Traced, client: openai.OpenAI, server: FakeOpenAI) -> None:
    result = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        temperature=0.3,
        top_p=0.9,
        max_tokens=64,
        seed=7,
        stop=["END"],
    )
    assert result.choices[0].message.content.startswith("Echo:")
    span = traced.only_span()
    attrs = span.attributes
    assert span.name == "chat gpt-4o-mini"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    assert attrs[semconv.OPERATION_NAME] == "chat"
    assert attrs[semconv.PROVIDER_NAME] == "openai-compatible"  # a 127.0.0.1 base URL
    assert attrs[semconv.REQUEST_MODEL] == "gpt-4o-mini"
    assert attrs[semconv.RESPONSE_MODEL] == "gpt-4o-mini"
    assert attrs[semconv.RESPONSE_ID] == server.response_id
    assert list(attrs[semconv.RESPONSE_FINISH_REASONS]) == ["stop"]
    assert attrs[semconv.USAGE_INPUT_TOKENS] == USAGE_INPUT
    assert attrs[semconv.USAGE_OUTPUT_TOKENS] == USAGE_OUTPUT
    assert attrs[semconv.RESPONSE_SYSTEM_FINGERPRINT] == FINGERPRINT
    assert attrs[semconv.SERVER_ADDRESS] == "127.0.0.1"
    assert attrs[semconv.SERVER_PORT] == server.port
    assert attrs[semconv.REQUEST_TEMPERATURE] == 0.3
    assert attrs[semconv.REQUEST_TOP_P] == 0.9
    assert attrs[semconv.REQUEST_MAX_TOKENS] == 64
    assert attrs[semconv.REQUEST_SEED] == 7
    assert list(attrs[semconv.REQUEST_STOP_SEQUENCES]) == ["END"]
    assert attrs[semconv.WK_SYSTEM_INSTRUCTIONS_SHA256] == sha256_text(SYSTEM)
    for content_key in (semconv.SYSTEM_INSTRUCTIONS, semconv.INPUT_MESSAGES, semconv.OUTPUT_MESSAGES):
        assert content_key not in attrs  # capture is off by default


def test_capture_on_records_semconv_messages_redacted(traced_content: Traced, client: openai.OpenAI) -> None:
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    attrs = traced_content.only_span().attributes
    assert attrs[semconv.WK_SYSTEM_INSTRUCTIONS_SHA256] == sha256_text(SYSTEM)
    assert json.loads(attrs[semconv.SYSTEM_INSTRUCTIONS]) == [{"type": "text", "content": SYSTEM}]
    inputs = json.loads(attrs[semconv.INPUT_MESSAGES])
    assert inputs == [
        {
            "role": "user",
            "parts": [{"type": "text", "content": "Where is my order? Mail me at [REDACTED:email]"}],
        }
    ]
    outputs = json.loads(attrs[semconv.OUTPUT_MESSAGES])
    assert outputs[0]["role"] == "assistant"
    assert outputs[0]["finish_reason"] == "stop"
    assert outputs[0]["parts"][0]["content"].startswith("Echo: Where is my order?")
    assert "jane.doe@example.com" not in json.dumps(dict(attrs))


def test_system_hash_joins_system_and_developer_messages(traced: Traced, client: openai.OpenAI) -> None:
    messages = [
        {"role": "system", "content": [{"type": "text", "text": "Rule one."}]},
        {"role": "developer", "content": "Rule two."},
        {"role": "user", "content": "hi"},
    ]
    client.chat.completions.create(model="m", messages=messages)
    attrs = traced.only_span().attributes
    assert attrs[semconv.WK_SYSTEM_INSTRUCTIONS_SHA256] == sha256_text("Rule one.\nRule two.")


def test_capture_from_env_and_redaction_off(monkeypatch: pytest.MonkeyPatch, client: openai.OpenAI) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "SPAN_ONLY")
    for traced in _traced(capture=None, redact=False):  # type: ignore[arg-type]
        client.chat.completions.create(model="m", messages=MESSAGES)
        inputs = json.loads(traced.only_span().attributes[semconv.INPUT_MESSAGES])
        assert "jane.doe@example.com" in inputs[0]["parts"][0]["content"]


def test_stream_span_ends_with_stream_and_carries_output(
    traced_content: Traced, client: openai.OpenAI
) -> None:
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "tell me a story"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    assert isinstance(stream, openai.Stream)  # the proxy keeps the type users check
    assert traced_content.spans() == []  # still open while the caller reads
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text == "Echo: tell me a story"
    attrs = traced_content.only_span().attributes
    assert attrs[semconv.REQUEST_STREAM] is True
    assert attrs[semconv.RESPONSE_TIME_TO_FIRST_CHUNK] > 0
    assert list(attrs[semconv.RESPONSE_FINISH_REASONS]) == ["stop"]
    assert attrs[semconv.USAGE_INPUT_TOKENS] == USAGE_INPUT
    assert attrs[semconv.RESPONSE_ID]
    output = json.loads(attrs[semconv.OUTPUT_MESSAGES])
    assert output[0]["parts"] == [{"type": "text", "content": text}]


def test_stream_closed_early_ends_span(traced_content: Traced, client: openai.OpenAI) -> None:
    with client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "one two three four"}], stream=True
    ) as stream:
        first = next(stream)
        assert first.choices
    span = traced_content.only_span()
    assert span.status.status_code is StatusCode.UNSET
    assert span.attributes[semconv.RESPONSE_TIME_TO_FIRST_CHUNK] > 0


def test_stream_broken_midway_is_an_error(traced: Traced, client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="break-stream", messages=[{"role": "user", "content": "a b c"}], stream=True
    )
    with pytest.raises(Exception) as raised:
        for _ in stream:
            pass
    span = traced.only_span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[semconv.ERROR_TYPE] == type(raised.value).__qualname__


@pytest.mark.parametrize(
    ("model", "error", "error_type"),
    [
        ("fail-500", openai.InternalServerError, "InternalServerError"),
        ("fail-429", openai.RateLimitError, "RateLimitError"),
        ("fail-400", openai.BadRequestError, "BadRequestError"),
    ],
)
def test_http_errors(traced: Traced, client: openai.OpenAI, model: str, error: type, error_type: str) -> None:
    with pytest.raises(error):
        client.chat.completions.create(model=model, messages=MESSAGES)
    span = traced.only_span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[semconv.ERROR_TYPE] == error_type
    assert span.attributes[semconv.REQUEST_MODEL] == model
    [point] = traced.histogram_points("gen_ai.client.operation.duration")
    assert point.attributes[semconv.ERROR_TYPE] == error_type


def test_timeout(traced: Traced, server: FakeOpenAI) -> None:
    slow_client = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0, timeout=0.3)
    with slow_client, pytest.raises(openai.APITimeoutError):
        slow_client.chat.completions.create(model="slow-5", messages=MESSAGES)
    span = traced.only_span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[semconv.ERROR_TYPE] == "APITimeoutError"


def test_async_call_and_async_stream(traced_content: Traced, server: FakeOpenAI) -> None:
    async def scenario() -> str:
        async with openai.AsyncOpenAI(base_url=server.base_url, api_key="k", max_retries=0) as aclient:
            await aclient.chat.completions.create(model="async-model", messages=MESSAGES)
            stream = await aclient.chat.completions.create(
                model="async-model", messages=[{"role": "user", "content": "x y"}], stream=True
            )
            parts = [chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices]
            return "".join(parts)

    assert asyncio.run(scenario()) == "Echo: x y"
    plain, streamed = sorted(traced_content.spans(), key=lambda s: s.start_time or 0)
    assert plain.attributes[semconv.USAGE_OUTPUT_TOKENS] == USAGE_OUTPUT
    assert plain.attributes[semconv.RESPONSE_MODEL] == "async-model"
    assert streamed.attributes[semconv.REQUEST_STREAM] is True
    assert json.loads(streamed.attributes[semconv.OUTPUT_MESSAGES])[0]["parts"][0]["content"] == "Echo: x y"
    assert streamed.attributes[semconv.RESPONSE_TIME_TO_FIRST_CHUNK] > 0


def test_async_error(traced: Traced, server: FakeOpenAI) -> None:
    async def scenario() -> None:
        async with openai.AsyncOpenAI(base_url=server.base_url, api_key="k", max_retries=0) as aclient:
            await aclient.chat.completions.create(model="fail-500", messages=MESSAGES)

    with pytest.raises(openai.InternalServerError):
        asyncio.run(scenario())
    assert traced.only_span().attributes[semconv.ERROR_TYPE] == "InternalServerError"


def test_azure_openai(traced: Traced, server: FakeOpenAI) -> None:
    with openai.AzureOpenAI(
        azure_endpoint=server.azure_endpoint, api_key="k", api_version="2024-10-21", max_retries=0
    ) as azure:
        azure.chat.completions.create(model="my-deployment", messages=MESSAGES)
    request = server.requests[-1]
    assert request.path == "/openai/deployments/my-deployment/chat/completions"
    assert request.query["api-version"] == ["2024-10-21"]
    attrs = traced.only_span().attributes
    assert attrs[semconv.PROVIDER_NAME] == "azure.ai.openai"
    assert attrs[semconv.REQUEST_MODEL] == "my-deployment"
    assert attrs[semconv.SERVER_ADDRESS] == "127.0.0.1"


def test_conversation_id_from_context_then_metadata(traced: Traced, client: openai.OpenAI) -> None:
    with collector.conversation("conv-ctx"):
        client.chat.completions.create(
            model="m", messages=MESSAGES, metadata={"conversation_id": "conv-meta"}
        )
    client.chat.completions.create(model="m", messages=MESSAGES, metadata={"conversation_id": "conv-meta"})
    client.chat.completions.create(model="m", messages=MESSAGES, user="user-7")
    first, second, third = sorted(traced.spans(), key=lambda s: s.start_time or 0)
    assert first.attributes[semconv.CONVERSATION_ID] == "conv-ctx"
    assert second.attributes[semconv.CONVERSATION_ID] == "conv-meta"
    assert third.attributes[semconv.CONVERSATION_ID] == "user-7"


def test_metrics_recorded(traced: Traced, client: openai.OpenAI) -> None:
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    [duration] = traced.histogram_points("gen_ai.client.operation.duration")
    assert duration.count == 1
    assert duration.attributes[semconv.PROVIDER_NAME] == "openai-compatible"
    assert duration.attributes[semconv.RESPONSE_MODEL] == "gpt-4o-mini"
    assert list(duration.explicit_bounds)[:3] == [0.01, 0.02, 0.04]
    tokens = {
        p.attributes["gen_ai.token.type"]: p for p in traced.histogram_points("gen_ai.client.token.usage")
    }
    assert tokens["input"].sum == USAGE_INPUT
    assert tokens["output"].sum == USAGE_OUTPUT


def test_metrics_of_a_stream_and_of_trace_call(traced: Traced, client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="stream-model", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    for _ in stream:
        pass
    handle = collector.trace_call(provider="anthropic", model="claude", server_address="h", server_port=9)
    with handle as call:
        call.set_usage(input_tokens=7, output_tokens=3)
        call.set_response(model="claude-1")
    points = {p.attributes[semconv.REQUEST_MODEL]: p for p in traced.histogram_points(METRIC_DURATION)}
    assert points["stream-model"].count == 1
    assert points["claude"].count == 1
    assert dict(points["claude"].attributes) == {
        semconv.OPERATION_NAME: "chat",
        semconv.PROVIDER_NAME: "anthropic",
        semconv.REQUEST_MODEL: "claude",
        semconv.RESPONSE_MODEL: "claude-1",
        semconv.SERVER_ADDRESS: "h",
        semconv.SERVER_PORT: 9,
    }
    claude_tokens = {
        p.attributes["gen_ai.token.type"]: p.sum
        for p in traced.histogram_points(METRIC_TOKENS)
        if p.attributes[semconv.REQUEST_MODEL] == "claude"
    }
    assert claude_tokens == {"input": 7, "output": 3}


def test_metrics_not_doubled_when_instrumented_again_on_the_same_provider(client: openai.OpenAI) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    try:
        for _ in range(3):  # each call undoes the previous setup; its processor stays on the provider
            collector.instrument(tracer_provider=provider, meter_provider=meter_provider, exporters=())
        client.chat.completions.create(model="m", messages=MESSAGES)
        [point] = Traced(exporter, reader, provider).histogram_points(METRIC_DURATION)
        assert point.count == 1
        assert {p.count for p in Traced(exporter, reader, provider).histogram_points(METRIC_TOKENS)} == {1}
    finally:
        collector.uninstrument()
        meter_provider.shutdown()
        provider.shutdown()


def test_histograms_are_off_by_default_and_opt_in(
    client: openai.OpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No meter_provider nor WATCHKEEPER_SDK_METRICS: no histograms (the daemon derives them from the spans),
    even with an SDK MeterProvider at hand; metrics=True or the env var turn them on, a typo is an error."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    traced = Traced(exporter, reader, provider)
    monkeypatch.delenv("WATCHKEEPER_SDK_METRICS", raising=False)
    monkeypatch.setattr("opentelemetry.metrics.get_meter_provider", lambda: meter_provider)
    try:
        collector.instrument(tracer_provider=provider, exporters=())
        client.chat.completions.create(model="m", messages=MESSAGES)
        assert len(traced.spans()) == 1
        assert traced.histogram_points(METRIC_DURATION) == []
        monkeypatch.setenv("WATCHKEEPER_SDK_METRICS", "false")
        collector.instrument(tracer_provider=provider, meter_provider=meter_provider, exporters=())
        client.chat.completions.create(model="m", messages=MESSAGES)
        assert traced.histogram_points(METRIC_DURATION) == []
        monkeypatch.setenv("WATCHKEEPER_SDK_METRICS", "true")
        collector.instrument(tracer_provider=provider, exporters=())  # the global provider
        client.chat.completions.create(model="m", messages=MESSAGES)
        [point] = traced.histogram_points(METRIC_DURATION)
        assert point.count == 1
        monkeypatch.setenv("WATCHKEEPER_SDK_METRICS", "ture")
        with pytest.raises(ValueError, match="WATCHKEEPER_SDK_METRICS"):
            collector.instrument(tracer_provider=provider, exporters=())
    finally:
        collector.uninstrument()
        meter_provider.shutdown()
        provider.shutdown()


def test_metrics_recorded_for_spans_the_sampler_drops(client: openai.OpenAI) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ALWAYS_OFF)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    collector.instrument(tracer_provider=provider, meter_provider=meter_provider, exporters=())
    try:
        client.chat.completions.create(model="m", messages=MESSAGES)
        traced = Traced(exporter, reader, provider)
        assert traced.spans() == []
        [point] = traced.histogram_points(METRIC_DURATION)
        assert point.count == 1 and point.sum > 0
        tokens = {p.attributes["gen_ai.token.type"]: p.sum for p in traced.histogram_points(METRIC_TOKENS)}
        assert tokens == {"input": USAGE_INPUT, "output": USAGE_OUTPUT}
    finally:
        collector.uninstrument()
        meter_provider.shutdown()
        provider.shutdown()


def test_uninstrument_restores_the_client(client: openai.OpenAI) -> None:
    # Read the class dict: a wrapt wrapper left by another instrumentation gives a new bound object each time.
    cls = openai.resources.chat.completions.Completions
    original = cls.__dict__["create"]
    for traced in _traced(capture=False):
        assert cls.__dict__["create"] is not original
        client.chat.completions.create(model="m", messages=MESSAGES)
        assert len(traced.spans()) == 1
    assert cls.__dict__["create"] is original
    assert not collector.is_instrumented()
    client.chat.completions.create(model="m", messages=MESSAGES)  # still works, traced nowhere


def test_child_spans_nest_under_the_call(traced: Traced, client: openai.OpenAI) -> None:
    tracer = traced.provider.get_tracer("app")
    with tracer.start_as_current_span("handle-request") as parent:
        client.chat.completions.create(model="m", messages=MESSAGES)
    call = next(s for s in traced.spans() if s.name == "chat m")
    assert call.parent is not None and call.parent.span_id == parent.get_span_context().span_id


def test_env_configures_service_and_resource(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "billing-bot")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=staging,team=payments")
    installed: list[TracerProvider] = []  # keep the process-wide provider untouched for other tests
    monkeypatch.setattr(trace, "set_tracer_provider", installed.append)
    provider = collector.instrument(exporters=())
    try:
        if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
            assert installed == [provider]  # a provider we create becomes the global one when none was set
        attrs = provider.resource.attributes
        assert attrs["service.name"] == "billing-bot"
        assert attrs["deployment.environment.name"] == "staging"
        assert attrs["team"] == "payments"
    finally:
        collector.uninstrument()
    provider = collector.instrument(exporters=(), service_name="explicit-wins")
    try:
        assert provider.resource.attributes["service.name"] == "explicit-wins"
    finally:
        collector.uninstrument()


def test_unknown_exporter_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown exporters"):
        collector.instrument(exporters=("zipkin",))
    assert not collector.is_instrumented()


def test_raw_response_is_traced_and_still_parses(traced: Traced, client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(model="raw-model", messages=MESSAGES)
    assert raw.parse().choices[0].message.content.startswith("Echo:")
    attrs = traced.only_span().attributes
    assert attrs[semconv.RESPONSE_MODEL] == "raw-model"
    assert attrs[semconv.USAGE_INPUT_TOKENS] == USAGE_INPUT


def test_generator_messages_are_passed_through(traced: Traced, client: openai.OpenAI) -> None:
    result = client.chat.completions.create(model="m", messages=(m for m in MESSAGES))
    assert result.choices[0].message.content.startswith("Echo:")
    assert semconv.WK_SYSTEM_INSTRUCTIONS_SHA256 not in traced.only_span().attributes  # not read twice


@pytest.mark.parametrize(
    ("base_url", "provider", "port"),
    [
        ("https://api.openai.com/v1", "openai", 443),
        ("https://api.x.ai/v1", "x_ai", 443),
        ("https://myres.openai.azure.com/openai/v1", "azure.ai.openai", 443),
        ("https://myproj.services.ai.azure.com/models", "azure.ai.inference", 443),
        ("https://phi-4.eastus2.models.ai.azure.com/v1", "azure.ai.inference", 443),
        ("http://localhost:11434/v1", "openai-compatible", 11434),
    ],
)
def test_provider_from_client_base_url(base_url: str, provider: str, port: int) -> None:
    from watchkeeper.collector.sdk.providers import endpoint_of_client

    with openai.OpenAI(base_url=base_url, api_key="k") as c:
        endpoint = endpoint_of_client(c)
    assert endpoint.provider == provider
    assert endpoint.port == port


def test_span_metrics_worker_records_without_a_flush() -> None:
    from watchkeeper.collector.sdk.metrics_from_spans import SpanMetricsProcessor

    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    meter = meter_provider.get_meter("test")
    processor = SpanMetricsProcessor(
        meter.create_histogram(METRIC_DURATION), meter.create_histogram(METRIC_TOKENS), "scope", batch_size=1
    )
    provider = TracerProvider()
    provider.add_span_processor(processor)
    attributes = {semconv.OPERATION_NAME: "chat", semconv.PROVIDER_NAME: "p", semconv.USAGE_INPUT_TOKENS: 5}
    provider.get_tracer("other").start_span("not ours", attributes=attributes).end()
    provider.get_tracer("scope").start_span("chat", attributes=attributes).end()
    traced = Traced(InMemorySpanExporter(), reader, TracerProvider())  # reads without flushing `provider`
    try:
        deadline = time.monotonic() + 30  # a liveness bound, not a speed assertion
        while not traced.histogram_points(METRIC_TOKENS) and time.monotonic() < deadline:
            time.sleep(0.01)
        [point] = traced.histogram_points(METRIC_TOKENS)
        assert point.sum == 5 and dict(point.attributes)["gen_ai.token.type"] == "input"
        assert dict(point.attributes)[semconv.REQUEST_MODEL] == ""
    finally:
        provider.shutdown()
        meter_provider.shutdown()
    assert not processor._thread.is_alive()
