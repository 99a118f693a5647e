"""How bus records become ModelCalls for the detectors stage, as an interface.

The collector's translation (`watchkeeper.collector.translate.SpanDecoder`) implements it and the composition
root hands it to the detectors stage, so the detectors depend on this contract, not on the collector.
"""

from __future__ import annotations

from typing import Protocol

from watchkeeper.core.bus.base import Record
from watchkeeper.core.records import ModelCall


class CallDecoder(Protocol):
    """Spans (and the log events that carry their content) in, ModelCalls out.

    A call may be held back while its content can still arrive as log events: `pending()` lists the held calls
    so the stage persists them with its state before committing, and `restore()` takes them back after a
    restart, so a crash loses none.
    """

    def decode(self, record: Record) -> list[ModelCall]:
        """The calls this record completes; raises when the record cannot be decoded (it is dead-lettered)."""
        ...

    def flush(self, now: float) -> list[ModelCall]:
        """Held calls whose wait for content is over."""
        ...

    def pending(self) -> list[ModelCall]: ...

    def restore(self, calls: list[ModelCall]) -> list[ModelCall]:
        """Hold persisted calls again; returns those that cannot be held (over a bound): ready now."""
        ...
