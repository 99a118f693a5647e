"""Side by side with the real Alertmanager 0.25 (Debian package `prometheus-alertmanager`), on this machine.

The same load for both: 20,000 alerts (findings) in 500 groups, `group_wait` 0, one loopback webhook.
Alertmanager gets them on `POST /api/v2/alerts` in requests of 100; Watchkeeper's alerts stage (its own
process, SQLite store, embedded bus) gets them on its findings topic in batches of 100. Measured for both from
/proc: CPU seconds of the server process until every group was notified, RSS at the end; the time each group's
first notification took from the hand-over of its first alert (under load, and for 200 lone alerts sent one at
a time); and durability: 100 groups pending behind a receiver answering 503, `kill -9`, restart, receiver
healthy.

Run: python -m benchmarks.bench_alertmanager [--alerts 20000 --groups 500]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks.alerting_harness import (
    Alertmanager,
    Receiver,
    WatchkeeperAlerts,
    cpu_s,
    pct,
    rss_mb,
    temp_dir,
    wait_for,
)
from watchkeeper.core.bus.config import TopicsConfig
from watchkeeper.core.bus.embedded import BUS_FILENAME, EmbeddedBus
from watchkeeper.core.findings import Finding, Severity, fingerprint
from watchkeeper.core.store.config import DEFAULT_FILENAME

BATCH = 100


def am_alerts(start: int, n: int, groups: int, prefix: str = "g") -> list[dict[str, Any]]:
    return [
        {
            "labels": {
                "alertname": "LLMFinding",
                "app": f"{prefix}{(start + i) % groups}",
                "n": str(start + i),
            },
            "annotations": {"summary": f"finding {start + i}"},
        }
        for i in range(n)
    ]


def wk_findings(start: int, n: int, groups: int, prefix: str = "g") -> list[tuple[bytes, bytes]]:
    out = []
    for i in range(start, start + n):
        app = f"{prefix}{i % groups}"
        labels = {"app": app, "env": "prod", "detector": "content_safety", "category": "hate"}
        f = Finding(
            detector="content_safety",
            category="hate",
            severity=Severity.warning,
            score=0.9,
            summary=f"finding {i}",
            labels=labels,
            evidence={"trace_id": f"{i:032x}", "span_id": f"{i:016x}", "excerpt": "..."},
            time=1_700_000_000.0 + i,
            id=f"{prefix}-{i}",
            fingerprint=fingerprint(labels),
        )
        out.append((app.encode(), f.to_json()))
    return out


def am_groups(body: dict[str, Any]) -> list[str]:
    return [body["groupLabels"]["app"]]


def wk_groups(body: dict[str, Any]) -> list[str]:
    return [body["data"]["labels"]["app"]] if body.get("event") == "trigger" else []


# ---------------------------------------------------------------------------------------------- Alertmanager
def run_alertmanager(n: int, groups: int) -> dict[str, float]:
    receiver = Receiver(am_groups)
    am = Alertmanager(receiver.url, temp_dir("am-load-"), group_by=["app"]).start()
    client = httpx.Client(timeout=10)
    try:
        cpu0 = cpu_s(am.pid)
        handed: dict[str, float] = {}
        t0 = time.monotonic()
        for start in range(0, n, BATCH):
            chunk = am_alerts(start, min(BATCH, n - start), groups)
            now = time.monotonic()
            for a in chunk:
                handed.setdefault(a["labels"]["app"], now)
            client.post(f"{am.url}/api/v2/alerts", json=chunk).raise_for_status()
        accepted_s = time.monotonic() - t0
        wait_for(lambda: len(receiver.first) >= groups, 120, "every group notified")
        cpu = cpu_s(am.pid) - cpu0
        loaded = [(receiver.first[g] - handed[g]) * 1000 for g in receiver.first]
        lone = []
        for i in range(200):
            key = f"lone{i}"
            t = time.monotonic()
            client.post(
                f"{am.url}/api/v2/alerts", json=[{"labels": {"alertname": "LLMFinding", "app": key}}]
            ).raise_for_status()
            wait_for(lambda k=key: k in receiver.first, 30, "lone alert notified", 0.0002)
            lone.append((receiver.first[key] - t) * 1000)
        return {
            "accepted": n / accepted_s,
            "ingested": n / accepted_s,  # Alertmanager holds alerts in memory: accepted is ingested
            "cpu": cpu,
            "rss": rss_mb(am.pid),
            "load_p50": pct(loaded, 0.5),
            "load_p99": pct(loaded, 0.99),
            "lone_p50": pct(lone, 0.5),
            "lone_p99": pct(lone, 0.99),
        }
    finally:
        client.close()
        am.stop()
        receiver.close()


def am_outage(n: int = 100) -> int:
    receiver = Receiver(am_groups)
    receiver.status = 503
    storage = temp_dir("am-kill-")
    am = Alertmanager(receiver.url, storage, group_by=["app"]).start()
    try:
        httpx.post(f"{am.url}/api/v2/alerts", json=am_alerts(0, n, n), timeout=10).raise_for_status()
        time.sleep(3.0)  # first attempts fail with 503
        am.kill()
        receiver.status = 200
        am = Alertmanager(receiver.url, storage, group_by=["app"]).start()
        time.sleep(15.0)
        return len(receiver.first)
    finally:
        am.stop()
        receiver.close()


# ---------------------------------------------------------------------------------------------- Watchkeeper
def findings_stored(state_dir: Path) -> int:
    path = state_dir / DEFAULT_FILENAME
    if not path.exists():
        return 0
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM findings").fetchone()[0])
    except sqlite3.Error:
        return 0
    finally:
        conn.close()


def run_watchkeeper(n: int, groups: int) -> dict[str, float]:
    receiver = Receiver(wk_groups)
    state = temp_dir("wk-load-")
    wk = WatchkeeperAlerts(state, receiver.url, group_by=["app"]).start()
    bus = EmbeddedBus(state / BUS_FILENAME)
    producer = bus.producer()
    topic = TopicsConfig().findings
    try:
        cpu0 = cpu_s(wk.pid)
        handed: dict[str, float] = {}
        t0 = time.monotonic()
        for start in range(0, n, BATCH):
            chunk = wk_findings(start, min(BATCH, n - start), groups)
            now = time.monotonic()
            for key, _ in chunk:
                handed.setdefault(key.decode(), now)
            producer.publish(topic, chunk)
        accepted_s = time.monotonic() - t0
        wait_for(lambda: findings_stored(state) >= n, 300, "every finding stored", 0.01)
        ingested_s = time.monotonic() - t0
        wait_for(lambda: len(receiver.first) >= groups, 120, "every group notified")
        cpu = cpu_s(wk.pid) - cpu0
        loaded = [(receiver.first[g] - handed[g]) * 1000 for g in receiver.first]
        lone = []
        for i in range(200):
            (record,) = wk_findings(i, 1, 1, prefix=f"lone{i}-")
            t = time.monotonic()
            producer.publish(topic, [record])
            key = record[0].decode()
            wait_for(lambda k=key: k in receiver.first, 30, "lone finding notified", 0.0002)
            lone.append((receiver.first[key] - t) * 1000)
        return {
            "accepted": n / accepted_s,
            "ingested": n / ingested_s,
            "cpu": cpu,
            "rss": rss_mb(wk.pid),
            "load_p50": pct(loaded, 0.5),
            "load_p99": pct(loaded, 0.99),
            "lone_p50": pct(lone, 0.5),
            "lone_p99": pct(lone, 0.99),
        }
    finally:
        producer.close()
        bus.close()
        wk.stop()
        receiver.close()


def wk_outage(n: int = 100) -> int:
    receiver = Receiver(wk_groups)
    receiver.status = 503
    state = temp_dir("wk-kill-")
    wk = WatchkeeperAlerts(state, receiver.url, group_by=["app"]).start()
    bus = EmbeddedBus(state / BUS_FILENAME)
    try:
        producer = bus.producer()
        producer.publish(TopicsConfig().findings, wk_findings(0, n, n))
        producer.close()
        time.sleep(3.0)  # first attempts fail with 503
        wk.kill()
        receiver.status = 200
        wk = WatchkeeperAlerts(state, receiver.url, group_by=["app"], name="alerts-restarted").start()
        time.sleep(15.0)
        return len(receiver.first)
    finally:
        bus.close()
        wk.stop()
        receiver.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=20_000)
    parser.add_argument("--groups", type=int, default=500)
    args = parser.parse_args()
    n, groups = args.alerts, args.groups
    am = run_alertmanager(n, groups)
    wk = run_watchkeeper(n, groups)
    am_kept, wk_kept = am_outage(), wk_outage()
    print(f"\n{n:,} alerts in {groups} groups, group_wait 0, loopback webhook (same machine, same run)\n")
    print(f"| {'':<44} | {'Alertmanager 0.25':>18} | {'Watchkeeper alerts':>18} | {'ratio':>6} |")
    print(f"|{'-' * 46}|{'-' * 20}|{'-' * 20}|{'-' * 8}|")
    rows = [
        ("accepted, alerts/s", "accepted", "{:,.0f}"),
        ("ingested (durable), alerts/s", "ingested", "{:,.0f}"),
        ("CPU seconds until every group was notified", "cpu", "{:.2f}"),
        ("RSS at the end, MB", "rss", "{:.0f}"),
        ("first notification under load, p50 ms", "load_p50", "{:.1f}"),
        ("first notification under load, p99 ms", "load_p99", "{:.1f}"),
        ("first notification, lone alert, p50 ms", "lone_p50", "{:.2f}"),
        ("first notification, lone alert, p99 ms", "lone_p99", "{:.2f}"),
    ]
    for label, key, fmt in rows:
        ratio = wk[key] / am[key] if am[key] else float("nan")
        print(f"| {label:<44} | {fmt.format(am[key]):>18} | {fmt.format(wk[key]):>18} | {ratio:>6.2f} |")
    am_per = am["cpu"] / n * 1e6
    wk_per = wk["cpu"] / n * 1e6
    print(f"| {'CPU per alert, us':<44} | {am_per:>18.0f} | {wk_per:>18.0f} | {wk_per / am_per:>6.2f} |")
    print(
        f"| {'ingested per CPU second, alerts':<44} | {n / am['cpu']:>18,.0f} | {n / wk['cpu']:>18,.0f} | |"
    )
    print(f"| {'100 pending behind a 503, kill -9, restart':<44} | {am_kept:>14}/100 | {wk_kept:>14}/100 | |")
    print(json.dumps({"alertmanager": am, "watchkeeper": wk, "kept": [am_kept, wk_kept]}))


if __name__ == "__main__":
    main()
