"""Replays have no second effect in stateful detectors: SIGKILLs mid-stream give an undisturbed run's
findings.

The detectors stage checkpoints state together with the input position; a restarted worker skips what the
checkpoint holds and replays the rest onto the checkpointed state. Before, drift counted replayed batches
twice (a kill between the state flush and the bus commit) and raised findings an undisturbed run does not.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import pytest

from tests.support import otlp_samples as samples
from tests.support.daemon import DaemonProcess, wait_until
from tests.support.drift import make_stream
from watchkeeper.collector.translate.decoder import SpanDecoder
from watchkeeper.config import load_settings
from watchkeeper.core.bus.config import TopicsConfig
from watchkeeper.core.bus.embedded import BUS_FILENAME, EmbeddedBus
from watchkeeper.core.store import SqliteDatabase
from watchkeeper.detectors.stage import DetectorsStage

APPS = ("helpdesk", "billing", "search", "travel")
N_SPANS = 20_000
PER_REQUEST = 50
DETECTORS = {
    "drift": {"reference_size": 200, "window_size": 200, "test_every": 20, "rebaseline_after": 5},
    **{
        d: {"enabled": False}
        for d in ("content_safety", "topic_injection", "operational", "leakage", "integrity")
    },
}


def records() -> list[tuple[bytes, bytes]]:
    """N_SPANS calls of four apps whose answers shift topic and length halfway, as OTLP requests."""
    per_app = N_SPANS // len(APPS)
    out: list[tuple[bytes, bytes]] = []
    streams = []
    for k, app in enumerate(APPS):
        half = per_app // 2
        calls = make_stream(half, 10 + k) + make_stream(
            per_app - half, 20 + k, mix=(0.7, 0.1, 0.1, 0.1), words=(70, 0.4), offset=half
        )
        streams.append((app, calls))
    for start in range(0, per_app, PER_REQUEST):
        for app, calls in streams:
            request = None
            for j, call in enumerate(calls[start : start + PER_REQUEST]):
                spec = samples.CallSpec(
                    seed=1_000_000 * (APPS.index(app) + 1) + start + j,
                    service=app,
                    choices=(call.output_text,),
                    start_ns=call.start_time_ns,
                    system_fingerprint=None,
                )
                one = samples.current_attributes(spec)
                if request is None:
                    request = one
                else:
                    request.resource_spans[0].scope_spans[0].spans.extend(
                        one.resource_spans[0].scope_spans[0].spans
                    )
            assert request is not None
            out.append((app.encode(), request.SerializeToString()))
    return out


def findings_on_bus(state_dir: Path) -> set[str]:
    bus = EmbeddedBus(state_dir / BUS_FILENAME)
    try:
        consumer = bus.consumer("test-reader", [TopicsConfig().findings])
        ids: set[str] = set()
        while batch := consumer.poll(5000, timeout_s=0.2):
            ids.update(json.loads(r.value)["id"] for r in batch)
        return ids
    finally:
        bus.close()


def analyzed(state_dir: Path) -> int:
    db = SqliteDatabase(state_dir / "watchkeeper.sqlite3")
    try:
        with db.read() as tx:
            return int(tx.scalar("SELECT COALESCE(SUM(next_offset), 0) AS n FROM stage_positions") or 0)
    except Exception:
        return 0
    finally:
        db.close()


def publish(state_dir: Path, recs: list[tuple[bytes, bytes]]) -> None:
    bus = EmbeddedBus(state_dir / BUS_FILENAME)
    try:
        producer = bus.producer()
        for start in range(0, len(recs), 50):
            producer.publish(TopicsConfig().spans, recs[start : start + 50])
    finally:
        bus.close()


@pytest.mark.slow
@pytest.mark.timeout(900)  # ~3 min here; eleven daemon starts take longer on a loaded machine
def test_ten_sigkills_during_20k_spans_give_the_undisturbed_findings(tmp_path: Path) -> None:
    recs = records()
    # Undisturbed: the stage in this process, to the end of the input.
    calm = tmp_path / "calm"
    publish(calm, recs)
    settings = load_settings(None, state_dir=str(calm), detectors={"batch_size": 500, **DETECTORS})
    bus = EmbeddedBus(calm / BUS_FILENAME)
    decoder = SpanDecoder(settings.bus.topics.logs, hold_s=settings.detectors.log_hold_s)
    stage = DetectorsStage(settings.detectors, bus, settings.bus.topics, calm, decoder=decoder)
    stage.start()
    wait_until(lambda: analyzed(calm) >= len(recs), 300, 0.5, what="undisturbed run analyzed everything")
    stage.stop()
    bus.close()
    expected = findings_on_bus(calm)
    assert len(expected) >= 20  # the shift is detected, many times

    # Ten SIGKILLs at random points of the same input.
    rough = tmp_path / "rough"
    publish(rough, recs)
    config = {
        "state_dir": str(rough),
        "web": {"port": 0},
        "detectors": {"batch_size": 500, "checkpoint_interval_s": 0.3, **DETECTORS},
    }
    rng = random.Random(7)
    kills = 0
    while kills < 10 and analyzed(rough) < len(recs):
        worker = DaemonProcess(tmp_path, config, stage="detectors", name=f"rough-{kills}").start(
            wait_ready=False
        )
        wait_until(lambda w=worker: "detectors stage running" in w.log(), 180, 0.05, what="stage started")
        time.sleep(rng.uniform(0.2, 1.5))
        worker.kill()
        kills += 1
    final = DaemonProcess(tmp_path, config, stage="detectors", name="rough-final").start(wait_ready=False)
    try:
        wait_until(lambda: analyzed(rough) >= len(recs), 300, 0.5, what="killed runs analyzed everything")
        assert final.terminate() == 0
    finally:
        final.kill()
    assert kills == 10
    assert findings_on_bus(rough) == expected
