"""Fitting the cheap lexical signal: one Naive-Bayes-weighted logistic regression per scored category over
hashed word and byte n-grams (`text_features.py`). It orders calls by suspicion when a worker is over its CPU
budget and scores the calls the semantic judge could not read; it is never the only judge when there is time.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import normalize

from watchkeeper.detectors.content_safety.text_features import LinearHeads

MIN_DF = 3  # features seen fewer times are dropped (smaller artifact, less noise)
NB_ALPHA = 0.5  # Naive-Bayes smoothing of the log-count ratios
C = 4.0  # inverse L2 strength


def fit_linear_heads(x: sp.csr_matrix, labels: np.ndarray, names: list[str]) -> LinearHeads:
    """One NB-LR head per column of `labels` (rows where that column is nan are left out of that head)."""
    df = np.asarray(x.sum(axis=0)).ravel()
    columns = np.flatnonzero(df >= MIN_DF)
    xk = x.tocsc()[:, columns].tocsr()
    ratios = np.zeros((len(columns), len(names)), dtype=np.float32)
    weights = np.zeros_like(ratios)
    bias = np.zeros(len(names), dtype=np.float32)
    for h in range(len(names)):
        known = ~np.isnan(labels[:, h])
        y = labels[known, h].astype(int)
        if y.size == 0 or y.min() == y.max():  # unlabelled or one class only: a constant score
            bias[h] = 10.0 if y.size and y.max() == 1 else -10.0
            continue
        xh = xk[known]
        pos = np.asarray(xh[y == 1].sum(axis=0)).ravel() + NB_ALPHA
        neg = np.asarray(xh[y == 0].sum(axis=0)).ravel() + NB_ALPHA
        r = np.log((pos / pos.sum()) / (neg / neg.sum()))
        r[(pos + neg) == 2 * NB_ALPHA] = 0.0  # unseen by this head: no evidence either way
        lr = LogisticRegression(C=C, max_iter=2000, class_weight="balanced")
        lr.fit(normalize(xh.multiply(r).tocsr()), y)
        ratios[:, h] = r
        weights[:, h] = lr.coef_[0] * r
        bias[h] = lr.intercept_[0]
    return LinearHeads(list(names), columns.astype(np.int64), ratios, weights, bias, x.shape[1])
