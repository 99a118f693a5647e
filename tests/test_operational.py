"""Operational anomalies: quiet on heavy-tailed normal traffic, prompt on spikes and bursts, deterministic."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from watchkeeper.core.detector import MemoryState
from watchkeeper.core.findings import Severity
from watchkeeper.detectors.operational.detector import OperationalDetector, OperationalSettings
from watchkeeper.detectors.operational.evaluation import (
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
    settings = OperationalSettings(persist_every_windows=1)
    run(OperationalDetector(settings, state=state), generate_stream(600, 6))
    restarted = OperationalDetector(settings, state=state)
    burst = generate_stream(100, 7, "error_burst", start=0, length=100)
    assert any(f.category == "operational.error_rate" for f in run(restarted, burst))


def test_combined_shift_that_single_checks_miss() -> None:
    detector = OperationalDetector(OperationalSettings(forest_min_windows=20))
    calls = generate_stream(2000, 8)
    for c in calls[1500:1550]:  # longer prompts, shorter and slower answers: each inside its per-call band
        c.duration_ms *= 1.5
        c.input_tokens = int(c.input_tokens * 1.6)
        c.output_tokens = c.output_tokens and int(c.output_tokens * 0.65)
    findings = run(detector, calls)
    assert [f.category for f in findings] == ["operational.combined"]
    assert findings[0].evidence["features_far_out"] >= 2
    assert detector._keys[("sim-support-bot", "gpt-sim")].forest is not None


def test_refusal_phrases() -> None:
    assert is_refusal("I'm sorry, but I can't help with that.")
    assert is_refusal("I\u2019m unable to share that information.")
    assert not is_refusal("Sure! Here is the recipe you asked for.")


def test_cli_prints_the_table() -> None:
    result = CliRunner().invoke(operational_eval_cmd, ["--seeds", "1"])
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
