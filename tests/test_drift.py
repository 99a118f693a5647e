"""Drift: quiet on stationary streams (false-positive rate measured); finds length, refusal, topic shifts."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from watchkeeper.core.detector import MemoryState
from watchkeeper.core.records import Message, ModelCall
from watchkeeper.detectors.drift.detector import DriftDetector, DriftSettings

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SMALL = DriftSettings(reference_size=200, window_size=200, test_every=50)

VOCAB = {
    "cooking": [
        "oven",
        "recipe",
        "flour",
        "butter",
        "sugar",
        "bake",
        "pan",
        "simmer",
        "garlic",
        "onion",
        "sauce",
        "salt",
        "pepper",
        "dough",
    ],
    "code": [
        "python",
        "function",
        "class",
        "error",
        "compile",
        "loop",
        "variable",
        "array",
        "return",
        "module",
        "import",
        "debug",
        "test",
    ],
    "travel": [
        "flight",
        "hotel",
        "passport",
        "museum",
        "beach",
        "train",
        "ticket",
        "luggage",
        "visa",
        "itinerary",
        "airport",
        "tour",
    ],
    "health": [
        "sleep",
        "exercise",
        "diet",
        "protein",
        "vitamin",
        "doctor",
        "stress",
        "hydration",
        "muscle",
        "heart",
        "walk",
        "yoga",
    ],
}
REFUSAL = "I'm sorry, but I can't help with that request."


def make_stream(
    n: int, seed: int, *, mix=(0.25, 0.25, 0.25, 0.25), words=(40, 0.4), refusal=0.03, offset: int = 0
) -> list[ModelCall]:
    rng = np.random.default_rng(seed)
    names = list(VOCAB)
    calls = []
    for i in range(n):
        if rng.random() < refusal:
            text = REFUSAL
        else:
            vocab = VOCAB[names[int(rng.choice(4, p=mix))]]
            k = max(3, int(rng.lognormal(np.log(words[0]), words[1])))
            text = " ".join(vocab[int(j)] for j in rng.integers(len(vocab), size=k)) + "."
        digest = hashlib.sha256(f"drift|{seed}|{i + offset}".encode()).hexdigest()
        calls.append(
            ModelCall(
                trace_id=digest[:32],
                span_id=digest[32:48],
                start_time_ns=(1_750_000_000 + i + offset) * 10**9,
                duration_ms=500.0,
                service="helpdesk",
                request_model="m1",
                input_messages=[Message("user", "question")],
                output_text=text,
            )
        )
    return calls


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
    run(DriftDetector(SMALL, state=state), make_stream(220, 8))
    assert state.get("reference:helpdesk") is not None
    shifted = make_stream(300, 9, words=(90, 0.4), offset=220)
    a = [f.id for f in run(DriftDetector(SMALL, state=state), shifted)]
    b = [f.id for f in run(DriftDetector(SMALL, state=state), shifted)]
    assert a and a == b  # no second reference period after the restart, and the same findings


@pytest.mark.skipif(not (DATA / "alpaca_eval_outputs").is_dir(), reason="shared alpaca_eval data not present")
def test_real_answers_in_random_order_do_not_drift() -> None:
    from watchkeeper.detectors.topic_injection.evaluation import load_answers, make_call

    pairs = load_answers(DATA)
    order = np.random.default_rng(0).permutation(len(pairs))
    calls = [make_call(i, 0, *pairs[k]) for i, k in enumerate(order)]
    assert run(DriftDetector(), calls) == []
