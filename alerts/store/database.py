"""The shared base of the store mixins: per-thread SQLite connections, write transactions, shared state.

Every mixin in this package subclasses `StoreBase`, so the attributes `IncidentStore.__init__` sets and the
few methods one concern calls on another are declared here, in one place.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from watchkeeper.alerts.clock import Clock
from watchkeeper.alerts.config import AlertsConfig
from watchkeeper.alerts.incidents import OpenIncident, Target
from watchkeeper.alerts.inhibition import Inhibitor
from watchkeeper.alerts.model import Event, Status
from watchkeeper.alerts.routing import Router
from watchkeeper.alerts.silences import Silence
from watchkeeper.alerts.store.schema import OPEN_STATUSES


class Transaction:
    """`BEGIN IMMEDIATE` ... `COMMIT`, or `ROLLBACK` on error: one writer at a time, across processes too."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.db.execute("COMMIT")
        elif self.db.in_transaction:  # SQLite may already have rolled back (disk full, I/O error)
            self.db.execute("ROLLBACK")


class StoreBase:
    """Connections, transactions and the in-memory index of open incidents (rebuilt from the database)."""

    cfg: AlertsConfig
    clock: Clock
    path: Path
    router: Router
    inhibitor: Inhibitor
    channel_kinds: dict[str, list[str]]
    _local: threading.local
    _conns: list[sqlite3.Connection]
    _conns_lock: threading.Lock
    _lock: threading.RLock  # one writer at a time; also guards the open-incident cache
    _open: dict[str, OpenIncident]  # group_key -> open incident
    _open_by_id: dict[str, OpenIncident]
    _silences_cache: tuple[float, list[Silence]] | None

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL survives a killed process
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
            with self._conns_lock:
                self._conns.append(conn)
        return conn

    def close(self) -> None:
        with self._conns_lock:
            for conn in self._conns:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
            self._conns.clear()
        self._local = threading.local()

    def _tx(self) -> Transaction:
        return Transaction(self._conn())

    def _load_open(self) -> None:
        rows = (
            self._conn().execute("SELECT * FROM incidents WHERE status IN (?, ?)", OPEN_STATUSES).fetchall()
        )
        for row in rows:
            inc = OpenIncident(
                id=row["id"],
                group_key=row["group_key"],
                route=row["route"],
                status=Status(row["status"]),
                severity=row["severity"],
                title=row["title"],
                summary=row["summary"],
                labels=json.loads(row["labels"]),
                annotations=json.loads(row["annotations"]),
                first_seen=row["first_seen"],
                last_seen=row["last_seen"],
                last_received_at=row["last_received_at"],
                finding_count=row["finding_count"],
                severity_counts=json.loads(row["severity_counts"]),
                acknowledged_by=row["acknowledged_by"],
                acknowledged_at=row["acknowledged_at"],
                created_at=row["created_at"],
            )
            self._open[inc.group_key] = inc
            self._open_by_id[inc.id] = inc

    if TYPE_CHECKING:  # implemented by the mixins that own these concerns; declared for the type checker

        def refresh_gauges(self) -> None: ...  # queries

        def get_incident(self, incident: str) -> dict[str, Any] | None: ...  # queries

        def muting_silence(self, labels: Mapping[str, str]) -> Silence | None: ...  # silences

        def _resolve(self, inc: OpenIncident, *, by: str, comment: str, now: float) -> None: ...  # lifecycle

        def _enqueue(  # scheduling
            self,
            db: sqlite3.Connection,
            target: Target,
            inc: OpenIncident,
            event: Event,
            now: float,
            *,
            repeat: bool = False,
            status: Status | None = None,
            resolved_at: float | None = None,
            channels: Sequence[tuple[int, str]] | None = None,
        ) -> int: ...
