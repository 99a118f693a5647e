"""The bus: pick the implementation the configuration asks for (embedded SQLite log or Kafka)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from watchkeeper.core.bus.base import (
    Bus,
    BusError,
    Consumer,
    Producer,
    Record,
)

if TYPE_CHECKING:  # kept out of the import path: the bus itself needs no configuration machinery
    from watchkeeper.core.bus.config import BusConfig

__all__ = [
    "Bus",
    "BusError",
    "Consumer",
    "Producer",
    "Record",
    "make_bus",
]


def make_bus(cfg: BusConfig, state_dir: Path) -> Bus:
    """The configured bus; the embedded one lives in `state_dir/bus.sqlite3`. Raises BusError if unusable."""
    if cfg.kind == "kafka":
        # Imported lazily: the embedded default never loads the Kafka client.
        from watchkeeper.core.bus.kafka import KafkaBus

        return KafkaBus(cfg)
    from watchkeeper.core.bus.embedded import BUS_FILENAME, EmbeddedBus

    return EmbeddedBus(
        Path(state_dir) / BUS_FILENAME,
        sync=cfg.sync,
        retention_hours=cfg.retention_hours,
        poll_interval_s=cfg.poll_interval_s,
    )
