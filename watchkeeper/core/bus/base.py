"""The bus: publish keyed records, consume a batch, commit after processing.

Two implementations share this interface: `embedded` (a durable SQLite log in one process) and `kafka`
(kafka-python consumer groups). Delivery is at-least-once: a consumer commits only after its output is
durable, and everything downstream is idempotent.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from pydantic import BaseModel, ConfigDict


class TopicsConfig(BaseModel):
    """Topic names (configurable: several deployments can share one Kafka cluster)."""

    model_config = ConfigDict(extra="forbid")

    spans: str = "watchkeeper.spans"  # OTLP ExportTraceServiceRequest bytes, keyed by app
    logs: str = "watchkeeper.logs"  # OTLP ExportLogsServiceRequest bytes (content sent as log events)
    findings: str = "watchkeeper.findings"  # JSON Finding, keyed by app
    deadletter: str = "watchkeeper.deadletter"  # records no stage could decode


#: The detectors stage's consumer group: its backlog is what the intake's backpressure measures.
DETECTORS_GROUP = "watchkeeper-detectors"


class BusError(RuntimeError):
    """The bus cannot take or give records (broker down, disk full): the message says which and what to do."""


@dataclass(frozen=True, slots=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp_ms: int


class PartitionListener(Protocol):
    """Told when this consumer gains or loses partitions, inside `poll()` and before any record of a gained
    partition is returned (Kafka's ConsumerRebalanceListener); the embedded bus assigns everything at once."""

    def on_assigned(self, partitions: Sequence[tuple[str, int]]) -> None: ...

    def on_revoked(self, partitions: Sequence[tuple[str, int]]) -> None: ...


class Producer(ABC):
    @abstractmethod
    def publish(self, topic: str, records: Sequence[tuple[bytes | None, bytes]]) -> None:
        """Append records; when this returns they are durable. Raises BusError otherwise."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Flush and release resources."""


class Consumer(ABC):
    @abstractmethod
    def poll(self, max_records: int = 500, timeout_s: float = 1.0) -> list[Record]:
        """Next batch after the last polled position (empty after timeout_s)."""

    @abstractmethod
    def commit(self) -> None:
        """Mark everything returned by poll() so far as processed, for this consumer group."""

    @abstractmethod
    def lag(self) -> int:
        """Records not yet committed by this group (best effort)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Leave the group; uncommitted records are redelivered to the next consumer."""


class Bus(ABC):
    @abstractmethod
    def producer(self) -> Producer: ...

    @abstractmethod
    def consumer(
        self, group: str, topics: Sequence[str], *, listener: PartitionListener | None = None
    ) -> Consumer: ...

    def backlog(self, group: str, topics: Sequence[str]) -> int | None:
        """Records of `topics` that `group` has not committed yet, read without joining the group (another
        stage's backlog: the intake's backpressure); None when the group is unknown (not started yet)."""
        return None

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release shared resources."""
