"""Durations in Alertmanager spellings ("30s", "5m", "4h", "1h30m") or plain seconds.

Apart from the alerts config so the receivers' schema (which the alerts config imports) can use them too.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BeforeValidator

_DURATION_RE = re.compile(r"^(?:(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y))+$")
_PART_RE = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, "y": 31536000.0}


def parse_duration(value: Any) -> float:
    """Seconds from `30s`, `5m`, `1h30m` or a number; why: configs copied from Alertmanager use these."""
    if isinstance(value, bool):
        raise ValueError(f"invalid duration {value!r}: use e.g. 30s, 5m, 4h or a number of seconds")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError(f"invalid duration {value!r}: must be a finite number of seconds")
        if value < 0:
            raise ValueError(f"invalid duration {value!r}: must not be negative")
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            return parse_duration(float(text))
        except ValueError:
            pass
        if _DURATION_RE.match(text):
            return sum(float(n) * _UNIT_S[u] for n, u in _PART_RE.findall(text))
    raise ValueError(f"invalid duration {value!r}: use e.g. 30s, 5m, 4h or a number of seconds")


Duration = Annotated[float, BeforeValidator(parse_duration)]

__all__ = ["Duration", "parse_duration"]
