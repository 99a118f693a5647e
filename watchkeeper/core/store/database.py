"""The shared store's connection layer: one `Database` interface, SQLite and PostgreSQL behind it.

Every stage keeps its durable state (incidents, outbox, silences, approvals, detector checkpoints) in one
database named by `store.url`. SQL is written once, with `?` placeholders and portable syntax (`ON CONFLICT`,
`RETURNING`, partial indexes); the few dialect differences are methods here (`lock_keys`, `skip_locked`).
Rows are read by column name only (sqlite3.Row and psycopg's dict rows both allow it).

Why two: SQLite is the zero-configuration default of a single host; PostgreSQL lets several processes on
several hosts share the state (row locks, `FOR UPDATE SKIP LOCKED`, advisory locks).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import random
import re
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

log = logging.getLogger("watchkeeper.store")

T = TypeVar("T")
Dialect = Literal["sqlite", "postgresql"]
Row = Mapping[str, Any]


class DatabaseError(RuntimeError):
    """The store cannot serve a request (unreachable, refused, broken schema): the message says what to
    fix."""


class StoreUnavailable(DatabaseError):
    """The database cannot be reached or is out of resources (disk full, too many connections)."""


class Conflict(DatabaseError):
    """A write lost to a concurrent one (deadlock, serialization failure, busy): safe to retry the unit."""


class Tx(ABC):
    """One open transaction (or, from `Database.read()`, one connection in autocommit)."""

    dialect: Dialect

    def for_update(self, *, skip_locked: bool = False) -> str:
        """Suffix of a SELECT that locks its rows until the end of the transaction ('' on SQLite, where
        `BEGIN IMMEDIATE` already serializes writers); `skip_locked` passes over rows another worker holds."""
        return ""

    @abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Run one statement; rows of a SELECT or RETURNING clause, else []."""

    @abstractmethod
    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...

    @abstractmethod
    def rowcount(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; the number of rows it changed."""

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        rows = self.execute(sql, params)
        return rows[0] if rows else None

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = self.execute(sql, params)
        if not rows:
            return None
        return next(iter(rows[0].values())) if isinstance(rows[0], dict) else rows[0][0]

    def lock_keys(self, namespace: str, keys: Iterable[str]) -> None:  # noqa: B027 - SQLite: nothing to do
        """Serialize writers on these keys until the end of the transaction (sorted: no deadlock)."""


class Database(ABC):
    """A store URL opened: transactions, reads, and the dialect for the few statements that differ."""

    dialect: Dialect
    url: str  # for messages: never carries a password

    @abstractmethod
    def transaction(self) -> contextlib.AbstractContextManager[Tx]:
        """A write transaction: committed when the block ends, rolled back when it raises."""

    @abstractmethod
    def read(self) -> contextlib.AbstractContextManager[Tx]:
        """A connection for reads (each statement sees the latest committed state)."""

    def run(self, fn: Callable[[Tx], T], *, attempts: int = 5) -> T:
        """`fn` in a write transaction, retried from the start when it lost to a concurrent writer."""
        for attempt in range(1, attempts + 1):
            try:
                with self.transaction() as tx:
                    return fn(tx)
            except Conflict:
                if attempt == attempts:
                    raise
                time.sleep(random.uniform(0, 0.01 * 2**attempt))
        raise AssertionError("unreachable")

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


# ------------------------------------------------------------------------------------------------ SQLite
class _SqliteTx(Tx):
    dialect: Dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        try:
            return self.conn.execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            raise _sqlite_error(exc) from exc

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        try:
            self.conn.executemany(sql, rows)
        except sqlite3.OperationalError as exc:
            raise _sqlite_error(exc) from exc

    def rowcount(self, sql: str, params: Sequence[Any] = ()) -> int:
        try:
            return self.conn.execute(sql, params).rowcount
        except sqlite3.OperationalError as exc:
            raise _sqlite_error(exc) from exc


def _sqlite_error(exc: sqlite3.Error) -> DatabaseError:
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name.startswith("SQLITE_BUSY") or "locked" in str(exc):
        return Conflict(f"the SQLite database is busy: {exc}")
    if name.startswith("SQLITE_FULL") or "disk is full" in str(exc):
        return StoreUnavailable(f"the disk holding the SQLite database is full: {exc}; free space")
    return DatabaseError(f"SQLite: {exc}")


#: One lock per SQLite file for the write transactions of this process (see `SqliteDatabase.transaction`).
_WRITE_LOCKS: dict[Path, threading.Lock] = {}
_WRITE_LOCKS_GUARD = threading.Lock()


def _write_lock(path: Path) -> threading.Lock:
    with _WRITE_LOCKS_GUARD:
        return _WRITE_LOCKS.setdefault(path.resolve(), threading.Lock())


class SqliteDatabase(Database):
    """One SQLite file in WAL mode; a connection per thread; `BEGIN IMMEDIATE`: one writer at a time.

    Threads of this process queue for the write lock on a lock of their own before `BEGIN IMMEDIATE`:
    SQLite's busy handler sleeps in growing steps (up to 100 ms) and retries, so a thread writing back to
    back (the consumer folding a backlog) starved the others (group flushes, delivery outcomes) for
    seconds. A queued thread is woken the moment the writer commits. Other processes still meet at
    SQLite's own lock and its busy timeout.
    """

    dialect: Dialect = "sqlite"

    def __init__(self, path: Path | str, *, busy_timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self.url = f"sqlite:///{self.path}"
        self.busy_timeout_s = busy_timeout_s
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailable(f"cannot create {self.path.parent}: {exc.strerror}") from exc
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        self._writer = _write_lock(self.path)

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(
                    self.path, timeout=self.busy_timeout_s, isolation_level=None, check_same_thread=False
                )
                conn.row_factory = sqlite3.Row
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL survives a killed process
                conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_s * 1000)}")
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"cannot open the SQLite database {self.path}: {exc}") from exc
            self._local.conn = conn
            with self._conns_lock:
                self._conns.append(conn)
        return conn

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Tx]:
        conn = self._conn()
        if conn.in_transaction:  # nested use on one thread: join the open transaction
            yield _SqliteTx(conn)
            return
        if not self._writer.acquire(timeout=self.busy_timeout_s):
            raise Conflict(
                f"the SQLite database {self.path} stayed busy for {self.busy_timeout_s:g}s "
                "(another thread of this process held the write lock)"
            )
        try:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise _sqlite_error(exc) from exc
            try:
                yield _SqliteTx(conn)
            except BaseException:
                if conn.in_transaction:  # SQLite may already have rolled back (disk full, I/O error)
                    conn.execute("ROLLBACK")
                raise
            try:
                conn.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise _sqlite_error(exc) from exc
        finally:
            self._writer.release()

    @contextlib.contextmanager
    def read(self) -> Iterator[Tx]:
        yield _SqliteTx(self._conn())

    def close(self) -> None:
        with self._conns_lock:
            for conn in self._conns:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
            self._conns.clear()
        self._local = threading.local()


# -------------------------------------------------------------------------------------------- PostgreSQL
_QMARK = re.compile(r"\?")


@functools.lru_cache(maxsize=1024)
def to_format(sql: str) -> str:
    """`?` placeholders -> psycopg's `%s` (literal `%` doubled). Our SQL never has `?` inside literals."""
    return _QMARK.sub("%s", sql.replace("%", "%%"))


class _PostgresTx(Tx):
    dialect: Dialect = "postgresql"

    def for_update(self, *, skip_locked: bool = False) -> str:
        return " FOR UPDATE SKIP LOCKED" if skip_locked else " FOR UPDATE"

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with _pg_errors():
            cur = self.conn.execute(to_format(sql), params, prepare=False)
            return cur.fetchall() if cur.description is not None else []

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = list(rows)
        if not rows:
            return
        with _pg_errors(), self.conn.cursor() as cur:
            cur.executemany(to_format(sql), rows)

    def rowcount(self, sql: str, params: Sequence[Any] = ()) -> int:
        with _pg_errors():
            return int(self.conn.execute(to_format(sql), params).rowcount)

    def lock_keys(self, namespace: str, keys: Iterable[str]) -> None:
        # One round trip for the whole batch (a lock per statement cost one per group key), taken in the
        # order of the lock ids themselves, so two keys whose hashes collide cannot deadlock two writers.
        names = sorted({f"{namespace}:{key}" for key in keys})
        if names:
            self.execute(
                "SELECT pg_advisory_xact_lock(h) AS locked FROM (SELECT DISTINCT hashtextextended(k, 0) AS h "
                "FROM unnest(?::text[]) AS k ORDER BY h) AS ids",
                (names,),
            )


@contextlib.contextmanager
def _pg_errors() -> Iterator[None]:
    import psycopg
    from psycopg import errors as pgerr

    try:
        yield
    except (pgerr.DeadlockDetected, pgerr.SerializationFailure, pgerr.LockNotAvailable) as exc:
        raise Conflict(f"PostgreSQL: {exc}") from exc
    except (pgerr.DiskFull, pgerr.TooManyConnections, pgerr.AdminShutdown) as exc:
        raise StoreUnavailable(f"PostgreSQL: {exc}") from exc
    except psycopg.OperationalError as exc:
        raise StoreUnavailable(f"PostgreSQL connection lost: {exc}") from exc


class PostgresDatabase(Database):
    """psycopg 3 with a connection pool; READ COMMITTED plus explicit row and advisory locks."""

    dialect: Dialect = "postgresql"

    def __init__(
        self,
        conninfo: str,
        *,
        display_url: str,
        pool_size: int = 8,
        connect_timeout_s: float = 10.0,
        statement_timeout_s: float = 60.0,
    ) -> None:
        import psycopg
        from psycopg.rows import dict_row
        from psycopg_pool import ConnectionPool

        self.url = display_url

        def configure(conn: psycopg.Connection[Any]) -> None:
            conn.execute(f"SET statement_timeout = {int(statement_timeout_s * 1000)}")
            conn.commit()

        self.pool = ConnectionPool(
            conninfo,
            min_size=1,
            max_size=max(1, pool_size),
            kwargs={"row_factory": dict_row, "connect_timeout": max(1, int(connect_timeout_s))},
            configure=configure,
            check=ConnectionPool.check_connection,
            open=False,
            name="watchkeeper-store",
        )
        try:
            self.pool.open(wait=True, timeout=connect_timeout_s)
        except Exception as exc:
            self.pool.close()
            raise StoreUnavailable(
                f"cannot connect to the PostgreSQL store at {display_url} within {connect_timeout_s:g} s "
                f"({type(exc).__name__}: {exc}). Check that the server runs and accepts this host, the user, "
                "the password (store.password / store.password_file / PGPASSWORD) and TLS (store.sslmode)"
            ) from exc

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Tx]:
        with self._connection() as conn, conn.transaction():
            yield _PostgresTx(conn)

    @contextlib.contextmanager
    def read(self) -> Iterator[Tx]:
        with self._connection() as conn:
            conn.autocommit = True
            try:
                yield _PostgresTx(conn)
            finally:
                conn.autocommit = False

    @contextlib.contextmanager
    def _connection(self) -> Iterator[Any]:
        from psycopg_pool import PoolTimeout

        try:
            cm = self.pool.connection(timeout=30.0)
            conn = cm.__enter__()
        except PoolTimeout as exc:
            raise StoreUnavailable(
                f"no connection to the PostgreSQL store at {self.url} within 30 s (pool of "
                f"{self.pool.max_size}); the server may be down or out of connections"
            ) from exc
        try:
            yield conn
        except BaseException as exc:
            cm.__exit__(type(exc), exc, exc.__traceback__)
            raise
        cm.__exit__(None, None, None)

    def close(self) -> None:
        self.pool.close()
