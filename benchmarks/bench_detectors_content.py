"""Throughput of the content-safety detector tiers on ~1 KB answers, one core (CPU time, not wall clock).

Run: `python -m benchmarks.bench_detectors_content [--data ../shared/data] [--n 3000] [--embedding-n 64]`.
The baseline, measured in the same run on the same texts, is the bare word 1-2-gram hashing step (what any
linear n-gram model must pay); the target for the default tier is >= 2,000 calls/s.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core: the number we promise per detector worker

from sklearn.feature_extraction.text import HashingVectorizer

from watchkeeper.core.records import Message, ModelCall
from watchkeeper.detectors.content_safety.detector import ContentSafetyDetector, ContentSafetySettings


def answers(data_dir: Path, n: int) -> list[str]:
    """~1 KB clean answers: real LLM output when the data folder is there, else a repeated paragraph."""
    texts: list[str] = []
    for path in sorted((data_dir / "alpaca_eval_outputs").glob("*.json")):
        texts += [
            item["output"][:1024] for item in json.loads(path.read_text()) if len(item["output"]) >= 900
        ]
    if not texts:
        paragraph = "The quick brown fox jumps over the lazy dog while the committee reviews the budget. "
        texts = [(paragraph * 13)[:1024]]
    return [texts[i % len(texts)] for i in range(n)]


def cpu_rate(fn: Callable[[], object], count: int, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return count / best


def calls_for(texts: list[str]) -> list[ModelCall]:
    return [
        ModelCall(f"{i:032x}", f"{i:016x}", i, 1.0, input_messages=[Message("user", "q")], output_text=t)
        for i, t in enumerate(texts)
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--embedding-n", type=int, default=64)
    args = parser.parse_args()
    texts = answers(args.data, args.n)
    mean_len = sum(len(t) for t in texts) / len(texts)
    baseline_vec = HashingVectorizer(ngram_range=(1, 2), n_features=2**20, alternate_sign=False)
    fast = ContentSafetyDetector()
    calls = calls_for(texts)
    rows = [
        ("baseline: word 1-2-gram hashing only", cpu_rate(lambda: baseline_vec.transform(texts), len(texts)))
    ]
    rows.append(("fast tier: score_texts (batch)", cpu_rate(lambda: fast.score_texts(texts), len(texts))))
    rows.append(("fast tier: observe_batch (calls)", cpu_rate(lambda: fast.observe_batch(calls), len(calls))))
    few = calls[:200]
    rows.append(
        ("fast tier: observe, one call at a time", cpu_rate(lambda: [fast.observe(c) for c in few], 200))
    )
    try:
        emb = ContentSafetyDetector(ContentSafetySettings(tier="embedding"))
        sample = texts[: args.embedding_n]
        emb.score_texts(sample[:2])  # load the encoder outside the timing
        wall = time.perf_counter()
        emb.score_texts(sample)
        rows.append(
            ("embedding tier: score_texts (wall, all threads)", len(sample) / (time.perf_counter() - wall))
        )
    except Exception as exc:  # optional extra not installed or not trained: say so in the table
        rows.append((f"embedding tier: unavailable ({type(exc).__name__})", float("nan")))
    base = rows[0][1]
    print(f"content_safety throughput, {len(texts)} answers of {mean_len:.0f} chars on average")
    print(f"{'what':<52}{'texts/s':>10}{'vs baseline':>13}")
    for name, rate in rows:
        print(f"{name:<52}{rate:>10.0f}{rate / base:>12.2f}x")
    print("target for the default tier: >= 2,000 calls/s on one core")


if __name__ == "__main__":
    main()
