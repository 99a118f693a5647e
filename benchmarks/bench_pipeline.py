"""End to end on the embedded default: OTLP batches of 100 GenAI spans -> intake -> bus -> every detector ->
findings -> incident store. How many spans per second are acknowledged, and how many are analyzed.

The baseline row, measured in the same run, is the intake alone (collector stage: acknowledged = durable on
the bus). The client runs in its own process with 4 connections, as apps would.

    python -m benchmarks.bench_pipeline [--spans 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from watchkeeper.app import Daemon
from watchkeeper.config import load_settings
from watchkeeper.core import semconv as sc
from watchkeeper.core.records import sha256_text
from watchkeeper.demo import load_corpus

BATCH = 100

CLIENT = r"""
import http.client, json, sys, threading
port, path = int(sys.argv[1]), sys.argv[2]
bodies = json.load(open(path))
bodies = [bytes.fromhex(b) for b in bodies]
errors = []
def worker(chunk):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for body in chunk:
        conn.request("POST", "/v1/traces", body, {"Content-Type": "application/x-protobuf"})
        resp = conn.getresponse(); resp.read()
        if resp.status != 200:
            errors.append(resp.status)
threads = [threading.Thread(target=worker, args=(bodies[i::4],)) for i in range(4)]
[t.start() for t in threads]; [t.join() for t in threads]
print(json.dumps({"errors": len(errors)}))
"""


def _kv(key: str, value: Any) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


def make_bodies(n_spans: int, seed: int = 3) -> list[bytes]:
    """Requests of 100 chat spans from the demo corpus's three apps (one app per request, as SDKs batch)."""
    corpus = load_corpus()
    rng = random.Random(seed)
    apps = list(corpus["apps"])
    bodies = []
    for b in range(n_spans // BATCH):
        app = apps[b % len(apps)]
        spec = corpus["apps"][app]
        rs = ResourceSpans(scope_spans=[ScopeSpans()])
        rs.resource.attributes.extend([_kv(sc.SERVICE_NAME, app), _kv(sc.DEPLOYMENT_ENVIRONMENT, "prod")])
        for i in range(BATCH):
            pair = rng.choice(corpus["pairs"][app])
            start = time.time_ns() - 10**9
            rs.scope_spans[0].spans.append(
                Span(
                    trace_id=os.urandom(16),
                    span_id=os.urandom(8),
                    name=f"chat {spec['model']}",
                    kind=Span.SPAN_KIND_CLIENT,
                    start_time_unix_nano=start,
                    end_time_unix_nano=start + int(rng.lognormvariate(-0.4, 0.3) * 1e9),
                    attributes=[
                        _kv(sc.OPERATION_NAME, "chat"),
                        _kv(sc.PROVIDER_NAME, spec["provider"]),
                        _kv(sc.REQUEST_MODEL, spec["model"]),
                        _kv(sc.RESPONSE_MODEL, spec["model"]),
                        _kv(sc.USAGE_INPUT_TOKENS, 90 + i % 40),
                        _kv(sc.USAGE_OUTPUT_TOKENS, 80 + i % 60),
                        _kv(sc.CONVERSATION_ID, f"conv-{b}-{i}"),
                        _kv(
                            sc.SYSTEM_INSTRUCTIONS,
                            json.dumps([{"type": "text", "content": spec["system_prompt"]}]),
                        ),
                        _kv(sc.WK_SYSTEM_INSTRUCTIONS_SHA256, sha256_text(spec["system_prompt"])),
                        _kv(
                            sc.INPUT_MESSAGES,
                            json.dumps(
                                [{"role": "user", "parts": [{"type": "text", "content": pair["prompt"]}]}]
                            ),
                        ),
                        _kv(
                            sc.OUTPUT_MESSAGES,
                            json.dumps(
                                [
                                    {
                                        "role": "assistant",
                                        "finish_reason": "stop",
                                        "parts": [{"type": "text", "content": pair["answer"]}],
                                    }
                                ]
                            ),
                        ),
                    ],
                )
            )
        bodies.append(ExportTraceServiceRequest(resource_spans=[rs]).SerializeToString())
    return bodies


def run(stage: str, bodies: list[bytes], n_spans: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(
            None, state_dir=tmp, intake={"http_port": 0, "grpc_enabled": False}, web={"port": 0}
        )
        daemon = Daemon(settings, stage="all" if stage == "pipeline" else "collector")
        daemon.start()
        path = Path(tmp) / "bodies.json"
        path.write_text(json.dumps([b.hex() for b in bodies]))
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", CLIENT, str(daemon.intake.http_port), str(path)],
            capture_output=True,
            text=True,
            check=True,
        )
        acked_s = time.perf_counter() - t0
        analyzed_s = float("nan")
        if stage == "pipeline":
            while daemon.detectors.calls_processed < n_spans:
                time.sleep(0.05)
            analyzed_s = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        daemon.stop()
        return {
            "acked_per_s": n_spans / acked_s,
            "analyzed_per_s": n_spans / analyzed_s,
            "server_cpu_s": cpu,
            "errors": json.loads(out.stdout)["errors"],
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=20_000)
    args = parser.parse_args()
    n = args.spans - args.spans % BATCH
    bodies = make_bodies(n)
    print(
        f"{n} GenAI spans in {len(bodies)} OTLP/HTTP protobuf requests of {BATCH} "
        f"({sum(map(len, bodies)) / n:.0f} bytes/span), embedded bus, 4 client connections"
    )
    base = run("intake", bodies, n)
    full = run("pipeline", bodies, n)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{'variant':<36}{'acked spans/s':>14}{'analyzed spans/s':>18}{'server CPU s':>14}{'vs baseline':>13}"
    )
    print(
        f"{'baseline: intake only (durable)':<36}{base['acked_per_s']:>14,.0f}{'-':>18}"
        f"{base['server_cpu_s']:>14.1f}{1.0:>12.2f}x"
    )
    print(
        f"{'full pipeline (every span analyzed)':<36}{full['acked_per_s']:>14,.0f}"
        f"{full['analyzed_per_s']:>18,.0f}"
        f"{full['server_cpu_s']:>14.1f}{full['analyzed_per_s'] / base['acked_per_s']:>12.2f}x"
    )
    print(
        f"non-200 answers: {base['errors'] + full['errors']}; peak RSS of the daemon process: {rss_mb:.0f} MB"
    )


if __name__ == "__main__":
    main()
