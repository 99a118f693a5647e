"""The durable outbox: Retry-After, backoff bounds, dead letters and replay, pacing, ordering, restarts."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.alerts import HttpChannel, Timeline, alerts_config, finding
from tests.support.receivers import Reply
from tests.support.receivers import WebhookReceiver as Receiver
from watchkeeper.alerts.channels.base import DeliveryResult
from watchkeeper.alerts.config import AlertsConfig, OutboxConfig
from watchkeeper.alerts.outbox import backoff_delay, retry_delay
from watchkeeper.alerts.stage import AlertsStage
from watchkeeper.core.bus.base import TopicsConfig
from watchkeeper.core.bus.embedded import EmbeddedBus

FAST = {"receiver": "default", "group_wait": "0s", "group_interval": "1m", "repeat_interval": "4h"}
FAST_INTERVAL_S = 60.0


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def arrivals(tl: Timeline, until: float) -> list[tuple[float, str]]:
    return [(t, m["event"]) for t, got in tl.run(until) for m in got]


def test_backoff_is_full_jitter_within_bounds() -> None:
    rng = random.Random(7)
    for attempt in range(1, 15):
        cap = min(60.0, 0.5 * 2 ** (attempt - 1))
        delays = [backoff_delay(attempt, 0.5, 60.0, rng) for _ in range(300)]
        assert all(0.0 <= d <= cap for d in delays)
        assert max(delays) > 0.8 * cap  # really spreads over the whole range (full jitter)
        assert min(delays) < 0.2 * cap


def test_retry_after_is_honoured_and_capped() -> None:
    cfg = OutboxConfig(retry_after_max_s=30.0)
    assert retry_delay(DeliveryResult(ok=False, retryable=True, retry_after_s=7.0), 1, cfg) == 7.0
    assert retry_delay(DeliveryResult(ok=False, retryable=True, retry_after_s=9999.0), 1, cfg) == 30.0
    assert 0.0 <= retry_delay(DeliveryResult(ok=False, retryable=True), 3, cfg) <= 4.0


def test_retry_after_timeline(tmp_path: Path, receiver: Receiver) -> None:
    cfg = alerts_config({"route": FAST, "outbox": {"backoff_base_s": 1, "retry_after_max_s": 20}})
    tl = Timeline(cfg, tmp_path, receiver)
    try:
        receiver.replies = [Reply(429, {"Retry-After": "7"}), Reply(503, {"Retry-After": "100000"})]
        tl.push(finding())
        assert arrivals(tl, 30) == [
            (27.0, "trigger")
        ]  # refused at 0, retried at 7 (refused), capped 20s later
        note = tl.stage.store.list_incidents()[0][0]["id"]
        (row,) = tl.stage.store.get_incident(note)["notifications"]
        assert row["status"] == "sent" and row["attempts"] == 3
    finally:
        tl.close()


def test_dead_letter_then_replay(tmp_path: Path, receiver: Receiver) -> None:
    cfg = alerts_config(
        {"route": FAST, "outbox": {"backoff_base_s": 1, "backoff_max_s": 2, "max_attempts": 3}}
    )
    tl = Timeline(cfg, tmp_path, receiver)
    store = tl.stage.store
    try:
        receiver.default = Reply(503)
        tl.push(finding())
        assert arrivals(tl, 20) == []
        (dead,) = store.list_dead_letters()
        assert dead["attempts"] == 3 and dead["event"] == "trigger" and dead["last_status"] == 503
        assert store.counts()["dead_letters"] == 1
        receiver.default = Reply(200)
        assert store.replay_dead_letter(dead["id"])["status"] == "pending"
        got = tl.at(21)
        assert [m["key"] for m in got] == [dead["id"]]  # same idempotency key as the failed attempts
        assert store.list_dead_letters() == []
    finally:
        tl.close()


def test_permanent_error_is_a_dead_letter_at_once(tmp_path: Path, receiver: Receiver) -> None:
    tl = Timeline(alerts_config({"route": FAST}), tmp_path, receiver)
    try:
        receiver.default = Reply(400)
        tl.push(finding())
        tl.at(0)
        (dead,) = tl.stage.store.list_dead_letters()
        assert dead["attempts"] == 1 and dead["reason"] == "permanent error"
    finally:
        tl.close()


def test_a_dead_trigger_holds_back_its_resolve_and_replay_sends_both_in_order(
    tmp_path: Path, receiver: Receiver
) -> None:
    cfg = alerts_config({"route": FAST, "outbox": {"max_attempts": 1}})
    tl = Timeline(cfg, tmp_path, receiver)
    store = tl.stage.store
    try:
        receiver.replies = [Reply(500)]
        tl.push(finding())
        tl.at(0)
        (dead,) = store.list_dead_letters()
        incident = store.list_incidents()[0][0]["id"]
        store.resolve(incident, "frank", "")
        assert tl.at(1) == []  # the receiver never got the trigger: no resolve for an incident it never saw
        replayed = store.replay_dead_letter(dead["id"])
        assert replayed["status"] == "pending"
        assert [m["event"] for m in tl.at(2)] == ["trigger", "resolve"]  # the current state, in order
        assert store.list_dead_letters() == []
    finally:
        tl.close()


def test_replay_is_refused_when_a_later_notification_was_delivered(
    tmp_path: Path, receiver: Receiver
) -> None:
    cfg = alerts_config({"route": FAST, "outbox": {"max_attempts": 1}})
    tl = Timeline(cfg, tmp_path, receiver)
    store = tl.stage.store
    try:
        receiver.replies = [Reply(500)]
        tl.push(finding())
        tl.at(0)
        (dead,) = store.list_dead_letters()
        # the open incident is triggered again at its next group flush, which gets through
        assert [m["event"] for m in tl.at(FAST_INTERVAL_S + 1)] == ["trigger"]
        replayed = store.replay_dead_letter(dead["id"])
        assert replayed["status"] == "superseded"  # the receiver already has the page: no second one
        assert tl.at(FAST_INTERVAL_S + 2) == []
    finally:
        tl.close()


def test_per_destination_pacing(tmp_path: Path, receiver: Receiver) -> None:
    tl = Timeline(alerts_config({"route": FAST}), tmp_path, receiver, min_interval_s=1.0)
    try:
        tl.push(finding(app="a"), finding(app="b"), finding(app="c"))
        assert arrivals(tl, 5) == [(0.0, "trigger"), (1.0, "trigger"), (2.0, "trigger")]
    finally:
        tl.close()


def test_order_per_incident_resolve_waits_for_trigger(tmp_path: Path, receiver: Receiver) -> None:
    cfg = alerts_config({"route": FAST, "outbox": {"backoff_base_s": 3, "backoff_max_s": 3}})
    tl = Timeline(cfg, tmp_path, receiver)
    store = tl.stage.store
    try:
        receiver.replies = [Reply(503), Reply(503)]
        tl.push(finding())
        tl.at(0)
        store.resolve(store.list_incidents()[0][0]["id"], "gina", "")
        events = [m["event"] for _, got in tl.run(20) for m in got]
        assert events == ["trigger", "resolve"]
    finally:
        tl.close()


def test_pending_notifications_survive_a_restart(tmp_path: Path, receiver: Receiver) -> None:
    tl = Timeline(alerts_config({"route": FAST}), tmp_path, receiver)
    receiver.default = Reply(503)
    tl.push(finding(app="a"), finding(app="b"))
    tl.at(0)
    tl.close()
    receiver.default = Reply(200)
    tl2 = Timeline(alerts_config({"route": FAST}), tmp_path, receiver, start=tl.clock.now() + 60)
    try:
        got = tl2.at(0)
        assert sorted(m["event"] for m in got) == ["trigger", "trigger"]
        assert all(m["attempt"] == 2 for m in got)
        assert tl2.stage.store.list_incidents()[1] == 2  # the findings were committed: not consumed twice
        assert tl2.at(1) == []
    finally:
        tl2.close()


def _webhook_stage(tmp_path: Path, cfg: AlertsConfig, receiver: Receiver) -> tuple[EmbeddedBus, AlertsStage]:
    """An alerts stage on an embedded bus whose default receiver posts to `receiver`."""
    bus = EmbeddedBus(tmp_path / "bus.sqlite3")
    stage = AlertsStage(
        cfg,
        bus,
        TopicsConfig(),
        tmp_path / "state",
        dashboard_url="http://dash",
        channels={"default": [HttpChannel(receiver.url)]},
    )
    return bus, stage


def test_threads_deliver_with_the_system_clock(tmp_path: Path, receiver: Receiver) -> None:
    cfg = alerts_config({"route": FAST})
    bus, stage = _webhook_stage(tmp_path, cfg, receiver)
    producer = bus.producer()
    stage.start()
    try:
        producer.publish(TopicsConfig().findings, [(b"k", finding().to_json())])
        deadline = time.monotonic() + 20
        while not receiver.keys() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(receiver.keys()) == 1
        assert stage.consumer.lag() == 0
    finally:
        stage.stop()
        producer.close()
        bus.close()


def test_a_backlog_larger_than_the_pool_is_delivered_once_without_asking_when_the_next_is_due(
    tmp_path: Path, receiver: Receiver
) -> None:
    """200 triggers queued at once, 2 workers (32 in flight at most): each is delivered exactly once, and
    while the pool is full or more rows are claimable the loop does not ask the store when the next row
    is due (that query reads every pending line head; asked after each send it made a backlog quadratic)."""
    cfg = alerts_config({"route": {**FAST, "group_by": ["app"]}, "outbox": {"workers": 2}})
    bus, stage = _webhook_stage(tmp_path, cfg, receiver)
    asked: list[float] = []
    ask = stage.store.next_notification_due

    def counted() -> float | None:
        asked.append(time.monotonic())
        return ask()

    stage.store.next_notification_due = counted  # type: ignore[method-assign]
    stage.store.ingest([finding(app=f"app{i}") for i in range(200)])
    stage.start()
    try:
        deadline = time.monotonic() + 60
        while len(receiver.keys()) < 200 and time.monotonic() < deadline:
            time.sleep(0.02)
        keys = receiver.keys()
        assert len(keys) == 200 and len(set(keys)) == 200
        assert len(asked) < 50  # was at least once per delivered row
    finally:
        stage.stop()
        bus.close()


def test_configured_webhook_receiver_end_to_end(tmp_path: Path, receiver: Receiver) -> None:
    """No channel override: the stage builds the receivers' channels from config (the daemon's path)."""
    cfg = alerts_config(
        {"receivers": [{"name": "default", "webhook_configs": [{"url": receiver.url}]}], "route": FAST}
    )
    bus = EmbeddedBus(tmp_path / "bus.sqlite3")
    stage = AlertsStage(cfg, bus, TopicsConfig(), tmp_path / "state", dashboard_url="http://dash")
    producer = bus.producer()
    stage.start()
    try:
        producer.publish(TopicsConfig().findings, [(b"k", finding().to_json())])
        deadline = time.monotonic() + 20
        while not receiver.received and time.monotonic() < deadline:
            time.sleep(0.02)
        (body,) = receiver.take()
        assert body["event"] == "trigger" and body["type"] == "incident.trigger"
        assert body["dashboard_url"].startswith("http://dash/incidents/")
    finally:
        stage.stop()
        producer.close()
        bus.close()
