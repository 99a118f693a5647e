"""The shared store's contract, on SQLite and on PostgreSQL: what several alerts workers rely on.

Each test runs twice (the `database` fixture): against a SQLite file and against a real PostgreSQL server.
"""

from __future__ import annotations

import threading

import pytest

from tests.support.alerts import alerts_config, finding
from watchkeeper.alerts.clock import FakeClock
from watchkeeper.alerts.service import AlertsService
from watchkeeper.core.store import Migration, SchemaTooNew, migrate

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
