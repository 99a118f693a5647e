"""Several alerts workers on one store: findings/s and finding-to-notification latency with 1 and 2 alerts
workers, on PostgreSQL and on SQLite, over the Kafka-protocol broker.

Each worker is the real daemon (`watchkeeper run --stage alerts`, its own process); the findings topic has 4
partitions shared by the workers' consumer group; the store is one PostgreSQL database (a real server started
here, fsync on) or one SQLite file both workers open. Load: `--findings` findings in `--groups` groups
published in batches of 100, one loopback webhook. Measured: ingested (durable in the store) findings/s from
the first publish to the last row, CPU seconds of all workers until every group was notified, the first
notification of each group from the publish of its first finding (p50/p99 under load), then 100 lone findings
one at a time (p50/p99).

Run: python -m benchmarks.bench_alerts_workers [--findings 10000 --groups 250]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import time
import uuid
from collections.abc import Iterator

from benchmarks.alerting_harness import Receiver, WatchkeeperAlerts, cpu_s, pct, rss_mb, temp_dir, wait_for
from benchmarks.bench_alertmanager import wk_findings, wk_groups
from tests.support.broker import BOOTSTRAP_ENV, FAST_TIMEOUTS, kafka_bus_config, start_tansu
from tests.support.postgres import PostgresServer, create_database
from watchkeeper.core.bus import make_bus
from watchkeeper.core.bus.config import TopicsConfig
from watchkeeper.core.store import Database, open_database

BATCH = 100
LONE = 100
PARTITIONS = 4


@contextlib.contextmanager
def broker() -> Iterator[str]:
    external = os.environ.get(BOOTSTRAP_ENV, "").strip()
    if external:
        yield external
        return
    tansu = start_tansu()
    try:
        yield tansu.bootstrap
    finally:
        tansu.stop()


def stored(db: Database) -> int:
    with db.read() as tx:
        return int(tx.scalar("SELECT COUNT(*) FROM findings") or 0)


def run(bootstrap: str, store_url: str, workers: int, n: int, groups: int) -> dict[str, float]:
    suffix = uuid.uuid4().hex[:8]
    topics = TopicsConfig(**{t: f"bench.{t}.{suffix}" for t in ("spans", "logs", "findings", "deadletter")})
    bus_values = {
        "kind": "kafka",
        "bootstrap_servers": bootstrap,
        "partitions": PARTITIONS,
        **FAST_TIMEOUTS,
        "topics": topics.model_dump(),
    }
    receiver = Receiver(wk_groups)
    root = temp_dir("wk-workers-")
    procs = [
        WatchkeeperAlerts(
            root / f"w{i}",
            receiver.url,
            group_by=["app"],
            bus=bus_values,
            store_url=store_url,
            name=f"alerts{i}",
        )
        for i in range(workers)
    ]
    bus = make_bus(kafka_bus_config(bootstrap, partitions=PARTITIONS, topics=topics), root)
    producer = bus.producer()
    db: Database | None = None
    try:
        for p in procs:
            p.start()
        db = open_database(store_url)  # migrated by the workers at start
        # Warm-up: every worker has joined the group and owns partitions before the clock starts.
        for round_ in range(2):
            warm = wk_findings(0, 40, 40, prefix=f"warm{round_}-")
            producer.publish(topics.findings, warm)
            wait_for(lambda w=warm: all(k.decode() in receiver.first for k, _ in w), 120, "warm-up notified")
            time.sleep(3.0)
        base = stored(db)
        cpu0 = sum(cpu_s(p.pid) for p in procs)
        handed: dict[str, float] = {}
        t0 = time.monotonic()
        for start in range(0, n, BATCH):
            chunk = wk_findings(start, min(BATCH, n - start), groups)
            now = time.monotonic()
            for key, _ in chunk:
                handed.setdefault(key.decode(), now)
            producer.publish(topics.findings, chunk)
        accepted_s = time.monotonic() - t0
        wait_for(lambda: stored(db) - base >= n, 600, "every finding stored", 0.02)
        ingested_s = time.monotonic() - t0
        wait_for(lambda: all(g in receiver.first for g in handed), 300, "every group notified")
        cpu = sum(cpu_s(p.pid) for p in procs) - cpu0
        loaded = [(receiver.first[g] - handed[g]) * 1000 for g in handed]
        lone: list[float] = []
        missed = 0
        for i in range(LONE):
            (record,) = wk_findings(n + i, 1, 1, prefix=f"lone{i}-")
            t = time.monotonic()
            producer.publish(topics.findings, [record])
            key = record[0].decode()
            try:
                wait_for(lambda k=key: k in receiver.first, 20, "lone finding notified", 0.0002)
            except TimeoutError:
                missed += 1  # reported, not fatal: the other configurations still get measured
                continue
            lone.append((receiver.first[key] - t) * 1000)
        return {
            "accepted": n / accepted_s,
            "ingested": n / ingested_s,
            "cpu": cpu,
            "rss": sum(rss_mb(p.pid) for p in procs),
            "load_p50": pct(loaded, 0.5),
            "load_p99": pct(loaded, 0.99),
            "lone_p50": pct(lone, 0.5),
            "lone_p99": pct(lone, 0.99),
            "lone_missed": missed,
        }
    finally:
        if db is not None:
            db.close()
        producer.close()
        bus.close()
        for p in procs:
            p.stop()
        receiver.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--findings", type=int, default=10_000)
    parser.add_argument("--groups", type=int, default=250)
    parser.add_argument(
        "--only", action="append", default=[], help="run only these configurations, e.g. postgresql:2"
    )
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    pg = PostgresServer(fsync=True).start()
    try:
        with broker() as bootstrap:
            for store in ("sqlite", "postgresql"):
                for workers in (1, 2):
                    if args.only and f"{store}:{workers}" not in args.only:
                        continue
                    if store == "postgresql":
                        url = create_database(pg.url)
                    else:
                        url = f"sqlite:///{temp_dir('wk-sqlite-') / 'watchkeeper.sqlite3'}"
                    name = f"{store} x{workers}"
                    results[name] = run(bootstrap, url, workers, args.findings, args.groups)
                    print(name, json.dumps(results[name]), flush=True)
    finally:
        pg.stop()
    print(
        f"\n{args.findings:,} findings in {args.groups} groups, findings topic of {PARTITIONS} partitions"
        " on the Kafka-protocol broker, group_wait 0, loopback webhook (same machine, same run)\n"
    )
    names = list(results)
    print("| " + " | ".join([f"{'':<40}"] + [f"{n:>15}" for n in names]) + " |")
    print("|" + "|".join(["-" * 42] + ["-" * 17 for _ in names]) + "|")
    rows = [
        ("ingested (durable), findings/s", "ingested", "{:,.0f}"),
        ("CPU seconds, all workers", "cpu", "{:.2f}"),
        ("ingested per CPU second", None, "{:,.0f}"),
        ("RSS at the end, all workers, MB", "rss", "{:.0f}"),
        ("first notification under load, p50 ms", "load_p50", "{:.1f}"),
        ("first notification under load, p99 ms", "load_p99", "{:.1f}"),
        ("first notification, lone finding, p50 ms", "lone_p50", "{:.1f}"),
        ("first notification, lone finding, p99 ms", "lone_p99", "{:.1f}"),
        (f"lone findings not notified within 20 s (of {LONE})", "lone_missed", "{:.0f}"),
    ]
    for label, key, fmt in rows:
        cells = [fmt.format(results[n][key] if key else args.findings / results[n]["cpu"]) for n in names]
        print("| " + " | ".join([f"{label:<40}"] + [f"{c:>15}" for c in cells]) + " |")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
