"""Sustained overload: senders faster than detection, with and without the intake's backpressure.

    python -m benchmarks.bench_overload [--seconds 30] [--senders 4] [--bound 20000]

Runs the whole daemon (`watchkeeper run`, embedded bus) twice on the same workload, in the same run:

  baseline    intake.max_detector_lag_spans: 0 and max_detector_lag_bytes: 0 (no backpressure: the old
              behaviour, every span acknowledged whatever detection keeps up with)
  bounded     intake.max_detector_lag_spans: --bound (the default is 200,000; smaller here so a short run
              reaches it)

`--senders` processes post OTLP/HTTP batches of 100 chat spans as fast as the intake answers (a refused batch
is dropped by the sender: this measures the daemon, not a retry policy). Every second the benchmark reads the
detectors' backlog from the bus and the daemon's RSS. Printed per row: spans acknowledged per second, spans
analyzed per second, share of batches refused, the largest backlog seen (spans), bus size on disk at the end
and peak RSS of the daemon.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from benchmarks.bench_intake import SPANS_PER_BATCH, make_bodies


def _sender(url: str, seconds: float, out: Any) -> None:
    import httpx

    bodies = make_bodies()
    ok = refused = 0
    deadline = time.monotonic() + seconds
    with httpx.Client(timeout=30) as client:
        i = 0
        while time.monotonic() < deadline:
            body = bodies[i % len(bodies)]
            resp = client.post(url, content=body, headers={"Content-Type": "application/x-protobuf"})
            i += 1
            if resp.status_code == 200:
                ok += 1
            else:
                refused += 1
    out.put((ok, refused))


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.read().decode()


def _analyzed(web: str) -> float:
    total = 0.0
    for line in _get(f"{web}/metrics").splitlines():
        if line.startswith("watchkeeper_calls_traced_total{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def run(name: str, intake: dict[str, Any], seconds: float, senders: int) -> dict[str, Any]:
    from watchkeeper.core.bus.base import DETECTORS_GROUP, TopicsConfig
    from watchkeeper.core.bus.embedded import EmbeddedBus

    with tempfile.TemporaryDirectory(prefix="bench-overload-") as tmp:
        state = Path(tmp) / "state"
        http, grpc, web = _free_port(), _free_port(), _free_port()
        config = {
            "state_dir": str(state),
            "log_level": "warning",
            "intake": {"http_port": http, "grpc_port": grpc, **intake},
            "web": {"port": web},
        }
        (Path(tmp) / "daemon.yaml").write_text(json.dumps(config))
        env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHKEEPER_")}
        proc = subprocess.Popen(
            [sys.executable, "-m", "watchkeeper.cli", "run", "-c", str(Path(tmp) / "daemon.yaml")],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        web_url = f"http://127.0.0.1:{web}"
        try:
            deadline = time.monotonic() + 300  # the detectors load their models first
            while True:
                try:
                    if json.loads(_get(f"{web_url}/healthz"))["status"] == "ok":
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit(f"{name}: the daemon did not become ready")
                time.sleep(0.5)
            analyzed_before = _analyzed(web_url)
            queue: Any = multiprocessing.Queue()
            url = f"http://127.0.0.1:{http}/v1/traces"
            workers = [
                multiprocessing.Process(target=_sender, args=(url, seconds, queue)) for _ in range(senders)
            ]
            bus = EmbeddedBus(state / "bus.sqlite3")
            started = time.monotonic()
            for w in workers:
                w.start()
            max_backlog = peak_rss = 0
            while any(w.is_alive() for w in workers):
                backlog = bus.backlog(DETECTORS_GROUP, [TopicsConfig().spans]) or 0
                max_backlog = max(max_backlog, backlog * SPANS_PER_BATCH)
                peak_rss = max(peak_rss, _rss_kb(proc.pid))
                time.sleep(1.0)
            elapsed = time.monotonic() - started
            results = [queue.get(timeout=30) for _ in workers]
            for w in workers:
                w.join()
            analyzed = _analyzed(web_url) - analyzed_before
            bus.close()
            disk = sum(p.stat().st_size for p in state.glob("bus.sqlite3*"))
        finally:
            proc.terminate()
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
    ok = sum(r[0] for r in results)
    refused = sum(r[1] for r in results)
    return {
        "name": name,
        "acked": ok * SPANS_PER_BATCH / elapsed,
        "analyzed": analyzed / elapsed,
        "refused": refused / max(1, ok + refused),
        "max_backlog": max_backlog,
        "disk_mb": disk / 2**20,
        "rss_mb": peak_rss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument(
        "--bound", type=int, default=20_000, help="intake.max_detector_lag_spans of the bounded row"
    )
    args = parser.parse_args()
    rows = [
        run("baseline (no backpressure)", {"max_detector_lag_spans": 0, "max_detector_lag_bytes": 0},
            args.seconds, args.senders),
        run(f"bounded ({args.bound:,} spans)", {"max_detector_lag_spans": args.bound},
            args.seconds, args.senders),
    ]  # fmt: skip
    print(f"{args.senders} senders x {args.seconds:.0f} s, batches of {SPANS_PER_BATCH} spans, embedded bus")
    header = (
        f"{'run':<28} {'acked spans/s':>14} {'analyzed/s':>11} {'refused':>8} {'max backlog':>12} "
        f"{'bus MB':>7} {'peak RSS MB':>12}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['name']:<28} {r['acked']:14,.0f} {r['analyzed']:11,.0f} {r['refused']:8.1%} "
            f"{r['max_backlog']:12,} {r['disk_mb']:7.1f} {r['rss_mb']:12.0f}"
        )


if __name__ == "__main__":
    main()
