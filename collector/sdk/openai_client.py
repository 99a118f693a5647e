"""Tracing of the `openai` package: chat.completions.create on OpenAI/AzureOpenAI, sync/async, streamed.

We patch the two `create` methods on their classes (plain attribute replacement, undone by `unpatch`), so
every client, including ones created before `instrument()`, is covered and nothing is wrapped per instance.
A streamed call returns a proxy of the real stream; its span ends when the stream ends, fails or is closed.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from typing import Any

import wrapt

from watchkeeper.collector.sdk.decorator import CallSpan, Telemetry, active
from watchkeeper.collector.sdk.providers import Endpoint, endpoint_of_client
from watchkeeper.core import semconv

logger = logging.getLogger("watchkeeper.collector.openai")

_ORIGINALS: dict[tuple[type, str], Callable[..., Any]] = {}

#: openai request argument -> span attribute (numbers only; sentinels such as `omit` are skipped).
_NUMERIC_PARAMS = {
    "temperature": semconv.REQUEST_TEMPERATURE,
    "top_p": semconv.REQUEST_TOP_P,
    "max_tokens": semconv.REQUEST_MAX_TOKENS,
    "max_completion_tokens": semconv.REQUEST_MAX_TOKENS,
    "frequency_penalty": semconv.REQUEST_FREQUENCY_PENALTY,
    "presence_penalty": semconv.REQUEST_PRESENCE_PENALTY,
    "seed": semconv.REQUEST_SEED,
}
_OTHER_PARAMS = frozenset(("stop", "n", "stream", "response_format", "metadata", "user"))
_NUMBERS = (int, float)
_ENDPOINT_SLOT = "_watchkeeper_endpoint"


def _endpoint(resource: Any) -> Endpoint:
    """The client's endpoint, cached on the resource object (one dict lookup per call)."""
    client = resource._client
    base_url = client.base_url
    cached = resource.__dict__.get(_ENDPOINT_SLOT)
    if cached is not None and cached[0] is base_url:
        return cached[1]
    endpoint = endpoint_of_client(client)
    resource.__dict__[_ENDPOINT_SLOT] = (base_url, endpoint)
    return endpoint


def _request_attributes(endpoint: Endpoint, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The request attributes of one create() call: one pass over the arguments actually given."""
    attrs: dict[str, Any] = {}
    if endpoint.address:
        attrs[semconv.SERVER_ADDRESS] = endpoint.address
        if endpoint.port:
            attrs[semconv.SERVER_PORT] = endpoint.port
    others = None
    for name, value in kwargs.items():
        key = _NUMERIC_PARAMS.get(name)
        if key is not None:
            if type(value) in _NUMBERS:
                attrs[key] = value
        elif name in _OTHER_PARAMS:
            others = others or {}
            others[name] = value
    if others:
        _other_attributes(attrs, others)
    return attrs


def _other_attributes(attrs: dict[str, Any], kwargs: Mapping[str, Any]) -> None:
    stop = kwargs.get("stop")
    if isinstance(stop, str):
        attrs[semconv.REQUEST_STOP_SEQUENCES] = [stop]
    elif isinstance(stop, (list, tuple)):
        attrs[semconv.REQUEST_STOP_SEQUENCES] = [str(s) for s in stop]
    n = kwargs.get("n")
    if type(n) is int and n != 1:
        attrs[semconv.REQUEST_CHOICE_COUNT] = n
    if kwargs.get("stream") is True:
        attrs[semconv.REQUEST_STREAM] = True
    response_format = kwargs.get("response_format")
    if isinstance(response_format, Mapping):
        kind = response_format.get("type")
        if kind in ("json_object", "json_schema"):
            attrs[semconv.OUTPUT_TYPE] = "json"
        elif kind == "text":
            attrs[semconv.OUTPUT_TYPE] = "text"
    metadata = kwargs.get("metadata")
    conversation_id = None
    if isinstance(metadata, Mapping):
        conversation_id = metadata.get("conversation_id") or metadata.get("conversation.id")
    if not conversation_id:
        user = kwargs.get("user")
        conversation_id = user if isinstance(user, str) else None
    if conversation_id:
        attrs[semconv.CONVERSATION_ID] = str(conversation_id)


def _start(telemetry: Telemetry, resource: Any, kwargs: Mapping[str, Any]) -> CallSpan:
    endpoint = _endpoint(resource)
    attrs = _request_attributes(endpoint, kwargs)
    model = kwargs.get("model")
    messages = kwargs.get("messages")
    return CallSpan(  # a conversation id set with collector.conversation() overrides metadata/user
        telemetry,
        operation="chat",
        provider=endpoint.provider,
        request_model=model if isinstance(model, str) else "",
        attributes=attrs,
        messages=messages if isinstance(messages, (list, tuple)) else None,
    )


def _finish_completion(call: CallSpan, result: Any) -> None:
    """Record a (non-streamed) ChatCompletion on the span."""
    completion = result
    if type(completion).__name__ == "LegacyAPIResponse":
        # with_raw_response: parse() caches, so the caller's own parse() gets the same object. Other
        # response wrappers (with_streaming_response) are left alone: reading them would eat the body.
        completion = completion.parse()
    choices = getattr(completion, "choices", None)
    if choices is None:
        return
    call.set_response(
        model=getattr(completion, "model", None),
        response_id=getattr(completion, "id", None),
        system_fingerprint=getattr(completion, "system_fingerprint", None),
    )
    usage = getattr(completion, "usage", None)
    if usage is not None:
        call.set_usage(getattr(usage, "prompt_tokens", None), getattr(usage, "completion_tokens", None))
    if call.capture_content:
        outputs = []
        for choice in choices:
            message = choice.message
            outputs.append((message.content, choice.finish_reason, message.tool_calls))
        call.set_output_messages(outputs)
    else:
        call.set_response(finish_reasons=[c.finish_reason for c in choices if c.finish_reason])


def _finish_safely(call: CallSpan, result: Any) -> None:
    try:
        _finish_completion(call, result)
    except Exception:
        logger.debug("could not record a chat completion", exc_info=True)
    call.end()


class _StreamState:
    """What a stream has shown so far: ids, finish reasons, usage and (when captured) the text per choice."""

    __slots__ = ("call", "choices", "model", "response_id", "system_fingerprint")

    def __init__(self, call: CallSpan) -> None:
        self.call = call
        self.model: str | None = None
        self.response_id: str | None = None
        self.system_fingerprint: str | None = None
        self.choices: dict[int, list[Any]] = {}  # index -> [text parts, finish_reason, tool call parts]

    def add(self, chunk: Any) -> None:
        call = self.call
        if call.first_chunk_s is None:
            call.mark_first_chunk()
        if self.response_id is None:
            self.response_id = getattr(chunk, "id", None)
            self.model = getattr(chunk, "model", None)
        fingerprint = getattr(chunk, "system_fingerprint", None)
        if fingerprint:
            self.system_fingerprint = fingerprint
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            call.set_usage(getattr(usage, "prompt_tokens", None), getattr(usage, "completion_tokens", None))
        capture = call.capture_content
        for choice in getattr(chunk, "choices", None) or ():
            state = self.choices.get(choice.index)
            if state is None:
                state = self.choices[choice.index] = [[], None, {}]
            if choice.finish_reason:
                state[1] = choice.finish_reason
            if capture:
                delta = choice.delta
                if delta is None:
                    continue
                if delta.content:
                    state[0].append(delta.content)
                for tool_call in delta.tool_calls or ():
                    slot = state[2].setdefault(tool_call.index, {"id": None, "name": None, "arguments": []})
                    if tool_call.id:
                        slot["id"] = tool_call.id
                    function = tool_call.function
                    if function is not None:
                        if function.name:
                            slot["name"] = function.name
                        if function.arguments:
                            slot["arguments"].append(function.arguments)

    def safe_add(self, chunk: Any) -> None:
        """add(), but a chunk we cannot read never breaks the caller's iteration."""
        try:
            self.add(chunk)
        except Exception:
            logger.debug("could not record a stream chunk", exc_info=True)

    def finish(self, error: BaseException | None = None) -> None:
        call = self.call
        if call.ended:
            return
        call.set_response(
            model=self.model, response_id=self.response_id, system_fingerprint=self.system_fingerprint
        )
        ordered = [self.choices[i] for i in sorted(self.choices)]
        if call.capture_content:
            outputs = []
            for parts, reason, tools in ordered:
                tool_calls = [
                    {"id": t["id"], "function": {"name": t["name"], "arguments": "".join(t["arguments"])}}
                    for _, t in sorted(tools.items())
                ]
                outputs.append(("".join(parts), reason, tool_calls or None))
            if outputs:
                call.set_output_messages(outputs)
        else:
            reasons = [reason for _, reason, _ in ordered if reason]
            if reasons:
                call.set_response(finish_reasons=reasons)
        call.end(error)


class TracedStream(wrapt.ObjectProxy):  # type: ignore[misc]
    """A `openai.Stream` that ends its span when iteration ends, fails, or the stream is closed."""

    def __init__(self, stream: Any, state: _StreamState) -> None:
        super().__init__(stream)
        self._self_state = state

    def __iter__(self) -> TracedStream:
        return self

    def __next__(self) -> Any:
        try:
            chunk = self.__wrapped__.__next__()
        except StopIteration:
            self._self_state.finish()
            raise
        except BaseException as exc:
            self._self_state.finish(exc)
            raise
        self._self_state.safe_add(chunk)
        return chunk

    def __enter__(self) -> TracedStream:
        self.__wrapped__.__enter__()
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        try:
            self.__wrapped__.__exit__(exc_type, exc, tb)
        finally:
            self._self_state.finish(exc)

    def close(self) -> None:
        try:
            self.__wrapped__.close()
        finally:
            self._self_state.finish()

    def __del__(self) -> None:
        state = getattr(self, "_self_state", None)
        if state is not None:
            state.finish()


class AsyncTracedStream(wrapt.ObjectProxy):  # type: ignore[misc]
    """A `openai.AsyncStream` that ends its span when iteration ends, fails, or the stream is closed."""

    def __init__(self, stream: Any, state: _StreamState) -> None:
        super().__init__(stream)
        self._self_state = state

    def __aiter__(self) -> AsyncTracedStream:
        return self

    async def __anext__(self) -> Any:
        try:
            chunk = await self.__wrapped__.__anext__()
        except StopAsyncIteration:
            self._self_state.finish()
            raise
        except BaseException as exc:
            self._self_state.finish(exc)
            raise
        self._self_state.safe_add(chunk)
        return chunk

    async def __aenter__(self) -> AsyncTracedStream:
        await self.__wrapped__.__aenter__()
        return self

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        try:
            await self.__wrapped__.__aexit__(exc_type, exc, tb)
        finally:
            self._self_state.finish(exc)

    async def close(self) -> None:
        try:
            await self.__wrapped__.close()
        finally:
            self._self_state.finish()

    async def aclose(self) -> None:
        await self.close()

    def __del__(self) -> None:
        state = getattr(self, "_self_state", None)
        if state is not None:
            state.finish()


def _start_safely(telemetry: Telemetry, resource: Any, kwargs: Mapping[str, Any]) -> CallSpan | None:
    """The call's span, or None when starting it failed: our bug must never become the app's failure."""
    try:
        return _start(telemetry, resource, kwargs)
    except Exception:
        logger.debug("could not start the span of a chat call", exc_info=True)
        return None


def _settle(
    call: CallSpan, kwargs: Mapping[str, Any], result: Any, traced_stream: Callable[..., Any], iterator: str
) -> Any:
    """What the app gets back: a traced stream (the span ends with it), or the result with the span ended.

    `traced_stream` wraps results that have `iterator` (sync or async); a raw-response stream has none and is
    the caller's to read, so its span ends now."""
    if kwargs.get("stream") is True:
        if hasattr(result, iterator):
            call.detach()
            return traced_stream(result, _StreamState(call))
        call.end()
        return result
    _finish_safely(call, result)
    return result


def _wrap_sync(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def create(self: Any, *args: Any, **kwargs: Any) -> Any:
        telemetry = active()
        call = _start_safely(telemetry, self, kwargs) if telemetry is not None else None
        if call is None:
            return original(self, *args, **kwargs)
        try:
            result = original(self, *args, **kwargs)
        except BaseException as exc:
            call.end(exc)
            raise
        return _settle(call, kwargs, result, TracedStream, "__next__")

    return create


def _wrap_async(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    async def create(self: Any, *args: Any, **kwargs: Any) -> Any:
        telemetry = active()
        call = _start_safely(telemetry, self, kwargs) if telemetry is not None else None
        if call is None:
            return await original(self, *args, **kwargs)
        try:
            result = await original(self, *args, **kwargs)
        except BaseException as exc:
            call.end(exc)
            raise
        return _settle(call, kwargs, result, AsyncTracedStream, "__anext__")

    return create


def _targets() -> list[tuple[type, str, Callable[[Callable[..., Any]], Callable[..., Any]]]]:
    from openai.resources.chat.completions import AsyncCompletions, Completions

    return [(Completions, "create", _wrap_sync), (AsyncCompletions, "create", _wrap_async)]


def patch() -> bool:
    """Wrap the openai methods (idempotent). False when the `openai` package is not installed."""
    try:
        targets = _targets()
    except ImportError:
        return False
    for cls, name, wrap in targets:
        if (cls, name) in _ORIGINALS:
            continue
        original = cls.__dict__[name]
        _ORIGINALS[(cls, name)] = original
        setattr(cls, name, wrap(original))
    return True


def unpatch() -> None:
    """Put the original methods back."""
    for (cls, name), original in list(_ORIGINALS.items()):
        setattr(cls, name, original)
        del _ORIGINALS[(cls, name)]
