"""Group commit onto the bus: requests that arrive while a publish is running share the next one.

`Producer.publish` blocks until the records are durable (an SQLite commit, a Kafka ack). Running it once per
request would make throughput the inverse of that latency; one worker that takes everything queued meanwhile
keeps the cost per record low under load and adds nothing when idle. The worker also means the producer is
only ever called from one thread at a time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from watchkeeper.core.bus.base import Producer

log = logging.getLogger(__name__)

KeyedRecords = Sequence[tuple[bytes | None, bytes]]


@dataclass
class _Pending:
    topic: str
    records: KeyedRecords
    nbytes: int
    done: asyncio.Future[None] = field(repr=False)


class Publisher:
    def __init__(self, producer: Producer, max_batch_bytes: int) -> None:
        self._producer = producer
        self._max_batch_bytes = max_batch_bytes
        self._queue: asyncio.Queue[_Pending | None] = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="intake-publish")
        self._worker: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._worker = asyncio.get_running_loop().create_task(self._run(), name="intake-publisher")

    async def stop(self) -> None:
        """Publish everything already queued, then stop the worker thread."""
        if self._worker is not None:
            self._queue.put_nowait(None)
            await self._worker
            self._worker = None
        self._executor.shutdown(wait=True)

    async def publish(self, topic: str, records: KeyedRecords) -> None:
        """Return once the records are durable; raise what the producer raised otherwise (e.g. BusError)."""
        if self._worker is None:
            raise RuntimeError("publisher is not running")
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        nbytes = sum(len(v) for _, v in records)
        self._queue.put_nowait(_Pending(topic, records, nbytes, done))
        await done

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        stopping = False
        while not stopping:
            first = await self._queue.get()
            if first is None:
                break
            batch = [first]
            size = first.nbytes
            while size < self._max_batch_bytes and not self._queue.empty():
                item = self._queue.get_nowait()
                if item is None:
                    stopping = True
                    break
                batch.append(item)
                size += item.nbytes
            for topic in dict.fromkeys(p.topic for p in batch):
                group = [p for p in batch if p.topic == topic]
                records = [r for p in group for r in p.records]
                try:
                    await loop.run_in_executor(self._executor, self._producer.publish, topic, records)
                except Exception as exc:
                    for p in group:
                        if not p.done.done():
                            p.done.set_exception(exc)
                else:
                    for p in group:
                        if not p.done.done():
                            p.done.set_result(None)
