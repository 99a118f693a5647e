"""One span per model call: the handle every wrapper fills in, and `trace_call` for calls we do not wrap.

The OpenAI wrappers and user code (`with collector.trace_call(...) as call:`) go through the same
`CallSpan`, so a call traced by hand carries exactly the attributes, metrics and content rules of an
instrumented one. The hot path is kept flat: attributes are collected in plain dicts and set in one
call at start and one at end, and no JSON is encoded unless content capture is on.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.metrics import Histogram
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

from watchkeeper.collector.sdk.metrics_from_spans import TOKEN_TYPE as TOKEN_TYPE  # re-exported
from watchkeeper.collector.sdk.metrics_from_spans import record_call_metrics
from watchkeeper.collector.sdk.redact import RedactionTally, Redactor
from watchkeeper.core import semconv
from watchkeeper.core.records import sha256_text

#: Semconv-recommended buckets for gen_ai.client.operation.duration (seconds).
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
#: Semconv-recommended buckets for gen_ai.client.token.usage.
TOKEN_BUCKETS = tuple(float(4**i) for i in range(14))
METRIC_OPERATION_DURATION = "gen_ai.client.operation.duration"
METRIC_TOKEN_USAGE = "gen_ai.client.token.usage"

_SYSTEM_ROLES = frozenset(("system", "developer"))
_CONVERSATION: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "watchkeeper_conversation", default=None
)
_CURRENT_CALL: contextvars.ContextVar[CallSpan | None] = contextvars.ContextVar(
    "watchkeeper_call", default=None
)

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(slots=True)
class Telemetry:
    """What `instrument()` configured: where spans and metrics go and what content may be recorded."""

    tracer: Tracer
    duration: Histogram
    tokens: Histogram
    capture_content: bool = False
    redact: Callable[[str], str] | None = None


_ACTIVE: Telemetry | None = None


def activate(telemetry: Telemetry | None) -> None:
    """Install (or, with None, remove) the telemetry every wrapper and `trace_call` use."""
    global _ACTIVE
    _ACTIVE = telemetry


def active() -> Telemetry | None:
    return _ACTIVE


class conversation:
    """Set the conversation id for calls in this context: `collector.conversation(id)` or as a `with` block.

    Calling it sets the id for the rest of the current context (thread / asyncio task); used with `with`, the
    previous id comes back on exit.
    """

    __slots__ = ("_token",)

    def __init__(self, conversation_id: str | None) -> None:
        self._token = _CONVERSATION.set(conversation_id)

    def __enter__(self) -> conversation:
        return self

    def __exit__(self, *exc: object) -> None:
        _CONVERSATION.reset(self._token)


def current_conversation() -> str | None:
    return _CONVERSATION.get()


def current_call() -> CallSpan | None:
    """The `CallSpan` of the innermost `trace_call` in this context (for decorated functions)."""
    return _CURRENT_CALL.get()


# --- content shaping (semconv "parts" messages) ------------------------------------------------------


def _text_of(content: Any) -> str:
    """Text of an OpenAI-style message content: a string or a list of parts with "text"."""
    if isinstance(content, str):
        return content
    if isinstance(content, Iterable) and not isinstance(content, (bytes, Mapping)):
        texts = []
        for part in content:
            if isinstance(part, Mapping):
                text = part.get("text")
                if isinstance(text, str):
                    texts.append(text)
            elif isinstance(part, str):
                texts.append(part)
        return "\n".join(texts)
    return ""


def system_texts(messages: Sequence[Any] | None) -> list[str]:
    """Texts of the system/developer messages, in order; joined with "\\n" they are what we hash."""
    if not messages:
        return []
    texts = []
    for message in messages:
        if (type(message) is dict or isinstance(message, Mapping)) and message.get("role") in _SYSTEM_ROLES:
            content = message.get("content")
            texts.append(content if type(content) is str else _text_of(content))
    return texts


def _identity(text: str) -> str:
    return text


def _parts(content: Any, redact: Callable[[str], str]) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "content": redact(content)}]
    parts: list[dict[str, Any]] = []
    if isinstance(content, Iterable) and not isinstance(content, (bytes, Mapping)):
        for part in content:
            if isinstance(part, str):
                parts.append({"type": "text", "content": redact(part)})
            elif isinstance(part, Mapping):
                kind = part.get("type", "text")
                if kind == "text" or "text" in part:
                    parts.append({"type": "text", "content": redact(str(part.get("text", "")))})
                else:  # images, audio, files: record the modality, never the payload
                    parts.append({"type": "blob" if kind != "image_url" else "uri", "modality": str(kind)})
    return parts


def _tool_call_parts(tool_calls: Any, redact: Callable[[str], str]) -> list[dict[str, Any]]:
    parts = []
    for call in tool_calls or ():
        call = call if isinstance(call, Mapping) else _as_mapping(call)
        function = call.get("function") or {}
        function = function if isinstance(function, Mapping) else _as_mapping(function)
        arguments = function.get("arguments")
        parts.append(
            {
                "type": "tool_call",
                "id": call.get("id"),
                "name": function.get("name"),
                "arguments": redact(arguments) if isinstance(arguments, str) else arguments,
            }
        )
    return parts


def _as_mapping(obj: Any) -> Mapping[str, Any]:
    if isinstance(obj, Mapping):
        return obj
    dump = getattr(obj, "model_dump", None)
    if dump is not None:
        return dump()
    return vars(obj) if hasattr(obj, "__dict__") else {}


def input_messages(
    messages: Sequence[Any] | None, redact: Callable[[str], str] | None
) -> list[dict[str, Any]]:
    """OpenAI chat messages -> semconv input messages, without the system/developer ones (recorded apart)."""
    red = redact or _identity
    out: list[dict[str, Any]] = []
    for message in messages or ():
        message = message if isinstance(message, Mapping) else _as_mapping(message)
        role = message.get("role", "user")
        if role in _SYSTEM_ROLES:
            continue
        if role == "tool":
            content = _text_of(message.get("content"))
            parts: list[dict[str, Any]] = [
                {"type": "tool_call_response", "id": message.get("tool_call_id"), "response": red(content)}
            ]
        else:
            parts = _parts(message.get("content"), red)
            if message.get("tool_calls"):
                parts.extend(_tool_call_parts(message.get("tool_calls"), red))
        out.append({"role": role, "parts": parts})
    return out


def output_message(
    text: str | None, finish_reason: str | None, tool_calls: Any, redact: Callable[[str], str] | None
) -> dict[str, Any]:
    """One assistant choice -> a semconv output message."""
    red = redact or _identity
    parts = _parts(text, red) if text else []
    if tool_calls:
        parts.extend(_tool_call_parts(tool_calls, red))
    return {"role": "assistant", "parts": parts, "finish_reason": finish_reason or "stop"}


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


# --- the span handle ---------------------------------------------------------------------------------


class CallSpan:
    """The span, timers and metric labels of one model call; fill it in, then `end()` it exactly once."""

    __slots__ = (
        "_attrs",
        "_ended",
        "_request_attrs",
        "_start",
        "_tally",
        "_telemetry",
        "_token",
        "first_chunk_s",
        "input_tokens",
        "output_tokens",
        "span",
    )

    def __init__(
        self,
        telemetry: Telemetry,
        *,
        operation: str,
        provider: str,
        request_model: str,
        attributes: dict[str, Any],
        messages: Sequence[Any] | None = None,
        system: str | Sequence[str] | None = None,
        make_current: bool = True,
    ) -> None:
        """`attributes` holds the request attributes (server.*, gen_ai.request.*); it is consumed."""
        self._telemetry = telemetry
        self._ended = False
        self.first_chunk_s: float | None = None
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self._attrs: dict[str, Any] = {}
        attributes[semconv.OPERATION_NAME] = operation
        attributes[semconv.PROVIDER_NAME] = provider
        if request_model:
            attributes[semconv.REQUEST_MODEL] = request_model
        conversation_id = _CONVERSATION.get()
        if conversation_id:
            attributes[semconv.CONVERSATION_ID] = conversation_id
        texts = system_texts(messages) if messages else []
        if system:
            texts[:0] = [system] if isinstance(system, str) else list(system)
        if texts:
            attributes[semconv.WK_SYSTEM_INSTRUCTIONS_SHA256] = sha256_text("\n".join(texts))
        # A Redactor (the default) also says what it removed; any other redact callable is used as given.
        self._tally = RedactionTally(telemetry.redact) if isinstance(telemetry.redact, Redactor) else None
        if telemetry.capture_content:
            redact = self._tally.request if self._tally is not None else telemetry.redact or _identity
            if texts:
                attributes[semconv.SYSTEM_INSTRUCTIONS] = _dumps(
                    [{"type": "text", "content": redact(text)} for text in texts]
                )
            if messages:
                attributes[semconv.INPUT_MESSAGES] = _dumps(input_messages(messages, redact))
            if self._tally is not None:
                attributes.update(self._tally.input_attributes())
        name = f"{operation} {request_model}" if request_model else operation
        self._request_attrs = attributes  # the span copies them; kept for a span the sampler drops
        self.span = telemetry.tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes)
        self._token = otel_context.attach(trace.set_span_in_context(self.span)) if make_current else None
        self._start = time.perf_counter()

    # -- filled in by wrappers and users --

    def detach(self) -> None:
        """Stop being the current span (a stream outlives the call that created it)."""
        if self._token is not None:
            otel_context.detach(self._token)
            self._token = None

    def set_attribute(self, key: str, value: Any) -> None:
        self._attrs[key] = value

    def mark_first_chunk(self) -> None:
        if self.first_chunk_s is None:
            self.first_chunk_s = time.perf_counter() - self._start

    def set_usage(self, input_tokens: int | None = None, output_tokens: int | None = None) -> None:
        if input_tokens is not None:
            self.input_tokens = int(input_tokens)
        if output_tokens is not None:
            self.output_tokens = int(output_tokens)

    def set_response(
        self,
        *,
        model: str | None = None,
        response_id: str | None = None,
        finish_reasons: Sequence[str] | None = None,
        system_fingerprint: str | None = None,
    ) -> None:
        attrs = self._attrs
        if model:
            attrs[semconv.RESPONSE_MODEL] = model
        if response_id:
            attrs[semconv.RESPONSE_ID] = response_id
        if finish_reasons:
            attrs[semconv.RESPONSE_FINISH_REASONS] = list(finish_reasons)
        if system_fingerprint:
            attrs[semconv.RESPONSE_SYSTEM_FINGERPRINT] = system_fingerprint

    def set_output(
        self, text: str | None = None, *, finish_reason: str = "stop", tool_calls: Any = None
    ) -> None:
        """Record one assistant answer (content only when capture is on; the finish reason always)."""
        self.set_output_messages([(text, finish_reason, tool_calls)])

    def set_output_messages(self, choices: Sequence[tuple[str | None, str | None, Any]]) -> None:
        """Record all choices as (text, finish_reason, tool_calls) tuples."""
        if semconv.RESPONSE_FINISH_REASONS not in self._attrs:
            reasons = [reason for _, reason, _ in choices if reason]
            if reasons:
                self._attrs[semconv.RESPONSE_FINISH_REASONS] = reasons
        if self._telemetry.capture_content:
            tally = self._tally
            redact = self._telemetry.redact if tally is None else tally.answer
            if tally is not None:
                tally.reset_answer()
            self._attrs[semconv.OUTPUT_MESSAGES] = _dumps(
                [output_message(text, reason, calls, redact) for text, reason, calls in choices]
            )
            if tally is not None:
                for key in [k for k in self._attrs if k.startswith(semconv.WK_REDACTION_PREFIX)]:
                    del self._attrs[key]
                self._attrs.update(tally.output_attributes())

    @property
    def capture_content(self) -> bool:
        return self._telemetry.capture_content

    @property
    def has_output(self) -> bool:
        return semconv.RESPONSE_FINISH_REASONS in self._attrs or semconv.OUTPUT_MESSAGES in self._attrs

    @property
    def ended(self) -> bool:
        return self._ended

    # -- the end --

    def end(self, error: BaseException | None = None) -> None:
        """End the span (metrics are derived from it); later calls are no-ops (streams end several ways)."""
        if self._ended:
            return
        self._ended = True
        self.detach()
        attrs = self._attrs
        if self.input_tokens is not None:
            attrs[semconv.USAGE_INPUT_TOKENS] = self.input_tokens
        if self.output_tokens is not None:
            attrs[semconv.USAGE_OUTPUT_TOKENS] = self.output_tokens
        if self.first_chunk_s is not None:
            attrs[semconv.RESPONSE_TIME_TO_FIRST_CHUNK] = self.first_chunk_s
        span = self.span
        if error is not None:
            error_type = type(error).__qualname__
            attrs[semconv.ERROR_TYPE] = error_type
            span.set_status(Status(StatusCode.ERROR, str(error)[:500] or error_type))
            span.record_exception(error)
        if span.is_recording():
            # The metrics are derived from the finished span off the call path (collector.metrics_from_spans).
            if attrs:
                span.set_attributes(attrs)
            span.end()
            return
        # A span the sampler dropped never reaches a processor: record its metrics here.
        span.end()
        telemetry = self._telemetry
        record_call_metrics(
            telemetry.duration,
            telemetry.tokens,
            time.perf_counter() - self._start,
            {**self._request_attrs, **attrs},
        )


# --- trace_call: for model calls we do not wrap ----------------------------------------------------

_PARAM_ATTRIBUTES = {
    "temperature": semconv.REQUEST_TEMPERATURE,
    "top_p": semconv.REQUEST_TOP_P,
    "top_k": semconv.REQUEST_TOP_K,
    "max_tokens": semconv.REQUEST_MAX_TOKENS,
    "frequency_penalty": semconv.REQUEST_FREQUENCY_PENALTY,
    "presence_penalty": semconv.REQUEST_PRESENCE_PENALTY,
    "seed": semconv.REQUEST_SEED,
    "stop_sequences": semconv.REQUEST_STOP_SEQUENCES,
    "choice_count": semconv.REQUEST_CHOICE_COUNT,
}


class _NoopCall:
    """Stands in for CallSpan when nothing is instrumented, so user code runs unchanged."""

    span = trace.INVALID_SPAN
    capture_content = False

    def __getattr__(self, name: str) -> Callable[..., None]:
        return lambda *args, **kwargs: None


class trace_call:
    """Trace any model call: `with trace_call(provider="anthropic", model="m", messages=msgs) as call:`.

    Inside, set what came back: `call.set_output(text)`, `call.set_usage(input_tokens=.., output_tokens=..)`,
    `call.set_response(model=.., response_id=..)`. As a decorator (sync or async) the handle is
    `collector.current_call()`; a `str` return value is recorded as the output when none was set.
    Request parameters: temperature, top_p, top_k, max_tokens, frequency_penalty, presence_penalty, seed,
    stop_sequences, choice_count.
    """

    def __init__(
        self,
        *,
        provider: str,
        model: str,
        operation: str = "chat",
        messages: Sequence[Any] | None = None,
        system: str | Sequence[str] | None = None,
        server_address: str | None = None,
        server_port: int | None = None,
        **request_params: Any,
    ) -> None:
        unknown = set(request_params) - set(_PARAM_ATTRIBUTES)
        if unknown:
            raise TypeError(
                f"unknown request parameters {sorted(unknown)}; known: {sorted(_PARAM_ATTRIBUTES)}"
            )
        self.provider = semconv.normalize_provider(provider)
        self.model = model
        self.operation = operation
        self.messages = messages
        self.system = system
        self.server_address = server_address
        self.server_port = server_port
        self.request_params = request_params

    def _start(self) -> CallSpan | _NoopCall:
        telemetry = _ACTIVE
        if telemetry is None:
            return _NoopCall()
        attributes: dict[str, Any] = {
            _PARAM_ATTRIBUTES[key]: list(value) if isinstance(value, (list, tuple)) else value
            for key, value in self.request_params.items()
            if value is not None
        }
        if self.server_address:
            attributes[semconv.SERVER_ADDRESS] = self.server_address
            if self.server_port:
                attributes[semconv.SERVER_PORT] = self.server_port
        return CallSpan(
            telemetry,
            operation=self.operation,
            provider=self.provider,
            request_model=self.model,
            attributes=attributes,
            messages=self.messages,
            system=self.system,
        )

    @contextmanager
    def _scope(self) -> Iterator[CallSpan | _NoopCall]:
        call = self._start()
        token = _CURRENT_CALL.set(call if isinstance(call, CallSpan) else None)
        try:
            yield call
        except BaseException as exc:
            call.end(exc)
            raise
        finally:
            _CURRENT_CALL.reset(token)
            call.end()

    def __enter__(self) -> CallSpan | _NoopCall:
        self._cm = self._scope()
        return self._cm.__enter__()

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> bool | None:
        return self._cm.__exit__(exc_type, exc, tb)

    def __call__(self, func: F) -> F:
        def record_result(call: CallSpan | _NoopCall, result: Any) -> None:
            if (
                isinstance(call, CallSpan)
                and isinstance(result, str)
                and not call._attrs.get(semconv.RESPONSE_FINISH_REASONS)
            ):
                call.set_output(result)

        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with self._scope() as call:
                    result = await func(*args, **kwargs)
                    record_result(call, result)
                    return result

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self._scope() as call:
                result = func(*args, **kwargs)
                record_result(call, result)
                return result

        return wrapper  # type: ignore[return-value]
