"""Span -> ModelCall normalization across GenAI dialects, and joining content sent as log records."""

from __future__ import annotations

import json
from typing import Any

import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from tests.support import otlp_samples as samples
from tests.support.otlp_samples import CallSpec
from watchkeeper.collector.translate.log_join import LogJoiner
from watchkeeper.collector.translate.otlp_model import (
    call_from_span,
    model_calls_from_bytes,
    model_calls_from_request,
)
from watchkeeper.core import semconv as sc
from watchkeeper.core.records import Message, ModelCall, sha256_text


def _comparable(call: ModelCall) -> dict[str, Any]:
    data = call.to_dict()
    data.pop("attributes")
    return data


def _one(req) -> ModelCall:
    calls = model_calls_from_request(req)
    assert len(calls) == 1
    return calls[0]


SPECS = {
    "openai": CallSpec(),
    "xai_two_choices": CallSpec(
        seed=7,
        provider="x_ai",
        request_model="grok-4",
        response_model="grok-4-0709",
        system=("You are Grok, a support agent.",),
        choices=("First answer.", "Second answer."),
        finish_reasons=("stop", "length"),
        server_address="api.x.ai",
    ),
}


@pytest.mark.parametrize("spec_name", sorted(SPECS))
def test_every_dialect_yields_the_same_model_call(spec_name: str) -> None:
    spec = SPECS[spec_name]
    calls = {name: _one(build(spec)) for name, build in samples.CONTENT_DIALECTS.items()}
    reference = _comparable(calls["current_attributes"])
    for name, call in calls.items():
        assert _comparable(call) == reference, name

    call = calls["current_attributes"]
    assert call.system_instructions == spec.system_text
    assert call.system_instructions_sha256 == sha256_text(spec.system_text) == spec.system_sha256
    assert call.input_messages == [Message("user", spec.user)]  # no system message among the inputs
    assert call.output_text == "\n".join(spec.choices)
    assert call.finish_reasons == spec.finish_reasons
    assert call.provider == spec.provider
    assert (call.service, call.environment) == (spec.service, spec.environment)
    assert (call.request_model, call.response_model) == (spec.request_model, spec.response_model)
    assert (call.input_tokens, call.output_tokens) == (spec.input_tokens, spec.output_tokens)
    assert call.duration_ms == pytest.approx(spec.duration_ns / 1e6)
    assert call.trace_id == spec.trace_id.hex() and call.span_id == spec.span_id.hex()
    assert call.request_params == {"temperature": spec.temperature, "max_tokens": spec.max_tokens}
    assert call.system_fingerprint == spec.system_fingerprint
    assert call.server_address == spec.server_address
    assert call.operation == "chat"


def test_hash_only_call_keeps_the_hash_without_text() -> None:
    spec = CallSpec()
    call = _one(samples.hash_only(spec))
    assert call.system_instructions is None
    assert call.system_instructions_sha256 == spec.system_sha256
    assert call.input_messages == [] and call.output_text == ""
    assert sc.WK_SYSTEM_INSTRUCTIONS_SHA256 not in call.attributes


def test_bytes_round_trip_and_non_genai_spans_are_ignored() -> None:
    spec = CallSpec()
    req = samples.current_attributes(spec)
    req.resource_spans[0].scope_spans[0].spans.append(samples.http_span())
    calls = model_calls_from_bytes(req.SerializeToString())
    assert [c.span_id for c in calls] == [spec.span_id.hex()]


@pytest.mark.parametrize("data", [b"\xff\xff\xff", b"\x0a\x05abc"])
def test_bad_bytes_raise_value_error(data: bytes) -> None:
    with pytest.raises(ValueError):
        model_calls_from_bytes(data)


def test_empty_request_and_missing_resource_attributes() -> None:
    assert model_calls_from_bytes(b"") == []
    call = _one(
        samples.trace_request(
            [samples.current_attributes(CallSpec()).resource_spans[0].scope_spans[0].spans[0]], "svc", None
        )
    )
    assert (call.service, call.environment) == ("svc", "default")


def test_error_status_and_error_type() -> None:
    call = _one(samples.current_attributes(CallSpec(error_type="RateLimitError")))
    assert call.error_type == "RateLimitError"
    req = samples.current_attributes(CallSpec())
    req.resource_spans[0].scope_spans[0].spans[0].status.code = Status.STATUS_CODE_ERROR
    assert _one(req).error_type == "_OTHER"
    assert _one(samples.current_attributes(CallSpec())).error_type is None


@pytest.mark.parametrize("key", [sc.RESPONSE_TIME_TO_FIRST_CHUNK, sc.WK_TIME_TO_FIRST_CHUNK])
def test_time_to_first_chunk_in_seconds_becomes_ms(key: str) -> None:
    call = _one(samples.current_attributes(CallSpec(extra_attributes={key: 0.25})))
    assert call.time_to_first_chunk_ms == pytest.approx(250.0)


def test_developer_role_is_system_and_several_system_messages_join() -> None:
    spec = CallSpec()
    messages = [
        {"role": "developer", "parts": [{"type": "text", "content": "Rule one."}]},
        {
            "role": "system",
            "parts": [{"type": "text", "content": "Rule two."}, {"type": "text", "content": "3."}],
        },
        {"role": "user", "parts": [{"type": "text", "content": "hi"}]},
    ]
    req = samples.trace_request(
        [samples._span(spec, {sc.PROVIDER_NAME: "openai", sc.INPUT_MESSAGES: json.dumps(messages)})]
    )
    call = _one(req)
    assert call.system_instructions == "Rule one.\nRule two.\n3."
    assert call.input_messages == [Message("user", "hi")]


def test_plain_text_that_looks_like_json_stays_text() -> None:
    spec = CallSpec(system=('{"persona": "pirate"}',), user="[1, 2, 3] sorted?", choices=('"quoted"',))
    for build in (samples.current_plain_system, samples.openllmetry, samples.legacy_events):
        call = _one(build(spec))
        assert call.system_instructions == '{"persona": "pirate"}'
        assert call.input_messages == [Message("user", "[1, 2, 3] sorted?")]


def test_openai_style_content_lists_and_tool_calls() -> None:
    spec = CallSpec()
    attrs = {
        "llm.request.type": "chat",
        "gen_ai.prompt.0.role": "system",
        "gen_ai.prompt.0.content": json.dumps([{"type": "text", "text": "Be brief."}]),
        "gen_ai.prompt.1.role": "user",
        "gen_ai.prompt.1.content": "weather?",
    }
    call = _one(samples.trace_request([samples._span(spec, attrs)]))
    assert call.system_instructions == "Be brief."
    tool_out = [
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "name": "get_weather", "arguments": {"city": "Oslo"}}],
            "finish_reason": "tool_call",
        }
    ]
    call = _one(
        samples.trace_request(
            [samples._span(spec, {sc.PROVIDER_NAME: "openai", sc.OUTPUT_MESSAGES: json.dumps(tool_out)})]
        )
    )
    assert call.output_text == 'get_weather({"city": "Oslo"})'
    assert call.finish_reasons == ("tool_call",)


def test_call_from_span_is_none_for_other_spans() -> None:
    assert call_from_span(samples.http_span()) is None


# --- log join -----------------------------------------------------------------------------------------
def _span_call(spec: CallSpec) -> ModelCall:
    return _one(samples.span_without_content(spec))


def _expected(spec: CallSpec) -> dict[str, Any]:
    return _comparable(_one(samples.legacy_events(spec)))


@pytest.mark.parametrize("name_in_attribute", [False, True])
def test_logs_after_the_span_complete_the_held_call(name_in_attribute: bool) -> None:
    spec = CallSpec()
    joiner = LogJoiner(hold_s=2.0)
    assert joiner.add_calls([_span_call(spec)], now=100.0) == []
    assert len(joiner) == 1
    records = samples.legacy_log_records(spec, name_in_attribute=name_in_attribute)
    assert joiner.add_logs(samples.logs_request(records[:-1]), now=100.5) == []  # no answer yet: still held
    ready = joiner.add_logs(samples.logs_request(records[-1:]), now=100.6)
    assert [_comparable(c) for c in ready] == [_expected(spec)]
    assert len(joiner) == 0 and joiner.flush(now=200.0) == []


def test_logs_before_the_span_are_joined_at_once() -> None:
    spec = CallSpec(seed=3)
    joiner = LogJoiner()
    assert joiner.add_logs(samples.logs_request(samples.legacy_log_records(spec)), now=10.0) == []
    ready = joiner.add_calls([_span_call(spec)], now=10.2)
    assert [_comparable(c) for c in ready] == [_expected(spec)]


def test_operation_details_log_record() -> None:
    spec = CallSpec(seed=4)
    joiner = LogJoiner()
    assert joiner.add_calls([_span_call(spec)], now=1.0) == []
    ready = joiner.add_logs(samples.logs_request([samples.operation_details_log(spec)]), now=1.1)
    assert len(ready) == 1
    assert ready[0].system_instructions == spec.system_text
    assert ready[0].system_instructions_sha256 == spec.system_sha256
    assert ready[0].input_messages == [Message("user", spec.user)]
    assert ready[0].output_text == spec.choices[0]


def test_partial_logs_before_span_then_answer_after() -> None:
    spec = CallSpec(seed=5)
    records = samples.legacy_log_records(spec)
    joiner = LogJoiner()
    joiner.add_logs(samples.logs_request(records[:-1]), now=1.0)
    assert joiner.add_calls([_span_call(spec)], now=1.1) == []
    ready = joiner.add_logs(samples.logs_request(records[-1:]), now=1.2)
    assert [_comparable(c) for c in ready] == [_expected(spec)]


def test_held_call_is_released_after_hold_s_without_logs() -> None:
    spec = CallSpec(seed=6)
    joiner = LogJoiner(hold_s=2.0)
    joiner.add_calls([_span_call(spec)], now=50.0)
    assert joiner.flush(now=51.9) == []
    released = joiner.flush(now=52.0)
    assert [c.span_id for c in released] == [spec.span_id.hex()]
    assert released[0].system_instructions is None


def test_calls_with_content_or_hash_are_not_held() -> None:
    joiner = LogJoiner()
    with_content = _one(samples.current_attributes(CallSpec(seed=8)))
    hashed = _one(samples.hash_only(CallSpec(seed=9)))
    assert joiner.add_calls([with_content, hashed], now=1.0) == [with_content, hashed]
    assert len(joiner) == 0


def test_held_calls_are_bounded_and_restorable() -> None:
    joiner = LogJoiner(hold_s=5.0, max_held=3)
    calls = [_span_call(CallSpec(seed=100 + i)) for i in range(5)]
    overflow = joiner.add_calls(calls, now=1.0)
    assert [c.span_id for c in overflow] == [c.span_id for c in calls[:2]]  # the oldest go on
    pending = joiner.pending()
    assert len(pending) == 3

    again = LogJoiner(hold_s=5.0)
    again.restore([ModelCall.from_dict(c.to_dict()) for c in pending], now=2.0)
    spec = CallSpec(seed=104)
    ready = again.add_logs(samples.logs_request(samples.legacy_log_records(spec)), now=2.5)
    assert [_comparable(c) for c in ready] == [_expected(spec)]
    assert len(again.flush(now=7.0)) == 2


def test_early_logs_expire_and_are_bounded() -> None:
    joiner = LogJoiner(log_ttl_s=10.0, max_pending_logs=2)
    for seed in (20, 21, 22):
        joiner.add_logs(samples.logs_request(samples.legacy_log_records(CallSpec(seed=seed))[:1]), now=1.0)
    assert joiner.add_calls([_span_call(CallSpec(seed=20))], now=1.5) == []  # its logs were evicted: held
    joiner.flush(now=20.0)
    late = _span_call(CallSpec(seed=22))
    assert joiner.add_calls([late], now=20.1) == []  # expired logs are gone; waits like any content-less call


# --- interop: spans from the real instrumentations ---------------------------------------------------------
def _openai_calls(instrumentor_cls, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> list[ModelCall]:
    """One chat call through the real openai client (mock transport) and instrumentation, normalized."""
    httpx = pytest.importorskip("httpx")
    openai = pytest.importorskip("openai")
    from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    resource = Resource.create({"service.name": "support-bot", "deployment.environment.name": "prod"})
    spans, logs = InMemorySpanExporter(), InMemoryLogRecordExporter()
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    answer = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini-2024-07-18",
        "system_fingerprint": "fp_44709d6fcb",
        "choices": [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Open it."}}
        ],
        "usage": {"prompt_tokens": 42, "completion_tokens": 11, "total_tokens": 53},
    }
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=answer))
    client = openai.OpenAI(
        api_key="test", base_url="http://127.0.0.1:9/v1", http_client=httpx.Client(transport=transport)
    )
    instrumentor = instrumentor_cls()
    instrumentor.instrument(tracer_provider=tracer_provider, logger_provider=logger_provider)
    try:
        client.chat.completions.create(
            model="gpt-4o-mini",
            temperature=0.2,
            messages=[
                {"role": "system", "content": CallSpec().system[0]},
                {"role": "system", "content": CallSpec().system[1]},
                {"role": "user", "content": CallSpec().user},
            ],
        )
    finally:
        instrumentor.uninstrument()
        client.close()
    joiner = LogJoiner()
    calls = joiner.add_calls(
        model_calls_from_bytes(encode_spans(spans.get_finished_spans()).SerializeToString())
    )
    if logs.get_finished_logs():
        raw = encode_logs(logs.get_finished_logs()).SerializeToString()
        calls += joiner.add_logs(ExportLogsServiceRequest.FromString(raw))
    tracer_provider.shutdown()
    logger_provider.shutdown()
    return calls + joiner.drain()


@pytest.mark.parametrize("capture", ["SPAN_ONLY", "EVENT_ONLY"])
def test_official_openai_v2_instrumentation(capture: str, monkeypatch: pytest.MonkeyPatch) -> None:
    module = pytest.importorskip("opentelemetry.instrumentation.openai_v2")
    env = {
        "OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental",
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": capture,
    }
    (call,) = _openai_calls(module.OpenAIInstrumentor, env, monkeypatch)
    assert call.system_instructions_sha256 == CallSpec().system_sha256
    assert call.input_messages == [Message("user", CallSpec().user)]
    assert call.output_text == "Open it."
    assert call.system_fingerprint == "fp_44709d6fcb"
    assert (call.provider, call.input_tokens, call.output_tokens) == ("openai", 42, 11)


def test_openllmetry_instrumentation(monkeypatch: pytest.MonkeyPatch) -> None:
    module = pytest.importorskip("opentelemetry.instrumentation.openai")
    (call,) = _openai_calls(module.OpenAIInstrumentor, {"TRACELOOP_TRACE_CONTENT": "true"}, monkeypatch)
    assert call.system_instructions_sha256 == CallSpec().system_sha256
    assert call.input_messages == [Message("user", CallSpec().user)]
    assert call.output_text == "Open it."
    assert (call.provider, call.request_model, call.response_model) == (
        "openai",
        "gpt-4o-mini",
        "gpt-4o-mini-2024-07-18",
    )
