"""Watchkeeper's collector: the SDK apps import (`sdk/`), the daemon's OTLP intake (`intake/`) and the
translation of received telemetry into ModelCalls (`translate/`).

    from watchkeeper import collector
    collector.instrument()            # every openai chat call is now traced
    with collector.conversation("c-42"):
        client.chat.completions.create(...)

The SDK names are imported lazily: the daemon imports this package for its intake and translation, and
does not pay for (or require) the OpenTelemetry SDK and openai imports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from watchkeeper.collector.sdk.decorator import CallSpan, conversation, current_call, trace_call
    from watchkeeper.collector.sdk.instrument import export_stats, instrument, is_instrumented, uninstrument
    from watchkeeper.collector.sdk.redact import Redactor
    from watchkeeper.core.kafka_security import KafkaSecurity

_LAZY = {
    "instrument": "watchkeeper.collector.sdk.instrument",
    "uninstrument": "watchkeeper.collector.sdk.instrument",
    "is_instrumented": "watchkeeper.collector.sdk.instrument",
    "export_stats": "watchkeeper.collector.sdk.instrument",
    "trace_call": "watchkeeper.collector.sdk.decorator",
    "conversation": "watchkeeper.collector.sdk.decorator",
    "current_call": "watchkeeper.collector.sdk.decorator",
    "CallSpan": "watchkeeper.collector.sdk.decorator",
    "Redactor": "watchkeeper.collector.sdk.redact",
    "KafkaSecurity": "watchkeeper.core.kafka_security",
}

__all__ = [
    "CallSpan",
    "KafkaSecurity",
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
        raise AttributeError(f"module 'watchkeeper.collector' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value
