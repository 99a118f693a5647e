"""Backpressure from detection: the intake refuses new spans while the detectors are too far behind.

Without it the intake acknowledges whatever arrives (tens of thousands of spans a second) while detection
analyzes about a thousand: the bus grows by gigabytes, memory with it, and findings come hours late. Like the
OpenTelemetry Collector's memory limiter, the intake instead answers "retry later" (503 + Retry-After, gRPC
RESOURCE_EXHAUSTED + RetryInfo): senders' exporters keep the spans in their queues and retry, so nothing is
lost that the sender can still hold, and the backlog stays bounded.

The backlog is measured every `lag_check_interval_s` (records the detectors' group has not committed, read
from the bus off the event loop); between two measurements what this intake published since is added, so a
burst overshoots by at most the requests in flight. Records are converted to spans and bytes with the running
averages of what this intake publishes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor

from watchkeeper.core import metrics

log = logging.getLogger(__name__)

#: Records of the detectors' input not committed yet, or None when the group is not known (not started).
BacklogProbe = Callable[[], int | None]
_EWMA = 0.1  # weight of the newest publish in the per-record averages


class Backpressure:
    def __init__(
        self,
        probe: BacklogProbe | None,
        *,
        max_spans: int,
        max_bytes: int,
        interval_s: float,
        retry_after_s: int,
    ) -> None:
        self.probe = probe
        self.max_spans = max_spans
        self.max_bytes = max_bytes
        self.interval_s = interval_s
        self.retry_after_s = retry_after_s
        self._measured: int | None = None  # records, at the last measurement
        self._published = 0  # records this intake published, ever
        self._published_at_measure = 0
        self._spans_per_record = 1.0
        self._bytes_per_record = 0.0
        self._task: asyncio.Task[None] | None = None
        self._failing_since: float | None = None

    @property
    def enabled(self) -> bool:
        return self.probe is not None and (self.max_spans > 0 or self.max_bytes > 0)

    async def start(self, executor: Executor) -> None:
        if self.enabled:
            self._task = asyncio.get_running_loop().create_task(self._measure_forever(executor))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def published(self, records: int, spans: int, size: int) -> None:
        """What one publish added to the detectors' input."""
        if records <= 0:
            return
        first = self._published == 0
        self._published += records
        weight = 1.0 if first else _EWMA
        self._spans_per_record += weight * (spans / records - self._spans_per_record)
        self._bytes_per_record += weight * (size / records - self._bytes_per_record)

    def estimate(self) -> tuple[float, float] | None:
        """(spans, bytes) waiting for the detectors now; None when unknown."""
        if self._measured is None:
            return None
        records = self._measured + (self._published - self._published_at_measure)
        return records * self._spans_per_record, records * self._bytes_per_record

    def over(self) -> str | None:
        """Why new spans must wait, or None when they are welcome."""
        if not self.enabled:
            return None
        estimate = self.estimate()
        if estimate is None:
            return None
        spans, size = estimate
        if self.max_spans and spans > self.max_spans:
            return (
                f"detection is {spans:,.0f} spans behind (intake.max_detector_lag_spans {self.max_spans:,}); "
                "retry later"
            )
        if self.max_bytes and size > self.max_bytes:
            return (
                f"detection is {size / 2**20:,.0f} MiB behind (intake.max_detector_lag_bytes "
                f"{self.max_bytes / 2**20:,.0f} MiB); retry later"
            )
        return None

    async def _measure_forever(self, executor: Executor) -> None:
        loop = asyncio.get_running_loop()
        assert self.probe is not None
        while True:
            before = self._published
            try:
                measured = await loop.run_in_executor(executor, self.probe)
            except Exception as exc:  # the bus being unreachable is reported by publishing; here: no refusal
                if self._failing_since is None:
                    self._failing_since = time.monotonic()
                    log.warning("cannot measure the detectors' backlog (%s); not refusing meanwhile", exc)
                measured = None
            else:
                self._failing_since = None
            self._measured, self._published_at_measure = measured, before
            estimate = self.estimate()
            metrics.INTAKE_DETECTOR_BACKLOG.set(estimate[0] if estimate else 0)
            await asyncio.sleep(self.interval_s)
