"""Join message content sent as OTLP log records back onto the span of its model call.

Some instrumentations (the official OpenAI v2 one in its default mode) put prompts and answers in log records
linked to the span by trace_id/span_id, exported by a different batch processor: the logs may arrive before
or after the span. A call without content waits a short, bounded time for its logs, so detectors see the
prompt; every bound (time, count) exists so a sender that never sends logs cannot grow memory or stall calls.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from watchkeeper.collector.translate.otlp_model import (
    CONTENT_EVENTS,
    OUTPUT_EVENTS,
    ContentEvent,
    any_value,
    apply_content_events,
    attributes_dict,
    has_content,
)
from watchkeeper.core.records import ModelCall

_Key = tuple[str, str]  # (trace_id hex, span_id hex)


@dataclass(slots=True)
class _Held:
    base: ModelCall  # the call as its span described it
    deadline: float
    events: list[ContentEvent] = field(default_factory=list)

    def call(self) -> ModelCall:
        return apply_content_events(self.base, self.events) if self.events else self.base


@dataclass(slots=True)
class _Logs:
    first_seen: float
    events: list[ContentEvent] = field(default_factory=list)
    complete: bool = False  # an output-bearing event arrived


def content_events(req: ExportLogsServiceRequest) -> list[tuple[_Key, ContentEvent]]:
    """The GenAI content events of a logs export, keyed by the span they belong to."""
    out: list[tuple[_Key, ContentEvent]] = []
    for resource_logs in req.resource_logs:
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                if not record.span_id or not record.trace_id:
                    continue
                attrs = attributes_dict(record.attributes)
                name = record.event_name or attrs.pop("event.name", "")
                if name not in CONTENT_EVENTS:
                    continue
                body = any_value(record.body) if record.HasField("body") else None
                out.append(((record.trace_id.hex(), record.span_id.hex()), (name, attrs, body)))
    return out


class LogJoiner:
    """Holds content-less calls up to `hold_s` for their log records; holds early logs up to `log_ttl_s`."""

    def __init__(
        self,
        hold_s: float = 2.0,
        *,
        max_held: int = 10_000,
        log_ttl_s: float = 30.0,
        max_pending_logs: int = 50_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.hold_s = hold_s
        self.max_held = max_held
        self.log_ttl_s = log_ttl_s
        self.max_pending_logs = max_pending_logs
        self._clock = clock
        self._held: OrderedDict[_Key, _Held] = OrderedDict()  # insertion order = deadline order
        self._logs: OrderedDict[_Key, _Logs] = OrderedDict()  # logs that came before their span

    def __len__(self) -> int:
        return len(self._held)

    def add_calls(self, calls: list[ModelCall], now: float | None = None) -> list[ModelCall]:
        """Calls ready for detectors now; content-less ones whose logs may still come are held."""
        now = self._clock() if now is None else now
        ready: list[ModelCall] = []
        for call in calls:
            key = (call.trace_id, call.span_id)
            logs = self._logs.pop(key, None)
            if logs is not None and logs.complete:
                ready.append(apply_content_events(call, logs.events))
            elif logs is not None or self._waits_for_logs(call):
                self._hold(key, _Held(call, now + self.hold_s, logs.events if logs else []), ready)
            else:
                ready.append(call)
        return ready

    def add_logs(self, req: ExportLogsServiceRequest, now: float | None = None) -> list[ModelCall]:
        """Calls completed by these log records; logs for spans not seen yet are kept for `log_ttl_s`."""
        now = self._clock() if now is None else now
        complete: dict[_Key, None] = {}  # released after the whole export: all choices of a call at once
        for key, event in content_events(req):
            held = self._held.get(key)
            if held is not None:
                held.events.append(event)
                if event[0] in OUTPUT_EVENTS:
                    complete[key] = None
                continue
            logs = self._logs.get(key)
            if logs is None:
                logs = self._logs[key] = _Logs(first_seen=now)
                while len(self._logs) > self.max_pending_logs:
                    self._logs.popitem(last=False)
            logs.events.append(event)
            logs.complete = logs.complete or event[0] in OUTPUT_EVENTS
        return [self._held.pop(key).call() for key in complete]

    def flush(self, now: float | None = None) -> list[ModelCall]:
        """Release calls whose wait is over (with whatever content arrived) and forget stale early logs."""
        now = self._clock() if now is None else now
        ready: list[ModelCall] = []
        while self._held:
            key, held = next(iter(self._held.items()))
            if held.deadline > now:
                break
            del self._held[key]
            ready.append(held.call())
        while self._logs:
            key, logs = next(iter(self._logs.items()))
            if logs.first_seen + self.log_ttl_s > now:
                break
            del self._logs[key]
        return ready

    def pending(self) -> list[ModelCall]:
        """Calls still held (to persist them with the consumer position, so a restart loses none)."""
        return [held.call() for held in self._held.values()]

    def restore(self, calls: list[ModelCall], now: float | None = None) -> list[ModelCall]:
        """Hold persisted calls again with a fresh wait; returns any beyond `max_held` (ready now)."""
        now = self._clock() if now is None else now
        ready: list[ModelCall] = []
        for call in calls:
            self._hold((call.trace_id, call.span_id), _Held(call, now + self.hold_s), ready)
        return ready

    def discard(self, services: set[str]) -> int:
        """Forget the held calls of these apps (their partition moved to another worker, which restores
        them from the checkpoint); returns how many."""
        keys = [k for k, held in self._held.items() if held.base.service in services]
        for key in keys:
            del self._held[key]
        return len(keys)

    def drain(self) -> list[ModelCall]:
        """Release everything held (shutdown)."""
        ready = [held.call() for held in self._held.values()]
        self._held.clear()
        return ready

    # -- internals -----------------------------------------------------------------------------------
    @staticmethod
    def _waits_for_logs(call: ModelCall) -> bool:
        """Calls with content, or only a prompt hash (capture off at the source), have no logs coming."""
        return not has_content(call) and call.system_instructions_sha256 is None

    def _hold(self, key: _Key, held: _Held, ready: list[ModelCall]) -> None:
        self._held[key] = held
        self._held.move_to_end(key)
        while len(self._held) > self.max_held:  # bounded: the oldest goes on without its logs
            ready.append(self._held.popitem(last=False)[1].call())
