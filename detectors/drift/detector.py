"""Behaviour drift: does an app's recent output still look like its reference period?

A silent model upgrade, a changed system prompt or a poisoned retrieval index shows up as a shift in what the
app says before anyone files a complaint. Per app, a sliding window of recent outputs is compared with a
reference window (the first `reference_size` outputs, re-captured once a drift has persisted) on:

- output length: two-sample Kolmogorov-Smirnov test (scipy);
- refusal rate: two-proportion test on the 2x2 table (chi-square, Fisher's exact test when counts are small);
- topic mix: outputs are hashed into bags of words, clustered with k-means fitted on the reference, and the
  cluster histograms compared with a chi-square test (Jensen-Shannon divergence reported as the effect size).

Each test runs at alpha / 3 (Bonferroni) every `test_every` calls, once both windows are full, and a drift
is reported only when its effect size also reaches a floor (`min_length_effect`, `min_refusal_change`,
`min_topic_divergence`): with 500 outputs a side the tests find differences nobody would act on. Findings are
warnings: how often a drift is a problem worth an engineer's time has not been measured.
"""

from __future__ import annotations

import warnings
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency, fisher_exact, ks_2samp
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import HashingVectorizer

from watchkeeper.core.detector import Detector, StateStore
from watchkeeper.core.findings import Finding, Severity, call_labels, make_finding
from watchkeeper.core.records import ModelCall
from watchkeeper.detectors.drift.metadata import METADATA
from watchkeeper.detectors.drift.settings import DriftSettings
from watchkeeper.detectors.refusals import REFUSAL_PHRASES, is_refusal

N_FEATURES = 1 << 12
CENTROID_TERMS = 256  # a centroid keeps its heaviest buckets: small to persist, same assignments in practice


@dataclass(slots=True)
class _Reference:
    lengths: np.ndarray
    refusals: int
    n: int
    centroids: np.ndarray  # (topics, N_FEATURES), sparse-truncated
    hist: np.ndarray


@dataclass(slots=True)
class _App:
    """Everything the tests of one app depend on (checkpointed as a whole: see `dump`/`load`)."""

    pending_lengths: list[float] = field(default_factory=list)
    pending_refusals: int = 0
    pending: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)  # hashed bag of words
    reference: _Reference | None = None
    recent: deque[tuple[float, bool, int]] = field(default_factory=deque)
    since_test: int = 0
    drift_streak: int = 0
    reference_dump: dict[str, Any] | None = None  # cached: the reference changes rarely, windows often

    def dump(self) -> dict[str, Any]:
        """Lossless (float32 values written as floats read back bit-identical), so a reloaded app behaves
        exactly like one that never left memory."""
        if self.reference is not None and self.reference_dump is None:
            ref = self.reference
            self.reference_dump = {
                "lengths": ref.lengths.tolist(),
                "refusals": ref.refusals,
                "n": ref.n,
                "centroids": [
                    [np.flatnonzero(r).tolist(), r[np.flatnonzero(r)].tolist()] for r in ref.centroids
                ],
                "hist": ref.hist.tolist(),
            }
        return {
            "pending_lengths": self.pending_lengths,
            "pending_refusals": self.pending_refusals,
            "pending": [[idx.tolist(), val.tolist()] for idx, val in self.pending],
            "reference": self.reference_dump if self.reference is not None else None,
            "recent": [[length, int(refusal), topic] for length, refusal, topic in self.recent],
            "since_test": self.since_test,
            "drift_streak": self.drift_streak,
        }

    @classmethod
    def load(cls, data: dict[str, Any], window_size: int) -> _App:
        st = cls(recent=deque(maxlen=window_size))
        st.pending_lengths = [float(v) for v in data.get("pending_lengths", [])]
        st.pending_refusals = int(data.get("pending_refusals", 0))
        st.pending = [
            (np.asarray(i, dtype=np.int32), np.asarray(v, dtype=np.float32))
            for i, v in data.get("pending", [])
        ]
        st.recent.extend((float(a), bool(b), int(c)) for a, b, c in data.get("recent", []))
        st.since_test = int(data.get("since_test", 0))
        st.drift_streak = int(data.get("drift_streak", 0))
        saved = data.get("reference")
        if saved:
            centroids = np.zeros((len(saved["centroids"]), N_FEATURES), dtype=np.float32)
            for i, (idx, val) in enumerate(saved["centroids"]):
                centroids[i, idx] = val
            st.reference = _Reference(
                lengths=np.asarray(saved["lengths"], dtype=float),
                refusals=int(saved["refusals"]),
                n=int(saved["n"]),
                centroids=centroids,
                hist=np.asarray(saved["hist"], dtype=float),
            )
            st.reference_dump = saved
        return st


def _truncate(centroids: np.ndarray) -> np.ndarray:
    out = np.zeros_like(centroids)
    for i, row in enumerate(centroids):
        top = np.argsort(-row, kind="stable")[:CENTROID_TERMS]
        out[i, top] = row[top]
    return out


class DriftDetector(Detector):
    """Recent vs reference window per app: output length, refusal rate, topic mix."""

    name = "drift"
    settings_class = DriftSettings
    metadata = METADATA

    def __init__(self, settings: DriftSettings | None = None, *, state: StateStore | None = None) -> None:
        super().__init__(settings, state=state)
        self.cfg: DriftSettings = self.settings  # type: ignore[assignment]
        self._vectorizer = HashingVectorizer(
            n_features=N_FEATURES, stop_words="english", alternate_sign=False, norm="l2", dtype=np.float32
        )
        window = self.cfg.window_size
        self._apps = self.state.apps(
            new=lambda _app: _App(recent=deque(maxlen=window)),
            load=lambda _app, data: _App.load(data, window),
            dump=_App.dump,
        )

    # -- observation ------------------------------------------------------------------------------------
    def observe(self, call: ModelCall) -> list[Finding]:
        return self.observe_batch([call])

    def observe_batch(self, calls: list[ModelCall]) -> list[Finding]:
        """One vectorizer pass and one topic assignment per app for the whole batch (row slicing is slow)."""
        calls = [c for c in calls if self.applies_to(c) and c.error_type is None and c.output_text]
        if not calls:
            return []
        vectors = self._vectorizer.transform([c.output_text for c in calls])
        topics: dict[str, np.ndarray] = {}
        findings: list[Finding] = []
        for i, call in enumerate(calls):
            st = self._apps.get(call.service)
            if st.reference is None:
                lo, hi = vectors.indptr[i], vectors.indptr[i + 1]
                st.pending.append((vectors.indices[lo:hi].copy(), vectors.data[lo:hi].copy()))
                findings.extend(self._observe(call, st, -1))
                continue
            app_topics = topics.get(call.service)
            if app_topics is None:
                scores = vectors @ st.reference.centroids.T
                app_topics = topics[call.service] = np.asarray(np.argmax(scores, axis=1)).ravel()
            findings.extend(self._observe(call, st, int(app_topics[i])))
        return findings

    def _observe(self, call: ModelCall, st: _App, topic: int) -> list[Finding]:
        cfg = self.cfg
        length = float(np.log1p(len(call.output_text)))  # exact in JSON: a reloaded window is identical
        refusal = is_refusal(call.output_text, REFUSAL_PHRASES)
        if st.reference is None:
            st.pending_lengths.append(length)
            st.pending_refusals += refusal
            if len(st.pending_lengths) >= cfg.reference_size:
                self._fit_reference(call.service, st)
            return []
        st.recent.append((length, refusal, topic))
        st.since_test += 1
        if len(st.recent) < cfg.window_size or st.since_test < cfg.test_every:
            return []
        st.since_test = 0
        return self._test(call, st)

    def _fit_reference(self, app: str, st: _App) -> None:
        """k-means on the first half of the reference; the histogram from the held-out second half.

        A histogram of the very documents the clusters were fitted on is biased (outliers own small clusters
        no new document lands in), which made stationary streams look drifted.
        """
        cfg = self.cfg
        indptr = np.cumsum([0] + [len(idx) for idx, _ in st.pending])
        data = csr_matrix(
            (
                np.concatenate([val for _, val in st.pending]),
                np.concatenate([idx for idx, _ in st.pending]),
                indptr,
            ),
            shape=(len(st.pending), N_FEATURES),
            dtype=np.float32,
        )
        half = data.shape[0] // 2
        k = min(cfg.topics, half)
        with warnings.catch_warnings():
            # Templated apps repeat answers: fewer distinct documents than clusters is expected, not a fault.
            warnings.simplefilter("ignore", ConvergenceWarning)
            kmeans = KMeans(n_clusters=k, n_init=3, random_state=0).fit(data[:half])
        centroids = _truncate(kmeans.cluster_centers_.astype(np.float32))
        centroids /= np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-9)
        topics = np.asarray(np.argmax(data[half:] @ centroids.T, axis=1)).ravel()
        st.reference = _Reference(
            lengths=np.asarray(st.pending_lengths),
            refusals=st.pending_refusals,
            n=len(st.pending_lengths),
            centroids=centroids,
            hist=np.bincount(topics, minlength=k).astype(float),
        )
        st.pending_lengths, st.pending_refusals, st.pending = [], 0, []
        st.reference_dump = None

    # -- tests ------------------------------------------------------------------------------------------
    def _test(self, call: ModelCall, st: _App) -> list[Finding]:
        cfg = self.cfg
        ref = st.reference
        assert ref is not None
        level = cfg.alpha / 3
        recent = list(st.recent)
        lengths = np.asarray([r[0] for r in recent])
        refusals = sum(r[1] for r in recent)
        hist = np.bincount([r[2] for r in recent], minlength=len(ref.hist)).astype(float)
        findings: list[Finding] = []

        ks = ks_2samp(ref.lengths, lengths)
        if ks.pvalue < level and ks.statistic >= cfg.min_length_effect:
            ratio = float(np.expm1(np.median(lengths)) / max(np.expm1(np.median(ref.lengths)), 1.0))
            findings.append(
                self._finding(
                    call,
                    "length",
                    Severity.warning,
                    float(ks.statistic),
                    f"output length of {call.service} drifted: median {ratio:.2f}x the reference "
                    f"(KS D={ks.statistic:.3f}, p={ks.pvalue:.2g})",
                    {
                        "test": "kolmogorov-smirnov",
                        "statistic": float(ks.statistic),
                        "p_value": float(ks.pvalue),
                        "reference_median_chars": float(np.expm1(np.median(ref.lengths))),
                        "recent_median_chars": float(np.expm1(np.median(lengths))),
                    },
                )
            )

        n = len(recent)
        if ref.refusals + refusals >= cfg.min_refusals:
            table = np.asarray([[ref.refusals, ref.n - ref.refusals], [refusals, n - refusals]])
            expected = table.sum(0) * table.sum(1)[:, None] / table.sum()
            if expected.min() < 5:
                statistic, p_value, test = float("nan"), float(fisher_exact(table).pvalue), "fisher-exact"
            else:
                result = chi2_contingency(table)
                statistic, p_value, test = float(result.statistic), float(result.pvalue), "chi-square"
            r0, r1 = ref.refusals / ref.n, refusals / n
            if p_value < level and abs(r1 - r0) >= cfg.min_refusal_change:
                findings.append(
                    self._finding(
                        call,
                        "refusal_rate",
                        Severity.warning,
                        min(1.0, abs(r1 - r0) * 5),
                        f"refusal rate of {call.service} drifted: {r1:.1%} vs {r0:.1%} in the reference "
                        f"({test}, "
                        f"p={p_value:.2g})",
                        {
                            "test": test,
                            "statistic": statistic,
                            "p_value": p_value,
                            "reference_rate": r0,
                            "recent_rate": r1,
                        },
                    )
                )

        used = (ref.hist + hist) > 0
        table = np.vstack([ref.hist[used], hist[used]])
        if table.shape[1] >= 2:
            result = chi2_contingency(table)
            jsd = float(jensenshannon(ref.hist / ref.hist.sum(), hist / hist.sum(), base=2) ** 2)
            if result.pvalue < level and jsd >= cfg.min_topic_divergence:
                moved = int(np.argmax(np.abs(hist / hist.sum() - ref.hist / ref.hist.sum())))
                findings.append(
                    self._finding(
                        call,
                        "topics",
                        Severity.warning,
                        min(1.0, jsd * 2),
                        f"topic mix of {call.service} drifted "
                        f"(chi-square p={result.pvalue:.2g}, JSD={jsd:.3f}); "
                        f"cluster {moved} moved most",
                        {
                            "test": "chi-square",
                            "statistic": float(result.statistic),
                            "p_value": float(result.pvalue),
                            "jensen_shannon": jsd,
                            "reference_histogram": ref.hist.astype(int).tolist(),
                            "recent_histogram": hist.astype(int).tolist(),
                        },
                    )
                )

        st.drift_streak = st.drift_streak + 1 if findings else 0
        if st.drift_streak >= cfg.rebaseline_after:  # the change persisted: it is the new normal
            ref.lengths, ref.refusals, ref.n, ref.hist = lengths, refusals, n, hist
            st.drift_streak = 0
            st.reference_dump = None
        return findings

    def _finding(
        self, call: ModelCall, check: str, severity: Severity, score: float, summary: str, evidence: dict
    ) -> Finding:
        cfg = self.cfg
        category = f"drift.{check}"
        labels = call_labels(call, self.name, category)
        labels.pop("model", None)  # drift is about the app: a model change is one of its causes
        labels.pop("provider", None)
        evidence = {
            **evidence,
            "reference_size": cfg.reference_size,
            "window_size": cfg.window_size,
            "alpha": cfg.alpha,
            "model": call.model,
        }
        return make_finding(
            call,
            detector=self.name,
            category=category,
            severity=self.severity(severity),
            score=score,
            summary=summary,
            labels=labels,
            evidence=evidence,
            id_salt=check,
        )
