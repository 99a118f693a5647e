"""The overview's traffic numbers, from the recorded calls: per time bucket and per app (or model), the
call count, latency p50/p95, tokens in and out, and the error rate."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

MAX_SERIES = 12  # the busiest apps/models get a line each; the rest are summed as "other"


def _percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


def traffic(rows: Iterable[Any], start: float, bucket_s: float, n: int, by: str) -> dict[str, Any]:
    """rows: (time, app, model, duration_ms, input_tokens, output_tokens, error_type) of the range."""
    cells: dict[str, list[list[Any]]] = {}
    totals: dict[str, int] = {}
    for row in rows:
        i = int((row["time"] - start) // bucket_s)
        if not 0 <= i < n:
            continue
        key = str(row[by] or "unknown")
        series = cells.setdefault(key, [[] for _ in range(n)])
        series[i].append(row)
        totals[key] = totals.get(key, 0) + 1
    keep = sorted(totals, key=lambda k: (-totals[k], k))
    if len(keep) > MAX_SERIES:
        other = [[] for _ in range(n)]
        for key in keep[MAX_SERIES - 1 :]:
            for i, bucket in enumerate(cells.pop(key)):
                other[i].extend(bucket)
        cells["other"] = other
        keep = [*keep[: MAX_SERIES - 1], "other"]
    out: dict[str, Any] = {}
    for key in keep:
        stats: dict[str, list[Any]] = {
            k: [] for k in ("calls", "p50_ms", "p95_ms", "tokens_in", "tokens_out", "errors", "error_rate")
        }
        for bucket in cells[key]:
            durations = sorted(float(r["duration_ms"]) for r in bucket)
            errors = sum(1 for r in bucket if r["error_type"])
            stats["calls"].append(len(bucket))
            stats["p50_ms"].append(_percentile(durations, 0.5))
            stats["p95_ms"].append(_percentile(durations, 0.95))
            stats["tokens_in"].append(sum(int(r["input_tokens"] or 0) for r in bucket))
            stats["tokens_out"].append(sum(int(r["output_tokens"] or 0) for r in bucket))
            stats["errors"].append(errors)
            stats["error_rate"].append(errors / len(bucket) if bucket else None)
        out[key] = stats
    return out
