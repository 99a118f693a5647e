"""A detector that raises keeps neither the stream nor the other detectors from working, and loses no call."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support.daemon import daemon_settings, get_json, wait_until
from tests.support.spans import SpanFactory, export
from watchkeeper.app import Daemon

SECRET_ANSWER = "Sure: write to jane.doe@corp-mail.com, and the card on file is 4539 1488 0343 6467."


def _dead_letters(daemon: Daemon, reader: Any) -> list[tuple[bytes | None, dict[str, Any]]]:
    return [(r.key, json.loads(r.value)) for r in reader.poll(100, timeout_s=0.5)]


def test_calls_a_failing_detector_could_not_analyze_go_to_the_dead_letter_topic(tmp_path: Path) -> None:
    daemon = Daemon(daemon_settings(tmp_path / "state"))
    daemon.start()
    reader = daemon.bus.consumer("dead-letter-reader", [daemon.settings.bus.topics.deadletter])
    try:
        stage = daemon.detectors
        broken = next(d for d in stage.detectors if d.name == "content_safety")

        def explode(calls: list[Any]) -> list[Any]:
            raise RuntimeError("model file vanished")

        broken.observe_batch = explode  # type: ignore[method-assign]
        spans = SpanFactory(service="billing-bot")
        assert export(daemon.intake_url, [spans.chat("You are a billing assistant.", answer=SECRET_ANSWER)])

        letters: list[tuple[bytes | None, dict[str, Any]]] = []
        wait_until(lambda: letters.extend(_dead_letters(daemon, reader)) or letters, 30, what="dead letter")
        key, envelope = letters[0]
        assert key == b"detector:content_safety"
        assert envelope["kind"] == "detector_failure"
        assert envelope["detector"] == "content_safety"
        assert envelope["error"] == "RuntimeError: model file vanished"
        assert envelope["call"]["service"] == "billing-bot"
        assert envelope["call"]["output_text"] == SECRET_ANSWER

        # the other detectors analyzed the same call, and the stage is still healthy and reading
        findings = wait_until(
            lambda: [f for f in get_json(daemon.web_url + "/api/v1/findings") if f["detector"] == "leakage"],
            30,
            what="leakage finding",
        )
        assert findings
        assert stage.healthy
        assert export(daemon.intake_url, [spans.chat("You are a billing assistant.")])
        wait_until(lambda: stage.calls_processed >= 2, 30, what="the next call analyzed")
    finally:
        reader.close()
        daemon.stop()
