"""A detector that raises keeps neither the stream nor the other detectors from working, and loses no call."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from tests.support.daemon import daemon_settings, get_json, wait_until
from tests.support.spans import SpanFactory, export
from watchkeeper.app import Daemon
from watchkeeper.core.records import ModelCall
from watchkeeper.detectors.stage import detector_failure

SECRET_ANSWER = "Sure: write to jane.doe@corp-mail.com, and the card on file is 4539 1488 0343 6467."


def _dead_letters(daemon: Daemon, reader: Any) -> list[tuple[bytes | None, dict[str, Any]]]:
    return [(r.key, json.loads(r.value)) for r in reader.poll(100, timeout_s=0.5)]


def test_calls_failing_detectors_could_not_analyze_go_to_the_dead_letter_topic(tmp_path: Path) -> None:
    daemon = Daemon(daemon_settings(tmp_path / "state"))
    daemon.start()
    reader = daemon.bus.consumer("dead-letter-reader", [daemon.settings.bus.topics.deadletter])
    try:
        stage = daemon.detectors

        def explode(calls: list[Any]) -> list[Any]:
            raise RuntimeError("model file vanished")

        for name in ("content_safety", "drift"):
            detector = next(d for d in stage.detectors if d.name == name)
            detector.observe_batch = explode  # type: ignore[method-assign]
        spans = SpanFactory(service="billing-bot")
        span = spans.chat("You are a billing assistant.", answer=SECRET_ANSWER)
        assert export(daemon.intake_url, [span])

        letters: list[tuple[bytes | None, dict[str, Any]]] = []
        wait_until(lambda: letters.extend(_dead_letters(daemon, reader)) or letters, 30, what="dead letter")
        assert len(letters) == 1, "one letter per call, however many detectors failed on it"
        key, envelope = letters[0]
        span_id = f"{span.context.trace_id:032x}:{span.context.span_id:016x}"
        assert key == f"detector_failure:{span_id}".encode()
        assert envelope["kind"] == "detector_failure" and envelope["id"] == span_id
        assert sorted(f["detector"] for f in envelope["failures"]) == ["content_safety", "drift"]
        assert {f["error"] for f in envelope["failures"]} == {"RuntimeError: model file vanished"}
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


def test_a_dead_letter_is_strict_json_even_for_non_finite_numbers() -> None:
    call = ModelCall(
        trace_id="a" * 32,
        span_id="b" * 16,
        service="app",
        start_time_ns=1,
        duration_ms=math.inf,
        request_params={"temperature": math.nan, "stop": ["x"]},
    )
    key, value = detector_failure(call, [{"detector": "operational", "error": "ValueError: nan"}])
    envelope = json.loads(value, parse_constant=lambda name: pytest.fail(f"non-JSON constant {name}"))
    assert key == b"detector_failure:" + b"a" * 32 + b":" + b"b" * 16
    assert envelope["call"]["duration_ms"] is None
    assert envelope["call"]["request_params"] == {"temperature": None, "stop": ["x"]}
