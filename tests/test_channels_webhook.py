"""Standard Webhooks: headers, signature (verified here independently from the spec), rotation, body."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from collections.abc import Iterator

import pytest

from tests.support.receivers import Receiver, Recorded, make_notification, running_receiver
from watchkeeper.alerts.channels import ReceiverConfig, build_channels, close_channels
from watchkeeper.alerts.model import Event


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as server:
        yield server


KEY_A = os.urandom(32)
KEY_B = os.urandom(24)
SECRET_A = "whsec_" + base64.b64encode(KEY_A).decode()
SECRET_B = "whsec_" + base64.b64encode(KEY_B).decode()


def verify(request: Recorded, secret: str, tolerance_s: int = 300) -> bool:
    """A receiver's check written from the spec: HMAC-SHA256 of '{id}.{timestamp}.{body}'; any v1 matches."""
    msg_id = request.headers["webhook-id"]
    timestamp = request.headers["webhook-timestamp"]
    if abs(time.time() - int(timestamp)) > tolerance_s:
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + request.body, hashlib.sha256).digest()
    for entry in request.headers["webhook-signature"].split(" "):
        version, _, signature = entry.partition(",")
        if version == "v1" and hmac.compare_digest(base64.b64decode(signature), expected):
            return True
    return False


def send(receiver: Receiver, hook: dict, *notifications) -> list[Recorded]:
    config = ReceiverConfig(name="oncall", webhook_configs=[{"url": receiver.url + "/hooks/wk", **hook}])
    (channel,) = build_channels(config, dashboard_url="http://127.0.0.1:8686")
    try:
        for notification in notifications:
            assert channel.send(notification).ok
    finally:
        close_channels([channel])
    return receiver.wait_for(len(notifications))


def test_signature_verifies(receiver: Receiver) -> None:
    (request,) = send(receiver, {"secret": SECRET_A}, make_notification())
    assert request.headers["webhook-id"] == "inc-7f3a9c:trigger:1"
    assert verify(request, SECRET_A)
    assert not verify(request, SECRET_B)


def test_tampered_body_fails_verification(receiver: Receiver) -> None:
    (request,) = send(receiver, {"secret": SECRET_A}, make_notification())
    request.body = request.body.replace(b"critical", b"info")
    assert not verify(request, SECRET_A)


def test_rotation_sends_one_signature_per_secret(receiver: Receiver) -> None:
    (request,) = send(receiver, {"secret": SECRET_A, "secrets": [SECRET_B]}, make_notification())
    signatures = request.headers["webhook-signature"].split(" ")
    assert len(signatures) == 2 and all(s.startswith("v1,") for s in signatures)
    assert verify(request, SECRET_A) and verify(request, SECRET_B)


def test_webhook_id_is_stable_across_retries(receiver: Receiver) -> None:
    receiver.reply(503, "busy")
    config = ReceiverConfig(name="oncall", webhook_configs=[{"url": receiver.url + "/h", "secret": SECRET_A}])
    (channel,) = build_channels(config, dashboard_url="")
    notification = make_notification()
    try:
        assert channel.send(notification).retryable
        notification.attempt += 1
        assert channel.send(notification).ok
    finally:
        close_channels([channel])
    first, second = receiver.wait_for(2)
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == notification.id
    assert verify(first, SECRET_A) and verify(second, SECRET_A)


def test_body_contract_and_truncation(receiver: Receiver) -> None:
    (request,) = send(
        receiver, {"secret": SECRET_A}, make_notification(Event.acknowledge, excerpt="x" * 100_000)
    )
    body = request.json()
    assert body["type"] == "incident.acknowledge" and body["event"] == "acknowledge"
    assert body["dashboard_url"] == "https://watchkeeper.example.com/incidents/inc-7f3a9c"
    assert body["data"]["id"] == "inc-7f3a9c" and body["data"]["status"] == "acknowledged"
    assert body["data"]["labels"]["model"] == "gpt-4o-mini"
    assert len(body["data"]["samples"][0]["evidence"]["excerpt"]) <= 4000
    assert len(request.body) < 20_000
    assert json.loads(request.body) == body


def test_unsigned_webhook_has_no_signature_header(receiver: Receiver) -> None:
    (request,) = send(receiver, {}, make_notification())
    assert "webhook-signature" not in request.headers and request.headers["webhook-id"]


def test_410_gone_is_final(receiver: Receiver) -> None:
    receiver.reply(410, "unsubscribed")
    config = ReceiverConfig(name="oncall", webhook_configs=[{"url": receiver.url + "/h"}])
    (channel,) = build_channels(config, dashboard_url="")
    try:
        result = channel.send(make_notification())
    finally:
        close_channels([channel])
    assert not result.ok and not result.retryable and "no more deliveries" in (result.error or "")
