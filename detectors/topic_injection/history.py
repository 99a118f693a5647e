"""What an app (or a model) has said before: a uniform sample of its past candidate passages.

A recurring passage is an injection only if it is new. Stock phrasing (apologies, disclaimers, sign-offs in
the model's own words) has been there all along, at about the rate it recurs now. The history keeps a bounded,
uniform sample of every off-topic candidate passage seen (reservoir sampling, Vitter's Algorithm R), so the
detector can ask, when a cluster of similar passages is about to become a theme: how often did passages like
these occur before the cluster started?

The sampling decisions come from a hash of the passage's span id, not from a random generator, so a replay of
the same calls keeps the same sample (and the same findings).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import binom


@dataclass(slots=True)
class PassageHistory:
    capacity: int
    rows: list[tuple[np.ndarray, np.ndarray, int]] = field(default_factory=list)  # (idx, val, call index)
    seen: int = 0  # candidate passages seen so far
    calls: int = 0  # calls seen so far (the time base of `rows`)

    def add(self, idx: np.ndarray, val: np.ndarray, key: str) -> None:
        """One candidate passage of the current call (`calls` is its index)."""
        n = self.seen
        self.seen += 1
        row = (idx, val.astype(np.float32), self.calls)
        if n < self.capacity:
            self.rows.append(row)
            return
        j = zlib.crc32(key.encode()) % (n + 1)
        if j < self.capacity:
            self.rows[j] = row

    def prior(self, centroid: np.ndarray, before_call: int, seen_before: int, similarity: float) -> float:
        """Estimated number of passages similar to `centroid` among the `seen_before` candidates that came
        before call `before_call` (sampled hits, scaled by the sampling rate of that period)."""
        hits = rows_before = 0
        for idx, val, t in self.rows:
            if t < before_call:
                rows_before += 1
                if float(centroid[idx] @ val) >= similarity:
                    hits += 1
        return hits * seen_before / rows_before if rows_before else 0.0

    def dump(self) -> dict:
        return {
            "capacity": self.capacity,
            "seen": self.seen,
            "calls": self.calls,
            "rows": [[idx.tolist(), val.tolist(), t] for idx, val, t in self.rows],  # float32 exact
        }

    @classmethod
    def load(cls, data: dict | None, capacity: int) -> PassageHistory:
        if not data:
            return cls(capacity)
        rows = [
            (np.asarray(idx, dtype=np.intp), np.asarray(val, dtype=np.float32), int(t))
            for idx, val, t in data.get("rows", [])
        ][:capacity]
        return cls(capacity, rows, int(data.get("seen", len(rows))), int(data.get("calls", 0)))


def novelty_p_value(prior: float, onset_calls: int, recent: int, span_calls: int) -> float:
    """How unlikely it is that so many of the similar passages are recent, had the rate never changed.

    Two Poisson counts with exposures in calls: `prior` similar passages in the `onset_calls` calls before
    the cluster started, `recent` conversations in the `span_calls` calls since. With equal rates, the recent
    share of all prior + recent passages is binomial with p = span / (onset + span): the conditional test for
    two rates, which needs no estimate of the rate itself (a cluster is judged when it has just reached its
    threshold, so its own rate estimate is biased upwards). Small: new for the app (an injection).
    """
    if onset_calls <= 0:
        return 1.0
    total = round(prior) + recent
    share = span_calls / (span_calls + onset_calls)
    return float(binom.sf(recent - 1, total, share))


def was_there_before(prior: float, onset_calls: int, recent: int, span_calls: int) -> bool:
    """Before the cluster started, similar passages came at least half as often as they come now."""
    return onset_calls > 0 and prior / onset_calls >= 0.5 * recent / max(span_calls, 1)
