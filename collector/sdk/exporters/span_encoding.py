"""OTLP protobuf encoding of finished spans (an `ExportTraceServiceRequest`), at a fraction of the SDK's cost.

The OpenTelemetry exporters build one protobuf object per attribute of every span, and hash each span's
resource (a JSON dump of its attributes) to group the batch: more CPU per GenAI span than the
instrumentation adds to the model call itself. Model calls repeat most attribute values (provider, models,
server, request parameters, finish reasons, the system prompt's hash), so each attribute is encoded once
into its protobuf wire bytes and reused from a bounded cache; a span is the protobuf serialization of its
other fields followed by those bytes, and spans are grouped by resource and scope object before any
equality test.

The messages and field numbers are the `opentelemetry-proto` ones; only the length-delimited framing of the
repeated fields (attributes, spans, scope and resource spans) is written here, which the protobuf format
defines as the concatenation of `tag, length, bytes` entries in any order. A decoder reads exactly the
request the SDK's `encode_spans` builds (the same values; fields may come in another order), which
`tests/test_sdk_span_encoding.py` checks over spans with every kind of value, events, links, errors,
remote parents and several resources and scopes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    InstrumentationScope,
    KeyValue,
    KeyValueList,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource as PbResource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, SpanFlags, Status
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind

logger = logging.getLogger("watchkeeper.collector.export")

_KIND = {
    SpanKind.INTERNAL: PbSpan.SpanKind.SPAN_KIND_INTERNAL,
    SpanKind.SERVER: PbSpan.SpanKind.SPAN_KIND_SERVER,
    SpanKind.CLIENT: PbSpan.SpanKind.SPAN_KIND_CLIENT,
    SpanKind.PRODUCER: PbSpan.SpanKind.SPAN_KIND_PRODUCER,
    SpanKind.CONSUMER: PbSpan.SpanKind.SPAN_KIND_CONSUMER,
}
_HAS_IS_REMOTE = SpanFlags.SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK
_IS_REMOTE = SpanFlags.SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK
T = TypeVar("T")


def _tag(message: Any, field: str) -> bytes:
    """The key byte of a length-delimited field (wire type 2); every field framed here has a number < 16."""
    number = message.DESCRIPTOR.fields_by_name[field].number
    assert number < 16
    return bytes(((number << 3) | 2,))


_REQUEST_RESOURCE_SPANS = _tag(ExportTraceServiceRequest, "resource_spans")
_RESOURCE_SCOPE_SPANS = _tag(ResourceSpans, "scope_spans")
_SCOPE_SPANS = _tag(ScopeSpans, "spans")
_SPAN_ATTRIBUTE = _tag(PbSpan, "attributes")

#: Attribute entries kept as wire bytes: at most this many, each value at most _CACHED_TEXT characters.
_CACHE_ENTRIES = 4096
_CACHED_TEXT = 256


def _varint(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(tag: bytes, payload: bytes) -> bytes:
    return tag + _varint(len(payload)) + payload


def any_value(value: Any) -> AnyValue:
    """An attribute value as OTLP AnyValue, with the SDK encoder's type rules (bool before int, str and bytes
    before sequences); anything else raises."""
    if value is None:
        return AnyValue()
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, str):
        return AnyValue(string_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if isinstance(value, Sequence):
        return AnyValue(array_value=ArrayValue(values=[any_value(v) for v in value]))
    if isinstance(value, Mapping):
        return AnyValue(kvlist_value=KeyValueList(values=[key_value(str(k), v) for k, v in value.items()]))
    raise TypeError(f"invalid type {type(value).__name__} of value {value!r}")


def key_value(key: str, value: Any) -> KeyValue:
    return KeyValue(key=key, value=any_value(value))


def key_values(attributes: Mapping[str, Any] | None) -> list[KeyValue]:
    """Attributes as KeyValues; one that cannot be encoded is logged and left out (as the SDK does)."""
    out = []
    for key, value in (attributes or {}).items():
        try:
            out.append(key_value(key, value))
        except Exception as exc:
            logger.exception("Failed to encode key %s: %s", key, exc)
    return out


def _cache_key(key: str, value: Any) -> tuple[str, type, Any] | None:
    """A key under which the value's encoding may be reused, or None (equal values that encode differently,
    such as 1, 1.0 and True, or 0.0 and -0.0, never share one)."""
    kind = type(value)
    if kind is str:
        return (key, kind, value) if len(value) <= _CACHED_TEXT else None
    if kind is int or kind is bool:
        return (key, kind, value)
    if kind is float:
        return (key, kind, value) if value and value == value else None
    if kind is tuple and all(type(v) is str and len(v) <= _CACHED_TEXT for v in value):
        return (key, kind, value)
    return None


class SpanEncoder:
    """Encodes batches of finished spans; keeps the wire bytes of recurring attributes between batches.

    One encoder belongs to one exporter, whose batches arrive one at a time (the batch processor's export
    lock); the cache is a plain dict, bounded by clearing it when full.
    """

    def __init__(self) -> None:
        self._attributes: dict[tuple[str, type, Any], bytes] = {}

    def _attribute_bytes(self, attributes: Mapping[str, Any]) -> bytes:
        cache = self._attributes
        parts = []
        for key, value in attributes.items():
            cache_key = _cache_key(key, value)
            if cache_key is not None:
                encoded = cache.get(cache_key)
                if encoded is not None:
                    parts.append(encoded)
                    continue
            try:
                encoded = _field(_SPAN_ATTRIBUTE, key_value(key, value).SerializeToString())
            except Exception as exc:
                logger.exception("Failed to encode key %s: %s", key, exc)
                continue
            if cache_key is not None:
                if len(cache) >= _CACHE_ENTRIES:
                    cache.clear()
                cache[cache_key] = encoded
            parts.append(encoded)
        return b"".join(parts)

    def span(self, span: ReadableSpan) -> bytes:
        """One span's protobuf bytes."""
        context = span.context
        parent = span.parent
        status = span.status
        trace_state = context.trace_state if context is not None else None
        flags = _HAS_IS_REMOTE | _IS_REMOTE if parent is not None and parent.is_remote else _HAS_IS_REMOTE
        head = PbSpan(
            trace_id=context.trace_id.to_bytes(16, "big") if context is not None else None,
            span_id=context.span_id.to_bytes(8, "big") if context is not None else None,
            trace_state=",".join(f"{k}={v}" for k, v in trace_state.items()) if trace_state else None,
            parent_span_id=parent.span_id.to_bytes(8, "big") if parent is not None else None,
            name=span.name,
            kind=_KIND[span.kind],
            start_time_unix_nano=span.start_time,
            end_time_unix_nano=span.end_time,
            events=[
                PbSpan.Event(
                    name=event.name,
                    time_unix_nano=event.timestamp,
                    attributes=key_values(event.attributes),
                    dropped_attributes_count=event.dropped_attributes,
                )
                for event in span.events
            ]
            or None,
            links=[
                PbSpan.Link(
                    trace_id=link.context.trace_id.to_bytes(16, "big"),
                    span_id=link.context.span_id.to_bytes(8, "big"),
                    attributes=key_values(link.attributes),
                    dropped_attributes_count=link.dropped_attributes,
                    flags=_HAS_IS_REMOTE | _IS_REMOTE if link.context.is_remote else _HAS_IS_REMOTE,
                )
                for link in span.links
            ]
            or None,
            status=(
                Status(code=status.status_code.value, message=status.description)
                if status is not None
                else None
            ),
            dropped_attributes_count=span.dropped_attributes,
            dropped_events_count=span.dropped_events,
            dropped_links_count=span.dropped_links,
            flags=flags,
        ).SerializeToString()
        attributes = span.attributes
        return head + self._attribute_bytes(attributes) if attributes else head

    def encode(self, spans: Sequence[ReadableSpan]) -> bytes:
        """The ExportTraceServiceRequest bytes of a batch: spans grouped by resource, then by scope."""
        resources: _Groups[_Groups[list[bytes]]] = _Groups(lambda: _Groups(list))
        for span in spans:
            scopes = resources.get(span.resource)
            scopes.get(span.instrumentation_scope or None).append(self.span(span))
        out = []
        for resource, scopes in resources.items():
            parts = [
                ResourceSpans(
                    resource=PbResource(attributes=key_values(resource.attributes)),
                    schema_url=resource.schema_url,
                ).SerializeToString()
            ]
            for scope, encoded in scopes.items():
                head = ScopeSpans(
                    scope=(
                        InstrumentationScope(
                            name=scope.name, version=scope.version, attributes=key_values(scope.attributes)
                        )
                        if scope is not None
                        else InstrumentationScope()
                    ),
                    schema_url=scope.schema_url if scope is not None else None,
                ).SerializeToString()
                body = head + b"".join([_field(_SCOPE_SPANS, s) for s in encoded])
                parts.append(_field(_RESOURCE_SCOPE_SPANS, body))
            out.append(_field(_REQUEST_RESOURCE_SPANS, b"".join(parts)))
        return b"".join(out)


class _Groups(Generic[T]):
    """Values per distinct (equal) key, in first-seen order, looked up by identity first: the spans of one
    provider share one resource and one scope object, so the costly Resource hash and equality run once per
    object and batch, not once per span."""

    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._distinct: list[tuple[Any, T]] = []
        self._by_id: dict[int, T] = {}

    def get(self, key: Any) -> T:
        value = self._by_id.get(id(key))
        if value is None:
            value = next((v for k, v in self._distinct if k == key), None)
            if value is None:
                value = self._factory()
                self._distinct.append((key, value))
            self._by_id[id(key)] = value
        return value

    def items(self) -> list[tuple[Any, T]]:
        return self._distinct
