"""`IncidentStore`: the concerns of this package composed into the one object the stage and the API use."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from watchkeeper.alerts.clock import Clock, SystemClock
from watchkeeper.alerts.config import AlertsConfig
from watchkeeper.alerts.inhibition import Inhibitor
from watchkeeper.alerts.routing import Router
from watchkeeper.alerts.store.activity import ActivityMixin
from watchkeeper.alerts.store.database import StoreBase
from watchkeeper.alerts.store.feedback import FeedbackMixin
from watchkeeper.alerts.store.ingest import IngestMixin
from watchkeeper.alerts.store.lifecycle import LifecycleMixin
from watchkeeper.alerts.store.outbox import OutboxMixin
from watchkeeper.alerts.store.queries import QueriesMixin
from watchkeeper.alerts.store.retention import RetentionMixin
from watchkeeper.alerts.store.scheduling import SchedulingMixin
from watchkeeper.alerts.store.schema import ADDED_COLUMNS, DB_NAME, SCHEMA
from watchkeeper.alerts.store.silences import SilencesMixin


class IncidentStore(
    IngestMixin,
    SchedulingMixin,
    LifecycleMixin,
    OutboxMixin,
    SilencesMixin,
    QueriesMixin,
    RetentionMixin,
    FeedbackMixin,
    ActivityMixin,
    StoreBase,
):
    """All alerts state. `channel_kinds` maps receiver -> channel kinds, for the rows a flush must write."""

    def __init__(
        self,
        state_dir: Path | str,
        cfg: AlertsConfig | None = None,
        *,
        clock: Clock | None = None,
        channel_kinds: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.cfg = cfg if cfg is not None else AlertsConfig()
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.path = Path(state_dir) / DB_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.router = Router(self.cfg.route)
        self.inhibitor = Inhibitor(self.cfg.inhibit_rules)
        self.channel_kinds = {k: list(v) for k, v in (channel_kinds or {}).items()}
        self._local = threading.local()
        self._conns = []
        self._conns_lock = threading.Lock()
        self._lock = threading.RLock()  # one writer at a time; also guards the open-incident cache
        with self._conn() as db:
            db.executescript(SCHEMA)
            for table, column, declaration in ADDED_COLUMNS:  # stores written by an older version
                if column not in {r[1] for r in db.execute(f"PRAGMA table_info({table})")}:
                    db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
        self._open = {}  # group_key -> open incident
        self._open_by_id = {}
        self._silences_cache = None
        self._load_open()
        self.refresh_gauges()
