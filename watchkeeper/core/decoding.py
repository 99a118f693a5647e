"""How bus records become ModelCalls for the detectors stage, as an interface.

The collector's translation (`watchkeeper.collector.translate.SpanDecoder`) implements it and the composition
root hands it to the detectors stage, so the detectors depend on this contract, not on the collector.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from watchkeeper.core.bus.base import Record
from watchkeeper.core.records import ModelCall


@dataclass
class Decoded:
    """What one bus record holds: the calls it completes, how many spans it carried (what `batch_size`
    counts), and the spans that could not be read, each re-encoded alone (a one-span export with its resource
    and scope) with the error: they are dead-lettered one by one, the others analyzed."""

    calls: list[ModelCall] = field(default_factory=list)
    spans: int = 0
    unreadable: list[tuple[bytes, str]] = field(default_factory=list)


class CallDecoder(Protocol):
    """Spans (and the log events that carry their content) in, ModelCalls out.

    A call may be held back while its content can still arrive as log events: `pending()` lists the held calls
    so the stage persists them with its state before committing, and `restore()` takes them back after a
    restart, so a crash loses none.
    """

    def decode(self, record: Record) -> Decoded:
        """The calls this record completes; raises when the record as a whole cannot be decoded (it is
        dead-lettered whole)."""
        ...

    def flush(self, now: float) -> list[ModelCall]:
        """Held calls whose wait for content is over."""
        ...

    def pending(self) -> list[ModelCall]: ...

    def restore(self, calls: list[ModelCall]) -> list[ModelCall]:
        """Hold persisted calls again; returns those that cannot be held (over a bound): ready now."""
        ...

    def discard(self, services: set[str]) -> int:
        """Forget the held calls of these apps (their partition went to another worker)."""
        ...
