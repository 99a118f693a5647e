"""Alerts benchmark: findings/s through dedupe + routing + grouping + the store (500 routes, 5,000 active
groups, one core), and latency from a published finding to its first notification at group_wait=0.

Run: python -m benchmarks.bench_alerts   (prints two tables; every ratio is against a baseline measured in the
same run on the same machine, so the numbers travel between machines better than absolute rates).
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from tests.support.alerts import HttpChannel, finding
from tests.support.receivers import WebhookReceiver as Receiver
from watchkeeper.alerts.config import AlertsConfig
from watchkeeper.alerts.service import IncidentStore
from watchkeeper.alerts.stage import AlertsStage
from watchkeeper.core.bus.base import TopicsConfig
from watchkeeper.core.bus.embedded import EmbeddedBus

N_ROUTES = 500
N_APPS = 500
N_CATEGORIES = 10  # 500 apps x 10 categories = 5,000 groups
N_FINDINGS = 50_000
BATCH = 500


def config(group_wait: str = "10s") -> AlertsConfig:
    routes = []
    for i in range(N_ROUTES):
        if i % 10 == 9:
            routes.append(
                {
                    "matchers": [f'app=~"app{i}|app{i}-canary"', 'severity=~"critical|error"'],
                    "receiver": "default",
                }
            )
        else:
            routes.append(
                {
                    "matchers": [f'app="app{i}"', 'env!="dev"'],
                    "receiver": "default",
                    "group_by": ["app", "detector", "category"],
                }
            )
    return AlertsConfig.model_validate(
        {
            "receivers": [{"name": "default"}],
            "resolve_timeout": "24h",
            "route": {"receiver": "default", "group_wait": group_wait, "routes": routes},
        }
    )


def make_findings(n: int, offset: int) -> list:
    return [
        finding(
            app=f"app{i % N_APPS}",
            category=f"c{(i // N_APPS) % N_CATEGORIES}",
            severity=("warning", "error", "critical")[i % 3],
            t=1_700_000_000.0 + i,
            fid=f"b{offset + i}",
        )
        for i in range(n)
    ]


def rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


def bench_throughput() -> list[tuple[str, float]]:
    rows: list[tuple[str, float]] = []
    warm = make_findings(N_APPS * N_CATEGORIES, 0)
    work = make_findings(N_FINDINGS, 10_000_000)
    with tempfile.TemporaryDirectory() as tmp:
        # Baseline: the bare durable write of the same findings (JSON rows, same SQLite settings and batches).
        db = sqlite3.connect(Path(tmp) / "baseline.sqlite3", isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("CREATE TABLE f (id TEXT PRIMARY KEY, data TEXT)")
        t0 = time.process_time()
        for start in range(0, N_FINDINGS, BATCH):
            db.execute("BEGIN")
            db.executemany(
                "INSERT INTO f VALUES (?, ?)",
                [(f.id, f.to_json().decode()) for f in work[start : start + BATCH]],
            )
            db.execute("COMMIT")
        rows.append(("baseline: SQLite insert of finding JSON", rate(N_FINDINGS, time.process_time() - t0)))
        db.close()

        store = IncidentStore(Path(tmp) / "state", config(), channel_kinds={"default": ["webhook"]})
        labels = [dict(f.labels, severity=f.severity.value) for f in work]
        store.router.root._index_label = None  # routing alone, linear scan without cache
        t0 = time.process_time()
        for lab in labels[:10_000]:
            store.router.match_uncached(lab)
        rows.append(("routing only, linear scan (500 routes)", rate(10_000, time.process_time() - t0)))
        store.router = type(store.router)(store.cfg.route)
        t0 = time.process_time()
        for lab in labels[:10_000]:
            store.router.match_uncached(lab)
        rows.append(("routing only, indexed (500 routes)", rate(10_000, time.process_time() - t0)))

        for start in range(0, len(warm), BATCH):
            store.ingest(warm[start : start + BATCH])
        assert len(store.open_incident_ids()) == N_APPS * N_CATEGORIES
        t0 = time.process_time()
        for start in range(0, N_FINDINGS, BATCH):
            store.ingest(work[start : start + BATCH])
        rows.append(
            (
                f"full ingest: dedupe+route+group+store ({N_APPS * N_CATEGORIES} open groups)",
                rate(N_FINDINGS, time.process_time() - t0),
            )
        )
        t0 = time.process_time()
        for start in range(0, N_FINDINGS, BATCH):
            store.ingest(work[start : start + BATCH])
        rows.append(("replayed findings (all duplicates)", rate(N_FINDINGS, time.process_time() - t0)))
        store.close()
    return rows


def bench_latency(n: int = 200) -> list[tuple[str, float, float]]:
    receiver = Receiver()
    out: list[tuple[str, float, float]] = []
    try:
        # Baseline: one direct POST to the same loopback receiver (what any notifier pays at least).
        client = httpx.Client()
        direct = []
        for i in range(n):
            t0 = time.monotonic()
            client.post(receiver.url, json={"key": f"direct{i}"})
            direct.append(time.monotonic() - t0)
        client.close()
        receiver.take()
        out.append(("baseline: direct HTTP POST", *pcts(direct)))

        with tempfile.TemporaryDirectory() as tmp:
            bus = EmbeddedBus(Path(tmp) / "bus.sqlite3")
            cfg = config(group_wait="0s")
            stage = AlertsStage(
                cfg,
                bus,
                TopicsConfig(),
                Path(tmp) / "state",
                dashboard_url="http://dash",
                channels={"default": [HttpChannel(receiver.url)]},
            )
            producer = bus.producer()
            stage.start()
            sent: dict[str, float] = {}
            try:
                for i in range(n):
                    f = finding(app=f"lat{i}", fid=f"lat{i}")
                    sent[f"lat{i}"] = time.monotonic()
                    producer.publish(TopicsConfig().findings, [(b"k", f.to_json())])
                    time.sleep(0.02)
                deadline = time.monotonic() + 30
                while len(receiver.received) < n and time.monotonic() < deadline:
                    time.sleep(0.01)
            finally:
                stage.stop()
                producer.close()
                bus.close()
            lat = [m["_received_monotonic"] - sent[m["labels"]["app"]] for m in receiver.take()]
            out.append((f"finding -> first notification ({len(lat)}/{n})", *pcts(lat)))
    finally:
        receiver.close()
    return out


def pcts(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return statistics.median(ordered) * 1000, p99 * 1000


def main() -> None:
    rows = bench_throughput()
    base = rows[0][1]
    print(
        f"\nThroughput, one core (CPU time), {N_ROUTES} routes, {N_APPS * N_CATEGORIES} active groups, "
        f"batches of {BATCH}"
    )
    print(f"{'case':72} {'findings/s':>12} {'vs baseline':>12}")
    for name, value in rows:
        print(f"{name:72} {value:12,.0f} {value / base:11.2f}x")
    lat = bench_latency()
    b50, b99 = lat[0][1], lat[0][2]
    print("\nLatency at group_wait=0 (threads, embedded bus, loopback HTTP receiver)")
    print(f"{'case':48} {'p50 ms':>9} {'p99 ms':>9} {'p50 vs base':>12} {'p99 vs base':>12}")
    for name, p50, p99 in lat:
        print(f"{name:48} {p50:9.2f} {p99:9.2f} {p50 / b50:11.1f}x {p99 / b99:11.1f}x")
    print(json.dumps({"throughput": rows, "latency_ms": lat}))


if __name__ == "__main__":
    main()
