"""Slack: the Block Kit message as it arrives at the webhook, its limits, and escaping of model output."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.receivers import MALICIOUS, Receiver, make_notification, running_receiver
from watchkeeper.alerts.channels import ReceiverConfig, build_channels, close_channels
from watchkeeper.alerts.channels.render import TRUNCATION_MARK
from watchkeeper.alerts.channels.slack import escape_mrkdwn
from watchkeeper.alerts.model import Event


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as server:
        yield server


def deliver(receiver: Receiver, **kwargs: Any) -> dict[str, Any]:
    config = ReceiverConfig(name="oncall", slack_configs=[{"url": receiver.url + "/services/T1/B1/abc"}])
    (channel,) = build_channels(config, dashboard_url="http://127.0.0.1:8686")
    try:
        result = channel.send(make_notification(**kwargs))
    finally:
        close_channels([channel])
    assert result.ok, result.error
    request = receiver.last
    assert request.method == "POST" and request.headers["content-type"].startswith("application/json")
    return request.json()


def all_text(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False)


def test_block_kit_contract(receiver: Receiver) -> None:
    payload = deliver(receiver)
    blocks = payload["blocks"]
    types = [b["type"] for b in blocks]
    assert types[0] == "header" and "context" in types and types[-1] == "actions"
    assert blocks[0]["text"] == {
        "type": "plain_text",
        "text": "[CRITICAL] Triggered: Controversial output in support-bot",
        "emoji": False,
    }
    fields = next(b for b in blocks if b.get("fields"))["fields"]
    assert {"type": "mrkdwn", "text": "*Model*\ngpt-4o-mini"} in fields
    assert {"type": "mrkdwn", "text": "*App*\nsupport-bot"} in fields
    assert {"type": "mrkdwn", "text": "*Findings*\n3"} in fields
    button = blocks[-1]["elements"][0]
    assert (
        button["type"] == "button" and button["url"] == "https://watchkeeper.example.com/incidents/inc-7f3a9c"
    )
    assert "The model said something" in all_text(payload)
    assert payload["text"].startswith("[CRITICAL] Triggered: Controversial output in support-bot")


def test_resolve_is_announced(receiver: Receiver) -> None:
    payload = deliver(receiver, event=Event.resolve)
    assert payload["blocks"][0]["text"]["text"].startswith("[CRITICAL] Resolved:")


def test_limits_hold_with_a_100kb_model_output(receiver: Receiver) -> None:
    huge = "A" * 100_000
    payload = deliver(receiver, excerpt=huge, summary="S" * 100_000, title="T" * 5000)
    blocks = payload["blocks"]
    assert len(blocks) <= 50
    assert len(blocks[0]["text"]["text"]) <= 150 and blocks[0]["text"]["text"].endswith(TRUNCATION_MARK)
    for block in blocks:
        if block["type"] == "section" and "text" in block:
            assert len(block["text"]["text"]) <= 3000
        for field in block.get("fields", []):
            assert len(field["text"]) <= 2000
        assert len(block.get("fields", [])) <= 10
    evidence = next(b for b in blocks if b.get("text", {}).get("text", "").startswith("*Evidence*"))
    assert escape_mrkdwn(TRUNCATION_MARK) + "```" in evidence["text"]["text"]
    assert len(payload["text"]) <= 3000 and payload["text"].endswith(TRUNCATION_MARK)
    assert len(json.dumps(payload)) < 40_000


@pytest.mark.parametrize("where", ["excerpt", "summary", "title"])
def test_malicious_output_is_escaped(receiver: Receiver, where: str) -> None:
    payload = deliver(receiver, **{where: MALICIOUS})
    mrkdwn = [payload["text"]]
    for block in payload["blocks"]:
        if block.get("text", {}).get("type") == "mrkdwn":
            mrkdwn.append(block["text"]["text"])
        mrkdwn += [f["text"] for f in block.get("fields", [])]
        mrkdwn += [e["text"] for e in block.get("elements", []) if e.get("type") == "mrkdwn"]
    text = "\n".join(mrkdwn)
    assert "<!channel>" not in text and "<!everyone>" not in text and "<https://evil" not in text
    assert "<script>" not in text and "<at>" not in text
    assert "&lt;script&gt;" in text or where == "title"  # the header is plain_text; the fallback text escapes
    assert "@here" not in text and "@channel" not in text
    assert "\x1b" not in all_text(payload) and "\r" not in all_text(payload)
    # Every '&' in untrusted text is an escape sequence, not raw.
    assert '& "quoted"' not in text


def test_slack_paces_one_message_per_second(receiver: Receiver) -> None:
    config = ReceiverConfig(name="oncall", slack_configs=[{"url": receiver.url + "/services/T1/B1/abc"}])
    (channel,) = build_channels(config, dashboard_url="")
    assert channel.min_interval_s() == 1.0 and channel.kind == "slack"
    assert "abc" not in channel.destination_key
    close_channels([channel])


def test_alertmanager_spelling_sends_channel_username_and_icon(receiver: Receiver) -> None:
    """`api_url`, `channel`, `username`, `icon_emoji` as Alertmanager spells them reach Slack."""
    from watchkeeper.alerts.config import AlertsConfig

    cfg = AlertsConfig.model_validate(
        {
            "route": {"receiver": "oncall"},
            "receivers": [
                {
                    "name": "oncall",
                    "slack_configs": [
                        {
                            "api_url": receiver.url + "/services/T1/B1/abc",
                            "channel": "#ml-alerts",
                            "username": "watchkeeper",
                            "icon_emoji": ":rotating_light:",
                        }
                    ],
                }
            ],
        }
    )
    (channel,) = build_channels(cfg.receivers[0], dashboard_url="http://127.0.0.1:8686")
    try:
        assert channel.send(make_notification()).ok
    finally:
        close_channels([channel])
    payload = receiver.last.json()
    assert (payload["channel"], payload["username"], payload["icon_emoji"]) == (
        "#ml-alerts",
        "watchkeeper",
        ":rotating_light:",
    )
    assert payload["blocks"][0]["type"] == "header"
