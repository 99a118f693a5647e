"""OTLP/JSON -> OTLP protobuf messages.

OTLP/JSON is protobuf's JSON mapping with one twist a plain `json_format.Parse` gets wrong: trace and span
ids are hex strings (the mapping expects base64 for bytes). Enums may be integers (the mapping accepts those).
Unknown fields are ignored, as the OTLP spec requires for forward compatibility.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

M = TypeVar("M", bound=Message)

_SPAN_IDS = ("traceId", "trace_id", "spanId", "span_id", "parentSpanId", "parent_span_id")
_LINK_IDS = ("traceId", "trace_id", "spanId", "span_id")
_LOG_IDS = ("traceId", "trace_id", "spanId", "span_id")


class OtlpJsonError(ValueError):
    """The body is not valid OTLP/JSON; str() says where and why, for the client's error response."""


def traces_from_json(body: bytes) -> ExportTraceServiceRequest:
    """Parse an OTLP/JSON ExportTraceServiceRequest (hex ids). Raises OtlpJsonError."""
    doc = _load(body)
    for r, rs in _items(doc, "resourceSpans", "resource_spans"):
        for s, ss in _items(rs, "scopeSpans", "scope_spans"):
            for i, span in _items(ss, "spans"):
                where = f"resourceSpans[{r}].scopeSpans[{s}].spans[{i}]"
                _hex_to_base64(span, _SPAN_IDS, where)
                for k, link in _items(span, "links"):
                    _hex_to_base64(link, _LINK_IDS, f"{where}.links[{k}]")
    return _parse(doc, ExportTraceServiceRequest())


def logs_from_json(body: bytes) -> ExportLogsServiceRequest:
    """Parse an OTLP/JSON ExportLogsServiceRequest (hex ids). Raises OtlpJsonError."""
    doc = _load(body)
    for r, rl in _items(doc, "resourceLogs", "resource_logs"):
        for s, sl in _items(rl, "scopeLogs", "scope_logs"):
            for i, record in _items(sl, "logRecords", "log_records"):
                _hex_to_base64(record, _LOG_IDS, f"resourceLogs[{r}].scopeLogs[{s}].logRecords[{i}]")
    return _parse(doc, ExportLogsServiceRequest())


def message_to_json(message: Message) -> bytes:
    """Serialize a response or google.rpc.Status as compact OTLP/JSON (lowerCamelCase field names)."""
    return json_format.MessageToJson(message, indent=None).encode()


def _load(body: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(body)
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, an integer beyond 4300 digits
        raise OtlpJsonError(f"body is not valid JSON: {str(exc)[:200]}") from None
    except RecursionError:
        raise OtlpJsonError("body is not valid OTLP/JSON: nested too deeply") from None
    if not isinstance(doc, dict):
        raise OtlpJsonError(f"body must be a JSON object, got {type(doc).__name__}")
    return doc


def _items(parent: Any, *names: str) -> list[tuple[int, dict[str, Any]]]:
    """The objects in parent[name] (either spelling); anything of the wrong shape is left for the parser."""
    if not isinstance(parent, dict):
        return []
    for name in names:
        value = parent.get(name)
        if isinstance(value, list):
            return [(i, v) for i, v in enumerate(value) if isinstance(v, dict)]
    return []


def _hex_to_base64(obj: dict[str, Any], keys: tuple[str, ...], where: str) -> None:
    for key in keys:
        value = obj.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise OtlpJsonError(f"{where}.{key} must be a hex string, got {type(value).__name__}")
        try:
            raw = bytes.fromhex(value)
        except ValueError:
            raise OtlpJsonError(f"{where}.{key} is not a hex string: {value[:40]!r}") from None
        if any(c in value for c in " \t\r\n"):
            raise OtlpJsonError(f"{where}.{key} must not contain whitespace: {value[:40]!r}")
        obj[key] = base64.b64encode(raw).decode("ascii")


def _parse(doc: dict[str, Any], message: M) -> M:
    try:
        json_format.ParseDict(doc, message, ignore_unknown_fields=True)
    except (json_format.ParseError, binascii.Error, ValueError, TypeError, AttributeError) as exc:
        raise OtlpJsonError(f"body is not valid OTLP/JSON: {exc}") from None
    except RecursionError:
        raise OtlpJsonError("body is not valid OTLP/JSON: nested too deeply") from None
    return message
