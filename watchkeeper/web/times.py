"""Times at the API boundary: ISO 8601 with a zone out, ISO 8601 or unix seconds in.

The stores keep unix seconds (cheap to compare and bucket); every public response carries RFC 3339 strings
in UTC (`2026-12-01T11:34:26.071Z`), so a reader never has to guess the zone of a number. Conversion is by
field name, in one place, so a new endpoint gets it by answering through `json_response`.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

#: Fields holding a time that do not end in `_at`.
TIME_FIELDS = frozenset(
    {"time", "first_seen", "last_seen", "last_received_at", "feedback_time", "suppress_until"}
)
#: Free-form payloads (detector evidence, labels, rendered notifications) are passed through untouched.
OPAQUE_FIELDS = frozenset({"evidence", "labels", "annotations", "payload", "request_params", "data"})


def iso(ts: float | None) -> str | None:
    """Unix seconds as RFC 3339 in UTC with milliseconds; None stays None."""
    if ts is None or not math.isfinite(ts):
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _is_time_field(key: str) -> bool:
    return key in TIME_FIELDS or key.endswith("_at")


def with_iso_times(value: Any) -> Any:
    """A copy of a JSON-ready body with every time field (by name) as an ISO 8601 string."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key in OPAQUE_FIELDS:
                out[key] = item
            elif _is_time_field(key) and isinstance(item, int | float) and not isinstance(item, bool):
                out[key] = iso(float(item))
            else:
                out[key] = with_iso_times(item)
        return out
    if isinstance(value, list):
        return [with_iso_times(item) for item in value]
    return value


def json_response(body: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """The API's JSON answer: times as ISO 8601, strict JSON (a non-finite number becomes null)."""
    return web.json_response(with_iso_times(body), status=status, headers=headers, dumps=_dumps)


def _dumps(value: Any) -> str:
    return json.dumps(_finite(value), allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def parse_time(raw: str, name: str) -> float:
    """A query or body time: unix seconds, or ISO 8601 (a time without a zone is refused: it is ambiguous)."""
    text = raw.strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{name} must be ISO 8601 with a zone (2026-12-01T11:34:26Z) or unix seconds, got {raw!r}"
        ) from None
    if parsed.tzinfo is None:
        raise ValueError(f"{name} {raw!r} has no zone: add Z or an offset such as +01:00")
    return parsed.timestamp()
