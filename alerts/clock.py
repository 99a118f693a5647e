"""Time for the alerts stage, injectable so timeline tests run in milliseconds instead of minutes.

Every timing decision (group_wait, group_interval, repeat_interval, resolve_timeout, retry backoff, pacing)
reads `Clock.now()`; background threads wait through `Clock.wait()`, which a fake clock can cut short.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Unix seconds."""
        ...

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        """Sleep up to `seconds` (clock time) or until `stop` is set; True when stopped."""
        ...


class SystemClock:
    """Wall-clock time."""

    def now(self) -> float:
        return time.time()

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        return stop.wait(max(0.0, seconds))


class FakeClock:
    """A clock that moves only when told to; waiters wake on every move so schedules fire promptly."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = float(start)
        self._cond = threading.Condition()

    def now(self) -> float:
        with self._cond:
            return self._now

    def set(self, value: float) -> None:
        with self._cond:
            self._now = float(value)
            self._cond.notify_all()

    def advance(self, seconds: float) -> float:
        with self._cond:
            self._now += float(seconds)
            self._cond.notify_all()
            return self._now

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        # Real time is bounded too, so a thread also notices `stop` while the fake clock stands still.
        with self._cond:
            deadline = self._now + max(0.0, seconds)
            if self._now < deadline and not stop.is_set():
                self._cond.wait(timeout=0.05)
        return stop.is_set()
