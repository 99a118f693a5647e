"""ModelCalls per second of each detector and of the default suite the daemon runs, on one core.

Answers are ~1 KB of English-like text (random common words: every sentence looks off-topic, the worst case
for topic_injection). CPU time (not wall clock) over batches of 100, as the detectors stage runs them. Each
suite first sees `--warmup` calls untimed (baselines, drift reference, isolation forest are one-time costs
per app), then `--calls` calls are timed: the steady state. The baseline row is the cost of just building the
ModelCalls, measured in the same run, so the ratios survive a noisy machine.

    python -m benchmarks.bench_detectors [--calls 5000] [--warmup 5000]
"""

from __future__ import annotations

import argparse
import hashlib
import time
from collections.abc import Callable

import numpy as np

from watchkeeper.config import load_settings
from watchkeeper.core.detector import Detector, MemoryState
from watchkeeper.core.records import Message, ModelCall
from watchkeeper.detectors.drift.detector import DriftDetector
from watchkeeper.detectors.leakage.detector import LeakageDetector
from watchkeeper.detectors.operational.detector import OperationalDetector
from watchkeeper.detectors.registry import build_suite, detector_class
from watchkeeper.detectors.topic_injection.detector import TopicInjectionDetector

WORDS = """
    the a of and to in is you that it for on with as are be this was have or by not from at an but can
    your all will more one about if which their when there use time also how some many these make like
    people data water system model should first most other because help need each way work years new used
    example important process energy recipe bread oven flour dough yeast garden plant soil seed season
    travel flight hotel city museum python function error variable loop value return code budget income
    savings expense account market price customer service product order delivery team project plan
    meeting schedule health sleep exercise diet protein history century war empire king river mountain
    climate temperature rain science cell protein gene research study result method analysis music song
    guitar chord rhythm practice story character chapter author book
""".split()  # noqa: SIM905


def make_calls(n: int, seed: int = 0, answer_chars: int = 1000) -> list[ModelCall]:
    rng = np.random.default_rng(seed)
    vocab = np.asarray(WORDS)
    calls = []
    for i in range(n):
        sentences, size = [], 0
        while size < answer_chars:
            words = vocab[rng.integers(len(vocab), size=int(rng.integers(8, 20)))]
            sentence = " ".join(words).capitalize() + "."
            sentences.append(sentence)
            size += len(sentence) + 1
        prompt = "How do I " + " ".join(vocab[rng.integers(len(vocab), size=6)]) + "?"
        digest = hashlib.sha256(f"bench|{seed}|{i}".encode()).hexdigest()
        calls.append(
            ModelCall(
                trace_id=digest[:32],
                span_id=digest[32:48],
                start_time_ns=(1_750_000_000 + i) * 10**9,
                duration_ms=float(rng.lognormal(6.7, 0.35)),
                service=f"app-{i % 4}",
                provider="openai",
                request_model="gpt-bench",
                input_tokens=int(rng.integers(50, 500)),
                output_tokens=int(rng.integers(150, 300)),
                finish_reasons=("stop",),
                conversation_id=f"c{i}",
                input_messages=[Message("user", prompt)],
                output_text=" ".join(sentences),
                time_to_first_chunk_ms=float(rng.lognormal(5.4, 0.3)),
            )
        )
    return calls


def cpu_rate(work: Callable[[], object], n: int) -> float:
    started = time.process_time()
    work()
    return n / max(time.process_time() - started, 1e-9)


def run_suite(detectors: list[Detector], calls: list[ModelCall]) -> None:
    for i in range(0, len(calls), 100):
        batch = calls[i : i + 100]
        for detector in detectors:
            detector.observe_batch(batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--warmup", type=int, default=5000)
    args = parser.parse_args()
    n = args.calls
    baseline = cpu_rate(lambda: make_calls(n, seed=1), n)
    everything = make_calls(args.warmup + n)
    warmup, calls = everything[: args.warmup], everything[args.warmup :]
    print(
        f"{n} calls, mean answer {np.mean([len(c.output_text) for c in calls]):.0f} chars, "
        "one core (CPU time)"
    )
    rows: list[tuple[str, float]] = [("baseline: build ModelCalls", baseline)]
    factories: dict[str, Callable[[], list[Detector]]] = {
        "leakage": lambda: [LeakageDetector()],
        "operational": lambda: [OperationalDetector()],
        "drift": lambda: [DriftDetector()],
        "topic_injection": lambda: [TopicInjectionDetector()],
        "all four together": lambda: [
            TopicInjectionDetector(),
            OperationalDetector(),
            DriftDetector(),
            LeakageDetector(),
        ],
        "integrity": lambda: [detector_class("integrity")()],
        "content_safety (semantic judge)": lambda: [detector_class("content_safety")()],
        "default suite (daemon)": lambda: build_suite(
            load_settings(None).detectors.detector_settings(), lambda name: MemoryState()
        ),
    }
    for name, factory in factories.items():
        detectors = factory()
        run_suite(detectors, warmup)
        rows.append((name, cpu_rate(lambda d=detectors: run_suite(d, calls), n)))
    print(f"{'what':<28} {'calls/s':>10} {'us/call':>9} {'cost vs baseline':>17}")
    for name, rate in rows:
        print(f"{name:<28} {rate:>10,.0f} {1e6 / rate:>9.1f} {baseline / rate:>16.2f}x")


if __name__ == "__main__":
    main()
