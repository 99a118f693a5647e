"""Durable detector state: one SQLite key/value table, namespaced per detector.

Detectors that learn (baselines, approved prompts) must not forget on restart, or a restart would
silently re-learn an unauthorized change as the new normal.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any


class SqliteState:
    """A StateStore backed by one table; writes are buffered and flushed with `flush()` (per batch)."""

    def __init__(self, path: Path, namespace: str, *, _shared: _Db | None = None) -> None:
        self._db = _shared or _Db(path)
        self._ns = namespace + ":"

    def get(self, key: str) -> Any | None:
        return self._db.get(self._ns + key)

    def put(self, key: str, value: Any) -> None:
        self._db.put(self._ns + key, value)

    def items(self, prefix: str = "") -> list[tuple[str, Any]]:
        n = len(self._ns)
        return [(k[n:], v) for k, v in self._db.items(self._ns + prefix)]

    def flush(self) -> None:
        self._db.flush()


class _Db:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        self._cache: dict[str, Any] = {}
        self._dirty: set[str] = set()
        self._lock = threading.Lock()
        for key, value in self._conn.execute("SELECT key, value FROM state"):
            self._cache[key] = json.loads(value)

    def get(self, key: str) -> Any | None:
        return self._cache.get(key)

    def put(self, key: str, value: Any) -> None:
        with self._lock:
            self._cache[key] = value
            self._dirty.add(key)

    def items(self, prefix: str) -> list[tuple[str, Any]]:
        return sorted((k, v) for k, v in self._cache.items() if k.startswith(prefix))

    def flush(self) -> None:
        with self._lock:
            if not self._dirty:
                return
            keys = list(self._dirty)
            rows = [(k, json.dumps(self._cache[k], separators=(",", ":"))) for k in keys]
            self._dirty.difference_update(keys)
        try:
            with self._conn:
                self._conn.execute("BEGIN")
                self._conn.executemany("INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)", rows)
        except sqlite3.Error:
            with self._lock:  # written next time; a learned baseline must not be forgotten
                self._dirty.update(keys)
            raise


class StateDb:
    """One file for all detectors of a process; hands out namespaced stores."""

    def __init__(self, path: Path) -> None:
        self._db = _Db(path)
        self.path = path

    def namespace(self, name: str) -> SqliteState:
        return SqliteState(self.path, name, _shared=self._db)

    def flush(self) -> None:
        self._db.flush()
