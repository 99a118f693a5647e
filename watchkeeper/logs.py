"""Logging setup: one line per event, plain text or JSON, every time ISO 8601 with its UTC offset.

Repeated warnings and errors are summarized (`RepeatFilter`): a flood of one failure (a receiver down, the
bus failing, a client hammering) writes one line per kind per minute with a count, not gigabytes of log.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime


def iso_time(created: float) -> str:
    """A log record's time in the host's zone with its offset, e.g. 2026-12-01T12:34:26.071+01:00."""
    return datetime.fromtimestamp(created).astimezone().isoformat(timespec="milliseconds")


class _TextFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return iso_time(record.created)


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": iso_time(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data)


class RepeatFilter(logging.Filter):
    """Lets the first WARNING-or-worse record of a kind through, holds the others for `interval_s`, and adds
    to the next one let through how many were held. A kind is (logger, level, first line of the message
    template): the same failure with other values (an attempt number, a socket) is one kind."""

    MAX_KINDS = 1024  # oldest kinds forgotten beyond it: a flood of distinct messages stays bounded too

    def __init__(self, interval_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.interval_s = interval_s
        self._clock = clock
        self._kinds: OrderedDict[tuple[str, int, str], list[float]] = OrderedDict()  # [window start, held]

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        kind = (record.name, record.levelno, str(record.msg).split("\n", 1)[0][:200])
        now = self._clock()
        seen = self._kinds.get(kind)
        if seen is not None and now - seen[0] < self.interval_s:
            seen[1] += 1
            return False
        held = int(seen[1]) if seen is not None else 0
        self._kinds[kind] = [now, 0]
        self._kinds.move_to_end(kind)
        while len(self._kinds) > self.MAX_KINDS:
            self._kinds.popitem(last=False)
        if held:
            record.msg = f"{record.msg} ({held} more like this in the last {self.interval_s:g} s)"
        return True


def setup_logging(level: str = "info", fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RepeatFilter())
    if fmt == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(_TextFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("kafka", "aiohttp.access", "azure", "urllib3", "httpx", "grpc"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
