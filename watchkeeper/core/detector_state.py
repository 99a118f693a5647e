"""Detector state as detectors see it: per-app containers (an LRU of hot apps over their checkpoints).

Detectors that learn (baselines, windows, clusters, approved prompts) must not forget on restart, nor when
Kafka moves an app to another worker, or a restart would silently re-learn an unauthorized change as the new
normal. Each detector keeps what it learns about an app in one object from an `AppStates` container; the
detectors stage checkpoints every changed app, the log joiner's held calls and the input position (next
offset per partition) in one transaction. Hence:

- memory is bounded: only `capacity` apps per detector stay in memory (LRU); a cold app is reloaded from its
  checkpoint on its next call, as if it had never left;
- state follows the partition: a worker that gains a partition loads each app's checkpoint before the app's
  next call; a worker that loses one checkpoints first, then forgets those apps;
- a replay has no second effect: records below the checkpointed position are skipped, so a crash after a
  checkpoint but before the bus commit does not count a batch twice.

Only clean apps are evicted (a changed app is ahead of the last checkpoint); a container over capacity asks
the stage for a checkpoint at the next batch boundary.
"""

from __future__ import annotations

import json
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, Protocol, TypeVar

S = TypeVar("S")
GLOBAL_APP = ""  # detector-wide entries (rare: state that belongs to no app)


def encode(data: Any) -> bytes:
    """Checkpoint bytes: compact JSON, zlib-compressed (states are mostly numbers and repeated keys)."""
    return zlib.compress(json.dumps(data, separators=(",", ":")).encode(), 3)


def decode(raw: bytes | memoryview) -> Any:
    return json.loads(zlib.decompress(bytes(raw)))


class CheckpointSource(Protocol):
    def load_app(self, detector: str, app: str) -> dict[str, Any] | None: ...


class AppStates(Generic[S]):
    """The per-app states of one detector: an LRU of hot apps over their checkpoints.

    `new(app)` makes a fresh state, `load(app, data)` rebuilds one from `dump(state)`; `dump` must capture
    everything that changes the detector's findings (JSON-able, compact: sparse vectors as index/value lists).
    """

    def __init__(
        self,
        detector: str,
        *,
        new: Callable[[str], S],
        load: Callable[[str, dict[str, Any]], S],
        dump: Callable[[S], dict[str, Any]],
        capacity: int = 1000,
        source: CheckpointSource | None = None,
    ) -> None:
        self.detector = detector
        self._new, self._load, self._dump = new, load, dump
        self.capacity = max(1, capacity)
        self.source = source
        self._hot: OrderedDict[str, S] = OrderedDict()
        self._dirty: set[str] = set()
        self._absent: set[str] = set()  # apps a prefetch found no checkpoint for (until the batch ends)
        self.loads = 0
        self.evictions = 0

    # -- what detectors call -----------------------------------------------------------------------------
    def get(self, app: str, *, change: bool = True) -> S:
        """The app's state (hot, reloaded from its checkpoint, or new). It counts as changed (to be
        checkpointed) unless `change=False`: then call `changed(app)` if it is modified after all."""
        st = self._hot.get(app)
        if st is None:
            st = self._restore(app)
            self._hot[app] = st
        else:
            self._hot.move_to_end(app)
        if change:
            self._dirty.add(app)
        return st

    def changed(self, app: str) -> None:
        if app in self._hot:
            self._dirty.add(app)

    def peek(self, app: str) -> S | None:
        """The app's state if it is in memory here (no load, not marked changed)."""
        return self._hot.get(app)

    def __len__(self) -> int:
        return len(self._hot)

    def __contains__(self, app: object) -> bool:
        return app in self._hot

    # -- what the stage calls ----------------------------------------------------------------------------
    def _restore(self, app: str) -> S:
        data = None
        if self.source is not None and app not in self._absent:
            data = self.source.load_app(self.detector, app)
            self.loads += 1
        return self._new(app) if data is None else self._load(app, data)

    def missing(self, apps: Iterable[str]) -> list[str]:
        """Apps of a coming batch that are neither in memory nor known to have no checkpoint."""
        return [a for a in apps if a not in self._hot and a not in self._absent]

    def preload(self, app: str, data: dict[str, Any] | None) -> None:
        """A checkpoint fetched in bulk for a coming batch (None: the app has none)."""
        if app in self._hot:
            return
        if data is None:
            self._absent.add(app)
            return
        self._hot[app] = self._load(app, data)
        self.loads += 1

    def end_batch(self) -> None:
        self._absent.clear()

    def dirty(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(app, dumped state) of every app changed since the last checkpoint."""
        for app in sorted(self._dirty):
            st = self._hot.get(app)
            if st is not None:
                yield app, self._dump(st)

    @property
    def dirty_count(self) -> int:
        return len(self._dirty)

    def mark_clean(self) -> None:
        """The changed states are durable now: they may be evicted."""
        self._dirty.clear()
        self.trim()

    @property
    def over_capacity(self) -> bool:
        return len(self._hot) > self.capacity

    def evict(self, apps: Iterable[str]) -> int:
        """Forget apps (their partition moved away; the stage checkpointed them first)."""
        n = 0
        for app in apps:
            if self._hot.pop(app, None) is not None:
                n += 1
            self._dirty.discard(app)
        return n

    def apps(self) -> list[str]:
        return list(self._hot)

    def trim(self) -> None:
        """Evict least recently used clean apps down to capacity (never without a store: that would
        forget)."""
        if self.source is None or len(self._hot) <= self.capacity:
            return
        for app in list(self._hot):
            if len(self._hot) <= self.capacity:
                break
            if app not in self._dirty:
                del self._hot[app]
                self.evictions += 1


class _MemorySource:
    """Checkpoints kept in memory: a detector used without a stage still survives its own re-creation."""

    def __init__(self) -> None:
        self.saved: dict[tuple[str, str], dict[str, Any]] = {}

    def load_app(self, detector: str, app: str) -> dict[str, Any] | None:
        data = self.saved.get((detector, app))
        return None if data is None else json.loads(json.dumps(data))  # a copy, as a database would give


class DetectorState:
    """One detector's handle on durable state: `apps(...)` gives its per-app container; `get/put/items` keep
    the rare detector-wide entries (checkpointed with the apps). Without a stage (tests, `watchkeeper score`,
    evaluations) checkpoints stay in memory and are taken with `checkpoint()`."""

    def __init__(
        self, detector: str, *, source: CheckpointSource | None = None, capacity: int = 1000
    ) -> None:
        self.detector = detector
        self._memory = _MemorySource() if source is None else None
        self.source: CheckpointSource = source if source is not None else self._memory  # type: ignore[assignment]
        self.capacity = capacity
        self.containers: list[AppStates[Any]] = []
        self._global: AppStates[dict[str, Any]] = self.apps(
            new=lambda _app: {}, load=lambda _app, data: dict(data), dump=lambda d: d, name="~"
        )

    def apps(
        self,
        *,
        new: Callable[[str], S],
        load: Callable[[str, dict[str, Any]], S],
        dump: Callable[[S], dict[str, Any]],
        name: str | None = None,
        capacity: int | None = None,
    ) -> AppStates[S]:
        """A per-app container for this detector (`name` tells several containers of one detector apart)."""
        key = self.detector if name is None else f"{self.detector}/{name}"
        container: AppStates[S] = AppStates(
            key, new=new, load=load, dump=dump, capacity=capacity or self.capacity, source=self.source
        )
        # A detector built again on the same state replaces its containers (the old instance is gone).
        self.containers = [c for c in self.containers if c.detector != key] + [container]
        return container

    def checkpoint(self) -> int:
        """Memory mode: keep every changed state as a checkpoint (what the stage does in the store)."""
        if self._memory is None:
            raise RuntimeError("store-backed state is checkpointed by the detectors stage")
        n = 0
        for container in self.containers:
            for app, data in container.dirty():
                self._memory.saved[(container.detector, app)] = json.loads(json.dumps(data))
                n += 1
            container.mark_clean()
        return n

    # detector-wide entries -------------------------------------------------------------------------------
    def get(self, key: str) -> Any | None:
        st = self._global.peek(GLOBAL_APP)
        if st is None:
            st = self._global.get(GLOBAL_APP)
        return st.get(key)

    def put(self, key: str, value: Any) -> None:
        self._global.get(GLOBAL_APP)[key] = value

    def items(self, prefix: str = "") -> list[tuple[str, Any]]:
        st = self._global.peek(GLOBAL_APP) or self._global.get(GLOBAL_APP)
        return sorted((k, v) for k, v in st.items() if k.startswith(prefix))
