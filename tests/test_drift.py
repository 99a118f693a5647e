"""Drift: quiet on stationary streams (false-positive rate measured); finds length, refusal, topic shifts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.support.drift import make_stream
from watchkeeper.core.detector import MemoryState
from watchkeeper.core.records import ModelCall
from watchkeeper.detectors.drift.detector import DriftDetector, DriftSettings

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SMALL = DriftSettings(reference_size=200, window_size=200, test_every=50)


def run(detector: DriftDetector, calls: list[ModelCall]) -> list:
    out = []
    for i in range(0, len(calls), 100):
        out.extend(detector.observe_batch(calls[i : i + 100]))
    return out


def test_false_positive_rate_on_stationary_streams() -> None:
    tests = flagged = 0
    for seed in range(12):
        findings = run(DriftDetector(SMALL), make_stream(1400, seed))
        tests += (1400 - 400) // SMALL.test_every + 1  # windows full after 400 calls, then every 50
        flagged += len({f.evidence["span_id"] for f in findings})  # tests with any finding
    assert tests == 252
    assert flagged / tests <= 0.02, (flagged, tests)


def test_nothing_before_both_windows_are_full() -> None:
    calls = make_stream(390, 1, words=(200, 0.2))  # would drift if ever compared: but too short
    assert run(DriftDetector(SMALL), calls) == []


def test_length_drift_is_detected_with_statistics() -> None:
    detector = DriftDetector(SMALL)
    calls = make_stream(400, 2) + make_stream(300, 3, words=(90, 0.4), offset=400)
    findings = [f for f in run(detector, calls) if f.category == "drift.length"]
    assert findings
    ev = findings[0].evidence
    assert ev["test"] == "kolmogorov-smirnov" and ev["p_value"] < SMALL.alpha / 3 and ev["statistic"] > 0
    assert ev["recent_median_chars"] > ev["reference_median_chars"]
    assert "model" not in findings[0].labels and findings[0].labels["app"] == "helpdesk"


def test_refusal_drift_is_detected() -> None:
    detector = DriftDetector(SMALL)
    calls = make_stream(400, 4, refusal=0.02) + make_stream(300, 5, refusal=0.25, offset=400)
    findings = [f for f in run(detector, calls) if f.category == "drift.refusal_rate"]
    assert findings and findings[0].evidence["recent_rate"] > findings[0].evidence["reference_rate"]


def test_topic_drift_is_detected() -> None:
    detector = DriftDetector(SMALL)
    calls = make_stream(400, 6) + make_stream(300, 7, mix=(0.7, 0.1, 0.1, 0.1), offset=400)
    findings = [f for f in run(detector, calls) if f.category == "drift.topics"]
    assert findings
    assert findings[0].evidence["jensen_shannon"] > 0 and findings[0].evidence["p_value"] < 1e-3


def test_reference_survives_a_restart_and_replays_are_identical() -> None:
    state = MemoryState()
    first = DriftDetector(SMALL, state=state)
    run(first, make_stream(220, 8))
    assert first._apps.peek("helpdesk").reference is not None
    state.checkpoint()
    shifted = make_stream(300, 9, words=(90, 0.4), offset=220)
    a = [f.id for f in run(DriftDetector(SMALL, state=state), shifted)]
    b = [f.id for f in run(DriftDetector(SMALL, state=state), shifted)]  # both resume from the checkpoint
    assert a and a == b  # no second reference period after the restart, and the same findings


def test_a_reloaded_app_behaves_as_if_it_never_left_memory() -> None:
    """Checkpoint + reload at every batch (what eviction and a partition move do) changes no finding."""
    calls = make_stream(220, 8) + make_stream(300, 9, words=(90, 0.4), offset=220)
    undisturbed = [f.id for f in run(DriftDetector(SMALL), calls)]
    state = MemoryState()
    moved: list[str] = []
    for start in range(0, len(calls), 37):
        detector = DriftDetector(SMALL, state=state)  # a new worker: everything from the checkpoint
        moved += [f.id for f in detector.observe_batch(calls[start : start + 37])]
        state.checkpoint()
    assert undisturbed and moved == undisturbed


@pytest.mark.skipif(not (DATA / "alpaca_eval_outputs").is_dir(), reason="shared alpaca_eval data not present")
def test_real_answers_in_random_order_do_not_drift() -> None:
    from watchkeeper.detectors.topic_injection.evaluation import load_answers, make_call

    pairs = load_answers(DATA)
    order = np.random.default_rng(0).permutation(len(pairs))
    calls = [make_call(i, 0, *pairs[k]) for i, k in enumerate(order)]
    assert run(DriftDetector(), calls) == []
