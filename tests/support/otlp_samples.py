"""Builders of OTLP requests carrying the same model call in every GenAI dialect seen in the wild.

One `CallSpec` describes a call; each builder renders it the way one instrumentation does (current semconv,
the official OpenAI v2 instrumentation, legacy per-message events, OpenLLMetry, xai-sdk, content sent as
log records). Normalization must map every rendering to the same ModelCall.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from watchkeeper.core import semconv as sc
from watchkeeper.core.records import sha256_text

_LEGACY_SPELLING = {"x_ai": "xai", "azure.ai.openai": "az.ai.openai"}


@dataclass(frozen=True)
class CallSpec:
    """One chat call, independent of how it is rendered."""

    seed: int = 1
    service: str = "support-bot"
    environment: str = "prod"
    provider: str = "openai"
    request_model: str = "gpt-4o-mini"
    response_model: str = "gpt-4o-mini-2024-07-18"
    response_id: str = "chatcmpl-123"
    system: tuple[str, ...] = ("You are a helpful support agent for Acme.", "Never give legal advice.")
    user: str = "How do I reset my password?"
    choices: tuple[str, ...] = ("Open Settings, then choose 'Forgot password'.",)
    finish_reasons: tuple[str, ...] = ("stop",)
    input_tokens: int = 42
    output_tokens: int = 11
    temperature: float = 0.2
    max_tokens: int = 256
    system_fingerprint: str | None = "fp_44709d6fcb"
    server_address: str = "api.openai.com"
    start_ns: int = 1_764_000_000_000_000_000
    duration_ns: int = 850_000_000
    error_type: str | None = None
    extra_attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def trace_id(self) -> bytes:
        return hashlib.sha256(f"trace-{self.seed}".encode()).digest()[:16]

    @property
    def span_id(self) -> bytes:
        return hashlib.sha256(f"span-{self.seed}".encode()).digest()[:8]

    @property
    def system_text(self) -> str:
        return "\n".join(self.system)

    @property
    def system_sha256(self) -> str:
        return sha256_text(self.system_text)

    def but(self, **changes: Any) -> CallSpec:
        return replace(self, **changes)


# --- protobuf helpers --------------------------------------------------------------------------------
def any_value(value: Any) -> AnyValue:
    """Python -> AnyValue (dict -> kvlist, list -> array), as SDKs encode structured event attributes."""
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, str):
        return AnyValue(string_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if isinstance(value, dict):
        return AnyValue(kvlist_value=KeyValueList(values=kvs(value)))
    if isinstance(value, list | tuple):
        return AnyValue(array_value=ArrayValue(values=[any_value(v) for v in value]))
    raise TypeError(f"cannot encode {type(value).__name__} as AnyValue")


def kvs(attributes: dict[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=k, value=any_value(v)) for k, v in attributes.items() if v is not None]


def resource(service: str, environment: str | None, legacy_env_key: bool = False) -> Resource:
    attrs: dict[str, Any] = {sc.SERVICE_NAME: service}
    if environment is not None:
        key = sc.DEPLOYMENT_ENVIRONMENT_LEGACY if legacy_env_key else sc.DEPLOYMENT_ENVIRONMENT
        attrs[key] = environment
    return Resource(attributes=kvs(attrs))


def trace_request(
    spans: list[Span],
    service: str = "support-bot",
    environment: str | None = "prod",
    *,
    legacy_env_key: bool = False,
    scope: str = "tests",
) -> ExportTraceServiceRequest:
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=resource(service, environment, legacy_env_key),
                scope_spans=[ScopeSpans(scope={"name": scope}, spans=spans)],
            )
        ]
    )


def _span(spec: CallSpec, attributes: dict[str, Any], events: list[Span.Event] | None = None) -> Span:
    status = Status(code=Status.STATUS_CODE_ERROR) if spec.error_type else Status()
    return Span(
        trace_id=spec.trace_id,
        span_id=spec.span_id,
        name=f"chat {spec.request_model}",
        kind=Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=spec.start_ns,
        end_time_unix_nano=spec.start_ns + spec.duration_ns,
        attributes=kvs(attributes),
        events=events or [],
        status=status,
    )


def _event(spec: CallSpec, name: str, attributes: dict[str, Any]) -> Span.Event:
    return Span.Event(name=name, time_unix_nano=spec.start_ns + 1000, attributes=kvs(attributes))


def _common(spec: CallSpec) -> dict[str, Any]:
    """Metadata every dialect carries under the same names."""
    attrs: dict[str, Any] = {
        sc.OPERATION_NAME: "chat",
        sc.REQUEST_MODEL: spec.request_model,
        sc.RESPONSE_MODEL: spec.response_model,
        sc.RESPONSE_ID: spec.response_id,
        sc.REQUEST_TEMPERATURE: spec.temperature,
        sc.REQUEST_MAX_TOKENS: spec.max_tokens,
        sc.SERVER_ADDRESS: spec.server_address,
        sc.ERROR_TYPE: spec.error_type,
    }
    attrs.update(spec.extra_attributes)
    return attrs


def _current_usage(spec: CallSpec) -> dict[str, Any]:
    return {
        sc.PROVIDER_NAME: spec.provider,
        sc.USAGE_INPUT_TOKENS: spec.input_tokens,
        sc.USAGE_OUTPUT_TOKENS: spec.output_tokens,
        sc.RESPONSE_FINISH_REASONS: list(spec.finish_reasons),
        sc.RESPONSE_SYSTEM_FINGERPRINT: spec.system_fingerprint,
    }


def _legacy_usage(spec: CallSpec) -> dict[str, Any]:
    return {
        sc.SYSTEM: _LEGACY_SPELLING.get(spec.provider, spec.provider),
        sc.USAGE_PROMPT_TOKENS: spec.input_tokens,
        sc.USAGE_COMPLETION_TOKENS: spec.output_tokens,
        sc.OPENAI_RESPONSE_SYSTEM_FINGERPRINT: spec.system_fingerprint,
    }


def _parts(text: str) -> list[dict[str, str]]:
    return [{"type": "text", "content": text}]


def _input_messages(spec: CallSpec, *, with_system: bool) -> list[dict[str, Any]]:
    system = [{"role": "system", "parts": _parts(s)} for s in spec.system] if with_system else []
    return [*system, {"role": "user", "parts": _parts(spec.user)}]


def _output_messages(spec: CallSpec) -> list[dict[str, Any]]:
    return [
        {"role": "assistant", "parts": _parts(text), "finish_reason": reason}
        for text, reason in zip(spec.choices, spec.finish_reasons, strict=True)
    ]


# --- dialects: one span each ------------------------------------------------------------------------
def current_attributes(spec: CallSpec) -> ExportTraceServiceRequest:
    """Current semconv: content as JSON-string span attributes, system instructions as a parts array."""
    attrs = (
        _common(spec)
        | _current_usage(spec)
        | {
            sc.SYSTEM_INSTRUCTIONS: json.dumps([{"type": "text", "content": s} for s in spec.system]),
            sc.INPUT_MESSAGES: json.dumps(_input_messages(spec, with_system=False)),
            sc.OUTPUT_MESSAGES: json.dumps(_output_messages(spec)),
        }
    )
    return trace_request([_span(spec, attrs)], spec.service, spec.environment)


def current_plain_system(spec: CallSpec) -> ExportTraceServiceRequest:
    """Current semconv with gen_ai.system_instructions as a plain string (some SDKs send it so)."""
    attrs = (
        _common(spec)
        | _current_usage(spec)
        | {
            sc.SYSTEM_INSTRUCTIONS: spec.system_text,
            sc.INPUT_MESSAGES: json.dumps(_input_messages(spec, with_system=False)),
            sc.OUTPUT_MESSAGES: json.dumps(_output_messages(spec)),
        }
    )
    return trace_request([_span(spec, attrs)], spec.service, spec.environment, legacy_env_key=True)


def operation_details_event(spec: CallSpec) -> ExportTraceServiceRequest:
    """Content on the gen_ai.client.inference.operation.details span event, as structured values."""
    details = {
        sc.SYSTEM_INSTRUCTIONS: [{"type": "text", "content": s} for s in spec.system],
        sc.INPUT_MESSAGES: _input_messages(spec, with_system=False),
        sc.OUTPUT_MESSAGES: _output_messages(spec),
    }
    attrs = _common(spec) | _current_usage(spec)
    event = _event(spec, sc.EVENT_OPERATION_DETAILS, details)
    return trace_request([_span(spec, attrs, [event])], spec.service, spec.environment)


def openai_v2_latest(spec: CallSpec) -> ExportTraceServiceRequest:
    """Official openai-v2 instrumentation, latest-semconv mode: the system prompt is inside input.messages."""
    attrs = (
        _common(spec)
        | _current_usage(spec)
        | {
            sc.INPUT_MESSAGES: json.dumps(_input_messages(spec, with_system=True)),
            sc.OUTPUT_MESSAGES: json.dumps(_output_messages(spec)),
        }
    )
    return trace_request([_span(spec, attrs)], spec.service, spec.environment)


def legacy_events(spec: CallSpec) -> ExportTraceServiceRequest:
    """semconv <= 1.36: gen_ai.system, prompt/completion tokens, one span event per message, content attrs."""
    events = [_event(spec, sc.EVENT_SYSTEM_MESSAGE, {"content": s}) for s in spec.system]
    events.append(_event(spec, sc.EVENT_USER_MESSAGE, {"content": spec.user}))
    for index, (text, reason) in enumerate(zip(spec.choices, spec.finish_reasons, strict=True)):
        events.append(
            _event(
                spec,
                sc.EVENT_CHOICE,
                {
                    "index": index,
                    "finish_reason": reason,
                    "message.role": "assistant",
                    "message.content": text,
                },
            )
        )
    attrs = _common(spec) | _legacy_usage(spec)
    return trace_request([_span(spec, attrs, events)], spec.service, spec.environment, legacy_env_key=True)


def legacy_body_events(spec: CallSpec) -> ExportTraceServiceRequest:
    """Legacy per-message span events whose fields are a JSON `body` attribute (event-to-span bridges)."""
    events = [
        _event(spec, sc.EVENT_SYSTEM_MESSAGE, {"body": json.dumps({"content": s})}) for s in spec.system
    ]
    events.append(_event(spec, sc.EVENT_USER_MESSAGE, {"body": json.dumps({"content": spec.user})}))
    for index, (text, reason) in enumerate(zip(spec.choices, spec.finish_reasons, strict=True)):
        body = {"index": index, "finish_reason": reason, "message": {"role": "assistant", "content": text}}
        events.append(_event(spec, sc.EVENT_CHOICE, {"body": json.dumps(body)}))
    attrs = _common(spec) | _legacy_usage(spec)
    return trace_request([_span(spec, attrs, events)], spec.service, spec.environment)


def _indexed(spec: CallSpec) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    messages = [("system", s) for s in spec.system] + [("user", spec.user)]
    for i, (role, content) in enumerate(messages):
        attrs[f"gen_ai.prompt.{i}.role"] = role
        attrs[f"gen_ai.prompt.{i}.content"] = content
    for i, (text, reason) in enumerate(zip(spec.choices, spec.finish_reasons, strict=True)):
        attrs[f"gen_ai.completion.{i}.role"] = "assistant"
        attrs[f"gen_ai.completion.{i}.content"] = text
        attrs[f"gen_ai.completion.{i}.finish_reason"] = reason
    return attrs


def openllmetry(spec: CallSpec) -> ExportTraceServiceRequest:
    """OpenLLMetry (traceloop) OpenAI instrumentation: llm.request.type, indexed prompt/completion attrs."""
    common = _common(spec)
    common.pop(sc.OPERATION_NAME)
    attrs = (
        common
        | _legacy_usage(spec)
        | {"llm.request.type": "chat", "llm.usage.total_tokens": spec.input_tokens + spec.output_tokens}
        | _indexed(spec)
    )
    return trace_request([_span(spec, attrs)], spec.service, spec.environment)


def xai_sdk(spec: CallSpec) -> ExportTraceServiceRequest:
    """xai-sdk: gen_ai.provider.name spelled `xai`, indexed prompt/completion attrs, current token names."""
    attrs = (
        _common(spec)
        | {
            sc.PROVIDER_NAME: _LEGACY_SPELLING.get(spec.provider, spec.provider),
            sc.USAGE_INPUT_TOKENS: spec.input_tokens,
            sc.USAGE_OUTPUT_TOKENS: spec.output_tokens,
            sc.RESPONSE_SYSTEM_FINGERPRINT: spec.system_fingerprint,
        }
        | _indexed(spec)
    )
    return trace_request([_span(spec, attrs)], spec.service, spec.environment)


def hash_only(spec: CallSpec) -> ExportTraceServiceRequest:
    """Content capture off: only Watchkeeper's sha256 attribute identifies the system prompt."""
    attrs = _common(spec) | _current_usage(spec) | {sc.WK_SYSTEM_INSTRUCTIONS_SHA256: spec.system_sha256}
    return trace_request([_span(spec, attrs)], spec.service, spec.environment)


#: Every dialect that carries content on the span itself; all must normalize to the same ModelCall.
CONTENT_DIALECTS: dict[str, Callable[[CallSpec], ExportTraceServiceRequest]] = {
    "current_attributes": current_attributes,
    "current_plain_system": current_plain_system,
    "operation_details_event": operation_details_event,
    "openai_v2_latest": openai_v2_latest,
    "legacy_events": legacy_events,
    "legacy_body_events": legacy_body_events,
    "openllmetry": openllmetry,
    "xai_sdk": xai_sdk,
}


# --- content as OTLP log records (official OpenAI v2 in default mode) ------------------------------------
def span_without_content(spec: CallSpec) -> ExportTraceServiceRequest:
    """The span the official instrumentation sends when content goes to log records."""
    attrs = _common(spec) | _legacy_usage(spec)
    return trace_request([_span(spec, attrs)], spec.service, spec.environment)


def _log(
    spec: CallSpec,
    name: str,
    body: Any,
    *,
    attributes: dict[str, Any] | None = None,
    name_in_attribute: bool = False,
) -> LogRecord:
    attrs = dict(attributes or {})
    attrs[sc.SYSTEM] = _LEGACY_SPELLING.get(spec.provider, spec.provider)
    if name_in_attribute:
        attrs["event.name"] = name
    return LogRecord(
        time_unix_nano=spec.start_ns + 500,
        trace_id=spec.trace_id,
        span_id=spec.span_id,
        event_name="" if name_in_attribute else name,
        body=any_value(body) if body is not None else None,
        attributes=kvs(attrs),
    )


def logs_request(records: list[LogRecord], service: str = "support-bot") -> ExportLogsServiceRequest:
    return ExportLogsServiceRequest(
        resource_logs=[
            ResourceLogs(
                resource=resource(service, None),
                scope_logs=[ScopeLogs(scope={"name": "tests"}, log_records=records)],
            )
        ]
    )


def legacy_log_records(spec: CallSpec, *, name_in_attribute: bool = False) -> list[LogRecord]:
    """gen_ai.system.message / gen_ai.user.message / gen_ai.choice log records, content in the body."""
    records = [
        _log(spec, sc.EVENT_SYSTEM_MESSAGE, {"content": s}, name_in_attribute=name_in_attribute)
        for s in spec.system
    ]
    records.append(
        _log(spec, sc.EVENT_USER_MESSAGE, {"content": spec.user}, name_in_attribute=name_in_attribute)
    )
    for index, (text, reason) in enumerate(zip(spec.choices, spec.finish_reasons, strict=True)):
        body = {"index": index, "finish_reason": reason, "message": {"role": "assistant", "content": text}}
        records.append(_log(spec, sc.EVENT_CHOICE, body, name_in_attribute=name_in_attribute))
    return records


def operation_details_log(spec: CallSpec) -> LogRecord:
    """One gen_ai.client.inference.operation.details log record with structured content attributes."""
    return _log(
        spec,
        sc.EVENT_OPERATION_DETAILS,
        None,
        attributes={
            sc.SYSTEM_INSTRUCTIONS: [{"type": "text", "content": s} for s in spec.system],
            sc.INPUT_MESSAGES: _input_messages(spec, with_system=False),
            sc.OUTPUT_MESSAGES: _output_messages(spec),
        },
    )


# --- other shapes -----------------------------------------------------------------------------------
def http_span(seed: int = 99) -> Span:
    """A non-GenAI span (an HTTP client call) that normalization must ignore."""
    spec = CallSpec(seed=seed)
    return Span(
        trace_id=spec.trace_id,
        span_id=spec.span_id,
        name="GET /health",
        kind=Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=spec.start_ns,
        end_time_unix_nano=spec.start_ns + 1_000_000,
        attributes=kvs({"http.request.method": "GET", "server.address": "example.internal"}),
    )


def bulk_request(
    n_spans: int, dialect: str = "current_attributes", start_seed: int = 1000
) -> ExportTraceServiceRequest:
    """One request with `n_spans` GenAI spans (same resource), for throughput measurements."""
    builder = CONTENT_DIALECTS[dialect]
    req = ExportTraceServiceRequest()
    first = builder(CallSpec(seed=start_seed))
    req.resource_spans.add().CopyFrom(first.resource_spans[0])
    spans = req.resource_spans[0].scope_spans[0].spans
    for i in range(1, n_spans):
        spans.append(builder(CallSpec(seed=start_seed + i)).resource_spans[0].scope_spans[0].spans[0])
    return req
