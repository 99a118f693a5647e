"""Alertmanager-style timeline acceptance tests: findings pushed at fake-clock times, notifications expected
at given times in a real loopback HTTP receiver; any missing or extra notification fails the test."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.alerts import Timeline, alerts_config, finding
from tests.support.receivers import WebhookReceiver as Receiver

TIMING = {"group_wait": "30s", "group_interval": "5m", "repeat_interval": "1h"}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def make(tmp_path: Path, receiver: Receiver, data: dict[str, Any]) -> Timeline:
    return Timeline(alerts_config(data), tmp_path, receiver)


def run_timeline(
    tl: Timeline,
    pushes: dict[float, list[Any]],
    until: float,
    actions: dict[float, Any] | None = None,
    step: float = 1.0,
) -> list[tuple[float, str, str]]:
    """Step the clock; push findings / run actions *before* each step; return (t, event, receiver)."""
    actions = actions or {}
    out: list[tuple[float, str, str]] = []
    t = 0.0
    while t <= until:
        if t in pushes:
            tl.push(*pushes[t])
        if t in actions:
            tl.clock.set(tl.start + t)
            actions[t](tl)
        out.extend((t, m["event"], m["receiver"]) for m in tl.at(t))
        t += step
    return out


def test_group_wait_then_update_after_group_interval_then_repeat(tmp_path: Path, receiver: Receiver) -> None:
    tl = make(tmp_path, receiver, {"route": {"receiver": "default", **TIMING}, "resolve_timeout": "2h"})
    try:
        pushes = {0.0: [finding()], 10.0: [finding()], 100.0: [finding()]}
        got = run_timeline(tl, pushes, until=30 + 300 * 14, step=10.0)
        assert got == [
            (30.0, "trigger", "default"),  # group_wait after the first finding, both findings in it
            (330.0, "update", "default"),  # the finding at t=100 goes out at the next group_interval tick
            (330.0 + 3600, "update", "default"),  # repeat_interval after the last notification (on a tick)
        ]
        inc = tl.stage.store.list_incidents()[0][0]
        assert inc["finding_count"] == 3 and inc["status"] == "triggered"
    finally:
        tl.close()


def test_resolve_before_group_wait_is_never_sent(tmp_path: Path, receiver: Receiver) -> None:
    tl = make(tmp_path, receiver, {"route": {"receiver": "default", **TIMING}})
    try:

        def resolve(t: Timeline) -> None:
            (inc,), _ = t.stage.store.list_incidents()
            t.stage.store.resolve(inc["id"], "alice", "false positive")

        got = run_timeline(tl, {0.0: [finding()]}, until=400, actions={5.0: resolve}, step=5.0)
        assert got == []
        (inc,), _ = tl.stage.store.list_incidents()
        assert inc["status"] == "resolved" and inc["resolved_by"] == "alice"
        assert tl.stage.store.get_incident(inc["id"])["notifications"] == []
    finally:
        tl.close()


def test_auto_resolve_after_quiet_period_sends_resolve_once(tmp_path: Path, receiver: Receiver) -> None:
    tl = make(tmp_path, receiver, {"route": {"receiver": "default", **TIMING}, "resolve_timeout": "10m"})
    try:
        got = run_timeline(tl, {0.0: [finding()]}, until=1300, step=10.0)
        assert got == [(30.0, "trigger", "default"), (600.0, "resolve", "default")]
    finally:
        tl.close()


def test_resolved_incident_is_never_reopened(tmp_path: Path, receiver: Receiver) -> None:
    tl = make(tmp_path, receiver, {"route": {"receiver": "default", **TIMING}, "resolve_timeout": "10m"})
    try:
        got = run_timeline(tl, {0.0: [finding()], 700.0: [finding(t=1700.0)]}, until=800, step=10.0)
        assert got == [
            (30.0, "trigger", "default"),
            (600.0, "resolve", "default"),
            (730.0, "trigger", "default"),
        ]
        items, total = tl.stage.store.list_incidents()
        assert total == 2
        assert {i["status"] for i in items} == {"resolved", "triggered"}
        assert len({i["id"] for i in items}) == 2
    finally:
        tl.close()


def test_acknowledge_is_announced_and_stops_repeats(tmp_path: Path, receiver: Receiver) -> None:
    tl = make(tmp_path, receiver, {"route": {"receiver": "default", **TIMING}, "resolve_timeout": "3h"})
    try:

        def ack(t: Timeline) -> None:
            (inc,), _ = t.stage.store.list_incidents()
            t.stage.store.acknowledge(inc["id"], "bob", "looking")

        got = run_timeline(tl, {0.0: [finding()]}, until=2 * 3600, actions={100.0: ack}, step=10.0)
        assert got == [(30.0, "trigger", "default"), (100.0, "acknowledge", "default")]
    finally:
        tl.close()


def test_grouping_by_route_group_by_and_separate_groups(tmp_path: Path, receiver: Receiver) -> None:
    tl = make(tmp_path, receiver, {"route": {"receiver": "default", "group_by": ["app"], **TIMING}})
    try:
        pushes = {
            0.0: [finding(app="a", category="hate"), finding(app="a", category="violence"), finding(app="b")]
        }
        got = run_timeline(tl, pushes, until=40)
        assert got == [(30.0, "trigger", "default"), (30.0, "trigger", "default")]
        items, _ = tl.stage.store.list_incidents()
        counts = sorted((i["labels"]["app"], i["finding_count"]) for i in items)
        assert counts == [("a", 2), ("b", 1)]
        a = next(i for i in items if i["labels"]["app"] == "a")
        assert "category" not in a["labels"]  # only common labels stay
    finally:
        tl.close()


def test_continue_sends_to_several_receivers_with_their_own_timing(
    tmp_path: Path, receiver: Receiver
) -> None:
    data = {
        "receivers": [{"name": "default"}, {"name": "oncall"}, {"name": "audit"}],
        "route": {
            "receiver": "default",
            **TIMING,
            "routes": [
                {
                    "matchers": ['severity=~"critical|error"'],
                    "receiver": "oncall",
                    "group_wait": "0s",
                    "continue": True,
                },
                {"matchers": ['app="chatbot"'], "receiver": "audit", "group_wait": "1m"},
            ],
        },
    }
    tl = make(tmp_path, receiver, data)
    try:
        got = run_timeline(tl, {0.0: [finding(severity="critical")], 5.0: [finding(app="other")]}, until=70)
        assert got == [(0.0, "trigger", "oncall"), (35.0, "trigger", "default"), (60.0, "trigger", "audit")]
    finally:
        tl.close()


def test_replayed_findings_have_no_second_effect(tmp_path: Path, receiver: Receiver) -> None:
    tl = make(tmp_path, receiver, {"route": {"receiver": "default", **TIMING}})
    try:
        f = finding(fid="same-id")
        got = run_timeline(tl, {0.0: [f, f], 100.0: [f], 400.0: [f]}, until=700)
        assert got == [(30.0, "trigger", "default")]  # no update: nothing new ever arrived
        (inc,), _ = tl.stage.store.list_incidents()
        assert inc["finding_count"] == 1
        assert tl.stage.store.list_findings()[1] == 1
    finally:
        tl.close()


def test_silence_pending_active_expired(tmp_path: Path, receiver: Receiver) -> None:
    tl = make(
        tmp_path,
        receiver,
        {
            "route": {
                "receiver": "default",
                "group_wait": "0s",
                "group_interval": "1m",
                "repeat_interval": "1h",
            },
            "resolve_timeout": "1h",
        },
    )
    store = tl.stage.store
    try:

        def silence(t: Timeline) -> None:
            now = t.clock.now()
            t.sid = store.create_silence(['app="chatbot"'], now + 10, now + 130, "carol", "deploy")["id"]
            assert store.list_silences("pending")[0]["id"] == t.sid

        got = run_timeline(
            tl,
            {20.0: [finding()], 300.0: [finding(app="other")]},
            until=320,
            actions={0.0: silence},
            step=10.0,
        )
        assert store.list_silences("expired")[0]["id"] == tl.sid
        # Silenced at t=20 (recorded as suppressed); re-announced at the first flush after the silence ended.
        assert got == [(140.0, "trigger", "default"), (300.0, "trigger", "default")]
        chatbot = next(i for i in store.list_incidents(app="chatbot")[0])
        notes = store.get_incident(chatbot["id"])["notifications"]
        assert notes[0]["status"] == "suppressed" and notes[0]["reason"] == f"silenced by {tl.sid}"
    finally:
        tl.close()


def test_expired_silence_by_hand(tmp_path: Path, receiver: Receiver) -> None:
    tl = make(
        tmp_path, receiver, {"route": {"receiver": "default", "group_wait": "0s", "group_interval": "1m"}}
    )
    store = tl.stage.store
    try:
        sid = store.create_silence(['detector="content_safety"'], None, tl.clock.now() + 3600, "dan", "")[
            "id"
        ]
        assert store.list_silences("active")[0]["id"] == sid
        got = run_timeline(
            tl, {0.0: [finding()]}, until=59, actions={30.0: lambda t: store.expire_silence(sid)}
        )
        assert got == []
        assert store.list_silences("expired")[0]["id"] == sid
        assert tl.at(60) and tl.at(61) == []
    finally:
        tl.close()


def test_inhibition_with_equal_labels(tmp_path: Path, receiver: Receiver) -> None:
    data = {
        "route": {
            "receiver": "default",
            "group_by": ["app", "detector"],
            "group_wait": "0s",
            "group_interval": "1m",
        },
        "inhibit_rules": [
            {
                "source_matchers": ['detector="provider_outage"'],
                "target_matchers": ['detector="latency"'],
                "equal": ["app"],
            }
        ],
    }
    tl = make(tmp_path, receiver, data)
    try:
        pushes = {
            0.0: [finding(app="a", detector="provider_outage", severity="critical")],
            5.0: [finding(app="a", detector="latency"), finding(app="b", detector="latency")],
        }
        got = run_timeline(tl, pushes, until=10)
        # app=a latency is muted by the open outage in app=a; app=b is not (equal: app differs).
        assert [(t, e) for t, e, _ in got] == [(0.0, "trigger"), (5.0, "trigger")]
        muted = tl.stage.store.list_incidents(app="a", detector="latency")[0][0]
        note = tl.stage.store.get_incident(muted["id"])["notifications"][0]
        assert note["status"] == "suppressed" and note["reason"].startswith("inhibited by incident")
    finally:
        tl.close()


def test_no_trigger_after_resolve_when_receiver_was_down(tmp_path: Path, receiver: Receiver) -> None:
    from tests.support.receivers import Reply

    tl = make(
        tmp_path,
        receiver,
        {
            "route": {"receiver": "default", "group_wait": "0s", "group_interval": "1m"},
            "outbox": {"backoff_base_s": 4, "backoff_max_s": 8, "max_attempts": 50},
        },
    )
    try:
        receiver.default = Reply(status=503)

        def resolve(t: Timeline) -> None:
            (inc,), _ = t.stage.store.list_incidents()
            t.stage.store.resolve(inc["id"], "erin", "")

        def heal(t: Timeline) -> None:
            receiver.default = Reply(status=200)

        got = run_timeline(tl, {0.0: [finding()]}, until=60, actions={10.0: resolve, 30.0: heal})
        assert [e for _, e, _ in got] == ["trigger", "resolve"]
        assert got[0][0] <= got[1][0]
    finally:
        tl.close()


def test_findings_are_stored_as_they_arrived_whatever_their_json_encoding(
    tmp_path: Path, receiver: Receiver
) -> None:
    """A finding's JSON is stored as received when it is plain UTF-8 (no second encoding); JSON in
    UTF-16 or with a BOM is valid too and is stored re-encoded, readable like any other."""
    tl = make(tmp_path, receiver, {"route": {"receiver": "default", "group_wait": "0s"}})
    try:
        plain, wide, marked = finding(app="a"), finding(app="b"), finding(app="c")
        spaced = json.dumps(json.loads(plain.to_json()), indent=1).encode()
        tl.producer.publish(
            tl.topics.findings,
            [
                (b"a", spaced),
                (b"b", wide.to_json().decode().encode("utf-16")),
                (b"c", marked.to_json().decode().encode("utf-8-sig")),
            ],
        )
        got = tl.at(0)
        assert sorted(m["labels"]["app"] for m in got) == ["a", "b", "c"]
        assert tl.stage.bad_records == 0
        for f in (plain, wide, marked):
            stored = tl.stage.store.get_finding(f.id)
            assert stored is not None and stored["evidence"] == f.evidence and stored["time"] == f.time
    finally:
        tl.close()
