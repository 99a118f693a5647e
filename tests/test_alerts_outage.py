"""Pages survive a receiver outage: timeline tests on a fake clock against a real loopback HTTP receiver.

The receiver answers by fake-clock time (503s, 429 with Retry-After, connection resets, then healthy).
Whatever the outage, every incident must page once the receiver is back, each resolve must come after its
trigger, and no receiver may hear a resolve for an incident it never saw.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.alerts import Timeline, alerts_config, finding
from tests.support.receivers import Reply, WebhookReceiver

Script = Callable[[float], Reply]  # seconds since the timeline started -> the answer


class OutageReceiver(WebhookReceiver):
    """Answers as `script` says for the (fake) time elapsed; accepted notifications are kept as usual."""

    def __init__(self) -> None:
        super().__init__()
        self.script: Script = lambda t: Reply()
        self.elapsed: Callable[[], float] = lambda: 0.0

    def _next_reply(self) -> Reply:
        return self.script(self.elapsed())


OK, DOWN, RESET = Reply(status=200), Reply(status=503), Reply(action="reset")
THROTTLED = Reply(status=429, headers={"Retry-After": "5"})


@pytest.fixture
def receiver() -> Iterator[OutageReceiver]:
    r = OutageReceiver()
    yield r
    r.close()


def timeline(tmp_path: Path, receiver: OutageReceiver, outbox: dict[str, Any] | None = None) -> Timeline:
    cfg = alerts_config(
        {
            "route": {
                "receiver": "default",
                "group_by": ["app"],
                "group_wait": "10s",
                "group_interval": "5m",
                "repeat_interval": "24h",
            },
            "resolve_timeout": "24h",
            **({"outbox": outbox} if outbox else {}),
        }
    )
    tl = Timeline(cfg, tmp_path, receiver)
    receiver.elapsed = lambda: tl.clock.now() - tl.start
    return tl


Delivered = list[tuple[float, str, str]]  # (t, event, incident id)


def drive(
    tl: Timeline, until: float, actions: dict[float, Callable[[Timeline], None]], *, start: float = 0.0
) -> Delivered:
    """Step the fake clock: 1 s steps for the first 400 s, then 10 s; what the receiver accepted, and when."""
    got: Delivered = []
    t = start
    while t <= until:
        if t in actions:
            tl.clock.set(tl.start + t)
            actions[t](tl)
        got.extend((t, m["event"], m["incident"]) for m in tl.at(t))
        t += 1.0 if t < 400 else 10.0
    return got


def open_incidents(n: int) -> Callable[[Timeline], None]:
    return lambda tl: tl.push(*[finding(app=f"app-{i:02d}") for i in range(n)])


def resolve_some(count: int) -> Callable[[Timeline], None]:
    def resolve(tl: Timeline) -> None:
        items, _ = tl.stage.store.list_incidents(limit=500)
        for inc in sorted(items, key=lambda i: i["labels"]["app"])[:count]:
            tl.stage.store.resolve(inc["id"], "oncall", "fixed during the outage")

    return resolve


def check_every_page_arrived(got: Delivered, tl: Timeline, resolved: int) -> None:
    incidents, total = tl.stage.store.list_incidents(limit=500)
    assert total == 30
    first_trigger: dict[str, float] = {}
    for t, event, inc in got:
        if event == "trigger":
            first_trigger.setdefault(inc, t)
    assert set(first_trigger) == {i["id"] for i in incidents}, (
        "every incident must page once the receiver is back"
    )
    resolves = [(t, inc) for t, event, inc in got if event == "resolve"]
    for t, inc in resolves:
        assert inc in first_trigger and first_trigger[inc] <= t, (
            "a resolve came before (or without) its trigger"
        )
    assert len({inc for _, inc in resolves}) == resolved
    assert tl.stage.store.list_dead_letters() == []


def red_team_outage(t: float) -> Reply:
    """503 for 90 s, then 429 (Retry-After 5) for 30 s, then connection resets for 20 s, then healthy."""
    if t < 90:
        return DOWN
    if t < 120:
        return THROTTLED
    if t < 140:
        return RESET
    return OK


def test_the_red_team_outage_loses_no_page(tmp_path: Path, receiver: OutageReceiver) -> None:
    receiver.script = red_team_outage
    tl = timeline(tmp_path, receiver)
    try:
        got = drive(tl, 1200, {0.0: open_incidents(30), 60.0: resolve_some(14)})
        check_every_page_arrived(got, tl, resolved=14)
    finally:
        tl.close()


def test_a_one_hour_outage_loses_no_page(tmp_path: Path, receiver: OutageReceiver) -> None:
    receiver.script = lambda t: OK if t >= 3600 else (RESET if int(t) % 600 < 30 else DOWN)
    tl = timeline(tmp_path, receiver)
    try:
        got = drive(tl, 3600 + 900, {0.0: open_incidents(30), 1800.0: resolve_some(15)})
        check_every_page_arrived(got, tl, resolved=15)
        assert min(t for t, _, _ in got) >= 3600  # nothing got through while the receiver was down
        # capped backoff: every page is out within one backoff cap (300 s) of the recovery
        assert max(t for t, e, _ in got if e == "trigger") <= 3600 + 300 + 10
    finally:
        tl.close()


def test_a_trigger_that_gives_up_is_no_announcement_and_replay_sends_the_current_state(
    tmp_path: Path, receiver: OutageReceiver
) -> None:
    """Past its retry budget a trigger dead-letters; the resolve that follows is then never sent (the receiver
    never saw the incident); replaying the dead letters delivers trigger, then resolve, once per incident."""
    receiver.script = lambda t: OK if t >= 3600 else DOWN
    tl = timeline(tmp_path, receiver, outbox={"max_elapsed_time": "10m"})
    try:
        got = drive(tl, 3600 + 60, {0.0: open_incidents(30), 1800.0: resolve_some(30)})
        assert got == []
        dead = tl.stage.store.list_dead_letters(limit=500)
        assert dead and {d["event"] for d in dead} == {"trigger"}
        assert {d["incident_id"] for d in dead} == {
            i["id"] for i in tl.stage.store.list_incidents(limit=500)[0]
        }
        while dead := tl.stage.store.list_dead_letters(limit=500):
            tl.stage.store.replay_dead_letter(dead[0]["id"])
        got = drive(tl, 3600 + 400, {}, start=3600 + 65)
        per_incident: dict[str, list[str]] = {}
        for _, event, inc in got:
            per_incident.setdefault(inc, []).append(event)
        assert len(per_incident) == 30
        assert all(events == ["trigger", "resolve"] for events in per_incident.values()), per_incident
    finally:
        tl.close()


def test_a_receiver_can_have_its_own_retry_budget(tmp_path: Path, receiver: OutageReceiver) -> None:
    receiver.script = lambda t: DOWN
    cfg = alerts_config(
        {
            "route": {"receiver": "default", "group_wait": "0s"},
            "receivers": [{"name": "default", "max_elapsed_time": "2m"}],
        }
    )
    tl = Timeline(cfg, tmp_path, receiver)
    receiver.elapsed = lambda: tl.clock.now() - tl.start
    try:
        drive(tl, 200, {0.0: open_incidents(1)})
        (letter,) = tl.stage.store.list_dead_letters()
        assert letter["event"] == "trigger" and "gave up after" in letter["reason"]
    finally:
        tl.close()
