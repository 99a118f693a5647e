"""Opsgenie Alert API v2: create with alias = incident id, then acknowledge and close by alias."""

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


API_KEY = "eb243592-faa2-4ba2-a551q-1afdf565c889"


@pytest.fixture
def opsgenie(receiver: Receiver):
    config = ReceiverConfig(
        name="oncall", opsgenie_configs=[{"api_key": API_KEY, "api_url": receiver.url + "/", "tags": ["llm"]}]
    )
    (channel,) = build_channels(config, dashboard_url="http://127.0.0.1:8686")
    yield channel
    close_channels([channel])


def accepted(receiver: Receiver) -> None:
    receiver.reply(202, json.dumps({"result": "Request will be processed", "took": 0.1, "requestId": "r1"}))


def test_create_ack_close_by_alias(receiver: Receiver, opsgenie: Channel) -> None:
    for sequence, event in enumerate([Event.trigger, Event.acknowledge, Event.resolve]):
        accepted(receiver)
        assert opsgenie.send(make_notification(event, sequence=sequence)).ok
    create, ack, close = receiver.wait_for(3)
    assert create.path == "/v2/alerts" and create.json()["alias"] == "inc-7f3a9c"
    assert ack.path == "/v2/alerts/inc-7f3a9c/acknowledge" and ack.query == {"identifierType": ["alias"]}
    assert close.path == "/v2/alerts/inc-7f3a9c/close" and close.query == {"identifierType": ["alias"]}
    assert "alice" in ack.json()["note"]
    for request in (create, ack, close):
        assert request.headers["authorization"] == f"GenieKey {API_KEY}"


def test_create_payload_contract(receiver: Receiver, opsgenie: Channel) -> None:
    accepted(receiver)
    assert opsgenie.send(make_notification(severity="error")).ok
    body = receiver.last.json()
    assert body["message"] == "[ERROR] Triggered: Controversial output in support-bot"
    assert body["priority"] == "P2"
    assert body["details"]["model"] == "gpt-4o-mini" and body["details"]["findings"] == "3"
    assert all(isinstance(v, str) for v in body["details"].values())
    assert "llm" in body["tags"] and "severity:error" in body["tags"]
    assert "https://watchkeeper.example.com/incidents/inc-7f3a9c" in body["description"]
    assert body["entity"] == "support-bot"


def test_limits_with_a_100kb_model_output(receiver: Receiver, opsgenie: Channel) -> None:
    accepted(receiver)
    assert opsgenie.send(make_notification(excerpt=MALICIOUS + "y" * 100_000, title="T" * 500)).ok
    body = receiver.last.json()
    assert len(body["message"]) <= 130 and body["message"].endswith("…")
    assert len(body["description"]) <= 15_000
    assert "@here" not in body["description"] and "\x1b" not in body["description"]
    assert all(len(t) <= 50 for t in body["tags"])


@pytest.mark.parametrize(
    ("status", "retryable"), [(422, False), (401, False), (403, False), (429, True), (500, True)]
)
def test_classification(receiver: Receiver, opsgenie: Channel, status: int, retryable: bool) -> None:
    receiver.reply(status, json.dumps({"message": "Key format is not valid!", "took": 0.0, "requestId": "r"}))
    result = opsgenie.send(make_notification())
    assert not result.ok and result.retryable is retryable and result.status == status
    assert API_KEY not in (result.error or "")
    if status == 401:
        assert "receivers[oncall].opsgenie_configs[0].api_key" in (result.error or "")
