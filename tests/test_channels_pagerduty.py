"""PagerDuty Events API v2: trigger, acknowledge and resolve land on one alert through a stable dedup_key."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.support.receivers import MALICIOUS, Receiver, make_notification, running_receiver
from watchkeeper.alerts.channels import ReceiverConfig, build_channels, close_channels
from watchkeeper.alerts.channels.base import Channel
from watchkeeper.alerts.model import Event


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as server:
        yield server


ROUTING_KEY = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def pagerduty(receiver: Receiver):
    config = ReceiverConfig(
        name="oncall", pagerduty_configs=[{"routing_key": ROUTING_KEY, "url": receiver.url + "/v2/enqueue"}]
    )
    (channel,) = build_channels(config, dashboard_url="http://127.0.0.1:8686")
    yield channel
    close_channels([channel])


def accepted(receiver: Receiver) -> None:
    receiver.reply(202, json.dumps({"status": "success", "message": "Event processed", "dedup_key": "x"}))


def test_trigger_ack_resolve_share_the_dedup_key(receiver: Receiver, pagerduty: Channel) -> None:
    for sequence, event in enumerate([Event.trigger, Event.update, Event.acknowledge, Event.resolve]):
        accepted(receiver)
        result = pagerduty.send(make_notification(event, sequence=sequence))
        assert result.ok and result.status == 202, result.error
    bodies = [r.json() for r in receiver.wait_for(4)]
    assert [b["event_action"] for b in bodies] == ["trigger", "trigger", "acknowledge", "resolve"]
    assert {b["dedup_key"] for b in bodies} == {"inc-7f3a9c"}
    assert {b["routing_key"] for b in bodies} == {ROUTING_KEY}
    assert all(r.path == "/v2/enqueue" for r in receiver.requests)
    assert "payload" not in bodies[2] and "payload" not in bodies[3]


def test_trigger_payload_contract(receiver: Receiver, pagerduty: Channel) -> None:
    accepted(receiver)
    assert pagerduty.send(make_notification()).ok
    event = receiver.last.json()
    payload = event["payload"]
    assert payload["summary"] == "[CRITICAL] Triggered: Controversial output in support-bot"
    assert payload["severity"] == "critical"
    assert payload["source"] == "support-bot" and payload["group"] == "support-bot"
    assert payload["component"] == "gpt-4o-mini" and payload["class"] == "controversial"
    assert payload["timestamp"].startswith("2023-11-14T22:18:20")
    details = payload["custom_details"]
    assert details["finding_count"] == 3 and details["labels"]["model"] == "gpt-4o-mini"
    assert details["evidence_excerpt"].startswith("The model said")
    assert {
        "href": "https://watchkeeper.example.com/incidents/inc-7f3a9c",
        "text": "Open in Watchkeeper",
    } in event["links"]
    assert event["client"] == "Watchkeeper"


@pytest.mark.parametrize(
    ("severity", "expected"),
    [("error", "error"), ("warning", "warning"), ("info", "info"), ("bogus", "warning")],
)
def test_severity_mapping(receiver: Receiver, pagerduty: Channel, severity: str, expected: str) -> None:
    accepted(receiver)
    assert pagerduty.send(make_notification(severity=severity)).ok
    assert receiver.last.json()["payload"]["severity"] == expected


def test_limits_with_a_100kb_model_output(receiver: Receiver, pagerduty: Channel) -> None:
    accepted(receiver)
    assert pagerduty.send(make_notification(excerpt=MALICIOUS + "x" * 100_000, title="T" * 3000)).ok
    raw = receiver.last.body
    event = json.loads(raw)
    assert len(raw) <= 512 * 1024
    assert len(event["payload"]["summary"]) <= 1024
    assert len(event["payload"]["custom_details"]["evidence_excerpt"]) <= 3000
    assert "@here" not in raw.decode() and "<!channel>" not in raw.decode()


def test_400_is_final_and_explains(receiver: Receiver, pagerduty: Channel) -> None:
    receiver.reply(
        400,
        json.dumps(
            {
                "status": "invalid event",
                "message": "Event object is invalid",
                "errors": ["Length of 'routing_key' is incorrect (should be 32 characters)"],
            }
        ),
    )
    result = pagerduty.send(make_notification())
    assert not result.ok and not result.retryable and result.status == 400
    assert "Event object is invalid" in (result.error or "") and "routing_key" in (result.error or "")
    assert ROUTING_KEY not in (result.error or "")


def test_429_is_retryable(receiver: Receiver, pagerduty: Channel) -> None:
    receiver.reply(429, "{}", headers={"Retry-After": "60"})
    result = pagerduty.send(make_notification())
    assert result.retryable and result.retry_after_s == 60.0


def test_send_resolved_false_skips_resolve(receiver: Receiver) -> None:
    config = ReceiverConfig(
        name="oncall",
        pagerduty_configs=[
            {"routing_key": ROUTING_KEY, "url": receiver.url + "/v2/enqueue", "send_resolved": False}
        ],
    )
    (channel,) = build_channels(config, dashboard_url="")
    try:
        assert channel.send(make_notification(Event.resolve)).ok
    finally:
        close_channels([channel])
    assert receiver.requests == []
