"""Memory under a flood of distinct apps: RSS of the daemon after 50,000 distinct `service.name` values (one
call each), and after a minute idle. Target: <= 600 MB, flat at idle.

The daemon runs as its own process (`watchkeeper run`, default configuration: every stage, embedded bus,
SQLite store); the calls come through the real OTLP/HTTP intake in requests of 100 spans (one app per span, so
one bus record per span). Baseline, in the same run: the same daemon after 5,000 calls of the three demo apps.

Run: python -m benchmarks.bench_memory [--apps 50000] [--idle 60]
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans

from benchmarks.alerting_harness import free_port, rss_mb, temp_dir, wait_for
from benchmarks.bench_pipeline import _kv, make_bodies

PER_REQUEST = 100


def distinct_app_bodies(n_apps: int, offset: int = 0) -> list[bytes]:
    """Requests of 100 spans, each span from its own app (`flood-<i>`), content of the demo corpus."""
    template = ExportTraceServiceRequest()
    template.ParseFromString(make_bodies(PER_REQUEST, seed=11)[0])
    spans = list(template.resource_spans[0].scope_spans[0].spans)
    bodies = []
    for start in range(0, n_apps, PER_REQUEST):
        req = ExportTraceServiceRequest()
        for i in range(start, min(n_apps, start + PER_REQUEST)):
            rs = ResourceSpans(scope_spans=[ScopeSpans()])
            rs.resource.attributes.extend(
                [_kv("service.name", f"flood-{offset + i}"), _kv("deployment.environment.name", "prod")]
            )
            span = rs.scope_spans[0].spans.add()
            span.CopyFrom(spans[i % len(spans)])
            span.trace_id = os.urandom(16)
            span.span_id = os.urandom(8)
            req.resource_spans.append(rs)
        bodies.append(req.SerializeToString())
    return bodies


class Daemon:
    def __init__(self, state: Path) -> None:
        self.http, self.web = free_port(), free_port()
        cfg = {
            "state_dir": str(state),
            "log_level": "warning",
            "intake": {"http_port": self.http, "grpc_enabled": False},
            "web": {"port": self.web},
        }
        path = state / "wk.yaml"
        state.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(cfg))
        env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHKEEPER_")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "watchkeeper.cli", "run", "-c", str(path)],
            stdout=subprocess.DEVNULL,
            stderr=open(state / "daemon.log", "ab"),  # noqa: SIM115 - owned by the process
            env=env,
        )
        wait_for(self.ready, 180, "daemon ready", 0.2)

    def ready(self) -> bool:
        try:
            return bool(httpx.get(f"http://127.0.0.1:{self.web}/readyz", timeout=2).json()["ready"])
        except (httpx.HTTPError, ValueError, KeyError):
            return False

    def processed(self) -> int:
        return int(
            httpx.get(f"http://127.0.0.1:{self.web}/api/v1/status", timeout=10).json()["calls_processed"]
        )

    def send(self, bodies: list[bytes]) -> None:
        with httpx.Client(timeout=60) as client:
            for body in bodies:
                for _ in range(100):
                    r = client.post(
                        f"http://127.0.0.1:{self.http}/v1/traces",
                        content=body,
                        headers={"Content-Type": "application/x-protobuf"},
                    )
                    if r.status_code == 200:
                        break
                    time.sleep(float(r.headers.get("Retry-After", "0.5")))  # backpressure: wait and resend
                else:
                    raise RuntimeError(f"intake kept refusing: {r.status_code} {r.text[:200]}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=50_000)
    parser.add_argument("--idle", type=float, default=60.0)
    args = parser.parse_args()
    random.seed(1)
    daemon = Daemon(temp_dir("wk-memory-"))
    try:
        started = rss_mb(daemon.proc.pid)
        daemon.send(make_bodies(5_000, seed=3))
        wait_for(lambda: daemon.processed() >= 5_000, 600, "baseline analyzed", 0.5)
        baseline = rss_mb(daemon.proc.pid)
        t0 = time.monotonic()
        daemon.send(distinct_app_bodies(args.apps))
        wait_for(lambda: daemon.processed() >= 5_000 + args.apps, 1800, "flood analyzed", 0.5)
        flood_s = time.monotonic() - t0
        after = rss_mb(daemon.proc.pid)
        samples = []
        for _ in range(max(1, int(args.idle // 10))):
            time.sleep(10)
            samples.append(rss_mb(daemon.proc.pid))
        print(
            f"\nRSS of the daemon (default config, one process), {args.apps:,} distinct apps, one call each\n"
        )
        print("| moment | RSS MB |")
        print("|---|---|")
        print(f"| started, idle | {started:.0f} |")
        print(f"| baseline: after 5,000 calls of 3 apps | {baseline:.0f} |")
        rate = args.apps / flood_s
        print(f"| after {args.apps:,} distinct apps ({flood_s:.0f} s, {rate:,.0f} calls/s) | {after:.0f} |")
        print(f"| idle {args.idle:.0f} s later (every 10 s) | {' / '.join(f'{s:.0f}' for s in samples)} |")
        print(f"| growth per 1,000 apps above baseline | {(after - baseline) / args.apps * 1000:.1f} |")
    finally:
        daemon.stop()


if __name__ == "__main__":
    main()
