"""Per-signal rules: what makes a span or log record unusable, and how a request is keyed on the bus.

Records are keyed by the resource's `service.name` so everything about one app lands on one partition
(ordering per app); a request that mixes apps is split into one record per app.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from watchkeeper.collector.translate.otlp_json import logs_from_json, traces_from_json

UNKNOWN_SERVICE = "unknown_service"
_MAX_REASONS = 3
_ZERO16 = bytes(16)
_ZERO8 = bytes(8)


@dataclass(frozen=True)
class Checked:
    """A request after validation: its accepted records grouped per service, and what was dropped."""

    groups: dict[str, list[Any]]  # service name -> ResourceSpans / ResourceLogs to keep
    accepted: int
    rejected: int
    error_message: str
    untouched: bool  # nothing dropped: the original bytes can be published as they are


@dataclass(frozen=True)
class Signal:
    name: str  # "traces" | "logs"
    request_type: type[Message]
    response_type: type[Message]
    from_json: Callable[[bytes], Message]
    check: Callable[[Any], Checked]

    def response(self, checked: Checked) -> Message:
        resp = self.response_type()
        if checked.rejected:
            ps = resp.partial_success
            if self.name == "traces":
                ps.rejected_spans = checked.rejected
            else:
                ps.rejected_log_records = checked.rejected
            ps.error_message = checked.error_message
        return resp

    def encode_groups(self, checked: Checked, raw: bytes | None) -> list[tuple[bytes, bytes]]:
        """(key, serialized request) per service; reuses the client's bytes when they need no change."""
        if raw is not None and checked.untouched and len(checked.groups) == 1:
            (service,) = checked.groups
            return [(service.encode("utf-8"), raw)]
        out: list[tuple[bytes, bytes]] = []
        for service, resources in checked.groups.items():
            req = self.request_type()
            getattr(req, _RESOURCE_FIELD[self.name]).extend(resources)
            out.append((service.encode("utf-8"), req.SerializeToString()))
        return out


_RESOURCE_FIELD = {"traces": "resource_spans", "logs": "resource_logs"}


def service_name(resource: Resource) -> str:
    for kv in resource.attributes:
        if kv.key == "service.name":
            name = kv.value.string_value
            return name if name else UNKNOWN_SERVICE
    return UNKNOWN_SERVICE


def _span_problem(span: Any) -> str | None:
    tid, sid, pid = span.trace_id, span.span_id, span.parent_span_id
    if len(tid) != 16:
        return f"trace_id must be 16 bytes, got {len(tid)}"
    if tid == _ZERO16:
        return "trace_id must not be all zeros"
    if len(sid) != 8:
        return f"span_id must be 8 bytes, got {len(sid)}"
    if sid == _ZERO8:
        return "span_id must not be all zeros"
    if pid and len(pid) != 8:
        return f"parent_span_id must be empty or 8 bytes, got {len(pid)}"
    return None


def _log_problem(record: Any) -> str | None:
    tid, sid = record.trace_id, record.span_id
    if tid and len(tid) != 16:
        return f"trace_id must be empty or 16 bytes, got {len(tid)}"
    if sid and len(sid) != 8:
        return f"span_id must be empty or 8 bytes, got {len(sid)}"
    return None


def _check(
    resources: Any, scopes_field: str, items_field: str, problem: Callable[[Any], str | None], noun: str
) -> Checked:
    groups: dict[str, list[Any]] = {}
    accepted = rejected = 0
    reasons: list[str] = []
    changed = False
    for r, res in enumerate(resources):
        service = service_name(res.resource)
        scopes = getattr(res, scopes_field)
        for s in range(len(scopes) - 1, -1, -1):
            items = getattr(scopes[s], items_field)
            for i in range(len(items) - 1, -1, -1):
                why = problem(items[i])
                if why is not None:
                    rejected += 1
                    if len(reasons) < _MAX_REASONS:
                        reasons.append(f"{noun} {i} of scope {s} of resource {r} ({service!r}): {why}")
                    del items[i]
                    changed = True
            kept = len(items)
            if kept == 0 and changed:
                del scopes[s]
            accepted += kept
        if len(scopes) == 0 and changed:
            continue
        groups.setdefault(service, []).append(res)
    message = ""
    if rejected:
        more = f" (and {rejected - len(reasons)} more)" if rejected > len(reasons) else ""
        message = f"dropped {rejected} invalid {noun}(s): " + "; ".join(reasons) + more
    return Checked(groups, accepted, rejected, message, untouched=not changed)


def check_traces(req: ExportTraceServiceRequest) -> Checked:
    return _check(req.resource_spans, "scope_spans", "spans", _span_problem, "span")


def check_logs(req: ExportLogsServiceRequest) -> Checked:
    return _check(req.resource_logs, "scope_logs", "log_records", _log_problem, "log record")


TRACES = Signal(
    "traces", ExportTraceServiceRequest, ExportTraceServiceResponse, traces_from_json, check_traces
)
LOGS = Signal("logs", ExportLogsServiceRequest, ExportLogsServiceResponse, logs_from_json, check_logs)
