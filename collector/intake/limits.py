"""Bounds on what the intake holds: in-flight requests/bytes (-> 503) and an optional rate (-> 429).

Both live on the event loop thread only, so they need no locks.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from watchkeeper.collector.intake.errors import Reason, Rejected


class Admission:
    """Counts requests between arrival and the bus's answer; refuses new work instead of queueing it."""

    def __init__(self, max_requests: int, max_bytes: int, retry_after_s: float) -> None:
        self.max_requests = max_requests
        self.max_bytes = max_bytes
        self.retry_after_s = retry_after_s
        self.requests = 0
        self.bytes = 0

    def enter(self) -> Slot:
        if self.requests >= self.max_requests:
            raise Rejected(
                Reason.BUSY,
                f"intake busy: {self.requests} requests waiting for the bus; retry later",
                self.retry_after_s,
            )
        self.requests += 1
        return Slot(self)


class Slot:
    """One admitted request; `reserve` grows its byte share (body read, then gunzipped) or refuses it."""

    def __init__(self, admission: Admission) -> None:
        self._adm = admission
        self.nbytes = 0
        self._open = True

    def reserve(self, nbytes: int) -> None:
        adm = self._adm
        extra = nbytes - self.nbytes
        # A request alone in flight is always admitted, so one maximal body can always get through.
        if extra > 0 and adm.bytes + extra > adm.max_bytes and adm.requests > 1:
            raise Rejected(
                Reason.BUSY,
                f"intake busy: {adm.bytes} bytes wait for the bus; retry later",
                adm.retry_after_s,
            )
        adm.bytes += extra
        self.nbytes = nbytes

    def release(self) -> None:
        if self._open:
            self._open = False
            self._adm.bytes -= self.nbytes
            self._adm.requests -= 1

    def __enter__(self) -> Slot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class TokenBucket:
    """Items per second with a burst; a request larger than the burst passes when the bucket is full."""

    def __init__(self, rate_per_s: float, burst: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate_per_s
        self.burst = burst
        self._clock = clock
        self._tokens = burst
        self._stamp = clock()

    def take(self, n: int) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        needed = min(float(n), self.burst)
        if self._tokens + 1e-9 < needed:
            wait = math.ceil((needed - self._tokens) / self.rate)
            raise Rejected(
                Reason.RATE_LIMITED, f"rate limit of {self.rate:g} items/s exceeded; retry in {wait} s", wait
            )
        self._tokens -= n
