"""Bus throughput: publish and consume 1 KB records in batches of 100, embedded SQLite vs Kafka.

Every row runs in this process against fresh storage; the Kafka row uses the broker at
WATCHKEEPER_TEST_KAFKA_BOOTSTRAP or starts a local Tansu broker. The consumer commits after every batch, as
the stages do, and group formation is excluded (a warm-up record is consumed before timing).

Run: python -m benchmarks.bench_bus [--records 20000]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.broker import BOOTSTRAP_ENV, kafka_bus_config, start_tansu
from watchkeeper.config import BusConfig
from watchkeeper.core.bus import Bus, make_bus

RECORD_BYTES = 1024
BATCH = 100


@dataclass
class Result:
    name: str
    records: int
    publish_s: float
    consume_s: float

    @property
    def publish_rate(self) -> float:
        return self.records / self.publish_s

    @property
    def consume_rate(self) -> float:
        return self.records / self.consume_s

    @property
    def total_rate(self) -> float:
        return self.records / (self.publish_s + self.consume_s)


def run(name: str, bus: Bus, records: int) -> Result:
    suffix = uuid.uuid4().hex[:8]
    topic, group = f"bench-{suffix}", f"bench-group-{suffix}"
    producer = bus.producer()
    consumer = bus.consumer(group, [topic])
    try:
        producer.publish(topic, [(b"warm-up", b"x")])
        warmed = 0
        deadline = time.monotonic() + 60
        while not warmed and time.monotonic() < deadline:
            warmed = len(consumer.poll(max_records=1, timeout_s=0.5))
        if not warmed:
            raise RuntimeError(f"{name}: the warm-up record never arrived")
        consumer.commit()

        payload = os.urandom(RECORD_BYTES)
        batches = [
            [(b"app-%d" % ((start + i) % 16), payload) for i in range(min(BATCH, records - start))]
            for start in range(0, records, BATCH)
        ]
        t0 = time.perf_counter()
        for batch in batches:
            producer.publish(topic, batch)
        publish_s = time.perf_counter() - t0

        seen = 0
        t0 = time.perf_counter()
        deadline = time.monotonic() + 300
        while seen < records and time.monotonic() < deadline:
            got = consumer.poll(max_records=BATCH, timeout_s=1.0)
            if got:
                seen += len(got)
                consumer.commit()
        consume_s = time.perf_counter() - t0
        if seen < records:
            raise RuntimeError(f"{name}: consumed only {seen} of {records} records")
        return Result(name, records, publish_s, consume_s)
    finally:
        consumer.close()
        producer.close()


@contextlib.contextmanager
def kafka_bootstrap() -> Iterator[str]:
    external = os.environ.get(BOOTSTRAP_ENV, "").strip()
    if external:
        yield external
        return
    broker = start_tansu()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


def bench(name: str, opener: Callable[[], Bus], records: int) -> Result:
    bus = opener()
    try:
        return run(name, bus, records)
    finally:
        bus.close()


def print_table(results: list[Result]) -> None:
    base = results[0]
    header = (
        f"{'bus':<24} {'records':>8} {'publish rec/s':>14} {'consume rec/s':>14} {'pub+consume rec/s':>18} "
        f"{'ratio':>7}"
    )
    print(f"{RECORD_BYTES} B records, batches of {BATCH}; ratio = pub+consume rate / {base.name}")
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.name:<24} {r.records:>8} {r.publish_rate:>14,.0f} {r.consume_rate:>14,.0f} "
            f"{r.total_rate:>18,.0f} {r.total_rate / base.total_rate:>6.2f}x"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    args = parser.parse_args(argv)
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="watchkeeper-bench-bus-") as tmp:
        for sync in ("normal", "full"):
            state = Path(tmp) / sync
            embedded = BusConfig(sync=sync)
            opener = functools.partial(make_bus, embedded, state)
            results.append(bench(f"embedded (sync={sync})", opener, args.records))
    with kafka_bootstrap() as bootstrap:
        kafka = kafka_bus_config(bootstrap, partitions=3)
        opener = functools.partial(make_bus, kafka, Path("."))
        results.append(bench("kafka (3 partitions)", opener, args.records))
    print_table(results)


if __name__ == "__main__":
    main()
