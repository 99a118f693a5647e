"""Crash durability: the alerts process is SIGKILLed with notifications in flight; after a restart the
receiver has every idempotency key (at least once; receivers dedupe by key), and nothing is missing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from tests.support.alerts import finding
from tests.support.receivers import Reply
from tests.support.receivers import WebhookReceiver as Receiver
from watchkeeper.alerts.service import IncidentStore
from watchkeeper.core.bus.base import TopicsConfig
from watchkeeper.core.bus.embedded import EmbeddedBus

ROOT = Path(__file__).resolve().parents[1]
N_INCIDENTS = 40

CHILD = textwrap.dedent(
    """
    import signal, sys, threading
    from pathlib import Path
    from tests.support.alerts import HttpChannel, alerts_config
    from watchkeeper.alerts.stage import AlertsStage
    from watchkeeper.core.bus.embedded import EmbeddedBus
    from watchkeeper.core.bus.base import TopicsConfig

    tmp, url = Path(sys.argv[1]), sys.argv[2]
    cfg = alerts_config({"route": {"receiver": "default", "group_wait": "0s", "group_interval": "1h"},
                         "outbox": {"workers": 4, "backoff_base_s": 0.05, "backoff_max_s": 0.2}})
    bus = EmbeddedBus(tmp / "bus.sqlite3")
    stage = AlertsStage(cfg, bus, TopicsConfig(), tmp / "state", dashboard_url="http://dash",
                        channels={"default": [HttpChannel(url)]})
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: done.set())
    stage.start()
    print("started", flush=True)
    done.wait()
    stage.stop()
    bus.close()
    """
)


def start_child(tmp: Path, url: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp), url], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "started"
    return proc


def wait_for(predicate, timeout_s: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_sigkill_with_notifications_in_flight_loses_nothing(tmp_path: Path) -> None:
    receiver = Receiver()
    receiver.default = Reply(200, delay_s=0.05)  # slow receiver: several requests are always in flight
    bus = EmbeddedBus(tmp_path / "bus.sqlite3")
    producer = bus.producer()
    producer.publish(
        TopicsConfig().findings,
        [(b"k", finding(app=f"app{i}", fid=f"crash-{i}").to_json()) for i in range(N_INCIDENTS)],
    )
    producer.close()
    bus.close()
    child = start_child(tmp_path, receiver.url)
    try:
        assert wait_for(lambda: len(receiver.keys()) >= 8, 30)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        before_restart = set(receiver.keys())
        assert len(before_restart) < N_INCIDENTS  # the kill really interrupted the delivery
        child = start_child(tmp_path, receiver.url)
        assert wait_for(lambda: len(set(receiver.keys())) >= N_INCIDENTS, 60)
        child.send_signal(signal.SIGTERM)
        child.wait(timeout=20)
        assert child.returncode == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        receiver.close()
    keys = receiver.keys()
    store = IncidentStore(tmp_path / "state")
    try:
        items, total = store.list_incidents(limit=1000)
        assert (
            total == N_INCIDENTS
        )  # each finding folded in once, though the bus position may have been replayed
        expected = {n["id"] for i in items for n in store.get_incident(i["id"])["notifications"]}
        assert len(expected) == N_INCIDENTS
        assert set(keys) == expected  # nothing missing, nothing unexpected
        assert store.counts()["notifications"]["pending"] == 0
    finally:
        store.close()
    print(
        f"delivered {len(keys)} requests for {len(set(keys))} keys ({len(keys) - len(set(keys))} duplicates)"
    )
