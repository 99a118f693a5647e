"""Intake throughput: OTLP batches of 100 GenAI spans (~1.5 KB each), sent by another process, onto the bus.

    python -m benchmarks.bench_intake [--spans 50000] [--concurrency 4]

The intake runs in this process (its event loop thread plus the publish thread); the client runs in a child
process, so the server's CPU time (time.process_time of this process over the run) is the intake's own cost.
Every row is measured in the same run, next to in-process baselines on the same bodies:

  parse only           ExportTraceServiceRequest.FromString, nothing else (the protobuf C runtime's speed)
  parse+check+encode   our validation and per-service keying, in-process, no sockets, no bus
  bus publish only     EmbeddedProducer.publish of the same bodies, one per call (the durable floor)

"spans/s per core" is 10k divided by the server CPU seconds per 10k spans; the target is 10,000.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

SPANS_PER_BATCH = 100
DISTINCT_BODIES = 10
TRACE_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


# --------------------------------------------------------------------------------------------- workload
def make_bodies() -> list[bytes]:
    """Serialized ExportTraceServiceRequests of 100 chat spans each, as an instrumented app would send."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

    def kv(key: str, value: str | int) -> KeyValue:
        if isinstance(value, int):
            return KeyValue(key=key, value=AnyValue(int_value=value))
        return KeyValue(key=key, value=AnyValue(string_value=value))

    question = "My order {n} has not arrived yet, it was due last Tuesday. Can you check where it is? " * 4
    answer = "I am sorry for the delay. Order {n} left our warehouse yesterday and arrives tomorrow. " * 6
    bodies = []
    for b in range(DISTINCT_BODIES):
        rs = ResourceSpans(scope_spans=[ScopeSpans()])
        rs.resource.attributes.extend(
            [kv("service.name", "support-bot"), kv("deployment.environment", "prod")]
        )
        rs.scope_spans[0].scope.name = "opentelemetry.instrumentation.openai_v2"
        for i in range(SPANS_PER_BATCH):
            n = b * SPANS_PER_BATCH + i
            rs.scope_spans[0].spans.append(
                Span(
                    trace_id=os.urandom(16),
                    span_id=os.urandom(8),
                    name="chat gpt-4o-mini",
                    kind=Span.SPAN_KIND_CLIENT,
                    start_time_unix_nano=1_700_000_000_000_000_000 + n,
                    end_time_unix_nano=1_700_000_000_900_000_000 + n,
                    attributes=[
                        kv("gen_ai.operation.name", "chat"),
                        kv("gen_ai.provider.name", "openai"),
                        kv("gen_ai.request.model", "gpt-4o-mini"),
                        kv("gen_ai.response.model", "gpt-4o-mini-2024-07-18"),
                        kv("gen_ai.usage.input_tokens", 120 + i),
                        kv("gen_ai.usage.output_tokens", 48),
                        kv("gen_ai.conversation.id", f"conv-{n % 37}"),
                        kv(
                            "gen_ai.input.messages",
                            json.dumps(
                                [
                                    {
                                        "role": "user",
                                        "parts": [{"type": "text", "content": question.format(n=n)}],
                                    }
                                ]
                            ),
                        ),
                        kv(
                            "gen_ai.output.messages",
                            json.dumps(
                                [
                                    {
                                        "role": "assistant",
                                        "parts": [{"type": "text", "content": answer.format(n=n)}],
                                        "finish_reason": "stop",
                                    }
                                ]
                            ),
                        ),
                    ],
                )
            )
        bodies.append(ExportTraceServiceRequest(resource_spans=[rs]).SerializeToString())
    return bodies


# --------------------------------------------------------------------------------------------- client process
async def _http_client(
    url: str, bodies: list[bytes], requests: int, concurrency: int, gz: bool
) -> dict[str, Any]:
    import aiohttp

    headers = {"Content-Type": "application/x-protobuf"}
    if gz:
        headers["Content-Encoding"] = "gzip"
    statuses: dict[int, int] = {}
    counter = iter(range(requests))

    async def worker(session: aiohttp.ClientSession) -> None:
        for i in counter:
            async with session.post(url, data=bodies[i % len(bodies)], headers=headers) as resp:
                await resp.read()
                statuses[resp.status] = statuses.get(resp.status, 0) + 1

    start = time.perf_counter()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return {"elapsed": time.perf_counter() - start, "statuses": statuses}


async def _grpc_client(target: str, bodies: list[bytes], requests: int, concurrency: int) -> dict[str, Any]:
    import grpc

    statuses: dict[str, int] = {}
    counter = iter(range(requests))
    start = time.perf_counter()
    async with grpc.aio.insecure_channel(target) as channel:
        export = channel.unary_unary(TRACE_EXPORT, request_serializer=None, response_deserializer=None)

        async def worker() -> None:
            for i in counter:
                try:
                    await export(bodies[i % len(bodies)], timeout=60)
                    code = "OK"
                except grpc.aio.AioRpcError as err:
                    code = err.code().name
                statuses[code] = statuses.get(code, 0) + 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return {"elapsed": time.perf_counter() - start, "statuses": statuses}


def client_main(args: argparse.Namespace) -> None:
    bodies = json.loads(Path(args.bodies).read_text())
    raw = [bytes.fromhex(b) for b in bodies]
    if args.transport == "grpc":
        result = asyncio.run(_grpc_client(args.target, raw, args.requests, args.concurrency))
    else:
        gz = args.transport == "http-gzip"
        if gz:
            raw = [gzip.compress(b, 6) for b in raw]
        result = asyncio.run(_http_client(args.target, raw, args.requests, args.concurrency, gz))
    print(json.dumps(result))


# --------------------------------------------------------------------------------------------- server side
class Server:
    """The intake on its own loop thread, writing to an embedded bus in a temp dir."""

    def __init__(self, state_dir: Path) -> None:
        from watchkeeper.collector.intake import Intake
        from watchkeeper.collector.intake.config import IntakeConfig
        from watchkeeper.config import BusConfig
        from watchkeeper.core.bus import make_bus
        from watchkeeper.core.bus.base import TopicsConfig

        self.bus = make_bus(BusConfig(), state_dir)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        cfg = IntakeConfig(http_port=0, grpc_port=0, grpc_enabled=True)

        async def make() -> Intake:
            intake = Intake(cfg, self.bus.producer(), TopicsConfig())
            await intake.start()
            return intake

        self.intake: Intake = asyncio.run_coroutine_threadsafe(make(), self.loop).result(30)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.intake.stop(), self.loop).result(60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
        self.bus.close()

    def spans_on_bus(self) -> int:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        consumer = self.bus.consumer("bench-count", ["watchkeeper.spans"])
        total = 0
        while batch := consumer.poll(max_records=1000, timeout_s=0):
            for rec in batch:
                req = ExportTraceServiceRequest.FromString(rec.value)
                total += sum(len(ss.spans) for rs in req.resource_spans for ss in rs.scope_spans)
            consumer.commit()
        consumer.close()
        return total


def run_transport(transport: str, bodies_file: Path, requests: int, concurrency: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-intake-") as tmp:
        server = Server(Path(tmp))
        try:
            target = (
                f"127.0.0.1:{server.intake.grpc_port}"
                if transport == "grpc"
                else f"http://127.0.0.1:{server.intake.http_port}/v1/traces"
            )
            cmd = [
                sys.executable,
                "-m",
                "benchmarks.bench_intake",
                "--client",
                transport,
                "--target",
                target,
                "--bodies",
                str(bodies_file),
                "--requests",
                str(requests),
                "--concurrency",
                str(concurrency),
            ]
            cpu0 = time.process_time()
            out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=600)
            cpu = time.process_time() - cpu0
            result = json.loads(out.stdout)
            result["server_cpu"] = cpu
            result["on_bus"] = server.spans_on_bus()
        finally:
            server.stop()
    return result


def baseline_parse(bodies: list[bytes], requests: int) -> float:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    cpu0 = time.process_time()
    for i in range(requests):
        ExportTraceServiceRequest.FromString(bodies[i % len(bodies)])
    return time.process_time() - cpu0


def baseline_check(bodies: list[bytes], requests: int) -> float:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    from watchkeeper.collector.intake.signals import TRACES

    cpu0 = time.process_time()
    for i in range(requests):
        body = bodies[i % len(bodies)]
        req = ExportTraceServiceRequest.FromString(body)
        TRACES.encode_groups(TRACES.check(req), body)
    return time.process_time() - cpu0


def baseline_publish(bodies: list[bytes], requests: int) -> tuple[float, float]:
    from watchkeeper.config import BusConfig
    from watchkeeper.core.bus import make_bus

    with tempfile.TemporaryDirectory(prefix="bench-bus-") as tmp:
        bus = make_bus(BusConfig(), Path(tmp))
        producer = bus.producer()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for i in range(requests):
            producer.publish("watchkeeper.spans", [(b"support-bot", bodies[i % len(bodies)])])
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        bus.close()
    return cpu, wall


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--spans", type=int, default=50_000, help="spans per row (batches of 100)")
    parser.add_argument("--concurrency", type=int, default=4, help="client connections in flight")
    parser.add_argument("--client", choices=["http", "http-gzip", "grpc"], help=argparse.SUPPRESS)
    parser.add_argument("--target", help=argparse.SUPPRESS)
    parser.add_argument("--bodies", help=argparse.SUPPRESS)
    parser.add_argument("--requests", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        args.transport = args.client
        client_main(args)
        return

    requests = max(1, args.spans // SPANS_PER_BATCH)
    spans = requests * SPANS_PER_BATCH
    bodies = make_bodies()
    span_bytes = sum(len(b) for b in bodies) / (len(bodies) * SPANS_PER_BATCH)
    print(
        f"workload: {requests} requests x {SPANS_PER_BATCH} spans, {span_bytes:.0f} B/span, "
        f"{len(bodies[0]) / 1024:.0f} KB/request, client concurrency {args.concurrency}, "
        f"{os.cpu_count()} cores"
    )

    rows: list[tuple[str, float, float | None, str]] = []  # name, cpu s, wall s, note
    cpu = baseline_parse(bodies, requests)
    rows.append(("baseline: parse only (in-process)", cpu, None, ""))
    cpu = baseline_check(bodies, requests)
    rows.append(("baseline: parse+check+encode (in-process)", cpu, None, ""))
    cpu, wall = baseline_publish(bodies, requests)
    rows.append(("baseline: embedded bus publish only", cpu, wall, ""))

    with tempfile.TemporaryDirectory(prefix="bench-bodies-") as tmp:
        bodies_file = Path(tmp) / "bodies.json"
        bodies_file.write_text(json.dumps([b.hex() for b in bodies]))
        for transport, label in (
            ("http", "OTLP/HTTP protobuf"),
            ("http-gzip", "OTLP/HTTP protobuf+gzip"),
            ("grpc", "OTLP/gRPC protobuf"),
        ):
            res = run_transport(transport, bodies_file, requests, args.concurrency)
            note = f"answers {res['statuses']}, {res['on_bus']}/{spans} spans on bus"
            rows.append((f"intake: {label}", res["server_cpu"], res["elapsed"], note))

    parse_per_core = spans / rows[0][1]
    header = f"{'variant':<44} {'spans/s':>9} {'CPU s/10k':>10} {'spans/s/core':>13} {'vs parse':>9}  notes"
    print(header)
    print("-" * len(header))
    for name, cpu, wall, note in rows:
        per_core = spans / cpu if cpu > 0 else float("inf")
        rate = f"{spans / wall:9.0f}" if wall else f"{'-':>9}"
        ratio = per_core / parse_per_core
        print(f"{name:<44} {rate} {cpu / spans * 10_000:10.3f} {per_core:13.0f} {ratio:9.3f}  {note}")


if __name__ == "__main__":
    main()
