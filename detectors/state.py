"""The detectors' tables in the shared store: per-app state checkpoints, input positions, held calls.

The detectors stage writes one checkpoint transaction (every changed app state of every detector, the calls
the decoder still holds, the next input offset of each owned partition) and reads an app's checkpoint back
before the app's next call on this worker (see `watchkeeper.core.detector_state`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from watchkeeper.core.detector_state import AppStates, DetectorState, decode, encode
from watchkeeper.core.store import Database, Migration, Tx, migrate
from watchkeeper.core.store.migrations import adapt_types, split_statements

COMPONENT = "detectors"
Partition = tuple[str, int]

_V1 = """
CREATE TABLE detector_state (
    detector TEXT NOT NULL, app TEXT NOT NULL, data BLOB NOT NULL, updated_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (detector, app)
);
CREATE TABLE stage_positions (
    consumer_group TEXT NOT NULL, topic TEXT NOT NULL, part INTEGER NOT NULL, next_offset BIGINT NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (consumer_group, topic, part)
);
CREATE TABLE stage_pending (
    consumer_group TEXT NOT NULL, topic TEXT NOT NULL, part INTEGER NOT NULL, data BLOB NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (consumer_group, topic, part)
);
"""


def _v1(tx: Tx, dialect: str) -> None:
    for statement in split_statements(adapt_types(_V1, dialect)):
        tx.execute(statement)


MIGRATIONS = [Migration(1, "detector state checkpoints, input positions, held calls", _v1)]


class Checkpoints:
    """The detectors' tables in the shared store, and the one transaction that writes a checkpoint."""

    def __init__(self, db: Database, group: str, *, capacity: int = 1000) -> None:
        self.db = db
        self.group = group
        self.capacity = capacity
        migrate(db, {COMPONENT: MIGRATIONS})
        self.states: list[DetectorState] = []

    def namespace(self, detector: str) -> DetectorState:
        state = DetectorState(detector, source=self, capacity=self.capacity)
        self.states.append(state)
        return state

    @property
    def containers(self) -> list[AppStates[Any]]:
        return [c for s in self.states for c in s.containers]

    # reads --------------------------------------------------------------------------------------------
    def load_app(self, detector: str, app: str) -> dict[str, Any] | None:
        with self.db.read() as tx:
            row = tx.one("SELECT data FROM detector_state WHERE detector=? AND app=?", (detector, app))
        return None if row is None else decode(row["data"])

    def prefetch(self, apps: Iterable[str]) -> int:
        """Load the checkpoints of a batch's cold apps in one query per container; returns apps loaded."""
        apps = sorted(set(apps))
        loaded = 0
        for container in self.containers:
            missing = container.missing(apps)
            if not missing:
                continue
            found: dict[str, dict[str, Any]] = {}
            with self.db.read() as tx:
                for start in range(0, len(missing), 500):
                    chunk = missing[start : start + 500]
                    marks = ",".join("?" * len(chunk))
                    for row in tx.execute(
                        f"SELECT app, data FROM detector_state WHERE detector=? AND app IN ({marks})",
                        (container.detector, *chunk),
                    ):
                        found[row["app"]] = decode(row["data"])
            for app in missing:
                container.preload(app, found.get(app))
            loaded += len(found)
        return loaded

    def end_batch(self) -> None:
        for container in self.containers:
            container.end_batch()

    def positions(self, partitions: Iterable[Partition]) -> dict[Partition, int]:
        wanted = set(partitions)
        with self.db.read() as tx:
            rows = tx.execute(
                "SELECT topic, part, next_offset FROM stage_positions WHERE consumer_group=?", (self.group,)
            )
        return {
            (r["topic"], r["part"]): int(r["next_offset"]) for r in rows if (r["topic"], r["part"]) in wanted
        }

    def pending(self, partitions: Iterable[Partition]) -> dict[Partition, list[dict[str, Any]]]:
        wanted = set(partitions)
        with self.db.read() as tx:
            rows = tx.execute(
                "SELECT topic, part, data FROM stage_pending WHERE consumer_group=?", (self.group,)
            )
        return {(r["topic"], r["part"]): decode(r["data"]) for r in rows if (r["topic"], r["part"]) in wanted}

    # the checkpoint -----------------------------------------------------------------------------------
    @property
    def needs_checkpoint(self) -> bool:
        return any(c.over_capacity for c in self.containers)

    def checkpoint(
        self, positions: dict[Partition, int], pending: dict[Partition, list[dict[str, Any]]] | None = None
    ) -> int:
        """Every changed app state, the held calls and the input positions, in one transaction."""
        now = time.time()
        rows = [(c.detector, app, encode(data), now) for c in self.containers for app, data in c.dirty()]

        def write(tx: Tx) -> None:
            if rows:
                tx.executemany(
                    "INSERT INTO detector_state (detector, app, data, updated_at) VALUES (?,?,?,?) "
                    "ON CONFLICT (detector, app) DO UPDATE SET data=excluded.data, "
                    "updated_at=excluded.updated_at",
                    rows,
                )
            if positions:
                tx.executemany(
                    "INSERT INTO stage_positions (consumer_group, topic, part, next_offset, updated_at) "
                    "VALUES (?,?,?,?,?) ON CONFLICT (consumer_group, topic, part) DO UPDATE SET "
                    "next_offset=excluded.next_offset, updated_at=excluded.updated_at",
                    [(self.group, t, p, off, now) for (t, p), off in positions.items()],
                )
            if pending is not None:
                tx.executemany(
                    "INSERT INTO stage_pending (consumer_group, topic, part, data, updated_at) "
                    "VALUES (?,?,?,?,?) "
                    "ON CONFLICT (consumer_group, topic, part) DO UPDATE SET data=excluded.data, "
                    "updated_at=excluded.updated_at",
                    [(self.group, t, p, encode(calls), now) for (t, p), calls in pending.items()],
                )

        self.db.run(write)
        for container in self.containers:
            container.mark_clean()
        return len(rows)

    def evict(self, apps: Sequence[str]) -> None:
        for container in self.containers:
            container.evict(apps)

    @property
    def dirty(self) -> bool:
        return any(c.dirty_count for c in self.containers)

    def discard_all(self) -> None:
        """Forget everything in memory, changes included (after a failed batch: reload from checkpoints)."""
        for container in self.containers:
            container.evict(container.apps())
