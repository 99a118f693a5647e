"""Teams Workflows webhook: a message with one Adaptive Card, under Teams' size limit, markdown-escaped."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.receivers import MALICIOUS, Receiver, make_notification, running_receiver
from watchkeeper.alerts.channels import ReceiverConfig, build_channels, close_channels
from watchkeeper.alerts.channels.render import TRUNCATION_MARK
from watchkeeper.alerts.channels.teams import escape_card_markdown


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as server:
        yield server


def deliver(receiver: Receiver, **kwargs: Any) -> tuple[dict[str, Any], bytes]:
    config = ReceiverConfig(
        name="oncall", teams_configs=[{"url": receiver.url + "/workflows/abc/triggers/manual"}]
    )
    (channel,) = build_channels(config, dashboard_url="http://127.0.0.1:8686")
    receiver.reply(202, "")
    try:
        result = channel.send(make_notification(**kwargs))
    finally:
        close_channels([channel])
    assert result.ok and result.status == 202, result.error
    return receiver.last.json(), receiver.last.body


def test_adaptive_card_contract(receiver: Receiver) -> None:
    message, _ = deliver(receiver)
    assert message["type"] == "message"
    (attachment,) = message["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] in ("1.4", "1.5")
    facts = next(b for b in card["body"] if b["type"] == "FactSet")["facts"]
    assert {"title": "Model", "value": "gpt\\-4o\\-mini"} not in facts  # inline dashes stay readable
    assert {"title": "Model", "value": "gpt-4o-mini"} in facts
    assert {"title": "Findings", "value": "3"} in facts
    assert card["actions"][0] == {
        "type": "Action.OpenUrl",
        "title": "Open in Watchkeeper",
        "url": "https://watchkeeper.example.com/incidents/inc-7f3a9c",
    }
    assert card["body"][0]["text"] == "\\[CRITICAL\\] Triggered: Controversial output in support-bot"


def test_size_limit_with_a_100kb_model_output(receiver: Receiver) -> None:
    message, raw = deliver(receiver, excerpt="B" * 100_000, summary="S" * 100_000)
    assert len(raw) <= 28_000
    texts = [b["text"] for b in message["attachments"][0]["content"]["body"] if b["type"] == "TextBlock"]
    assert any(t.endswith(escape_card_markdown(TRUNCATION_MARK)) for t in texts)


def test_oversized_card_still_fits_at_max_text_chars(receiver: Receiver) -> None:
    config = ReceiverConfig(
        name="oncall", teams_configs=[{"url": receiver.url + "/wf", "max_text_chars": 50_000}]
    )
    (channel,) = build_channels(config, dashboard_url="")
    try:
        assert channel.send(make_notification(excerpt="€" * 60_000, summary="Z" * 60_000)).ok
    finally:
        close_channels([channel])
    assert len(receiver.last.body) <= 28_000


def test_malicious_output_is_escaped(receiver: Receiver) -> None:
    message, _ = deliver(receiver, excerpt=MALICIOUS, summary=MALICIOUS)
    card = message["attachments"][0]["content"]
    texts = [b["text"] for b in card["body"] if b["type"] == "TextBlock"]
    joined = "\n".join(texts)
    assert "[click](" not in joined and "\\[click\\](" in joined
    assert "<at>" not in joined and "<script>" not in joined
    assert "**" not in joined.replace("\\*", "")
    assert "@here" not in joined and "@channel" not in joined
    assert "\n# heading" not in joined and "\n\\# heading" in joined
