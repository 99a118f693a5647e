"""Speed, memory and coverage of the content-safety detector on ~1 KB answers (CPU time of one core).

Run: `python -m benchmarks.bench_detectors_content [--data ../shared/data] [--n 1000]`.
The baseline, measured in the same run on the same texts, is the lexical signal (hashed n-gram heads: the
cheapest judge the detector has). Targets: the semantic judge on every call at >= 100 calls/s per core for
~1 KB answers with their request; RSS added by the model <= 300 MB; long answers read whole at a cost linear
in
their length; two worker processes judge ~2x the calls of one.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core: the number we promise per detector worker


def answers(data_dir: Path, n: int) -> list[tuple[str, str]]:
    """(request, ~1 KB answer) pairs: real LLM traffic when the data folder is there, else a paragraph."""
    pairs: list[tuple[str, str]] = []
    for path in sorted((data_dir / "alpaca_eval_outputs").glob("*.json")):
        pairs += [
            (item["instruction"], item["output"][:1024])
            for item in json.loads(path.read_text())
            if len(item["output"]) >= 900
        ]
    if not pairs:
        paragraph = "The quick brown fox jumps over the lazy dog while the committee reviews the budget. "
        pairs = [("Summarise the meeting.", (paragraph * 13)[:1024])]
    return [pairs[i % len(pairs)] for i in range(n)]


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cpu_rate(fn: Callable[[], object], count: int, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return count / best


def _worker(args: tuple[list[tuple[str, str]], int]) -> float:
    from watchkeeper.detectors.content_safety.detector import ContentSafetyDetector

    pairs, _ = args
    detector = ContentSafetyDetector()
    detector.score_pairs([pairs[0][1]], [pairs[0][0]])
    start = time.perf_counter()
    for s in range(0, len(pairs), 64):
        chunk = pairs[s : s + 64]
        detector.score_pairs([a for _, a in chunk], [q for q, _ in chunk])
    return time.perf_counter() - start


def wall_rate(pairs: list[tuple[str, str]], workers: int) -> float:
    """Calls per second of wall clock when `workers` processes share the calls (as detector workers on
    Kafka)."""
    share = len(pairs) // workers
    parts = [(pairs[i * share : (i + 1) * share], i) for i in range(workers)]
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        seconds = pool.map(_worker, parts)
    return share * workers / max(seconds)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--n", type=int, default=1000)
    args = parser.parse_args()
    pairs = answers(args.data, args.n)
    texts = [a for _, a in pairs]
    prompts = [q for q, _ in pairs]

    from watchkeeper.core.records import Message, ModelCall

    before = rss_mb()
    from watchkeeper.detectors.content_safety.detector import ContentSafetyDetector

    detector = ContentSafetyDetector()
    detector.score_pairs(texts[:8], prompts[:8])
    added = rss_mb() - before
    calls = [
        ModelCall(
            f"{i:032x}",
            f"{i:016x}",
            i,
            1.0,
            service="bench",
            input_messages=[Message("user", q)],
            output_text=a,
        )
        for i, (q, a) in enumerate(pairs)
    ]
    rows = [
        (
            "baseline: lexical signal (hashed n-grams)",
            cpu_rate(lambda: detector.lexical.scores(texts), len(texts)),
        )
    ]
    rows.append(
        (
            "semantic judge: answer + request (batch)",
            cpu_rate(lambda: detector.score_pairs(texts, prompts), len(texts)),
        )
    )
    rows.append(
        ("detector: observe_batch (calls)", cpu_rate(lambda: detector.observe_batch(calls), len(calls)))
    )
    few = calls[:100]
    rows.append(
        ("detector: observe, one call at a time", cpu_rate(lambda: [detector.observe(c) for c in few], 100))
    )
    base = rows[0][1]
    print(
        f"content_safety, {len(texts)} answers of {sum(map(len, texts)) / len(texts):.0f} chars on average, "
        "CPU time of one core\n"
    )
    print(f"{'path':<46}{'calls/s':>10}{'vs baseline':>13}")
    for name, rate in rows:
        print(f"{name:<46}{rate:>10.1f}{rate / base:>12.2f}x")

    print("\nlong answers: CPU ms per answer (read whole, up to 4,096 tokens)")
    print(f"{'answer size':<20}{'ms':>8}{'ms per KB':>11}")
    for kb in (1, 4, 16):
        long = [(t * (kb + 1))[: kb * 1024] for t in texts[:20]]
        rate = cpu_rate(lambda long=long: detector.score_pairs(long, [None] * len(long)), len(long), repeat=2)
        print(f"{kb:>3} KB{'':<14}{1000 / rate:>8.1f}{1000 / rate / kb:>11.1f}")

    print(f"\nRSS added by the judge and the lexical signal: {added:.0f} MB")

    one = wall_rate(pairs, 1)
    two = wall_rate(pairs, 2)
    print("\nworkers (processes sharing the calls, wall clock; the machine's other load counts too)")
    print(f"{'workers':<10}{'calls/s':>10}{'vs one':>9}")
    print(f"{1:<10}{one:>10.1f}{1.0:>8.2f}x")
    print(f"{2:<10}{two:>10.1f}{two / one:>8.2f}x")


if __name__ == "__main__":
    main()
