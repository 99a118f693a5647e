"""One HTTP attempt, classified: what the outbox is told for each kind of answer or failure."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from email.utils import formatdate

import pytest

from tests.support.net import free_port
from tests.support.receivers import Receiver, make_notification, running_receiver
from watchkeeper.alerts.channels import ReceiverConfig, build_channels, close_channels
from watchkeeper.alerts.channels.base import Channel
from watchkeeper.alerts.channels.http import parse_retry_after


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as server:
        yield server


SLACK_SECRET_PATH = "/services/T0SECRET/B0SECRET/xoxSECRETtokenvalue"
ROUTING_KEY = "R0UT1NGKEYsecretsecretsecret0000"


def slack_channel(base_url: str) -> Channel:
    config = ReceiverConfig(name="oncall", slack_configs=[{"url": base_url + SLACK_SECRET_PATH}])
    return build_channels(config, dashboard_url="http://127.0.0.1:8686")[0]


@pytest.fixture
def slack(receiver: Receiver):
    channel = slack_channel(receiver.url)
    yield channel
    close_channels([channel])


def test_2xx_is_success(receiver: Receiver, slack: Channel) -> None:
    result = slack.send(make_notification())
    assert result.ok and result.status == 200 and result.error is None
    assert receiver.last.path == SLACK_SECRET_PATH


def test_500_is_retryable(receiver: Receiver, slack: Channel) -> None:
    receiver.reply(500, "rollup_error")
    result = slack.send(make_notification())
    assert not result.ok and result.retryable and result.status == 500
    assert "Slack answered 500" in (result.error or "")


def test_429_with_retry_after_seconds(receiver: Receiver, slack: Channel) -> None:
    receiver.reply(429, "rate_limited", headers={"Retry-After": "30"})
    result = slack.send(make_notification())
    assert result.retryable and result.status == 429 and result.retry_after_s == 30.0


def test_503_with_retry_after_http_date(receiver: Receiver, slack: Channel) -> None:
    receiver.reply(503, "busy", headers={"Retry-After": formatdate(time.time() + 120, usegmt=True)})
    result = slack.send(make_notification())
    assert result.retryable and result.retry_after_s is not None
    assert 60 < result.retry_after_s <= 121


def test_410_is_final_and_names_the_fix(receiver: Receiver, slack: Channel) -> None:
    receiver.reply(410, "channel_is_archived")
    result = slack.send(make_notification())
    assert not result.ok and not result.retryable and result.status == 410
    assert "channel_is_archived" in (result.error or "")
    assert "receivers[oncall].slack_configs[0].url" in (result.error or "")


def test_404_no_service_explains_revoked_webhook(receiver: Receiver, slack: Channel) -> None:
    receiver.reply(404, "no_service")
    result = slack.send(make_notification())
    assert not result.retryable
    assert result.error == (
        "Slack answered 404 no_service: the webhook URL was revoked; "
        "create a new incoming webhook and update receivers[oncall].slack_configs[0].url"
    )


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 413, 422])
def test_client_errors_are_final(receiver: Receiver, slack: Channel, status: int) -> None:
    receiver.reply(status, "nope")
    result = slack.send(make_notification())
    assert not result.ok and not result.retryable and result.status == status and result.error


@pytest.mark.parametrize("status", [408, 429, 502, 503, 504])
def test_transient_statuses_are_retryable(receiver: Receiver, slack: Channel, status: int) -> None:
    receiver.reply(status, "later")
    assert slack.send(make_notification()).retryable


def test_redirect_is_not_followed(receiver: Receiver, slack: Channel) -> None:
    receiver.reply(301, "", headers={"Location": "https://elsewhere.example.com/secret-path"})
    result = slack.send(make_notification())
    assert not result.ok and not result.retryable and result.status == 301
    assert "https://elsewhere.example.com" in (result.error or "") and "secret-path" not in (
        result.error or ""
    )
    assert len(receiver.requests) == 1


def test_timeout_is_retryable(receiver: Receiver, slack: Channel) -> None:
    receiver.hang()
    result = slack.send(make_notification(), timeout_s=0.3)
    assert not result.ok and result.retryable and result.status is None
    assert "timed out" in (result.error or "")


def test_connection_reset_is_retryable(receiver: Receiver, slack: Channel) -> None:
    receiver.reset()
    result = slack.send(make_notification())
    assert not result.ok and result.retryable
    assert "reset" in (result.error or "") or "closed" in (result.error or "")


def test_connection_refused_is_retryable() -> None:
    channel = slack_channel(f"http://127.0.0.1:{free_port()}")
    try:
        result = channel.send(make_notification(), timeout_s=2)
    finally:
        close_channels([channel])
    assert not result.ok and result.retryable and "cannot connect" in (result.error or "")


def test_secrets_never_in_errors_or_logs(receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    config = ReceiverConfig(
        name="oncall",
        slack_configs=[{"url": receiver.url + SLACK_SECRET_PATH}],
        pagerduty_configs=[{"routing_key": ROUTING_KEY, "url": receiver.url + "/v2/enqueue"}],
        opsgenie_configs=[{"api_key": "genie-SECRET-key-123456", "api_url": receiver.url}],
        webhook_configs=[
            {"url": receiver.url + "/hook?token=hooktokenSECRET", "secret": "whsec_" + "c2VjcmV0" * 5}
        ],
    )
    channels = build_channels(config, dashboard_url="http://127.0.0.1:8686")
    # Receivers that echo the request (path and credential) back in their error body.
    echoes = [
        f"bad {SLACK_SECRET_PATH}",
        f"bad routing key {ROUTING_KEY}",
        "bad key GenieKey genie-SECRET-key-123456",
        "bad /hook?token=hooktokenSECRET",
    ]
    errors: list[str] = []
    try:
        for channel, echo in zip(channels, echoes, strict=True):
            receiver.reply(400, echo)
            errors.append(channel.send(make_notification()).error or "")
            receiver.reply(503, echo)
            errors.append(channel.send(make_notification()).error or "")
        receiver.hang()
        errors.append(channels[0].send(make_notification(), timeout_s=0.2).error or "")
    finally:
        close_channels(channels)
    secrets = ["T0SECRET", "xoxSECRETtokenvalue", ROUTING_KEY, "genie-SECRET-key-123456", "hooktokenSECRET"]
    for secret in secrets:
        for error in errors:
            assert secret not in error
        assert secret not in caplog.text
        assert secret not in repr(config)
    assert all(errors)


def test_parse_retry_after() -> None:
    now = 1_700_000_000.0
    assert parse_retry_after("7", now=now) == 7.0
    assert parse_retry_after(formatdate(now + 90, usegmt=True), now=now) == pytest.approx(90.0, abs=1)
    assert parse_retry_after(formatdate(now - 90, usegmt=True), now=now) == 0.0
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after(None) is None
