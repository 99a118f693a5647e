"""OTLP span -> ModelCall: one normalized record, whichever GenAI dialect the sender speaks.

Senders disagree on where the prompt lives: current semconv attributes (`gen_ai.input.messages`, ...),
the `gen_ai.client.inference.operation.details` event, legacy per-message events (`gen_ai.user.message`,
`gen_ai.choice`), or OpenLLMetry/xai-sdk indexed attributes (`gen_ai.prompt.N.content`). Detectors must not
care, and above all the system prompt must hash the same in every dialect, or an instrumentation upgrade would
look like an unapproved prompt change. Each span's attributes are walked once; JSON is parsed once per value.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from watchkeeper.core import metrics
from watchkeeper.core import semconv as sc
from watchkeeper.core.decoding import Decoded
from watchkeeper.core.records import Message, ModelCall, sha256_text

#: (event name, attributes, body) of one content event, from a span event or an OTLP log record.
ContentEvent = tuple[str, dict[str, Any], Any]

SYSTEM_ROLES = frozenset({"system", "developer"})
LLM_REQUEST_TYPE = "llm.request.type"  # OpenLLMetry's operation name
DEPRECATED_PROMPT = "gen_ai.prompt"  # semconv <= 1.26: the whole prompt as one JSON string
DEPRECATED_COMPLETION = "gen_ai.completion"
#: semconv 1.37 moved the OpenAI fingerprint out of gen_ai.*; official openai-v2 sends this.
OPENAI_SYSTEM_FINGERPRINT = "openai.response.system_fingerprint"
_LEGACY_INPUT_EVENTS = {
    sc.EVENT_SYSTEM_MESSAGE: "system",
    sc.EVENT_USER_MESSAGE: "user",
    sc.EVENT_ASSISTANT_MESSAGE: "assistant",
    sc.EVENT_TOOL_MESSAGE: "tool",
}
#: Events whose arrival means the call's content is complete (the answer, or everything at once).
OUTPUT_EVENTS = frozenset({sc.EVENT_CHOICE, sc.EVENT_OPERATION_DETAILS})
CONTENT_EVENTS = frozenset({*_LEGACY_INPUT_EVENTS, *OUTPUT_EVENTS})
_GENAI_MARKERS = (
    sc.OPERATION_NAME,
    sc.PROVIDER_NAME,
    sc.SYSTEM,
    sc.REQUEST_MODEL,
    LLM_REQUEST_TYPE,
    DEPRECATED_PROMPT,
)
_PARAM_SHORT = {name: name.removeprefix("gen_ai.request.") for name in sc.REQUEST_PARAMETERS}
_PROMPT_LEN = len(sc.PROMPT_PREFIX)
_COMPLETION_LEN = len(sc.COMPLETION_PREFIX)
_STATUS_ERROR = Status.STATUS_CODE_ERROR
#: More tokens than any model takes in one call (2^31): a sender bug or an attack, read as unknown.
MAX_TOKENS = 2**31
MAX_DURATION_MS = 7 * 24 * 3600 * 1000.0  # a week: longer is a clock error


# --- AnyValue -> Python ----------------------------------------------------------------------------
def _finish_reasons(finish: Any) -> tuple[str, ...]:
    if not isinstance(finish, list | tuple):
        return ()
    return tuple(r for r in (sc.normalize_finish_reason(str(f)) for f in finish) if r)


def any_value(value: AnyValue) -> Any:
    """Plain Python for an OTLP AnyValue (kvlist -> dict, array -> list, bytes -> hex)."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return value.int_value
    if kind == "double_value":
        return value.double_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return None


def attributes_dict(attributes: Iterable[KeyValue]) -> dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in attributes}


def _maybe_json(value: Any) -> Any:
    """Structured value as sent: a JSON string (span attributes) or already structured (events, logs).

    Text that is not JSON, or nested deeper than the recursion limit (a hostile `[[[[...`), stays text."""
    if isinstance(value, str):
        stripped = value.lstrip()
        if stripped[:1] in ("[", "{", '"'):
            try:
                return json.loads(value)
            except (ValueError, RecursionError):  # ValueError: bad JSON, or an int of > 4300 digits
                return value
    return value


# --- message content -------------------------------------------------------------------------------
def _part_text(part: Any) -> str | None:
    """Text of one message part; non-text parts are rendered briefly so tool traffic is not invisible."""
    if isinstance(part, str):
        return part
    if not isinstance(part, dict):
        return None
    kind = part.get("type", "text")
    if kind in ("text", "input_text", "output_text"):
        text = part.get("content", part.get("text"))
        return text if isinstance(text, str) else None
    if kind == "tool_call":
        args = part.get("arguments")
        args_text = (
            args if isinstance(args, str) else json.dumps(args, sort_keys=True) if args is not None else ""
        )
        return f"{part.get('name', 'tool')}({args_text})"
    if kind == "tool_call_response":
        response = part.get("response", part.get("result"))
        return response if isinstance(response, str) else json.dumps(response, sort_keys=True, default=str)
    return None


def _structured(content: Any) -> Any:
    """A JSON string that is clearly a parts list / part / message is parsed; any other text stays text."""
    if not isinstance(content, str):
        return content
    parsed = _maybe_json(content)
    if isinstance(parsed, list) and parsed and all(isinstance(p, dict) and "type" in p for p in parsed):
        return parsed
    if isinstance(parsed, dict) and ("parts" in parsed or "type" in parsed):
        return parsed
    return content


def content_text(content: Any) -> str:
    """Text of a message's content: a string, a parts list (semconv or OpenAI style), or JSON of either."""
    content = _structured(content)
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        if "parts" in content:
            return content_text(content["parts"])
        return _part_text(content) or ""
    if isinstance(content, list):
        return "\n".join(t for t in (_part_text(p) for p in content) if t)
    return str(content)


def _message_text(message: dict[str, Any]) -> str:
    if "parts" in message:
        return content_text(message["parts"])
    return content_text(message.get("content"))


def _messages(value: Any) -> list[dict[str, Any]]:
    parsed = _maybe_json(value)
    if isinstance(parsed, dict):
        parsed = [parsed]
    return [m for m in parsed if isinstance(m, dict)] if isinstance(parsed, list) else []


def _system_instructions_text(value: Any) -> str:
    """gen_ai.system_instructions: a parts array (JSON or structured), plain text, or a list of messages."""
    parsed = _maybe_json(value)
    if isinstance(parsed, list) and parsed and all(isinstance(p, dict) for p in parsed):
        if all("role" in p for p in parsed):
            return "\n".join(_message_text(m) for m in parsed)
        if all("type" in p for p in parsed):
            return content_text(parsed)
    if isinstance(parsed, dict) and ("parts" in parsed or "type" in parsed):
        return content_text(parsed)
    return value if isinstance(value, str) else content_text(value)


class _Content:
    """Message content gathered from every source of one call; the first source in priority order wins."""

    __slots__ = ("finish", "inputs", "outputs", "system")

    def __init__(self) -> None:
        self.system: str | None = None  # explicit system instructions
        self.inputs: list[tuple[str, str]] | None = None  # (role, text), system roles included
        self.outputs: list[str] | None = None
        self.finish: list[str] = []

    def take_current(self, attrs: dict[str, Any]) -> None:
        """Current semconv attributes (on the span, or on the operation-details event / log)."""
        if self.system is None and sc.SYSTEM_INSTRUCTIONS in attrs:
            self.system = _system_instructions_text(attrs[sc.SYSTEM_INSTRUCTIONS])
        if self.inputs is None and sc.INPUT_MESSAGES in attrs:
            self.inputs = [
                (str(m.get("role", "user")), _message_text(m)) for m in _messages(attrs[sc.INPUT_MESSAGES])
            ]
        if self.outputs is None and sc.OUTPUT_MESSAGES in attrs:
            outputs = _messages(attrs[sc.OUTPUT_MESSAGES])
            self.outputs = [_message_text(m) for m in outputs]
            if not self.finish:
                self.finish = [str(m["finish_reason"]) for m in outputs if m.get("finish_reason")]

    def take_legacy(self, events: list[ContentEvent]) -> None:
        """Per-message events (semconv <= 1.36): content in attributes, a JSON `body` attribute, the body."""
        inputs: list[tuple[str, str]] = []
        choices: list[tuple[int, str, str | None]] = []
        for name, attrs, body in events:
            data = _event_data(attrs, body)
            if name == sc.EVENT_CHOICE:
                message = _maybe_json(data.get("message"))
                text = (
                    _message_text(message) if isinstance(message, dict) else content_text(data.get("content"))
                )
                index = _int(data.get("index"))
                reason = data.get("finish_reason")
                choices.append(
                    (len(choices) if index is None else index, text, str(reason) if reason else None)
                )
            elif name in _LEGACY_INPUT_EVENTS:
                role = data.get("role") or _LEGACY_INPUT_EVENTS[name]
                inputs.append((str(role), content_text(data.get("content"))))
        if self.inputs is None and inputs:
            self.inputs = inputs
        if self.outputs is None and choices:
            choices.sort(key=lambda c: c[0])
            self.outputs = [text for _, text, _ in choices]
            if not self.finish:
                self.finish = [reason for _, _, reason in choices if reason]

    def take_indexed(
        self, prompts: dict[int, dict[str, Any]], completions: dict[int, dict[str, Any]]
    ) -> None:
        """OpenLLMetry / xai-sdk: gen_ai.prompt.N.role/.content, gen_ai.completion.N.content/.finish_reason"""
        if self.inputs is None and prompts:
            self.inputs = [
                (str(p.get("role", "user")), content_text(p.get("content")))
                for _, p in sorted(prompts.items())
            ]
        if self.outputs is None and completions:
            ordered = [c for _, c in sorted(completions.items())]
            self.outputs = [content_text(c.get("content")) for c in ordered]
            if not self.finish:
                self.finish = [str(c["finish_reason"]) for c in ordered if c.get("finish_reason")]

    def take_deprecated(self, prompt: Any, completion: Any) -> None:
        """semconv <= 1.26: `gen_ai.prompt` / `gen_ai.completion` hold the OpenAI messages list as JSON."""
        if self.inputs is None and prompt is not None:
            self.inputs = [(str(m.get("role", "user")), _message_text(m)) for m in _messages(prompt)]
        if self.outputs is None and completion is not None:
            self.outputs = [_message_text(m) for m in _messages(completion)]

    @property
    def empty(self) -> bool:
        return self.system is None and self.inputs is None and self.outputs is None

    def fill(self, call: ModelCall, sha_attr: str | None) -> None:
        """Write the content into the call; system instructions become their own field, never an input."""
        system_texts: list[str] = [self.system] if self.system is not None else []
        messages: list[Message] = []
        for role, text in self.inputs or ():
            if role in SYSTEM_ROLES:
                if self.system is None:
                    system_texts.append(text)
            else:
                messages.append(Message(role, text))
        if system_texts:
            call.system_instructions = "\n".join(system_texts)
            call.system_instructions_sha256 = sha256_text(call.system_instructions)
        elif sha_attr:
            call.system_instructions_sha256 = sha_attr
        call.input_messages = messages
        if self.outputs:
            call.output_text = "\n".join(self.outputs)
        if self.finish and not call.finish_reasons:
            call.finish_reasons = _finish_reasons(list(self.finish))


def _event_data(attrs: dict[str, Any], body: Any) -> dict[str, Any]:
    """One dict of an event's fields, wherever the sender put them (attributes, `body` JSON, log body)."""
    data: dict[str, Any] = {}
    for source in (_maybe_json(body), _maybe_json(attrs.get("body"))):
        if isinstance(source, dict):
            data.update(source)
        elif isinstance(source, str) and source:
            data.setdefault("content", source)
    for key, value in attrs.items():
        if key == "body":
            continue
        if key.startswith("message."):  # flattened {"message": {"content": ...}}
            data.setdefault("message", {})
            if isinstance(data["message"], dict):
                data["message"][key[8:]] = value
        else:
            data.setdefault(key, value)
    return data


def has_content(call: ModelCall) -> bool:
    return bool(call.system_instructions is not None or call.input_messages or call.output_text)


def apply_content_events(call: ModelCall, events: Iterable[ContentEvent]) -> ModelCall:
    """A copy of `call` with content taken from events that arrived separately (OTLP log records)."""
    content = _Content()
    legacy: list[ContentEvent] = []
    for name, attrs, body in events:
        if name == sc.EVENT_OPERATION_DETAILS:
            details = dict(attrs)
            if isinstance(body, dict):
                for key, value in body.items():
                    details.setdefault(key, value)
            content.take_current(details)
        elif name in CONTENT_EVENTS:
            legacy.append((name, attrs, body))
    if legacy:
        content.take_legacy(legacy)
    out = dataclasses.replace(
        call, input_messages=list(call.input_messages), attributes=dict(call.attributes)
    )
    if not content.empty:
        content.fill(out, call.system_instructions_sha256 if call.system_instructions is None else None)
    return out


# --- span -> ModelCall ----------------------------------------------------------------------------
def _resource_info(attributes: Iterable[KeyValue]) -> tuple[str, str]:
    service, env, legacy_env = "unknown", None, None
    for kv in attributes:
        if kv.key == sc.SERVICE_NAME:
            service = kv.value.string_value or service
        elif kv.key == sc.DEPLOYMENT_ENVIRONMENT:
            env = kv.value.string_value
        elif kv.key == sc.DEPLOYMENT_ENVIRONMENT_LEGACY:
            legacy_env = kv.value.string_value
    return service, env or legacy_env or "default"


def _int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: int(inf)
        return None


def _tokens(value: Any, name: str) -> int | None:
    """A token count, or None when it cannot be true (negative, beyond MAX_TOKENS, not a number): counted
    in watchkeeper_span_values_dropped so a broken sender shows, and never a crash in a detector."""
    if value is None:
        return None
    count = _int(value)
    if count is None or count < 0 or count > MAX_TOKENS:
        metrics.SPAN_VALUES_DROPPED.labels(name).inc()
        return None
    return count


def _seconds_to_ms(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        ms = float(value) * 1000.0
        if math.isfinite(ms) and 0.0 <= ms <= MAX_DURATION_MS:
            return ms
    metrics.SPAN_VALUES_DROPPED.labels(name).inc()
    return None


def _duration_ms(span: Span) -> float:
    """End minus start; a span that ends before it starts (clock skew, a bug) or lasts beyond
    MAX_DURATION_MS reads as 0 ms, counted."""
    ms = (span.end_time_unix_nano - span.start_time_unix_nano) / 1e6
    if 0.0 <= ms <= MAX_DURATION_MS:
        return ms
    metrics.SPAN_VALUES_DROPPED.labels("duration").inc()
    return 0.0


def call_from_span(span: Span, service: str = "unknown", environment: str = "default") -> ModelCall | None:
    """The ModelCall of one span, or None when the span is not a GenAI call."""
    attrs: dict[str, Any] = {}
    prompts: dict[int, dict[str, Any]] = {}
    completions: dict[int, dict[str, Any]] = {}
    for kv in span.attributes:
        key = kv.key
        if key.startswith(sc.PROMPT_PREFIX) or key.startswith(sc.COMPLETION_PREFIX):
            is_prompt = key[7] == "p"  # "gen_ai.p..." vs "gen_ai.c..."
            index, _, field = key[_PROMPT_LEN if is_prompt else _COMPLETION_LEN :].partition(".")
            if index.isdigit() and field:
                (prompts if is_prompt else completions).setdefault(int(index), {})[field] = any_value(
                    kv.value
                )
                continue
        attrs[key] = any_value(kv.value)
    if not (prompts or completions or any(marker in attrs for marker in _GENAI_MARKERS)):
        return None

    pop = attrs.pop
    provider = pop(sc.PROVIDER_NAME, None)
    legacy_system = pop(sc.SYSTEM, None)
    input_tokens = pop(sc.USAGE_INPUT_TOKENS, None)
    prompt_tokens = pop(sc.USAGE_PROMPT_TOKENS, None)
    output_tokens = pop(sc.USAGE_OUTPUT_TOKENS, None)
    completion_tokens = pop(sc.USAGE_COMPLETION_TOKENS, None)
    operation = pop(sc.OPERATION_NAME, None) or pop(LLM_REQUEST_TYPE, None) or "chat"
    error_type = pop(sc.ERROR_TYPE, None)
    if error_type is None and span.status.code == _STATUS_ERROR:
        error_type = "_OTHER"
    ttfc = _seconds_to_ms(pop(sc.RESPONSE_TIME_TO_FIRST_CHUNK, None), "time_to_first_chunk")
    wk_ttfc = _seconds_to_ms(pop(sc.WK_TIME_TO_FIRST_CHUNK, None), "time_to_first_chunk")
    fingerprint = pop(sc.RESPONSE_SYSTEM_FINGERPRINT, None)
    openai_fingerprint = pop(sc.OPENAI_RESPONSE_SYSTEM_FINGERPRINT, None) or pop(
        OPENAI_SYSTEM_FINGERPRINT, None
    )
    finish = pop(sc.RESPONSE_FINISH_REASONS, None)
    if isinstance(finish, str):
        finish = [finish]
    conversation = pop(sc.CONVERSATION_ID, None)
    params = {short: pop(name) for name, short in _PARAM_SHORT.items() if name in attrs}
    sha_attr = pop(sc.WK_SYSTEM_INSTRUCTIONS_SHA256, None)

    call = ModelCall(
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        start_time_ns=span.start_time_unix_nano,
        duration_ms=_duration_ms(span),
        service=service,
        environment=environment,
        provider=sc.normalize_provider(provider or legacy_system),
        operation=str(operation),
        request_model=str(pop(sc.REQUEST_MODEL, "") or ""),
        response_model=str(pop(sc.RESPONSE_MODEL, "") or ""),
        response_id=str(pop(sc.RESPONSE_ID, "") or ""),
        input_tokens=_tokens(input_tokens if input_tokens is not None else prompt_tokens, "input_tokens"),
        output_tokens=_tokens(
            output_tokens if output_tokens is not None else completion_tokens, "output_tokens"
        ),
        finish_reasons=_finish_reasons(finish),
        error_type=str(error_type) if error_type is not None else None,
        conversation_id=str(conversation) if conversation is not None else None,
        request_params=params,
        time_to_first_chunk_ms=ttfc if ttfc is not None else wk_ttfc,
        system_fingerprint=str(fingerprint or openai_fingerprint)
        if (fingerprint or openai_fingerprint)
        else None,
        server_address=str(server) if (server := pop(sc.SERVER_ADDRESS, None)) is not None else None,
    )

    content = _Content()
    content.take_current(attrs)
    legacy: list[ContentEvent] = []
    for event in span.events:
        name = event.name
        if name in CONTENT_EVENTS:
            event_attrs = attributes_dict(event.attributes)
            if name == sc.EVENT_OPERATION_DETAILS:
                content.take_current(event_attrs)
            elif name in CONTENT_EVENTS:
                legacy.append((name, event_attrs, None))
    if legacy:
        content.take_legacy(legacy)
    content.take_indexed(prompts, completions)
    content.take_deprecated(attrs.get(DEPRECATED_PROMPT), attrs.get(DEPRECATED_COMPLETION))
    content.fill(call, sha_attr)

    for key in (
        sc.SYSTEM_INSTRUCTIONS,
        sc.INPUT_MESSAGES,
        sc.OUTPUT_MESSAGES,
        DEPRECATED_PROMPT,
        DEPRECATED_COMPLETION,
    ):
        attrs.pop(key, None)
    call.attributes = attrs
    return call


def decode_request(req: ExportTraceServiceRequest) -> Decoded:
    """Every GenAI call in an OTLP trace export (other spans: HTTP, DB, ... are ignored). A span the
    translation fails on is set aside alone; the others are translated as if it were not there."""
    out = Decoded()
    for resource_spans in req.resource_spans:
        service, environment = _resource_info(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                out.spans += 1
                try:
                    call = call_from_span(span, service, environment)
                except Exception as exc:  # one hostile span must not cost the others their analysis
                    metrics.SPANS_UNREADABLE.inc()
                    out.unreadable.append((_one_span_export(resource_spans, scope_spans, span), _error(exc)))
                    continue
                if call is not None:
                    out.calls.append(call)
    return out


def _one_span_export(resource_spans: Any, scope_spans: Any, span: Span) -> bytes:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.CopyFrom(resource_spans.resource)
    rs.schema_url = resource_spans.schema_url
    ss = rs.scope_spans.add()
    ss.scope.CopyFrom(scope_spans.scope)
    ss.schema_url = scope_spans.schema_url
    ss.spans.add().CopyFrom(span)
    return req.SerializeToString()


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc)[:300]}"


def model_calls_from_request(req: ExportTraceServiceRequest) -> list[ModelCall]:
    """Every GenAI call in an OTLP trace export that could be read (see `decode_request`)."""
    return decode_request(req).calls


def parse_traces(data: bytes) -> ExportTraceServiceRequest:
    """An OTLP protobuf ExportTraceServiceRequest; ValueError when the bytes are not one."""
    req = ExportTraceServiceRequest()
    try:
        req.ParseFromString(data)
    except DecodeError as exc:
        raise ValueError(f"not an OTLP ExportTraceServiceRequest: {exc}") from exc
    return req


def model_calls_from_bytes(data: bytes) -> list[ModelCall]:
    """Parse an OTLP protobuf ExportTraceServiceRequest; ValueError when the bytes are not one."""
    return model_calls_from_request(parse_traces(data))
