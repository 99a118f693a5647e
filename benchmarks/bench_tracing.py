"""Per-call cost of tracing an openai chat call: none vs ours (capture off/on) vs official vs OpenLLMetry.

Each variant runs in its own subprocess (instrumentations patch the same methods and must not stack). The
client talks to an in-process httpx MockTransport, so the numbers are the client + instrumentation CPU, not
network noise. Every variant's app has an SDK MeterProvider (an in-memory reader) as its global provider,
and its spans go to an in-memory exporter, or with `--export otlp` over OTLP/HTTP to a sink in another
process (real serialization and HTTP, the sink's CPU not counted), each the way its users set it up:
`ours` through the exporter and batch processor `instrument(exporters=("otlp",))` adds, the others
through the OpenTelemetry SDK's BatchSpanProcessor and OTLPSpanExporter with their defaults, and
`official_v2_our_exporter` is the official instrumentation exported the way `instrument()` does and
`ours_sdk_exporter` ours with `instrument(exporters=())` and the SDK's exporter (what the instrumentations
alone cost). `ours` is the SDK's default (its gen_ai.client.* histograms off: the
daemon derives them from the spans); `ours_metrics_on` records them in the app (`instrument(metrics=True)`).

How many spans share an export request decides much of the export cost (a request costs several times a
span). By default each setup's timer decides (5 s for all; under callgrind the app runs ~50x slower, so
that is a few spans per request); `--batch N` makes every request carry exactly N spans (512: the steady
state of an app making 100 calls/s or more; 5 s x the call rate below that).

    python -m benchmarks.bench_tracing [--calls 3000] [--rounds 3] [--export otlp]
    python -m benchmarks.bench_tracing --instructions --export otlp [--batch 512]   # callgrind (slow, exact)

The callgrind table has two halves: "total" (every thread: the CPU the process spends) and "call path" (the
main thread only: what the calling code waits for). They differ only for work moved to background threads,
such as our histograms, which are recorded from finished spans on a worker thread.

CPU time per call (time.process_time over all calls) is the primary figure; wall median/p99 per call are
printed for orientation but are noisy on small machines. Each variant's best round is reported.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

VARIANTS = (
    "none",
    "ours_capture_off",
    "ours_capture_on",
    "ours_metrics_on",
    "ours_sdk_exporter",
    "official_v2",
    "official_v2_our_exporter",
    "openllmetry",
)
#: Where the child sends its spans with --export otlp (the parent starts the sink).
OTLP_ENV = "WATCHKEEPER_BENCH_OTLP_ENDPOINT"
#: Any variant + "_nometrics" runs without an SDK MeterProvider (tracing cost alone).
NOMETRICS = "_nometrics"
#: official_v2 + this: with --export otlp, its spans go through our OTLP exporter and batch processor.
OUR_EXPORTER = "_our_exporter"
#: ours + this: with --export otlp, instrument(exporters=()) and the SDK exporter (an app exporting itself).
SDK_EXPORTER = "_sdk_exporter"
#: Where --batch puts its setting for the children's batch processors (the standard OTEL_BSP_* variables).
BATCH_ENV = ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "OTEL_BSP_SCHEDULE_DELAY")

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


def _setup(variant: str) -> tuple[Any, Any, Any]:
    """Build the client and install the variant's instrumentation: (client, span exporter, provider)."""
    import httpx2
    import openai
    from opentelemetry import metrics
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    body = json.dumps(COMPLETION).encode()

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=body, headers={"content-type": "application/json"})

    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    otlp_endpoint = os.environ.get(OTLP_ENV)
    our_exporter = variant.endswith(OUR_EXPORTER)
    sdk_export = variant.endswith(SDK_EXPORTER) or not variant.startswith("ours")
    variant = variant.removesuffix(OUR_EXPORTER).removesuffix(SDK_EXPORTER)
    if not otlp_endpoint:
        tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    elif our_exporter:  # the official instrumentation, exported the way instrument() does
        from watchkeeper.collector.sdk.exporters import batch_processor
        from watchkeeper.collector.sdk.exporters.otlp import OTLPSpanExporter as OurOTLPSpanExporter

        tracer_provider.add_span_processor(batch_processor(OurOTLPSpanExporter(otlp_endpoint), "otlp"))
    elif sdk_export:  # what the OpenTelemetry docs set up
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_endpoint)))
    meter_provider: Any = MeterProvider(metric_readers=[InMemoryMetricReader()])
    if variant.endswith(NOMETRICS):
        variant = variant.removesuffix(NOMETRICS)
        meter_provider = None  # the global no-op provider: what an app without metrics set up gets
    else:
        metrics.set_meter_provider(meter_provider)  # the app has metrics set up
    if variant.startswith("ours"):
        from watchkeeper import collector

        metrics_on = variant == "ours_metrics_on"
        collector.instrument(  # with --export otlp, through the exporter instrument() sets up
            tracer_provider=tracer_provider,
            meter_provider=meter_provider if metrics_on else None,
            metrics=metrics_on,
            exporters=("otlp",) if otlp_endpoint and not sdk_export else (),
            otlp_endpoint=otlp_endpoint,
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
    return client, exporter, tracer_provider


class OtlpSink:
    """An OTLP/HTTP trace receiver in its own process (answers 200 with an empty export response)."""

    def __enter__(self) -> OtlpSink:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.bench_tracing", "--sink"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.endpoint = self.proc.stdout.readline().strip()
        os.environ[OTLP_ENV] = self.endpoint
        return self

    def __exit__(self, *exc: object) -> None:
        os.environ.pop(OTLP_ENV, None)
        self.proc.terminate()
        out, _ = self.proc.communicate(timeout=10)
        print(f"OTLP sink: {out.strip()}")


def run_sink() -> None:
    import signal
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    counts = {"requests": 0, "bytes": 0}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_POST(self) -> None:
            data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            counts["requests"] += 1
            counts["bytes"] += len(data)
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    def stop(*_: Any) -> None:
        threading.Thread(target=server.shutdown).start()

    signal.signal(signal.SIGTERM, stop)
    print(f"http://127.0.0.1:{server.server_address[1]}/v1/traces", flush=True)
    server.serve_forever()
    print(f"{counts['requests']} export requests, {counts['bytes']:,} bytes", flush=True)


def run_variant(variant: str, calls: int, warmup: int = 200) -> dict[str, Any]:
    """Measure one variant in this process."""
    client, exporter, tracer_provider = _setup(variant)
    create = client.chat.completions.create

    def one() -> None:
        create(model="gpt-4o-mini", messages=MESSAGES, temperature=0.2, max_tokens=100)

    for _ in range(warmup):  # warm caches, imports, connection pool
        one()
    exporter.clear()
    # Move the startup heap out of the collector's reach: a full collection scanning every imported module
    # would otherwise land, whole, on whichever thread happens to trigger it and swamp the per-thread counts.
    gc.collect()
    gc.freeze()
    walls: list[float] = []
    cpu0 = time.process_time()
    for _ in range(calls):
        t0 = time.perf_counter()
        one()
        walls.append(time.perf_counter() - t0)
    cpu = time.process_time() - cpu0
    # Work deferred to background threads (our span-derived metrics) is finished off the main thread, so
    # callgrind's per-thread counts separate the call path from the total.
    flusher = threading.Thread(target=tracer_provider.force_flush)
    flusher.start()
    flusher.join()
    spans = len(exporter.get_finished_spans()) if not os.environ.get(OTLP_ENV) else calls
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
    env["PYTHONHASHSEED"] = "0"  # same dict/set layouts in every child: instruction counts repeat exactly
    env.pop("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", None)
    env.pop("WATCHKEEPER_SDK_METRICS", None)
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


_TOTALS = re.compile(r"^totals:\s*(\d+)", re.MULTILINE)


def _instructions(variant: str, calls: int) -> tuple[int, int]:
    """(all threads, main thread) instructions of one child run under callgrind (startup cancels out)."""
    with tempfile.TemporaryDirectory() as tmp:
        out_file = os.path.join(tmp, "callgrind.out")
        cmd = [
            "valgrind",
            "--tool=callgrind",
            "--separate-threads=yes",
            f"--callgrind-out-file={out_file}",
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
        if out.returncode != 0:
            raise RuntimeError(f"callgrind run of {variant} failed: {out.stderr.strip()[-300:]}")
        per_thread = {}
        for name in os.listdir(tmp):  # callgrind.out-01 is the main thread, -02.. the others
            with open(os.path.join(tmp, name)) as f:
                match = _TOTALS.search(f.read())
            if match:
                per_thread[name.rsplit("-", 1)[-1]] = int(match.group(1))
    if "01" not in per_thread:
        raise RuntimeError(f"callgrind run of {variant} left no per-thread totals")
    return sum(per_thread.values()), per_thread["01"]


def instructions_table(variants: list[str], low: int, high: int, workers: int | None = None) -> None:
    """Instructions per call = (Ir(high calls) - Ir(low calls)) / (high - low): exact and noise-free.

    "total" counts every thread (the honest CPU cost); "call path" counts only the thread making the calls,
    which is what the application waits for (our metrics are recorded on a background thread).
    """
    jobs = [(v, n) for v in variants for n in (low, high)]
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 2) as pool:
        counts = dict(zip(jobs, pool.map(lambda job: _instructions(*job), jobs), strict=True))
    tables = {}
    for index, label in ((0, "total"), (1, "call path")):
        per_call = {v: (counts[(v, high)][index] - counts[(v, low)][index]) / (high - low) for v in variants}
        tables[label] = per_call
    print(f"callgrind instructions per call (difference of {high} and {low} calls)")
    header = (
        f"{'variant':<28}{'total/call':>12}{'overhead':>11}{'vs official':>12}"
        f"{'call path':>12}{'overhead':>11}{'vs official':>12}"
    )
    print(header)
    print("-" * len(header))
    for variant in variants:
        row = f"{variant:<28}"
        for label in ("total", "call path"):
            per_call = tables[label]
            base = per_call.get("none")
            overheads = {v: per_call[v] - base for v in variants if base is not None}
            over = per_call[variant] - base if base is not None else float("nan")
            ratio = _ratio_vs_official(variant, overheads)
            row += f"{per_call[variant]:>12,.0f}{over:>11,.0f}{ratio:>12.2f}"
        print(row)
    print("overhead = instructions/call minus the uninstrumented client's; vs official = overhead ratio")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3, help="runs per variant, interleaved; best is kept")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--instructions", action="store_true", help="count instructions with callgrind")
    parser.add_argument("--jobs", type=int, default=None, help="callgrind runs at once (default: cores)")
    parser.add_argument(
        "--export", choices=("memory", "otlp"), default="memory", help="where spans go (otlp: a sink process)"
    )
    parser.add_argument(
        "--batch",
        type=int,
        default=None,
        help="with --export otlp: every export request carries this many spans (a rate-independent steady "
        "state: the batch processors' size limit, their timer off); default: each setup's own timer",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--sink", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--warmup", type=int, default=200, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.sink:
        run_sink()
        return 0
    if args.child:
        print(json.dumps(run_variant(args.child, args.calls, args.warmup)))
        return 0
    variants = [v for v in args.variants.split(",") if v]
    if args.batch:
        if args.export != "otlp" or not 1 <= args.batch <= 2048:
            parser.error("--batch needs --export otlp and 1..2048 spans")
        os.environ[BATCH_ENV[0]] = str(args.batch)
        os.environ[BATCH_ENV[1]] = str(24 * 3600 * 1000)  # never by time: only full batches, then the flush
    if args.export == "otlp":
        with OtlpSink():
            batching = f"batches of {args.batch} spans" if args.batch else "each setup's schedule delay"
            print(f"spans exported over OTLP/HTTP ({os.environ[OTLP_ENV]}), {batching}")
            return _measure(args, variants)
    return _measure(args, variants)


def _measure(args: argparse.Namespace, variants: list[str]) -> int:
    if args.instructions:
        # With --batch, the two runs differ by whole batches and leave the same remainder for the final
        # flush, so the difference counts exactly one request per `batch` spans.
        low = 50
        high = low + (args.batch * -(-100 // args.batch) if args.batch else 200)
        instructions_table(variants, low, high, args.jobs)
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
