"""The embedded bus: a durable append-only log in one SQLite file (WAL), no external service.

Why SQLite: one file under state_dir, transactions make a published batch durable as a unit, and WAL lets
readers follow the writer without blocking it. Every Producer and Consumer owns its connection, so threads
never share one; several processes may open the same file. A publish wakes a blocked poll at once, in this
process or another one, through a doorbell (`_Doorbell`: a Unix datagram socket per consumer beside the
file); where no such socket can be made, a condition variable wakes consumers of this process and others
re-read the log every `poll_interval_s`, which stays the fallback of every poll.

Offsets are contiguous per topic (partition 0). A consumer group's committed offset lives in the same file.
Records are pruned once every group that reads their topic has committed them and they are older than the
retention; a topic no group has ever read is pruned by age alone (nobody is waiting for it).
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import socket
import sqlite3
import threading
import time
import uuid
import weakref
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal, TypeVar

from watchkeeper.core.bus.base import Bus, BusError, Consumer, PartitionListener, Producer, Record

log = logging.getLogger(__name__)

BUS_FILENAME = "bus.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS bus_topics (
    topic TEXT PRIMARY KEY,
    next_pos INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS bus_records (
    id INTEGER PRIMARY KEY,
    topic TEXT NOT NULL,
    pos INTEGER NOT NULL,
    key BLOB,
    value BLOB NOT NULL,
    ts_ms INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS bus_records_topic_pos ON bus_records (topic, pos);
CREATE TABLE IF NOT EXISTS bus_offsets (
    grp TEXT NOT NULL,
    topic TEXT NOT NULL,
    committed INTEGER NOT NULL,
    PRIMARY KEY (grp, topic)
);
"""

_Child = TypeVar("_Child", "EmbeddedProducer", "EmbeddedConsumer")

_PRUNE_CHUNK = 5000  # records deleted per transaction, so pruning never holds the write lock for long


def bus_error(exc: BaseException, path: Path, action: str) -> BusError:
    """Turn a SQLite/OS error into a BusError that names the file and the fix."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc)
    if name == "SQLITE_FULL" or "disk is full" in text or getattr(exc, "errno", None) == 28:
        msg = f"disk full {action} the bus log at {path}: free space or point state_dir elsewhere"
    elif name.startswith("SQLITE_READONLY") or "readonly" in text or "read-only" in text:
        msg = (
            f"the bus log at {path} is read-only ({text}) while {action} it: give the daemon's user write "
            "access to the file and its directory, or point state_dir elsewhere"
        )
    elif name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in text:
        msg = (
            f"the bus log at {path} stayed locked by another connection while {action} it: check for a stuck "
            "process using the same state_dir, or give each daemon its own state_dir"
        )
    elif name.startswith("SQLITE_CANTOPEN") or "unable to open" in text:
        msg = (
            f"cannot open the bus log at {path} ({text}): check that state_dir exists and is writable by "
            "the daemon's user"
        )
    elif name in ("SQLITE_CORRUPT", "SQLITE_NOTADB") or "malformed" in text or "not a database" in text:
        msg = (
            f"the bus log at {path} is damaged or not a Watchkeeper bus ({text}): move it aside and restart "
            "(unprocessed records in it are lost)"
        )
    elif name.startswith("SQLITE_IOERR"):
        msg = f"I/O error {action} the bus log at {path} ({text}): check the disk and the filesystem"
    else:
        msg = f"error {action} the bus log at {path}: {text}"
    return BusError(msg)


class _Notifier:
    """Wakes pollers of one bus file in this process when a publish commits."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.generation = 0

    def notify(self) -> None:
        with self._cond:
            self.generation += 1
            self._cond.notify_all()

    def wait_past(self, generation: int, timeout_s: float) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self.generation != generation, timeout=timeout_s)


_NOTIFIERS: dict[Path, _Notifier] = {}
_NOTIFIERS_LOCK = threading.Lock()


def _notifier_for(path: Path) -> _Notifier:
    with _NOTIFIERS_LOCK:
        return _NOTIFIERS.setdefault(path, _Notifier())


class _Bell:
    """One consumer's doorbell: a bound, non-blocking Unix datagram socket; each datagram means "new
    records may be there". Datagrams wait in the socket until read, so a ring is never lost."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            self.sock.bind(str(path))
        except OSError:
            self.sock.close()
            raise
        self.sock.setblocking(False)

    def drain(self) -> None:
        """Forget the rings so far (the caller reads the log right after)."""
        with contextlib.suppress(OSError):
            while self.sock.recv(64):
                pass

    def wait(self, timeout_s: float) -> bool:
        """Block until a ring or `timeout_s`; True if rung."""
        try:
            readable, _, _ = select.select([self.sock], [], [], max(0.0, timeout_s))
        except (OSError, ValueError):
            time.sleep(max(0.0, timeout_s))
            return False
        return bool(readable)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
        with contextlib.suppress(OSError):
            self.path.unlink()


class _Doorbell:
    """Wake-ups across processes: every consumer binds a socket in `<bus file>.wake/`, and a publish sends
    one datagram to each socket there after its commit, so a poll blocked in another process returns at
    once instead of at its next re-read. A socket left by a killed process answers "connection refused"
    and is removed by the next publish."""

    def __init__(self, bus_path: Path) -> None:
        self.dir = bus_path.with_name(bus_path.name + ".wake")
        self._sender: socket.socket | None = None
        self._lock = threading.Lock()

    def listen(self) -> _Bell | None:
        """A bell for a new consumer, or None where sockets cannot be made (path too long, no AF_UNIX):
        that consumer then re-reads the log every poll_interval_s."""
        if not hasattr(socket, "AF_UNIX"):
            return None
        try:
            self.dir.mkdir(exist_ok=True)
            return _Bell(self.dir / f"{os.getpid()}-{uuid.uuid4().hex[:8]}")
        except OSError as exc:
            log.debug("no doorbell for a consumer of %s (%s): polling instead", self.dir, exc)
            return None

    def ring(self) -> None:
        """One datagram to every consumer's socket; never raises (a missed ring costs one poll interval)."""
        try:
            names = os.listdir(self.dir)
        except OSError:
            return  # no consumer ever listened
        if not names:
            return
        sender = self._sender_socket()
        if sender is None:
            return
        for name in names:
            path = os.path.join(self.dir, name)
            try:
                sender.sendto(b"\x01", path)
            except ConnectionRefusedError:  # nobody bound: its process died without closing it
                with contextlib.suppress(OSError):
                    os.unlink(path)
            except OSError:  # its queue is full (already rung), gone meanwhile, or not ours to ring
                pass

    def _sender_socket(self) -> socket.socket | None:
        with self._lock:
            if self._sender is None:
                try:
                    self._sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                    self._sender.setblocking(False)
                except OSError:
                    return None
            return self._sender

    def close(self) -> None:
        with self._lock:
            if self._sender is not None:
                with contextlib.suppress(OSError):
                    self._sender.close()
                self._sender = None


def _now_ms() -> int:
    return int(time.time() * 1000)


class _Connection:
    """One SQLite connection, its lock and the bus-file context for error messages."""

    def __init__(self, path: Path, sync: Literal["normal", "full"], busy_timeout_s: float) -> None:
        self.path = path
        self.lock = threading.Lock()
        try:
            self.db = sqlite3.connect(
                path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
            )
            self.db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            self.db.execute(f"PRAGMA synchronous = {sync.upper()}")
        except sqlite3.Error as exc:
            raise bus_error(exc, path, "opening") from exc

    @contextlib.contextmanager
    def transaction(self, action: str) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT under this connection's lock; errors become BusError."""
        with self.lock:
            try:
                self.db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise bus_error(exc, self.path, action) from exc
            try:
                yield self.db
                self.db.execute("COMMIT")
            except BaseException as exc:
                with contextlib.suppress(sqlite3.Error):
                    self.db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise bus_error(exc, self.path, action) from exc
                raise

    def close(self) -> None:
        with self.lock, contextlib.suppress(sqlite3.Error):
            self.db.close()


class EmbeddedProducer(Producer):
    def __init__(self, bus: EmbeddedBus) -> None:
        self._bus = bus
        self._conn = bus._connect()

    def publish(self, topic: str, records: Sequence[tuple[bytes | None, bytes]]) -> None:
        """Append all records in one transaction; durable (per the sync setting) when this returns."""
        if not records:
            return
        ts = _now_ms()
        with self._conn.transaction("writing") as db:
            row = db.execute("SELECT next_pos FROM bus_topics WHERE topic = ?", (topic,)).fetchone()
            start = int(row[0]) if row else 0
            db.executemany(
                "INSERT INTO bus_records (topic, pos, key, value, ts_ms) VALUES (?, ?, ?, ?, ?)",
                [(topic, start + i, key, value, ts) for i, (key, value) in enumerate(records)],
            )
            db.execute(
                "INSERT INTO bus_topics (topic, next_pos) VALUES (?, ?) "
                "ON CONFLICT (topic) DO UPDATE SET next_pos = excluded.next_pos",
                (topic, start + len(records)),
            )
        self._bus._notifier.notify()
        self._bus._doorbell.ring()
        self._bus.maybe_prune()

    def close(self) -> None:
        self._conn.close()


class EmbeddedConsumer(Consumer):
    """One member of a consumer group; the embedded bus expects one active member per group."""

    def __init__(
        self, bus: EmbeddedBus, group: str, topics: Sequence[str], listener: PartitionListener | None = None
    ) -> None:
        if not topics:
            raise ValueError("a consumer needs at least one topic")
        self._bus = bus
        self._listener = listener
        self._assigned = False
        self.group = group
        self.topics = list(dict.fromkeys(topics))
        self._conn = bus._connect()
        self._positions: dict[str, int] = {}
        self._next_topic = 0
        self._bell = bus._doorbell.listen()
        with self._conn.transaction("registering a consumer group in") as db:
            for topic in self.topics:
                # Registering the group at offset 0 keeps its unread records from being pruned.
                db.execute(
                    "INSERT OR IGNORE INTO bus_offsets (grp, topic, committed) VALUES (?, ?, 0)",
                    (group, topic),
                )
                row = db.execute(
                    "SELECT committed FROM bus_offsets WHERE grp = ? AND topic = ?", (group, topic)
                ).fetchone()
                self._positions[topic] = int(row[0])

    def _fetch(self, max_records: int) -> list[Record]:
        out: list[Record] = []
        count = len(self.topics)
        with self._conn.lock:
            try:
                for i in range(count):
                    if len(out) >= max_records:
                        break
                    topic = self.topics[(self._next_topic + i) % count]
                    rows = self._conn.db.execute(
                        "SELECT pos, key, value, ts_ms FROM bus_records WHERE topic = ? AND pos >= ? "
                        "ORDER BY pos LIMIT ?",
                        (topic, self._positions[topic], max_records - len(out)),
                    ).fetchall()
                    for pos, key, value, ts_ms in rows:
                        out.append(Record(topic, 0, int(pos), key, value, int(ts_ms)))
                    if rows:
                        self._positions[topic] = int(rows[-1][0]) + 1
            except sqlite3.Error as exc:
                raise bus_error(exc, self._conn.path, "reading") from exc
        self._next_topic = (self._next_topic + 1) % count  # fairness between topics
        return out

    def poll(self, max_records: int = 500, timeout_s: float = 1.0) -> list[Record]:
        if not self._assigned:  # one member owns every topic's only partition
            self._assigned = True
            if self._listener is not None:
                self._listener.on_assigned([(topic, 0) for topic in self.topics])
        deadline = time.monotonic() + max(timeout_s, 0.0)
        notifier = self._bus._notifier
        bell = self._bell
        while True:
            generation = notifier.generation
            if bell is not None:
                bell.drain()  # rings so far are answered by the read below
            records = self._fetch(max_records)
            if records:
                return records
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            # Woken at once by a publish (the doorbell: any process; the notifier: this process), else
            # the log is read again after poll_interval_s.
            if bell is not None:
                bell.wait(min(remaining, self._bus.poll_interval_s))
            else:
                notifier.wait_past(generation, min(remaining, self._bus.poll_interval_s))

    def commit(self) -> None:
        with self._conn.transaction("committing offsets to") as db:
            db.executemany(
                "INSERT INTO bus_offsets (grp, topic, committed) VALUES (?, ?, ?) "
                "ON CONFLICT (grp, topic) DO UPDATE SET committed = excluded.committed",
                [(self.group, topic, pos) for topic, pos in self._positions.items()],
            )

    def lag(self) -> int:
        total = 0
        with self._conn.lock:
            try:
                for topic in self.topics:
                    row = self._conn.db.execute(
                        "SELECT t.next_pos, "
                        "(SELECT MIN(pos) FROM bus_records r WHERE r.topic = t.topic), "
                        "(SELECT committed FROM bus_offsets o WHERE o.grp = ? AND o.topic = t.topic) "
                        "FROM bus_topics t WHERE t.topic = ?",
                        (self.group, topic),
                    ).fetchone()
                    if row is None:
                        continue
                    next_pos, first, committed = row
                    start = max(committed or 0, first if first is not None else next_pos)
                    total += max(0, int(next_pos) - int(start))
            except sqlite3.Error as exc:
                raise bus_error(exc, self._conn.path, "reading") from exc
        return total

    def close(self) -> None:
        if self._bell is not None:
            self._bell.close()
            self._bell = None
        self._conn.close()


class EmbeddedBus(Bus):
    """The bus in `path` (created with its directory if missing)."""

    def __init__(
        self,
        path: Path,
        *,
        sync: Literal["normal", "full"] = "normal",
        retention_hours: float = 72.0,
        prune_interval_s: float = 60.0,
        poll_interval_s: float = 0.05,
        busy_timeout_s: float = 10.0,
    ) -> None:
        self.path = Path(path).resolve()
        self.sync: Literal["normal", "full"] = sync
        self.retention_ms = int(retention_hours * 3600 * 1000)
        self.prune_interval_s = prune_interval_s
        self.poll_interval_s = poll_interval_s
        self.busy_timeout_s = busy_timeout_s
        self._notifier = _notifier_for(self.path)
        self._doorbell = _Doorbell(self.path)
        self._prune_lock = threading.Lock()
        self._last_prune = time.monotonic()
        self._children: weakref.WeakSet[EmbeddedProducer | EmbeddedConsumer] = weakref.WeakSet()
        self._children_lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise bus_error(exc, self.path, "creating the directory of") from exc
        self._admin = self._connect()
        self._init_schema()
        self.prune()

    def _connect(self) -> _Connection:
        return _Connection(self.path, self.sync, self.busy_timeout_s)

    def _init_schema(self) -> None:
        with self._admin.lock:
            try:
                mode = self._admin.db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            except sqlite3.Error as exc:
                raise bus_error(exc, self.path, "opening") from exc
        if str(mode).lower() != "wal":
            raise BusError(
                f"the bus log at {self.path} cannot use write-ahead logging (journal mode {mode}): put "
                "state_dir on a local filesystem that supports shared memory (not a network share)"
            )
        with self._admin.transaction("creating") as db:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)

    def producer(self) -> EmbeddedProducer:
        return self._track(EmbeddedProducer(self))

    def consumer(
        self, group: str, topics: Sequence[str], *, listener: PartitionListener | None = None
    ) -> EmbeddedConsumer:
        return self._track(EmbeddedConsumer(self, group, topics, listener))

    def backlog(self, group: str, topics: Sequence[str]) -> int | None:
        with self._admin.lock:
            try:
                rows = [
                    self._admin.db.execute(
                        "SELECT o.committed, "
                        "(SELECT next_pos FROM bus_topics t WHERE t.topic = o.topic), "
                        "(SELECT MIN(pos) FROM bus_records r WHERE r.topic = o.topic) "
                        "FROM bus_offsets o WHERE o.grp = ? AND o.topic = ?",
                        (group, topic),
                    ).fetchone()
                    for topic in dict.fromkeys(topics)
                ]
            except sqlite3.Error as exc:
                raise bus_error(exc, self.path, "reading") from exc
        known = [row for row in rows if row is not None]
        if not known:
            return None  # the group never registered: not started yet
        total = 0
        for committed, next_pos, first in known:
            if next_pos is None:
                continue  # nothing was ever published to the topic
            start = max(int(committed), int(first) if first is not None else int(next_pos))
            total += max(0, int(next_pos) - start)
        return total

    def _track(self, child: _Child) -> _Child:
        with self._children_lock:
            self._children.add(child)
        return child

    def maybe_prune(self) -> None:
        """Prune if the last pruning is older than prune_interval_s (cheap enough to call per publish)."""
        if time.monotonic() - self._last_prune < self.prune_interval_s:
            return
        if not self._prune_lock.acquire(blocking=False):
            return  # another thread is pruning
        try:
            self._last_prune = time.monotonic()
            self._prune_locked()
        except BusError as exc:
            log.warning("pruning the bus failed (will retry): %s", exc)
        finally:
            self._prune_lock.release()

    def prune(self) -> int:
        """Delete records every group has committed and older than the retention; returns how many."""
        with self._prune_lock:
            self._last_prune = time.monotonic()
            return self._prune_locked()

    def _prune_locked(self) -> int:
        cutoff = _now_ms() - self.retention_ms
        with self._admin.lock:
            try:
                bounds = self._admin.db.execute(
                    "SELECT t.topic,"
                    " COALESCE((SELECT MIN(o.committed) FROM bus_offsets o WHERE o.topic = t.topic),"
                    " t.next_pos),"
                    " (SELECT MIN(pos) FROM bus_records r WHERE r.topic = t.topic)"
                    " FROM bus_topics t"
                ).fetchall()
            except sqlite3.Error as exc:
                raise bus_error(exc, self.path, "reading") from exc
        deleted = 0
        for topic, bound, first in bounds:
            if first is None:
                continue
            low = int(first)
            while low < bound:
                high = min(int(bound), low + _PRUNE_CHUNK)
                with self._admin.transaction("pruning") as db:
                    cur = db.execute(
                        "DELETE FROM bus_records WHERE topic = ? AND pos >= ? AND pos < ? AND ts_ms <= ?",
                        (topic, low, high, cutoff),
                    )
                    removed = cur.rowcount
                deleted += removed
                if removed < high - low:
                    break  # reached records younger than the retention
                low = high
        return deleted

    def close(self) -> None:
        with self._children_lock:
            children, self._children = list(self._children), weakref.WeakSet()
        for child in children:
            child.close()
        self._doorbell.close()
        self._admin.close()
