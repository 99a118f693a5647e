"""Operational anomalies: quiet on heavy-tailed normal traffic, prompt on spikes and bursts, deterministic."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from click.testing import CliRunner

from tests.support.state import findings_with_evictions
from watchkeeper.core.detector import MemoryState
from watchkeeper.core.findings import Severity
from watchkeeper.detectors.operational.detector import OperationalDetector, OperationalSettings
from watchkeeper.detectors.operational.evaluation import (
    PROFILES,
    SCENARIOS,
    evaluate,
    generate_stream,
    operational_eval_cmd,
)
from watchkeeper.detectors.refusals import is_refusal


def run(detector: OperationalDetector, calls: list) -> list:
    out = []
    for i in range(0, len(calls), 100):
        out.extend(detector.observe_batch(calls[i : i + 100]))
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_clean_stream_raises_nothing(seed: int) -> None:
    assert evaluate(None, seed, n=3000).false_positives == 0


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_injected_incident_is_detected_within_two_windows(scenario: str) -> None:
    result = evaluate(scenario, seed=4, n=3000, start=2000, length=300)
    assert result.detected_after is not None and result.detected_after <= 100, result
    assert result.false_positives == 0


def test_latency_spike_severity_and_evidence() -> None:
    detector = OperationalDetector()
    calls = generate_stream(1500, 3, "latency_spike", start=1000, length=200)
    findings = [f for f in run(detector, calls) if f.category == "operational.latency"]
    assert findings
    first = findings[0]
    assert first.severity in (Severity.error, Severity.critical)
    assert first.labels["app"] == "sim-support-bot" and first.labels["model"] == "gpt-sim"
    assert first.evidence["window_median"] > 2 * first.evidence["baseline_median"]
    assert first.evidence["p_value"] < 1e-4 and first.evidence["examples"]
    assert len({f.fingerprint for f in findings}) == 1  # one incident for the spike


def test_nothing_during_warmup() -> None:
    calls = generate_stream(150, 1, "error_burst", start=0, length=150)
    assert run(OperationalDetector(), calls) == []


def test_same_stream_same_findings() -> None:
    calls = generate_stream(2000, 5, "truncation_burst", start=1500, length=200)
    a = [(f.id, f.category) for f in run(OperationalDetector(), calls)]
    b = [(f.id, f.category) for f in run(OperationalDetector(), calls)]
    assert a and a == b


def test_baseline_survives_a_restart() -> None:
    state = MemoryState()
    settings = OperationalSettings()
    run(OperationalDetector(settings, state=state), generate_stream(600, 6))
    state.checkpoint()
    restarted = OperationalDetector(settings, state=state)
    burst = generate_stream(100, 7, "error_burst", start=0, length=100)
    assert any(f.category == "operational.error_rate" for f in run(restarted, burst))


def test_combined_shift_that_single_checks_miss() -> None:
    detector = OperationalDetector(OperationalSettings(forest=True, forest_min_windows=20))
    calls = generate_stream(2000, 8)
    for c in calls[1500:1550]:  # longer prompts, shorter and slower answers: each too small or short alone
        c.duration_ms *= 1.2
        c.input_tokens = int(c.input_tokens * 1.6)
        c.output_tokens = c.output_tokens and int(c.output_tokens * 0.65)
    findings = run(detector, calls)
    assert [f.category for f in findings] == ["operational.combined"]
    assert findings[0].evidence["features_far_out"] >= 2
    assert detector._apps.get("sim-support-bot").models["gpt-sim"].forest is not None


def test_refusal_phrases() -> None:
    assert is_refusal("I'm sorry, but I can't help with that.")
    assert is_refusal("I\u2019m unable to share that information.")
    assert not is_refusal("Sure! Here is the recipe you asked for.")


def test_cli_prints_the_table() -> None:
    result = CliRunner().invoke(operational_eval_cmd, ["--seeds", "1", "--profile", "lognormal"])
    assert result.exit_code == 0, result.output
    assert "latency_spike" in result.output and "false positives" in result.output


def test_fast_forest_scores_like_sklearn() -> None:
    from sklearn.ensemble import IsolationForest

    from watchkeeper.detectors.operational.detector import _FastForest

    rng = np.random.default_rng(0)
    train = rng.normal(size=(40, 5))
    forest = IsolationForest(n_estimators=32, random_state=0).fit(train)
    probe = np.vstack([train[:5], rng.normal(size=(10, 5)) * 3])
    fast = _FastForest(forest)
    assert np.allclose([fast.score(tuple(row)) for row in probe], forest.score_samples(probe), atol=1e-9)


@pytest.mark.parametrize("profile", PROFILES)
def test_every_traffic_shape_is_quiet_when_clean(profile: str) -> None:
    """Heavy tails, two latency modes, traffic-mix changes and rare giant answers are the app's normal."""
    assert evaluate(None, 7, n=3000, profile=profile).false_positives == 0


def _slow_stream(factor: float, start: int, length: int, *, tokens: float = 1.0, n: int = 1500) -> list:
    calls = generate_stream(n, 11, profile="length_driven")
    for c in calls[start : start + length]:
        c.duration_ms *= factor
        if c.output_tokens is not None:
            c.output_tokens = int(c.output_tokens * tokens)
    return calls


def test_one_long_answer_and_longer_answers_are_not_incidents() -> None:
    calls = _slow_stream(1.0, 0, 0)
    giant = calls[1000]
    giant.duration_ms, giant.output_tokens = 90_000.0, 8000
    assert run(OperationalDetector(), calls) == []
    # twice as long answers taking twice as long (a change of what users ask): latency is fine for the length
    longer = _slow_stream(2.0, 1000, 100, tokens=2.0)
    assert [f for f in run(OperationalDetector(), longer) if f.category == "operational.latency"] == []


def test_token_shift_is_reported_only_when_sustained_and_only_as_info() -> None:
    short = generate_stream(2000, 12, profile="length_driven")
    for c in short[1000:1100]:  # two windows of short answers: a traffic-mix change
        c.output_tokens = c.output_tokens and max(1, c.output_tokens // 5)
    assert [f for f in run(OperationalDetector(), short) if f.category == "operational.output_tokens"] == []
    for c in short[1100:1300]:  # it persists: a shift worth a look, not a page
        c.output_tokens = c.output_tokens and max(1, c.output_tokens // 5)
    findings = [f for f in run(OperationalDetector(), short) if f.category == "operational.output_tokens"]
    assert findings and {f.severity for f in findings} == {Severity.info}
    assert findings[0].evidence["windows_in_a_row"] == 3 and findings[0].evidence["direction"] == "low"


def test_severity_grows_with_how_far_and_how_long() -> None:
    calls = generate_stream(3000, 13, "latency_spike", start=2000, length=400)
    severities = [
        f.severity for f in run(OperationalDetector(), calls) if f.category == "operational.latency"
    ]
    assert severities[0] == Severity.error and Severity.critical in severities[2:]  # x4: extreme at once
    mild = generate_stream(3000, 13, "error_burst", start=2000, length=400, strength="mild")
    rates = [f for f in run(OperationalDetector(), mild) if f.category == "operational.error_rate"]
    assert rates and rates[0].severity == Severity.warning
    strong = generate_stream(3000, 13, "error_burst", start=2000, length=400)
    rates = [f for f in run(OperationalDetector(), strong) if f.category == "operational.error_rate"]
    assert [f.severity for f in rates[:2]] == [Severity.warning, Severity.error]
    assert rates[1].evidence["windows_in_a_row"] == 2 and rates[1].evidence["since"] < rates[1].time


def test_small_absolute_shifts_are_not_incidents() -> None:
    """A mocked client at 2 ms that becomes 5 ms is not a latency incident (absolute floor)."""
    calls = generate_stream(2000, 14)
    for i, c in enumerate(calls):
        c.duration_ms = c.duration_ms / 400 * (2.5 if i >= 1200 else 1.0)
        c.time_to_first_chunk_ms = None
    assert run(OperationalDetector(), calls) == []


def test_streaks_survive_a_restart() -> None:
    state = MemoryState()
    settings = OperationalSettings()
    calls = generate_stream(1600, 15, "error_burst", start=1500, length=100)
    first = OperationalDetector(settings, state=state)
    run(first, calls[:1550])
    state.checkpoint()
    restarted = OperationalDetector(settings, state=state)
    rates = [f for f in run(restarted, calls[1550:]) if f.category == "operational.error_rate"]
    assert rates and rates[0].evidence["windows_in_a_row"] == 2


def test_evicted_and_reloaded_apps_give_the_same_findings() -> None:
    """An app whose state leaves memory (LRU over capacity, a partition moved away) and comes back from its
    checkpoint, mid-window and with the forest fitted, judges exactly as one that never left."""
    settings = OperationalSettings(forest=True, forest_min_windows=20)
    streams = [generate_stream(1800, 20 + i, "latency_spike", start=1400, length=150) for i in range(3)]
    calls = sorted(
        (replace(c, service=f"app-{i}") for i, stream in enumerate(streams) for c in stream),
        key=lambda c: c.start_time_s,
    )
    steady = [(f.id, f.severity, f.evidence) for f in run(OperationalDetector(settings), calls)]
    assert steady

    state = MemoryState()
    detector = OperationalDetector(settings, state=state)
    assert findings_with_evictions(detector, state, calls) == steady
