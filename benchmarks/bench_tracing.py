"""Per-call cost of tracing an openai chat call: none vs ours (capture off/on) vs official vs OpenLLMetry.

Each variant runs in its own subprocess (instrumentations patch the same methods and must not stack). The
client talks to an in-process httpx MockTransport, so the numbers are the client + instrumentation CPU, not
network noise. Spans go to an in-memory exporter and metrics to an in-memory reader in every variant.

    python -m benchmarks.bench_tracing [--calls 3000] [--rounds 3]
    python -m benchmarks.bench_tracing --instructions     # callgrind instruction counts (slow, exact)

CPU time per call (time.process_time over all calls) is the primary figure; wall median/p99 per call are
printed for orientation but are noisy on small machines. Each variant's best round is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

VARIANTS = ("none", "ours_capture_off", "ours_capture_on", "official_v2", "openllmetry")
#: Any variant + "_nometrics" runs without an SDK MeterProvider (tracing cost alone).
NOMETRICS = "_nometrics"

MESSAGES = [
    {
        "role": "system",
        "content": "You are a helpful support assistant for ACME Corp. Answer briefly and politely.",
    },
    {
        "role": "user",
        "content": "My order 12345 has not arrived yet, it was due last Tuesday. Can you check it?",
    },
]
COMPLETION = {
    "id": "chatcmpl-bench",
    "object": "chat.completion",
    "created": 1700000000,
    "model": "gpt-4o-mini-2024-07-18",
    "system_fingerprint": "fp_bench",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "I am sorry for the delay. Your order ships tomorrow.",
            },
            "finish_reason": "stop",
            "logprobs": None,
        }
    ],
    "usage": {"prompt_tokens": 42, "completion_tokens": 12, "total_tokens": 54},
}


def _setup(variant: str) -> tuple[Any, Any]:
    """Build the client and install the variant's instrumentation; returns (client, span exporter)."""
    import httpx2
    import openai
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    body = json.dumps(COMPLETION).encode()

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=body, headers={"content-type": "application/json"})

    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    meter_provider: Any = MeterProvider(metric_readers=[InMemoryMetricReader()])
    if variant.endswith(NOMETRICS):
        variant = variant.removesuffix(NOMETRICS)
        meter_provider = None  # the global no-op provider: what an app without metrics set up gets
    if variant.startswith("ours"):
        import collector

        collector.instrument(
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
            exporters=(),
            capture_content=variant == "ours_capture_on",
        )
    elif variant == "official_v2":
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

        OpenAIInstrumentor().instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    elif variant == "openllmetry":
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor as LLMetryInstrumentor

        LLMetryInstrumentor().instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    client = openai.OpenAI(
        api_key="sk-bench",
        base_url="https://api.openai.com/v1",
        max_retries=0,
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
    )
    return client, exporter


def run_variant(variant: str, calls: int, warmup: int = 200) -> dict[str, Any]:
    """Measure one variant in this process."""
    client, exporter = _setup(variant)
    create = client.chat.completions.create

    def one() -> None:
        create(model="gpt-4o-mini", messages=MESSAGES, temperature=0.2, max_tokens=100)

    for _ in range(warmup):  # warm caches, imports, connection pool
        one()
    exporter.clear()
    walls: list[float] = []
    cpu0 = time.process_time()
    for _ in range(calls):
        t0 = time.perf_counter()
        one()
        walls.append(time.perf_counter() - t0)
    cpu = time.process_time() - cpu0
    spans = len(exporter.get_finished_spans())
    walls.sort()
    return {
        "variant": variant,
        "calls": calls,
        "spans": spans,
        "cpu_us": cpu / calls * 1e6,
        "wall_median_us": statistics.median(walls) * 1e6,
        "wall_p99_us": walls[int(len(walls) * 0.99) - 1] * 1e6,
    }


def _ratio_vs_official(variant: str, overheads: dict[str, float]) -> float:
    """Overhead relative to official_v2 run in the same metrics mode (with or without a MeterProvider)."""
    official = "official_v2" + (NOMETRICS if variant.endswith(NOMETRICS) else "")
    if variant == "none" or not overheads.get(official) or variant not in overheads:
        return float("nan")
    return overheads[variant] / overheads[official]


def _child_env() -> dict[str, str]:
    env = {**os.environ, "OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental"}
    env.pop("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", None)
    return env


def _subprocess(variant: str, calls: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_tracing", "--child", variant, "--calls", str(calls)],
        capture_output=True,
        text=True,
        env=_child_env(),
        check=False,
    )
    if out.returncode != 0:
        return {"variant": variant, "error": out.stderr.strip().splitlines()[-1:] or ["failed"]}
    return json.loads(out.stdout.strip().splitlines()[-1])


_COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")


def _instructions(variant: str, calls: int) -> int:
    """Total instructions of one child run under callgrind (startup included; it cancels in a difference)."""
    cmd = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        "-m",
        "benchmarks.bench_tracing",
        "--child",
        variant,
        "--calls",
        str(calls),
        "--warmup",
        "30",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, env=_child_env(), check=False)
    match = _COLLECTED.search(out.stderr)
    if out.returncode != 0 or match is None:
        raise RuntimeError(f"callgrind run of {variant} failed: {out.stderr.strip()[-300:]}")
    return int(match.group(1))


def instructions_table(variants: list[str], low: int, high: int) -> None:
    """Instructions per call = (Ir(high calls) - Ir(low calls)) / (high - low): exact and noise-free."""
    jobs = [(v, n) for v in variants for n in (low, high)]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        counts = dict(zip(jobs, pool.map(lambda job: _instructions(*job), jobs), strict=True))
    per_call = {v: (counts[(v, high)] - counts[(v, low)]) / (high - low) for v in variants}
    base = per_call.get("none")
    overheads = {v: per_call[v] - base for v in variants if base is not None}
    print(f"callgrind instructions per call (difference of {high} and {low} calls)")
    header = f"{'variant':<28}{'instr/call':>14}{'overhead':>14}{'overhead %':>11}{'vs official':>12}"
    print(header)
    print("-" * len(header))
    for variant in variants:
        over = per_call[variant] - base if base is not None else float("nan")
        pct = over / base * 100 if base else float("nan")
        ratio = _ratio_vs_official(variant, overheads)
        print(f"{variant:<28}{per_call[variant]:>14,.0f}{over:>14,.0f}{pct:>10.1f}%{ratio:>12.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3, help="runs per variant, interleaved; best is kept")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--instructions", action="store_true", help="count instructions with callgrind")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--warmup", type=int, default=200, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(run_variant(args.child, args.calls, args.warmup)))
        return 0
    variants = [v for v in args.variants.split(",") if v]
    if args.instructions:
        instructions_table(variants, 50, 250)
        return 0
    best: dict[str, dict[str, Any]] = {}
    for _ in range(args.rounds):
        for variant in variants:  # interleaved, so machine noise spreads over all variants
            result = _subprocess(variant, args.calls)
            if "error" in result:
                best.setdefault(variant, result)
                continue
            if "cpu_us" not in best.get(variant, {}) or result["cpu_us"] < best[variant]["cpu_us"]:
                best[variant] = result
    base = best.get("none", {}).get("cpu_us")
    overheads = {v: r["cpu_us"] - base for v, r in best.items() if "cpu_us" in r and base is not None}
    print(
        f"openai chat.completions.create over MockTransport, {args.calls} calls x {args.rounds} rounds (best)"
    )
    header = f"{'variant':<28}{'cpu/call us':>12}{'overhead us':>13}{'overhead %':>11}{'vs official':>12}"
    header += f"{'wall p50 us':>13}{'wall p99 us':>13}{'spans':>7}"
    print(header)
    print("-" * len(header))
    for variant in variants:
        r = best.get(variant, {})
        if "error" in r:
            print(f"{variant:<28} failed: {r['error']}")
            continue
        over = r["cpu_us"] - base if base is not None else float("nan")
        pct = over / base * 100 if base else float("nan")
        ratio = _ratio_vs_official(variant, overheads)
        print(
            f"{variant:<28}{r['cpu_us']:>12.1f}{over:>13.1f}{pct:>10.1f}%{ratio:>12.2f}"
            f"{r['wall_median_us']:>13.1f}{r['wall_p99_us']:>13.1f}{r['spans']:>7}"
        )
    print(
        "overhead = cpu/call minus the uninstrumented client's; "
        "vs official = overhead / official_v2 overhead (same metrics mode)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
