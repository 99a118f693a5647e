"""Operational anomalies per app and model: latency, time to first chunk, token counts and failure rates.

Calls are grouped into short windows (by count, or by time at low traffic). Each closed window is compared
with a baseline learned from earlier normal windows of the same app+model, in the app's own terms:

- value metrics (latency, time to first chunk, input and output tokens, on a log scale) against the baseline's
  empirical distribution: a window is shifted when significantly more of its calls fall beyond the baseline's
  5% tail than the baseline itself has there (binomial test), and the shift is big enough in absolute and
  relative terms. Heavy tails and several modes (cache hits and misses) are part of the baseline, so they
  are not anomalies; one long answer is one value and never a finding. Latency is judged for the answer's
  length when token counts are known (a fitted log-log relation), so longer answers are not "slow";
- rates (errors, finish_reason "length" truncations, "content_filter", refusals) against the baseline rate
  (binomial test on its Jeffreys upper bound, plus a minimum absolute increase);
- optionally (`forest: true`) a scikit-learn IsolationForest over per-window feature vectors.

Severity by how far and how long: a shift is reported once it is sustained (a far latency shift at once,
others after `sustain_windows`, token counts, which follow what users ask, after `token_sustain_windows`);
it starts as a warning, becomes an error when far (the typical call beyond the baseline's 95th percentile,
30% of calls in the tail, or a rate 20 points up) for two windows or extreme (beyond the 99th percentile and
twice the usual, or a rate of 50%) at once, and critical when extreme for `escalate_windows`. Token-count
shifts are `info` (`token_shift_severity`): on the clean replay they follow what users ask. Nothing is
reported while a baseline warms up. Anomalous windows do not teach the baseline, unless the change persists
for `adapt_after_windows` windows, when it becomes the new normal.
Everything is a function of the stream (fixed random_state), so a replay yields the same findings.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import beta, binom
from sklearn.ensemble import IsolationForest

from watchkeeper.core.detector import Detector, StateStore
from watchkeeper.core.detector_state import AppStates
from watchkeeper.core.findings import Finding, Severity, call_labels, make_finding
from watchkeeper.core.records import ModelCall
from watchkeeper.detectors.operational.metadata import METADATA
from watchkeeper.detectors.operational.settings import OperationalSettings
from watchkeeper.detectors.refusals import is_refusal

# metric -> which side of the band is anomalous
VALUE_METRICS: dict[str, str] = {
    "latency": "high",
    "time_to_first_chunk": "high",
    "input_tokens": "both",
    "output_tokens": "both",
}
RATES = ("error_rate", "truncation_rate", "content_filter_rate", "refusal_rate")
# Forest features: the continuous window statistics. Rates stay out: they have exact binomial tests, and their
# rare discrete values (1 content filter in 50 calls) isolate normal windows and blunt the forest.
FEATURES = ("latency_p50", "latency_p90", "ttfc_p50", "input_p50", "output_p50")
HISTORY = 256  # forest feature vectors kept per app+model
# Reference series: the value metrics, plus the output length of each latency value (-1: unknown), so that
# latency can be judged for the answer's length.
LENGTH = "latency_tokens"
REFERENCES = (*VALUE_METRICS, LENGTH)
NO_LENGTH = -1.0


@dataclass(slots=True)
class _Window:
    start: float
    values: dict[str, list[float]] = field(default_factory=lambda: {m: [] for m in REFERENCES})
    traces: dict[str, list[tuple[float, str]]] = field(default_factory=lambda: {m: [] for m in VALUE_METRICS})
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RATES, 0))
    rate_traces: dict[str, list[str]] = field(default_factory=lambda: {r: [] for r in RATES})
    n: int = 0

    def dump(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "n": self.n,
            "values": self.values,
            "traces": {m: [list(t) for t in ts] for m, ts in self.traces.items()},
            "counts": self.counts,
            "rate_traces": self.rate_traces,
        }

    @classmethod
    def load(cls, w: dict[str, Any]) -> _Window:
        return cls(
            start=float(w["start"]),
            values={m: [float(v) for v in w["values"].get(m, [])] for m in REFERENCES},
            traces={m: [(float(v), str(t)) for v, t in w["traces"].get(m, [])] for m in VALUE_METRICS},
            counts={r: int(w["counts"].get(r, 0)) for r in RATES},
            rate_traces={r: [str(t) for t in w["rate_traces"].get(r, [])] for r in RATES},
            n=int(w["n"]),
        )


@dataclass(slots=True)
class _Key:
    refs: dict[str, deque[float]]
    rate_windows: deque[tuple[int, int, int, int, int]]  # (n, errors, truncations, filtered, refusals)
    history: deque[tuple[float, ...]]
    windows: int = 0
    streak: dict[str, int] = field(default_factory=dict)  # check -> shifted windows in a row
    since: dict[str, float] = field(default_factory=dict)  # check -> start of the first window of the streak
    shifted: dict[str, int | None] = field(default_factory=dict)  # metric -> how far this window (None: not)
    forest: _FastForest | None = None
    forest_floor: float = 0.0
    forest_data: list[tuple[float, ...]] | None = None  # what the forest was fitted on (refitted on reload)
    since_fit: int = 0

    def dump(self) -> dict[str, Any]:
        """Everything that changes findings, exactly (floats as JSON numbers round-trip): the baseline, the
        streaks and what the forest was fitted on (the open window is checkpointed on its own)."""
        return {
            "refs": {m: list(vals) for m, vals in self.refs.items()},
            "rates": [list(row) for row in self.rate_windows],
            "history": [list(h) for h in self.history],
            "windows": self.windows,
            "streak": {k: v for k, v in self.streak.items() if v},
            "since": {k: v for k, v in self.since.items() if self.streak.get(k)},
            "since_fit": self.since_fit,
            "forest_data": None if self.forest_data is None else [list(h) for h in self.forest_data],
        }

    @classmethod
    def load(cls, data: dict[str, Any], cfg: OperationalSettings) -> _Key:
        ref_windows = max(2, cfg.reference_size // cfg.window_calls)
        refs = data.get("refs", {})
        st = cls(
            refs={m: deque(refs.get(m, []), maxlen=cfg.reference_size) for m in REFERENCES},
            rate_windows=deque((tuple(w) for w in data.get("rates", [])), maxlen=ref_windows),  # type: ignore[misc]
            history=deque((tuple(h) for h in data.get("history", [])), maxlen=HISTORY),
            windows=int(data.get("windows", 0)),
            streak={str(k): int(v) for k, v in data.get("streak", {}).items()},
            since={str(k): float(v) for k, v in data.get("since", {}).items()},
            since_fit=int(data.get("since_fit", 0)),
        )
        if data.get("forest_data"):
            st.fit_forest([tuple(h) for h in data["forest_data"]], cfg.forest_trees)
        return st

    def fit_forest(self, data: list[tuple[float, ...]], trees: int) -> None:
        """Fit (or refit on reload: random_state is fixed, so the same data gives the same forest)."""
        matrix = np.asarray(data, dtype=float)
        forest = IsolationForest(n_estimators=trees, random_state=0).fit(matrix)
        self.forest, self.forest_floor = _FastForest(forest), float(forest.score_samples(matrix).min())
        self.forest_data = data


class _App:
    """One app's operational state: a baseline per model (at most `max_keys`, least recently used dropped)."""

    __slots__ = ("models",)

    def __init__(self, models: dict[str, _Key] | None = None) -> None:
        self.models: dict[str, _Key] = models or {}

    def dump(self) -> dict[str, Any]:
        return {"models": {model: st.dump() for model, st in self.models.items()}}

    @classmethod
    def load(cls, data: dict[str, Any], cfg: OperationalSettings) -> _App:
        return cls({str(m): _Key.load(d, cfg) for m, d in data.get("models", {}).items()})


def _average_path(n: int) -> float:
    """Expected path length of an unsuccessful search in a binary tree of n points (Liu et al. 2008)."""
    if n <= 1:
        return 0.0
    if n == 2:
        return 1.0
    return 2.0 * (math.log(n - 1.0) + np.euler_gamma) - 2.0 * (n - 1.0) / n


class _FastForest:
    """A fitted IsolationForest scored one window at a time in plain Python.

    sklearn's score_samples costs ~2.5 ms per call for 64 trees (validation and chunking overhead), which per
    50-call window was most of this detector's time; walking the same trees is ~20x cheaper and gives the same
    score (checked in the tests).
    """

    def __init__(self, forest: IsolationForest) -> None:
        self.forest = forest
        self.trees = []
        for tree, features in zip(forest.estimators_, forest.estimators_features_, strict=True):
            t = tree.tree_
            leaf_path = [_average_path(int(n)) for n in t.n_node_samples]
            self.trees.append(
                (
                    t.children_left.tolist(),
                    t.children_right.tolist(),
                    t.feature.tolist(),
                    t.threshold.tolist(),
                    leaf_path,
                    [int(f) for f in features],
                )
            )
        self.norm = _average_path(int(forest.max_samples_))

    def score(self, x: tuple[float, ...]) -> float:
        total = 0.0
        for left, right, feature, threshold, leaf_path, features in self.trees:
            node, depth = 0, 0
            while left[node] != -1:
                node = left[node] if x[features[feature[node]]] <= threshold[node] else right[node]
                depth += 1
            total += depth + leaf_path[node]
        return -(2.0 ** (-total / len(self.trees) / self.norm))


def _level(far: int, streak: int, escalate: int) -> int:
    """0 warning, 1 error, 2 critical, from how far (0 shifted, 1 far, 2 extreme) and how long (windows)."""
    if far == 2:
        return 2 if streak >= escalate else 1
    return 1 if far == 1 and streak >= 2 else 0


_SEVERITIES = (Severity.warning, Severity.error, Severity.critical)


class OperationalDetector(Detector):
    """Latency, token and failure-rate anomalies per app+model against robust streaming baselines."""

    name = "operational"
    settings_class = OperationalSettings
    metadata = METADATA

    def __init__(
        self, settings: OperationalSettings | None = None, *, state: StateStore | None = None
    ) -> None:
        super().__init__(settings, state=state)
        self.cfg: OperationalSettings = self.settings  # type: ignore[assignment]
        self._phrases = tuple(p.lower() for p in self.cfg.refusal_phrases)
        cfg = self.cfg
        self._apps = self.state.apps(
            new=lambda _app: _App(), load=lambda _app, data: _App.load(data, cfg), dump=_App.dump
        )
        self._windows: AppStates[dict[str, _Window]] = self.state.apps(
            new=lambda _app: {},
            load=lambda _app, data: {str(m): _Window.load(w) for m, w in data.items()},
            dump=lambda ws: {m: w.dump() for m, w in ws.items()},
            name="windows",
        )

    # -- state ------------------------------------------------------------------------------------------
    def _key(self, app: _App, model: str) -> _Key:
        """The baseline of one app+model (the app's state comes from the per-app container: checkpointed,
        bounded in memory, following the app's partition)."""
        st = app.models.get(model)
        if st is None:
            cfg = self.cfg
            st = _Key(
                refs={m: deque(maxlen=cfg.reference_size) for m in REFERENCES},
                rate_windows=deque(maxlen=max(2, cfg.reference_size // cfg.window_calls)),
                history=deque(maxlen=HISTORY),
            )
            if len(app.models) >= cfg.max_keys:
                app.models.pop(next(iter(app.models)))
            app.models[model] = st
        else:  # keep most recently used last
            app.models[model] = app.models.pop(model)
        return st

    # -- observation ------------------------------------------------------------------------------------
    def observe(self, call: ModelCall) -> list[Finding]:
        # Two containers: the open windows change with every call (small), the baselines only when a window
        # closes (large), so a checkpoint writes a baseline once per window, not once per call.
        model = call.model or "unknown"
        windows = self._windows.get(call.service)
        now = call.start_time_s
        w = windows.get(model)
        if w is None:
            if len(windows) >= self.cfg.max_keys:
                windows.pop(next(iter(windows)))
            w = windows[model] = _Window(start=now)
        self._add(w, call)
        cfg = self.cfg
        if w.n >= cfg.window_calls or (now - w.start >= cfg.window_seconds and w.n >= cfg.min_window_calls):
            del windows[model]
            app = self._apps.get(call.service)
            return self._close(self._key(app, model), w, call)
        return []

    def _add(self, w: _Window, call: ModelCall) -> None:
        w.n += 1
        trace = call.trace_id
        failed = call.error_type is not None
        if failed:
            w.counts["error_rate"] += 1
            w.rate_traces["error_rate"].append(trace)
        if "length" in call.finish_reasons:
            w.counts["truncation_rate"] += 1
            w.rate_traces["truncation_rate"].append(trace)
        if "content_filter" in call.finish_reasons:
            w.counts["content_filter_rate"] += 1
            w.rate_traces["content_filter_rate"].append(trace)
        if call.output_text and is_refusal(call.output_text, self._phrases):
            w.counts["refusal_rate"] += 1
            w.rate_traces["refusal_rate"].append(trace)
        if failed:
            return  # a failed call's latency and tokens describe the failure, not the model
        observed = {
            "latency": _log_ms(call.duration_ms),
            "time_to_first_chunk": _log_ms(call.time_to_first_chunk_ms),
            "input_tokens": _log_count(call.input_tokens),
            "output_tokens": _log_count(call.output_tokens),
        }
        for metric, value in observed.items():
            if value is not None:
                w.values[metric].append(float(value))
                w.traces[metric].append((float(value), trace))
        length = _log_count(call.output_tokens)
        w.values[LENGTH].append(length if length is not None else NO_LENGTH)

    # -- judging a window -------------------------------------------------------------------------------
    def _close(self, st: _Key, w: _Window, call: ModelCall) -> list[Finding]:
        cfg = self.cfg
        st.windows += 1
        findings: list[Finding] = []
        for metric, side in VALUE_METRICS.items():
            finding = self._check_values(st, w, call, metric, side)
            if finding is not None:
                findings.append(finding)
            if self._learn(st, metric):
                st.refs[metric].extend(w.values[metric])
                if metric == "latency":
                    st.refs[LENGTH].extend(w.values[LENGTH])
        for rate in RATES:
            finding = self._check_rate(st, w, call, rate)
            if finding is not None:
                findings.append(finding)
        rate_row = (w.n, *(w.counts[r] for r in RATES))
        if all(self._learn(st, rate) for rate in RATES):
            st.rate_windows.append(rate_row)  # type: ignore[arg-type]
        features = self._features(w)
        if cfg.forest and features is not None:
            combined = self._check_forest(st, features, call, w) if not findings else None
            if combined is not None:
                findings.append(combined)
            elif not findings:
                st.history.append(features)
            self._maybe_fit(st)
        return findings

    @staticmethod
    def _count(st: _Key, check: str, anomalous: bool, start: float) -> int:
        """Windows in a row that `check` has been anomalous, this one included (0: not now)."""
        if not anomalous:
            st.streak[check] = 0
            return 0
        streak = st.streak[check] = st.streak.get(check, 0) + 1
        if streak == 1:
            st.since[check] = start
        return streak

    def _learn(self, st: _Key, check: str) -> bool:
        """Whether this window's data should enter the baseline (normal, or a change that has persisted)."""
        streak = st.streak.get(check, 0)
        return streak == 0 or streak >= self.cfg.adapt_after_windows

    def _latency_fit(self, st: _Key) -> tuple[float, float] | None:
        """log latency ~ a + b * log1p(output tokens) over the baseline; None without enough lengths."""
        lengths = np.fromiter(st.refs[LENGTH], dtype=float, count=len(st.refs[LENGTH]))
        latency = np.fromiter(st.refs["latency"], dtype=float, count=len(st.refs["latency"]))
        if len(lengths) != len(latency):
            return None
        known = lengths >= 0
        if known.sum() < max(self.cfg.min_samples, len(latency) // 2) or np.ptp(lengths[known]) < 0.5:
            return None
        slope, intercept = np.polyfit(lengths[known], latency[known], 1)
        return float(intercept), float(max(slope, 0.0))

    def _series(self, st: _Key, w: _Window, metric: str) -> tuple[np.ndarray, np.ndarray, bool]:
        """(baseline, window) values of one metric; latency residuals for the answers' length when known."""
        ref = np.fromiter(st.refs[metric], dtype=float, count=len(st.refs[metric]))
        arr = np.asarray(w.values[metric], dtype=float)
        if metric != "latency":
            return ref, arr, False
        fit = self._latency_fit(st)
        win_len = np.asarray(w.values[LENGTH], dtype=float)
        if fit is None or len(win_len) != len(arr) or (win_len >= 0).sum() < len(arr) / 2:
            return ref, arr, False
        b = fit[1]
        ref_len = np.fromiter(st.refs[LENGTH], dtype=float, count=len(st.refs[LENGTH]))
        ref_ok, win_ok = ref_len >= 0, win_len >= 0
        typical = float(np.median(ref_len[ref_ok]))
        # residual + the prediction for a typical length: still milliseconds, for an answer of usual length
        return (
            ref[ref_ok] - b * (ref_len[ref_ok] - typical),
            arr[win_ok] - b * (win_len[win_ok] - typical),
            True,
        )

    def _big_enough(self, metric: str, window_median: float, median: float) -> bool:
        """Absolute and relative floors: 2 ms -> 3 ms on a mocked client, 40 -> 45 tokens, are no incident."""
        cfg = self.cfg
        if metric.endswith("tokens"):
            now, usual = float(np.expm1(window_median)), float(np.expm1(median))
            shift = abs(now - usual)
            return shift >= cfg.min_token_shift and shift >= cfg.min_relative_shift * max(usual, 1.0)
        now, usual = float(np.exp(window_median)), float(np.exp(median))
        return now - usual >= cfg.min_latency_shift_ms and now >= (1.0 + cfg.min_relative_shift) * usual

    def _check_values(self, st: _Key, w: _Window, call: ModelCall, metric: str, side: str) -> Finding | None:
        """Is this window shifted against the app's own distribution of `metric`, and for how long?"""
        cfg = self.cfg
        st.shifted[metric] = None
        if len(st.refs[metric]) < cfg.min_samples or len(w.values[metric]) < cfg.min_window_calls:
            self._count(st, metric, False, w.start)
            return None
        ref, arr, adjusted = self._series(st, w, metric)
        med, window_median = float(np.median(ref)), float(np.median(arr))
        shift = None
        for direction in ("high", "low") if side == "both" else (side,):
            high = direction == "high"
            edge = float(np.quantile(ref, cfg.tail if high else 1.0 - cfg.tail))
            out = int((arr > edge).sum() if high else (arr < edge).sum())
            ref_out = int((ref > edge).sum() if high else (ref < edge).sum())
            if (window_median > med) != high or not self._big_enough(metric, window_median, med):
                continue
            # The tail: more calls beyond the baseline's 5% tail than its own share there (upper 97.5%
            # bound, Jeffreys, as for rates). The middle: most calls on one side of the baseline's median
            # (sign test), for a shift of the whole distribution that a long tail would hide.
            p0 = float(beta.ppf(0.975, ref_out + 0.5, len(ref) - ref_out + 0.5))
            p_tail = float(binom.sf(out - 1, len(arr), p0)) if out >= cfg.min_out_of_band else 1.0
            beyond_median = int((arr > med).sum() if high else (arr < med).sum())
            p_sign = float(binom.sf(beyond_median - 1, len(arr), 0.5))
            p_value = min(p_tail, p_sign)
            if p_value < cfg.alpha / 2:
                position = float((ref < window_median).mean() if high else (ref > window_median).mean())
                shift = (direction, edge, out, p0, p_value, position)
        streak = self._count(st, metric, shift is not None, w.start)
        if shift is None:
            return None
        direction, edge, out, p0, p_value, position = shift
        ratio = float(np.exp(abs(window_median - med)))
        if position >= cfg.extreme_quantile and ratio >= 2.0:
            far = 2
        elif position >= cfg.far_quantile or out / len(arr) >= cfg.far_tail_share:
            far = 1
        else:
            far = 0
        st.shifted[metric] = far
        content_driven = metric.endswith("tokens")
        need = cfg.token_sustain_windows if content_driven else (1 if far else cfg.sustain_windows)
        if streak < need:
            return None
        severity = (
            cfg.token_shift_severity
            if content_driven
            else _SEVERITIES[_level(far, streak, cfg.escalate_windows)]
        )
        tokens = metric.endswith("tokens")
        unit = "tokens" if tokens else "ms"

        def to_unit(v: float) -> float:
            return float(np.expm1(v)) if tokens else float(np.exp(v))

        high = direction == "high"
        examples = [t for (v, t) in w.traces[metric] if (v > edge if high else v < edge)][:5]
        what = metric.replace("_", " ") + (" for the answers' length" if adjusted else "")
        return self._finding(
            call,
            metric,
            severity,
            min(1.0, out / len(arr)),
            f"{what} of {call.service}/{call.model or 'unknown'} {'higher' if high else 'lower'} than usual "
            f"for {streak} window(s): median {to_unit(window_median):.0f} {unit} vs "
            f"{to_unit(med):.0f} {unit}; {out}/{len(arr)} calls beyond the usual {1 - cfg.tail:.0%} tail",
            {
                "metric": metric,
                "unit": unit,
                "direction": direction,
                "window_calls": w.n,
                "beyond_tail": out,
                "windows_in_a_row": streak,
                "since": st.since.get(metric, w.start),
                "window_median": round(to_unit(window_median), 3),
                "baseline_median": round(to_unit(med), 3),
                "tail_edge": round(to_unit(edge), 3),
                "band": [  # the baseline's usual range (between its tails), for charts
                    round(to_unit(float(np.quantile(ref, 1.0 - cfg.tail))), 3),
                    round(to_unit(float(np.quantile(ref, cfg.tail))), 3),
                ],
                "median_quantile_in_baseline": round(position, 4),
                "length_adjusted": adjusted,
                "p_value": p_value,
                "baseline_tail_rate": round(p0, 5),
                "examples": examples,
            },
        )

    def _check_rate(self, st: _Key, w: _Window, call: ModelCall, rate: str) -> Finding | None:
        cfg = self.cfg
        column = 1 + RATES.index(rate)
        base_n = sum(row[0] for row in st.rate_windows)
        if base_n < cfg.min_samples or w.n < cfg.min_window_calls:
            return None
        k = w.counts[rate]
        base_k = sum(row[column] for row in st.rate_windows)
        finding = self._rate_finding(st, w, call, rate, k, base_k, base_n)
        self._count(st, rate, finding is not None, w.start)
        return finding

    def _rate_finding(
        self, st: _Key, w: _Window, call: ModelCall, rate: str, k: int, base_k: int, base_n: int
    ) -> Finding | None:
        cfg = self.cfg
        # Upper 97.5% bound of the baseline rate (Jeffreys): rare events are estimated from few counts, and a
        # point estimate of 0.1% would make 3 content-filter hits in 50 calls look like an incident.
        p0 = float(beta.ppf(0.975, base_k + 0.5, base_n - base_k + 0.5))
        observed = k / w.n
        if k == 0 or observed - p0 < cfg.min_rate_increase:
            return None
        p_value = float(binom.sf(k - 1, w.n, p0))
        if p_value >= cfg.alpha:
            return None
        streak = st.streak.get(rate, 0) + 1  # counted by the caller once decided
        far = 2 if observed >= cfg.extreme_rate else 1 if observed - p0 >= cfg.far_rate_increase else 0
        severity = _SEVERITIES[_level(far, streak, cfg.escalate_windows)]
        what = rate.replace("_rate", "").replace("_", " ")
        return self._finding(
            call,
            rate,
            severity,
            min(1.0, observed),
            f"{what} rate of {call.service}/{call.model or 'unknown'} at {observed:.0%} "
            f"({k}/{w.n} calls) vs {base_k / base_n:.1%} usually, for {streak} window(s)",
            {
                "metric": rate,
                "window_calls": w.n,
                "windows_in_a_row": streak,
                "since": st.since.get(rate, w.start) if streak > 1 else w.start,
                "count": k,
                "rate": round(observed, 4),
                "baseline_rate": round(base_k / base_n, 5),
                "baseline_rate_upper": round(p0, 5),
                "baseline_calls": base_n,
                "p_value": p_value,
                "examples": w.rate_traces[rate][:5],
            },
        )

    # -- multivariate -----------------------------------------------------------------------------------
    @staticmethod
    def _features(w: _Window) -> tuple[float, ...] | None:
        lat = w.values["latency"]
        if not lat:
            return None

        def med(xs: list[float]) -> float:
            return float(np.median(xs)) if xs else 0.0

        return (
            med(lat),
            float(np.percentile(lat, 90)),
            med(w.values["time_to_first_chunk"]),
            med(w.values["input_tokens"]),
            med(w.values["output_tokens"]),
        )

    def _maybe_fit(self, st: _Key) -> None:
        cfg = self.cfg
        st.since_fit += 1
        if len(st.history) < cfg.forest_min_windows:
            return
        if st.forest is not None and st.since_fit < cfg.forest_refit_every:
            return
        st.fit_forest(list(st.history), cfg.forest_trees)
        st.since_fit = 0

    def _check_forest(
        self, st: _Key, features: tuple[float, ...], call: ModelCall, w: _Window
    ) -> Finding | None:
        if st.forest is None:
            return None
        score = st.forest.score(features)
        limit = st.forest_floor - self.cfg.forest_margin
        history = np.asarray(st.history, dtype=float)
        center = np.median(history, axis=0)
        spread = np.maximum(np.median(np.abs(history - center), axis=0) * 1.4826, 1e-3)
        deviation = (np.asarray(features) - center) / spread
        # An isolation forest scores every point beyond the training range like the most extreme training
        # point (its trees end there), so a window far outside the range in several features at once is
        # flagged explicitly as well.
        far = int((np.abs(deviation) >= self.cfg.combined_z).sum())
        if score >= limit and far < 2:
            return None
        top = [FEATURES[i] for i in np.argsort(-np.abs(deviation))[:3]]
        return self._finding(
            call,
            "combined",
            Severity.warning,
            min(1.0, limit - score + 0.5),
            f"unusual combination of operational metrics for {call.service}/{call.model or 'unknown'} "
            f"(most deviating: {', '.join(top)})",
            {
                "metric": "combined",
                "window_calls": w.n,
                "anomaly_score": round(score, 4),
                "threshold": round(limit, 4),
                "features_far_out": far,
                "robust_z": {name: round(float(v), 2) for name, v in zip(FEATURES, deviation, strict=True)},
                "features": {name: round(v, 4) for name, v in zip(FEATURES, features, strict=True)},
                "baseline": {name: round(float(v), 4) for name, v in zip(FEATURES, center, strict=True)},
            },
        )

    def _finding(
        self,
        call: ModelCall,
        check: str,
        severity: Severity,
        score: float,
        summary: str,
        evidence: dict[str, Any],
    ) -> Finding:
        category = f"operational.{check}"
        return make_finding(
            call,
            detector=self.name,
            category=category,
            severity=self.severity(severity),
            score=score,
            summary=summary,
            labels=call_labels(call, self.name, category),
            evidence=evidence,
            id_salt=check,
        )


def _log_ms(value: float | None) -> float | None:
    """log of a duration; None for what cannot be a duration (not finite, negative): one bad span must not
    fail the batch (math.log raises) or poison a baseline."""
    if value is None or not math.isfinite(value) or value < 0:
        return None
    return math.log(max(value, 0.01))


def _log_count(value: int | None) -> float | None:
    """log1p of a token count; None for a negative one."""
    if value is None or value < 0:
        return None
    return math.log1p(value)
