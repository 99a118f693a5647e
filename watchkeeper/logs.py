"""Logging setup: one line per event, plain text or JSON, every time ISO 8601 with its UTC offset."""

from __future__ import annotations

import json
import logging
import sys
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


def setup_logging(level: str = "info", fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(_TextFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("kafka", "aiohttp.access", "azure", "urllib3", "httpx", "grpc"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
