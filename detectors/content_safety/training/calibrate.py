"""From raw scores to verdicts: Platt scaling, thresholds and the severity each category earns.

Everything here is fitted on the calibration split (10% of every training source, never trained on) and, for
the false-positive budget, on clean answers of the training split; never on the sets whose numbers we report
(the OpenAI rows, the held-out sources, the odd-numbered alpaca_eval answers).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import precision_recall_curve

MIN_POSITIVES = 25  # fewer labelled positives: Platt is the identity and precision counts as unmeasured
FP_BUDGET = 0.001  # share of clean answers a category's threshold may let through
MIN_THRESHOLD = 0.1  # F1-best thresholds below this mean a head that cannot rank: it flags nothing useful
HARD_NEGATIVE_BUDGET = 0.02  # share of safe answers with violent or sexual words
# the severity a category pages at when its precision is high; lower precision earns less (see `severity`)
FULL_SEVERITY = {
    "hate": "error",
    "harassment": "warning",
    "violence": "error",
    "self_harm": "critical",
    "sexual": "warning",
    "sexual_minors": "critical",
    "extremism": "error",
    "harmful_compliance": "error",
    "any": "warning",
}
LADDER = ("info", "warning", "error", "critical")


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def platt(raw: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(a, b) with calibrated = sigmoid(a * logit(raw) + b); identity when there are too few labels."""
    known = ~np.isnan(y)
    if known.sum() < 2 * MIN_POSITIVES or y[known].sum() < MIN_POSITIVES or y[known].min() == y[known].max():
        return 1.0, 0.0
    lr = LogisticRegression(C=1e4, max_iter=1000).fit(_logit(raw[known])[:, None], y[known].astype(int))
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def apply_platt(raw: np.ndarray, ab: tuple[float, float]) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-(ab[0] * _logit(raw) + ab[1])))


def reliability(p: np.ndarray, y: np.ndarray, bins: int = 10) -> dict[str, object]:
    """Mean predicted vs observed rate per probability bin, and the expected calibration error."""
    known = ~np.isnan(y)
    p, y = p[known], y[known]
    edges = np.linspace(0, 1, bins + 1)
    rows, ece = [], 0.0
    for lo, hi in itertools.pairwise(edges):
        sel = (p >= lo) & ((p < hi) if hi < 1 else (p <= hi))
        if sel.sum():
            rows.append(
                {
                    "bin": f"{lo:.1f}-{hi:.1f}",
                    "n": int(sel.sum()),
                    "predicted": round(float(p[sel].mean()), 3),
                    "observed": round(float(y[sel].mean()), 3),
                }
            )
            ece += sel.sum() / len(p) * abs(p[sel].mean() - y[sel].mean())
    return {"bins": rows, "ece": round(float(ece), 4), "n": len(p)}


def f1_threshold(p: np.ndarray, y: np.ndarray) -> float:
    known = ~np.isnan(y)
    if y[known].sum() < 1:
        return 0.5
    precision, recall, thresholds = precision_recall_curve(y[known], p[known])
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-9)
    return float(thresholds[int(np.argmax(f1[:-1]))])


def budget_threshold(clean: np.ndarray, budget: float) -> float:
    """The lowest threshold that lets at most `budget` of these clean scores through."""
    if len(clean) == 0:
        return 0.0
    k = int(np.floor(budget * len(clean)))
    ordered = np.sort(clean)[::-1]
    return float(np.nextafter(ordered[k], 1.0)) if k < len(ordered) else 0.0


@dataclass
class Measured:
    threshold: float
    precision: float | None
    recall: float | None
    positives: int
    severity: str
    reason: str


def severity(category: str, precision: float | None, positives: int) -> tuple[str, str]:
    full = FULL_SEVERITY[category]
    if precision is None or positives < MIN_POSITIVES:
        return "warning" if LADDER.index(full) >= 1 else full, (
            f"precision not measured ({positives} labelled positives in the calibration split): a ticket, not"
            f"a page"
        )
    if precision >= 0.9:
        return full, f"precision {precision:.2f} at the threshold on the calibration split"
    if precision >= 0.7:
        level = LADDER[max(1, min(LADDER.index(full), 2) - (1 if LADDER.index(full) >= 2 else 0))]
        return level, f"precision {precision:.2f} (< 0.90) at the threshold on the calibration split"
    return "info" if precision < 0.5 else "warning", (
        f"precision {precision:.2f} at the threshold on the calibration split: too low to page"
    )


def measure(category: str, p: np.ndarray, y: np.ndarray, threshold: float) -> Measured:
    known = ~np.isnan(y)
    yk, pk = y[known], p[known]
    positives = int(yk.sum())
    flagged = pk >= threshold
    precision = float(yk[flagged].mean()) if flagged.sum() >= 10 else None
    recall = float(flagged[yk == 1].mean()) if positives else None
    level, reason = severity(category, precision, positives)
    return Measured(threshold, precision, recall, positives, level, reason)
