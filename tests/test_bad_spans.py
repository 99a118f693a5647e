"""One bad span is one bad span: a hostile or broken span costs its request neither the analysis of the other
spans nor a detector's batch; a span the translation cannot read goes alone to the dead-letter topic."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.support.daemon import get_json, running_daemon, wait_until
from tests.support.intake import metric
from tests.support.spans import SpanFactory, export
from watchkeeper.app import Daemon
from watchkeeper.collector.translate import otlp_model
from watchkeeper.core import semconv as sc

LEAK = "Sure: write to jane.doe@corp-mail.com, and the card on file is 4539 1488 0343 6467."


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    with running_daemon(tmp_path / "state") as d:
        yield d


@pytest.fixture
def dead_letters(daemon: Daemon) -> Iterator[Any]:
    reader = daemon.bus.consumer("dead-letter-reader", [daemon.settings.bus.topics.deadletter])
    letters: list[tuple[bytes | None, bytes]] = []

    def read() -> list[tuple[bytes | None, bytes]]:
        letters.extend((r.key, r.value) for r in reader.poll(100, timeout_s=0.3))
        return letters

    try:
        yield read
    finally:
        reader.close()


def leakage_findings(daemon: Daemon, app: str) -> list[dict[str, Any]]:
    found = get_json(daemon.web_url + f"/api/v1/findings?detector=leakage&app={app}&limit=500")
    return [f for f in found if f["labels"]["app"] == app]


def hostile_span(spans: SpanFactory, **attributes: Any) -> Any:
    with spans.tracer.start_as_current_span("chat gpt-4o-mini") as span:
        span.set_attribute(sc.OPERATION_NAME, "chat")
        span.set_attribute(sc.PROVIDER_NAME, "openai")
        span.set_attributes(attributes)
    finished = spans.memory.get_finished_spans()[-1]
    spans.memory.clear()
    return finished


def test_a_deeply_nested_output_costs_the_other_spans_nothing(daemon: Daemon, dead_letters: Any) -> None:
    spans = SpanFactory(service="nested-app")
    leaking = [spans.chat("You are support.", prompt=f"card {i}?", answer=LEAK) for i in range(10)]
    nested = hostile_span(spans, **{sc.OUTPUT_MESSAGES: "[" * 50_000 + "]" * 50_000})
    assert export(daemon.intake_url, [*leaking[:5], nested, *leaking[5:]])
    wait_until(lambda: daemon.detectors.calls_processed >= 11, 30, what="the 11 calls analyzed")
    wait_until(lambda: len(leakage_findings(daemon, "nested-app")) >= 10, 30, what="10 leakage findings")
    assert dead_letters() == [], "the nested output is read as text, and nothing of the request is a letter"


def test_a_span_the_translation_fails_on_is_dead_lettered_alone(
    daemon: Daemon, dead_letters: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = otlp_model.call_from_span

    def fails_on_the_broken_one(span: Any, *args: Any) -> Any:
        if span.name == "broken":
            raise RuntimeError("cannot read this span")
        return real(span, *args)

    monkeypatch.setattr(otlp_model, "call_from_span", fails_on_the_broken_one)
    spans = SpanFactory(service="broken-app")
    leaking = [spans.chat("You are support.", prompt=f"card {i}?", answer=LEAK) for i in range(4)]
    with spans.tracer.start_as_current_span("broken") as span:
        span.set_attribute(sc.OPERATION_NAME, "chat")
    broken = spans.memory.get_finished_spans()[-1]
    unreadable_before = metric("watchkeeper_spans_unreadable_total")
    assert export(daemon.intake_url, [*leaking[:2], broken, *leaking[2:]])
    wait_until(lambda: len(leakage_findings(daemon, "broken-app")) >= 4, 30, what="4 leakage findings")
    letters = wait_until(dead_letters, 30, what="a dead letter")
    assert len(letters) == 1
    key, value = letters[0]
    assert key == b"broken-app"
    alone = ExportTraceServiceRequest.FromString(value)  # replayable: a one-span export, resource kept
    (rs,) = alone.resource_spans
    assert [s.name for ss in rs.scope_spans for s in ss.spans] == ["broken"]
    resource = {kv.key: kv.value.string_value for kv in rs.resource.attributes}
    assert resource[sc.SERVICE_NAME] == "broken-app"
    assert metric("watchkeeper_spans_unreadable_total") == unreadable_before + 1
    assert daemon.detectors.healthy


def test_impossible_numbers_are_dropped_and_counted(daemon: Daemon, dead_letters: Any) -> None:
    spans = SpanFactory(service="numbers-app")
    batch = [spans.chat("You are support.", prompt=f"q{i}", answer=f"answer {i}") for i in range(40)]
    batch += [
        hostile_span(
            spans,
            **{
                sc.USAGE_INPUT_TOKENS: -5,
                sc.USAGE_OUTPUT_TOKENS: -1,
                sc.RESPONSE_TIME_TO_FIRST_CHUNK: -3.0,
            },
        ),
        hostile_span(
            spans,
            **{
                sc.USAGE_INPUT_TOKENS: 1e30,
                sc.USAGE_OUTPUT_TOKENS: float("inf"),
                sc.RESPONSE_TIME_TO_FIRST_CHUNK: float("nan"),
            },
        ),
    ]
    errors_before = metric("watchkeeper_detector_errors_total", detector="operational")
    dropped_before = metric("watchkeeper_span_values_dropped_total", field="input_tokens")
    assert export(daemon.intake_url, batch)
    wait_until(lambda: daemon.detectors.calls_processed >= 42, 30, what="42 calls analyzed")
    assert metric("watchkeeper_detector_errors_total", detector="operational") == errors_before
    failures = [v for _, v in dead_letters() if json.loads(v).get("kind") == "detector_failure"]
    assert failures == []
    assert metric("watchkeeper_span_values_dropped_total", field="input_tokens") == dropped_before + 2
    assert metric("watchkeeper_span_values_dropped_total", field="time_to_first_chunk") >= 2


def test_the_operational_detector_survives_impossible_numbers_from_any_source() -> None:
    """Calls built by other code (a plug-in decoder, a replay of old letters) may still carry them."""
    import dataclasses
    import math

    from watchkeeper.detectors.operational.detector import OperationalDetector
    from watchkeeper.detectors.operational.evaluation import generate_stream

    calls = generate_stream(600, 2)
    for i in range(0, len(calls), 7):
        calls[i] = dataclasses.replace(
            calls[i], input_tokens=-5, output_tokens=-1, duration_ms=math.nan, time_to_first_chunk_ms=-3.0
        )
    detector = OperationalDetector()
    for i in range(0, len(calls), 100):
        detector.observe_batch(calls[i : i + 100])  # raised "math domain error" before
