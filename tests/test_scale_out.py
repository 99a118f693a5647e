"""Scale out for real: two detector workers and two alerts workers on Kafka and PostgreSQL, one of each
killed.

The processes are the real daemon (`watchkeeper run --stage ...`), the broker is the Kafka-protocol test
broker,
the store a real PostgreSQL server. Nothing killed is restarted: the survivors take over the partitions (the
detector state follows them) and the notification claims (after the lease).
"""

from __future__ import annotations

import random
import threading
import time
import urllib.request
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from tests.support.daemon import DaemonProcess, get_json, wait_until
from tests.support.net import free_port
from tests.support.receivers import WebhookReceiver
from tests.support.spans import SpanFactory, export
from watchkeeper.core.store import open_database
from watchkeeper.detectors.integrity import audit

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

APPS = [f"shop-{i}" for i in range(8)]
BASELINE = "You are the shop assistant of {app}. Answer briefly."
CHANGED = "You are the shop assistant of {app}. Always recommend the most expensive item. ({n})"


def config(tmp: Path, name: str, *, bus: dict[str, Any], store_url: str, hook: str, http_port: int) -> dict:
    return {
        "state_dir": str(tmp / f"state-{name}"),
        "bus": bus,
        "store": {"url": store_url},
        "intake": {"http_port": http_port, "grpc_enabled": False},
        "web": {"port": free_port()},
        "detectors": {
            "checkpoint_interval_s": 0.5,
            **{d: {"enabled": False} for d in ("content_safety", "topic_injection", "drift", "operational")},
        },
        "alerts": {
            "route": {
                "receiver": "hook",
                "group_by": ["app", "detector", "category"],
                "group_wait": "0s",
                "group_interval": "1s",
                "repeat_interval": "4h",
            },
            "resolve_timeout": "1h",
            "outbox": {"send_timeout_s": 2, "lease_s": 6},
            "receivers": [{"name": "hook", "webhook_configs": [{"url": hook, "allow_insecure": True}]}],
        },
    }


def test_two_of_each_worker_one_of_each_killed(
    tmp_path: Path, kafka_bootstrap: str, postgres_url: str
) -> None:
    suffix = tmp_path.name[-12:].replace("-", "_")
    bus = {
        "kind": "kafka",
        "bootstrap_servers": kafka_bootstrap,
        "session_timeout_ms": 6000,
        "heartbeat_interval_ms": 1000,
        "partitions": 4,
        "topics": {t: f"scale.{t}.{suffix}" for t in ("spans", "logs", "findings", "deadletter")},
    }
    hook = WebhookReceiver()
    intake = free_port()

    def proc(stage: str, name: str) -> DaemonProcess:
        cfg = config(tmp_path, name, bus=bus, store_url=postgres_url, hook=hook.url, http_port=intake)
        if stage != "collector":
            cfg["intake"]["http_port"] = free_port()
        return DaemonProcess(tmp_path, cfg, stage=stage, name=name)

    procs = {
        "collector": proc("collector", "collector"),
        "det-a": proc("detectors", "det-a"),
        "det-b": proc("detectors", "det-b"),
        "alerts-a": proc("alerts", "alerts-a"),
        "alerts-b": proc("alerts", "alerts-b"),
    }
    endpoint = f"http://127.0.0.1:{intake}"
    factories = {app: SpanFactory(service=app) for app in APPS}
    accepted: dict[str, str] = {}  # span id -> app, for every changed-prompt call the intake took
    lock = threading.Lock()

    def send_changed(n: int, apps: list[str] = APPS) -> None:
        app = apps[n % len(apps)]
        span = factories[app].chat(CHANGED.format(app=app, n=n % 3), prompt=f"question {n}")
        if export(endpoint, [span], timeout_s=5):
            with lock:
                accepted[f"{span.context.span_id:016x}"] = app

    try:
        for p in procs.values():
            p.start(wait_ready=False)
        for p in procs.values():
            wait_until(p._ready, 120, 0.3, f"{p.stage} ready ({p.log_path})")
        det_a, det_b = procs["det-a"], procs["det-b"]
        wait_until(
            lambda: "assigned" in det_a.log() and "assigned" in det_b.log(),
            60,
            what="both detector workers own partitions",
        )
        # Learn mode: each app's first prompt becomes its baseline, on whichever worker owns its partition.
        for app in APPS:
            assert export(endpoint, [factories[app].chat(BASELINE.format(app=app))])

        def processed() -> int:
            return sum(get_json(p.web_url + "/api/v1/status")["calls_processed"] for p in (det_a, det_b))

        wait_until(lambda: processed() >= len(APPS), 60, what="baselines analyzed")
        time.sleep(1.0)  # at least one checkpoint holds every baseline

        stop = threading.Event()

        def stream() -> None:
            n = 0
            while not stop.is_set() and n < 240:
                send_changed(n)
                n += 1
                time.sleep(random.uniform(0, 0.02))

        sender = threading.Thread(target=stream)
        sender.start()
        wait_until(lambda: len(accepted) >= 60, 60, what="60 changed-prompt calls accepted")
        det_a.kill()  # mid-stream: its apps move to det-b with the baselines learned on det-a
        procs["alerts-a"].kill()  # mid-stream: its claims are taken over by alerts-b after the lease
        sender.join(120)
        stop.set()
        web = procs["alerts-b"].web_url

        def findings() -> list[dict[str, Any]]:
            return pages(web + "/api/v1/findings?detector=integrity")

        # Every accepted unapproved prompt is flagged, also those of apps that moved to the other worker
        # (a worker that started from nothing would have adopted the changed prompt as the baseline).
        wait_until(
            lambda: set(accepted) <= {f["evidence"]["span_id"] for f in findings()},
            120,
            what=f"a finding for each of {len(accepted)} accepted calls",
        )
        found = findings()
        span_ids = [f["evidence"]["span_id"] for f in found]
        assert len(span_ids) == len(set(span_ids)), "a call was counted twice"
        incidents = [i for i in pages(web + "/api/v1/incidents") if i["labels"]["detector"] == "integrity"]
        assert sum(i["finding_count"] for i in incidents) == len(
            found
        )  # each finding in exactly one incident
        open_groups = [
            (i["labels"]["app"], i["labels"]["category"]) for i in incidents if i["status"] != "resolved"
        ]
        assert len(open_groups) == len(set(open_groups))  # one open incident per group, across workers

        # Resolve through the surviving worker's API; later findings start new incidents.
        for inc in incidents[: len(incidents) // 2]:
            post(web + f"/api/v1/incidents/{inc['id']}/resolve")
        resolved = {i["id"] for i in incidents[: len(incidents) // 2]}

        # An approval in the shared store (what the API records) applies on the surviving detector worker.
        approved_app = APPS[0]
        approved = CHANGED.format(app=approved_app, n=0)
        store = open_database(postgres_url)
        try:
            audit.approve(
                audit.StoreAuditLog(store), approved_app, approved, actor="carol", comment="rollout"
            )
        finally:
            store.close()
        time.sleep(2.5)  # > approvals_refresh_s
        before = len(findings())
        span = factories[approved_app].chat(approved, prompt="after the approval")
        assert export(endpoint, [span])
        wait_until(lambda: processed_by(procs["det-b"]) > 0, 30, what="det-b analyzing")
        time.sleep(3.0)
        assert f"{span.context.span_id:016x}" not in {f["evidence"]["span_id"] for f in findings()}
        assert len(findings()) == before

        # Notifications: each delivered once (or again under the same id), in order, none after a resolve.
        def settled() -> bool:
            rows = [
                n
                for i in pages(web + "/api/v1/incidents")
                for n in get_json(web + f"/api/v1/incidents/{i['id']}")["notifications"]
            ]
            return bool(rows) and all(n["status"] != "pending" for n in rows)

        wait_until(settled, 60, what="every notification delivered")
        by_incident: dict[str, list[dict[str, Any]]] = defaultdict(list)
        seen_ids: dict[str, str] = {}
        for body in hook.json_bodies():
            by_incident[body["data"]["id"]].append(body)
            previous = seen_ids.setdefault(body["notification_id"], body["event"])
            assert previous == body["event"]  # a repeat is the same notification, never a different one
        for incident, bodies in by_incident.items():
            events = [b["event"] for b in bodies]
            distinct = list(dict.fromkeys(b["notification_id"] for b in bodies))
            assert events[0] == "trigger"
            if "resolve" in events:
                last_resolve = max(i for i, e in enumerate(events) if e == "resolve")
                assert all(e == "resolve" for e in events[last_resolve:]), f"{incident}: {events}"
            assert len(distinct) == len(set(distinct))
        for incident in resolved:
            assert "resolve" in [b["event"] for b in by_incident[incident]], incident
        for p in ("collector", "det-b", "alerts-b"):
            assert procs[p].terminate() == 0, procs[p].log()[-3000:]
    finally:
        for p in procs.values():
            p.kill()
        hook.close()


def pages(url: str) -> list[Any]:
    """Every item of a paginated list."""
    out: list[Any] = []
    while True:
        batch = get_json(f"{url}{'&' if '?' in url else '?'}limit=500&offset={len(out)}")
        out.extend(batch)
        if len(batch) < 500:
            return out


def post(url: str) -> Any:
    request = urllib.request.Request(
        url, data=b"{}", method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        return resp.read()


def processed_by(proc: DaemonProcess) -> int:
    return int(get_json(proc.web_url + "/api/v1/status")["calls_processed"])
