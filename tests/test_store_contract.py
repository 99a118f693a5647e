"""The shared store's contract, on SQLite and on PostgreSQL: what several alerts workers rely on.

Each test runs twice (the `database` fixture): against a SQLite file and against a real PostgreSQL server.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading

import pytest

from tests.support.alerts import alerts_config, finding
from watchkeeper.alerts.clock import FakeClock
from watchkeeper.alerts.service import AlertsService
from watchkeeper.core.store import Conflict, Migration, SchemaTooNew, SqliteDatabase, migrate

T0 = 1_700_000_000.0
CFG = {"route": {"receiver": "default", "group_wait": "0s", "group_by": ["app"]}}


def worker(database, clock: FakeClock, name: str, **cfg) -> AlertsService:
    return AlertsService(
        database,
        alerts_config({**CFG, **cfg}),
        clock=clock,
        channel_kinds={"default": ["webhook"]},
        worker=name,
    )


def test_migrations_are_versioned_and_a_newer_schema_is_refused(database) -> None:
    steps = [Migration(1, "t", "CREATE TABLE t (id TEXT PRIMARY KEY)")]
    assert migrate(database, {"demo": steps})["demo"] == 1
    assert migrate(database, {"demo": steps})["demo"] == 1  # applied once
    with database.transaction() as tx:
        tx.execute("UPDATE schema_versions SET version=7 WHERE component='demo'")
    with pytest.raises(SchemaTooNew, match=r"demo v7.*only up to v1"):
        migrate(database, {"demo": steps})


def test_workers_starting_at_once_on_a_fresh_database_migrate_it_once(postgres_url: str) -> None:
    """Several processes starting together on an empty PostgreSQL database: every one migrates without an
    error (the versions table itself is created under the migrations lock) and each step is applied once."""
    from watchkeeper.core.store import open_database

    steps = [
        Migration(1, "t", "CREATE TABLE t (id TEXT PRIMARY KEY)"),
        Migration(2, "u", "CREATE TABLE u (x TEXT)"),
    ]
    dbs = [open_database(postgres_url) for _ in range(4)]
    barrier = threading.Barrier(len(dbs))
    results: list[object] = []

    def start(db) -> None:
        barrier.wait()
        try:
            results.append(migrate(db, {"demo": steps})["demo"])
        except Exception as exc:  # collected: an error in any worker fails the test below
            results.append(exc)

    threads = [threading.Thread(target=start, args=(db,)) for db in dbs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for db in dbs:
        db.close()
    assert results == [2, 2, 2, 2], results


def test_one_finding_ingested_by_two_workers_at_once_counts_once(database) -> None:
    clock = FakeClock(T0)
    a, b = worker(database, clock, "a"), worker(database, clock, "b")
    batch = [finding(app=f"app{i % 5}", t=T0 - i, n=i) for i in range(200)]
    results = []
    threads = [threading.Thread(target=lambda w=w: results.append(w.ingest(batch))) for w in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.accepted for r in results) == [0, 200]
    items, total = a.list_incidents(limit=100)
    assert total == 5 and sum(i["finding_count"] for i in items) == 200


def test_each_notification_is_claimed_by_one_worker_in_order(database) -> None:
    clock = FakeClock(T0)
    a, b = worker(database, clock, "a"), worker(database, clock, "b")
    a.ingest([finding(app=f"app{i}", t=T0, n=i) for i in range(10)])
    a.run_due()  # 10 triggers
    claimed_a = a.claim_due(limit=6)
    claimed_b = b.claim_due(limit=100)
    assert len(claimed_a) == 6 and len(claimed_b) == 4
    assert not {r.id for r in claimed_a} & {r.id for r in claimed_b}
    assert a.claim_due() == [] and b.claim_due() == []  # everything is claimed
    # An acknowledgement queues a second row on a line whose trigger is still in flight: it must wait.
    incident = claimed_a[0].incident_id
    b.acknowledge(incident, by="carol")
    assert all(r.incident_id != incident for r in b.claim_due())
    a.mark_sent(claimed_a[0], 200)
    (ack,) = [r for r in b.claim_due() if r.incident_id == incident]
    assert ack.event == "acknowledge" and ack.seq == claimed_a[0].seq + 1


def test_a_dead_workers_claims_are_taken_over_after_the_lease(database) -> None:
    clock = FakeClock(T0)
    a = worker(database, clock, "a", outbox={"send_timeout_s": 5})
    b = worker(database, clock, "b", outbox={"send_timeout_s": 5})
    a.ingest([finding(app="app1", t=T0)])
    a.run_due()
    (row,) = a.claim_due()
    assert b.claim_due() == []
    clock.advance(a.lease_s - 1)
    assert b.claim_due() == []
    assert b.next_notification_due() == pytest.approx(T0 + a.lease_s)
    clock.advance(2)
    (taken,) = b.claim_due()  # a died mid-delivery: b delivers (same id: the receiver can deduplicate)
    assert taken.id == row.id
    b.mark_sent(taken, 200)
    a.mark_retry(row, delay_s=10, error="late", status=503)  # a's late outcome does not undo b's
    (notification,) = b.get_incident(row.incident_id)["notifications"]
    assert notification["status"] == "sent"


def test_no_flush_after_a_resolve_by_another_worker(database) -> None:
    clock = FakeClock(T0)
    a = worker(database, clock, "a", route={"receiver": "default", "group_wait": "30s"})
    b = worker(database, clock, "b", route={"receiver": "default", "group_wait": "30s"})
    a.ingest([finding(app="app1", t=T0)])
    (incident,) = a.open_incident_ids()
    b.resolve(incident, by="dave")
    clock.advance(31)
    a.run_due()
    assert a.get_incident(incident)["notifications"] == []  # never announced: nothing to send at all


def test_without_group_wait_ingest_queues_each_new_incidents_trigger_once(database) -> None:
    """group_wait 0 flushes a new group at once (as Alertmanager does): the trigger is queued in the
    ingest transaction itself, claimable by any worker without a scheduler tick, and never queued twice."""
    clock = FakeClock(T0)
    a, b = worker(database, clock, "a"), worker(database, clock, "b")
    result = a.ingest([finding(app=f"app{i}", t=T0, n=i) for i in range(3)])
    assert (result.incidents_created, result.flushed) == (3, 3)
    assert result.next_flush_at is not None and result.next_flush_at > T0  # the next group_interval tick
    claimed = b.claim_due()
    assert sorted(r.event for r in claimed) == ["trigger"] * 3
    a.run_due()
    b.run_due()
    again = a.ingest([finding(app="app0", t=T0 + 1, n=9)])
    assert (again.incidents_created, again.flushed, again.next_flush_at) == (0, 0, None)
    for incident in a.open_incident_ids():
        assert [n["event"] for n in a.get_incident(incident)["notifications"]] == ["trigger"]


def test_with_group_wait_ingest_leaves_the_flush_to_the_scheduler(database) -> None:
    clock = FakeClock(T0)
    a = worker(database, clock, "a", route={"receiver": "default", "group_wait": "30s"})
    result = a.ingest([finding(app="app1", t=T0)])
    assert (result.incidents_created, result.flushed) == (1, 0)
    assert result.next_flush_at == pytest.approx(T0 + 30)
    assert a.claim_due() == []
    clock.advance(30)
    a.run_due()
    assert [r.event for r in a.claim_due()] == ["trigger"]


def test_sqlite_writers_of_one_process_queue_and_a_stuck_one_is_a_conflict(tmp_path) -> None:
    """Threads of one process wait for the write lock in turn (not in SQLite's sleeping busy loop); one
    held for longer than the busy timeout gives a Conflict naming the database."""
    path = tmp_path / "store.sqlite3"
    holder, waiter = SqliteDatabase(path), SqliteDatabase(path, busy_timeout_s=0.2)
    with holder.transaction() as tx:
        tx.execute("CREATE TABLE t (x INTEGER)")
    inside, release = threading.Event(), threading.Event()

    def hold() -> None:
        with holder.transaction() as tx:
            tx.execute("INSERT INTO t VALUES (1)")
            inside.set()
            release.wait()

    thread = threading.Thread(target=hold)
    thread.start()
    inside.wait()
    try:
        with pytest.raises(Conflict, match=r"store\.sqlite3"), waiter.transaction():
            pass
    finally:
        release.set()
        thread.join()
    queued = [
        threading.Thread(
            target=lambda i=i: holder.run(lambda tx: tx.execute("INSERT INTO t VALUES (?)", (i,)))
        )
        for i in range(2, 10)
    ]
    for t in queued:
        t.start()
    for t in queued:
        t.join()
    with holder.read() as tx:
        assert tx.scalar("SELECT COUNT(*) FROM t") == 9
    holder.close()
    waiter.close()


def test_a_restart_takes_over_the_claims_of_a_killed_process_of_this_host_at_once(database) -> None:
    """SQLite (one host by construction): claims of a process that is gone are given back at start, not at
    the end of their lease; a live process keeps its claims. PostgreSQL may be shared by hosts whose
    names and process ids collide: there only the lease decides."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = socket.gethostname()
    clock = FakeClock(T0)
    killed = worker(database, clock, f"{host}:{dead.pid}:abcdef")
    alive = worker(database, clock, f"{host}:{os.getppid()}:abcdef")
    killed.ingest([finding(app="app1", t=T0)])
    alive.ingest([finding(app="app2", t=T0)])
    (held_by_killed,) = killed.claim_due(limit=1)
    (held_by_alive,) = alive.claim_due()
    restarted = worker(database, clock, f"{host}:{os.getpid()}:restarted")
    released = restarted.release_gone_claims()
    if database.dialect == "sqlite":
        assert released == 1
        assert [r.id for r in restarted.claim_due()] == [held_by_killed.id]
    else:
        assert released == 0
        assert restarted.claim_due() == []
    assert held_by_alive.id not in {r.id for r in restarted.claim_due()}
