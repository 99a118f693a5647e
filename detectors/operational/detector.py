"""Operational anomalies per app and model: latency, time to first chunk, token counts and failure rates.

Calls are grouped into short windows (by count, or by time at low traffic). Each closed window is compared
with a robust baseline learned from earlier normal windows of the same app+model:

- value metrics (log latency, log time-to-first-chunk, log tokens) against a median +- k*MAD band: a finding
  when significantly more calls leave the band than the baseline does (binomial test), severity by how far the
  window's median moved;
- rates (errors, finish_reason "length" truncations, "content_filter", refusals) against the baseline rate
  (binomial test plus a minimum absolute increase);
- a scikit-learn IsolationForest over per-window feature vectors, fitted on normal windows and refitted
  periodically, for combinations no single check flags.

Nothing is reported while a baseline warms up. Anomalous windows do not teach the baseline, unless the change
persists for `adapt_after_windows` windows, when it becomes the new normal (and the incident can resolve).
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
from watchkeeper.core.findings import Finding, Severity, call_labels, make_finding
from watchkeeper.core.records import ModelCall
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


@dataclass(slots=True)
class _Window:
    start: float
    values: dict[str, list[float]] = field(default_factory=lambda: {m: [] for m in VALUE_METRICS})
    traces: dict[str, list[tuple[float, str]]] = field(default_factory=lambda: {m: [] for m in VALUE_METRICS})
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RATES, 0))
    rate_traces: dict[str, list[str]] = field(default_factory=lambda: {r: [] for r in RATES})
    n: int = 0


@dataclass(slots=True)
class _Key:
    refs: dict[str, deque[float]]
    rate_windows: deque[tuple[int, int, int, int, int]]  # (n, errors, truncations, filtered, refusals)
    history: deque[tuple[float, ...]]
    window: _Window | None = None
    windows: int = 0
    streak: dict[str, int] = field(default_factory=dict)
    forest: _FastForest | None = None
    forest_floor: float = 0.0
    since_fit: int = 0


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


def _median_mad(values: np.ndarray, floor: float) -> tuple[float, float]:
    med = float(np.median(values))
    return med, max(1.4826 * float(np.median(np.abs(values - med))), floor)


class OperationalDetector(Detector):
    """Latency, token and failure-rate anomalies per app+model against robust streaming baselines."""

    name = "operational"
    settings_class = OperationalSettings

    def __init__(
        self, settings: OperationalSettings | None = None, *, state: StateStore | None = None
    ) -> None:
        super().__init__(settings, state=state)
        self.cfg: OperationalSettings = self.settings  # type: ignore[assignment]
        self._phrases = tuple(p.lower() for p in self.cfg.refusal_phrases)
        self._keys: dict[tuple[str, str], _Key] = {}

    # -- state ------------------------------------------------------------------------------------------
    def _key(self, call: ModelCall) -> tuple[tuple[str, str], _Key]:
        key = (call.service, call.model or "unknown")
        st = self._keys.get(key)
        if st is None:
            cfg = self.cfg
            saved = self.state.get(self._state_key(key)) or {}
            ref_windows = max(2, cfg.reference_size // cfg.window_calls)
            st = _Key(
                refs={
                    m: deque(saved.get("refs", {}).get(m, []), maxlen=cfg.reference_size)
                    for m in VALUE_METRICS
                },
                rate_windows=deque((tuple(w) for w in saved.get("rates", [])), maxlen=ref_windows),
                history=deque((tuple(h) for h in saved.get("history", [])), maxlen=256),
                windows=int(saved.get("windows", 0)),
            )
            if len(self._keys) >= cfg.max_keys:
                self._keys.pop(next(iter(self._keys)))
            self._keys[key] = st
        else:  # keep most recently used last
            self._keys[key] = self._keys.pop(key)
        return key, st

    @staticmethod
    def _state_key(key: tuple[str, str]) -> str:
        return f"baseline:{key[0]}|{key[1]}"

    def _save(self, key: tuple[str, str], st: _Key) -> None:
        self.state.put(
            self._state_key(key),
            {
                "refs": {m: [round(v, 4) for v in vals] for m, vals in st.refs.items()},
                "rates": [list(w) for w in st.rate_windows],
                "history": [[round(v, 4) for v in h] for h in st.history],
                "windows": st.windows,
            },
        )

    # -- observation ------------------------------------------------------------------------------------
    def observe(self, call: ModelCall) -> list[Finding]:
        key, st = self._key(call)
        now = call.start_time_s
        w = st.window
        if w is None:
            w = st.window = _Window(start=now)
        self._add(w, call)
        cfg = self.cfg
        if w.n >= cfg.window_calls or (now - w.start >= cfg.window_seconds and w.n >= cfg.min_window_calls):
            st.window = None
            return self._close(key, st, w, call)
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
            "latency": math.log(max(call.duration_ms, 0.01)),
            "time_to_first_chunk": (
                math.log(max(call.time_to_first_chunk_ms, 0.01))
                if call.time_to_first_chunk_ms is not None
                else None
            ),
            "input_tokens": math.log1p(call.input_tokens) if call.input_tokens is not None else None,
            "output_tokens": math.log1p(call.output_tokens) if call.output_tokens is not None else None,
        }
        for metric, value in observed.items():
            if value is not None:
                w.values[metric].append(float(value))
                w.traces[metric].append((float(value), trace))

    # -- judging a window -------------------------------------------------------------------------------
    def _close(self, key: tuple[str, str], st: _Key, w: _Window, call: ModelCall) -> list[Finding]:
        cfg = self.cfg
        st.windows += 1
        findings: list[Finding] = []
        for metric, side in VALUE_METRICS.items():
            finding = self._check_values(st, w, call, metric, side)
            anomalous = finding is not None
            if anomalous:
                findings.append(finding)
            if self._learn(st, metric, anomalous):
                st.refs[metric].extend(w.values[metric])
        rates_anomalous = False
        for rate in RATES:
            finding = self._check_rate(st, w, call, rate)
            if finding is not None:
                findings.append(finding)
                rates_anomalous = True
        rate_row = (w.n, *(w.counts[r] for r in RATES))
        if self._learn(st, "rates", rates_anomalous):
            st.rate_windows.append(rate_row)  # type: ignore[arg-type]
        features = self._features(w)
        if cfg.forest and features is not None:
            combined = self._check_forest(st, features, call, w) if not findings else None
            if combined is not None:
                findings.append(combined)
            elif not findings:
                st.history.append(features)
            self._maybe_fit(st)
        if st.windows % cfg.persist_every_windows == 0:
            self._save(key, st)
        return findings

    def _learn(self, st: _Key, check: str, anomalous: bool) -> bool:
        """Whether this window's data should enter the baseline (normal, or a change that has persisted)."""
        if not anomalous:
            st.streak[check] = 0
            return True
        st.streak[check] = st.streak.get(check, 0) + 1
        return st.streak[check] >= self.cfg.adapt_after_windows

    def _check_values(self, st: _Key, w: _Window, call: ModelCall, metric: str, side: str) -> Finding | None:
        cfg = self.cfg
        values = w.values[metric]
        ref_list = st.refs[metric]
        if len(ref_list) < cfg.min_samples or len(values) < cfg.min_window_calls:
            return None
        ref = np.fromiter(ref_list, dtype=float, count=len(ref_list))
        med, spread = _median_mad(ref, cfg.min_spread)
        lo, hi = med - cfg.band_mads * spread, med + cfg.band_mads * spread
        arr = np.asarray(values)
        if side == "high":
            out_mask, ref_out = arr > hi, int((ref > hi).sum())
        else:
            out_mask, ref_out = (arr > hi) | (arr < lo), int(((ref > hi) | (ref < lo)).sum())
        out = int(out_mask.sum())
        if out < cfg.min_out_of_band:
            return None
        p0 = (ref_out + 0.5) / (len(ref) + 1.0)
        p_value = float(binom.sf(out - 1, len(arr), p0))
        if p_value >= cfg.alpha:
            return None
        window_median = float(np.median(arr))
        z = (window_median - med) / spread
        if abs(z) >= cfg.band_mads:  # the typical call is outside the band
            severity = Severity.critical
        elif abs(z) >= cfg.band_mads / 2:
            severity = Severity.error
        else:
            severity = Severity.warning
        to_unit = (
            (lambda v: float(np.expm1(v))) if metric.endswith("tokens") else (lambda v: float(np.exp(v)))
        )
        unit = "tokens" if metric.endswith("tokens") else "ms"
        direction = "higher" if window_median >= med else "lower"
        examples = [t for (v, t) in w.traces[metric] if v > hi or (side == "both" and v < lo)][:5]
        return self._finding(
            call,
            metric,
            severity,
            min(1.0, out / len(arr)),
            f"{metric.replace('_', ' ')} of {call.service}/{call.model or 'unknown'} {direction} than usual: "
            f"median {to_unit(window_median):.0f} {unit} vs {to_unit(med):.0f} {unit}; "
            f"{out}/{len(arr)} calls outside the normal band",
            {
                "metric": metric,
                "unit": unit,
                "window_calls": w.n,
                "out_of_band": out,
                "window_median": round(to_unit(window_median), 3),
                "baseline_median": round(to_unit(med), 3),
                "band": [round(to_unit(lo), 3), round(to_unit(hi), 3)],
                "robust_z": round(z, 3),
                "p_value": p_value,
                "baseline_out_of_band_rate": round(p0, 5),
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
        # Upper 97.5% bound of the baseline rate (Jeffreys): rare events are estimated from few counts, and a
        # point estimate of 0.1% would make 3 content-filter hits in 50 calls look like an incident.
        p0 = float(beta.ppf(0.975, base_k + 0.5, base_n - base_k + 0.5))
        observed = k / w.n
        if k == 0 or observed - p0 < cfg.min_rate_increase:
            return None
        p_value = float(binom.sf(k - 1, w.n, p0))
        if p_value >= cfg.alpha:
            return None
        severity = (
            Severity.critical if observed >= 0.5 else Severity.error if observed >= 0.2 else Severity.warning
        )
        what = rate.replace("_rate", "").replace("_", " ")
        return self._finding(
            call,
            rate,
            severity,
            min(1.0, observed),
            f"{what} rate of {call.service}/{call.model or 'unknown'} at {observed:.0%} "
            f"({k}/{w.n} calls) vs {base_k / base_n:.1%} usually",
            {
                "metric": rate,
                "window_calls": w.n,
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
        data = np.asarray(st.history, dtype=float)
        forest = IsolationForest(n_estimators=cfg.forest_trees, random_state=0).fit(data)
        st.forest, st.forest_floor, st.since_fit = (
            _FastForest(forest),
            float(forest.score_samples(data).min()),
            0,
        )

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
