"""Watchkeeper collector: the SDK that traces model calls, and the record types the pipeline reads.

    import collector
    collector.instrument()            # every openai chat call is now traced
    with collector.conversation("c-42"):
        client.chat.completions.create(...)

The SDK names are imported lazily so that the daemon, which only needs `collector.records`, does not pay for
(or require) the OpenTelemetry SDK and openai imports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collector.decorator import CallSpan, conversation, current_call, trace_call
    from collector.instrument import export_stats, instrument, is_instrumented, uninstrument
    from collector.redact import Redactor

_LAZY = {
    "instrument": "collector.instrument",
    "uninstrument": "collector.instrument",
    "is_instrumented": "collector.instrument",
    "export_stats": "collector.instrument",
    "trace_call": "collector.decorator",
    "conversation": "collector.decorator",
    "current_call": "collector.decorator",
    "CallSpan": "collector.decorator",
    "Redactor": "collector.redact",
}

__all__ = [
    "CallSpan",
    "Redactor",
    "conversation",
    "current_call",
    "export_stats",
    "instrument",
    "is_instrumented",
    "trace_call",
    "uninstrument",
]


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'collector' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value
