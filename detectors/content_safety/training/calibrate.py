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
# the severity a category pages at when its precision is high; lower precision earns less (`severity_levels`)
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
    """Precision and recall at the flag threshold on the calibration split (None: too few rows to say)."""

    threshold: float
    precision: float | None
    recall: float | None
    positives: int


WARN_PRECISION = 0.8  # a warning (someone is asked to look) needs this precision on the calibration split
PAGE_PRECISION = 0.9  # a page (someone is woken up) needs this one
MIN_FLAGGED = 10  # rows over a threshold before its precision counts as measured


def wilson_lower(hits: np.ndarray, n: np.ndarray, z: float = 1.645) -> np.ndarray:
    """Lower bound of the Wilson score interval of a proportion hits/n."""
    p = hits / n
    centre = p + z * z / (2 * n)
    spread = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - spread) / (1 + z * z / n)


def precision_threshold(p: np.ndarray, y: np.ndarray, floor: float, target: float) -> float | None:
    """The lowest threshold >= `floor` whose precision on these labelled rows surely reaches `target` (the
    lower end of its 95% one-sided Wilson interval, so ten lucky rows at the top do not count); None when no
    threshold does."""
    known = ~np.isnan(y)
    pk, yk = p[known], y[known]
    order = np.argsort(-pk)
    ps, ys = pk[order], yk[order]
    hits = np.cumsum(ys)
    counted = np.arange(1, len(ps) + 1)
    ok = (counted >= MIN_FLAGGED) & (wilson_lower(hits, counted) >= target) & (ps >= floor)
    # a threshold at a score lets through every row scoring at least as much: only the last of equal scores
    last_of_tie = np.r_[ps[1:] != ps[:-1], True]
    ok &= last_of_tie
    return float(ps[np.flatnonzero(ok)[-1]]) if ok.any() else None


@dataclass
class Level:
    threshold: float
    severity: str
    reason: str


def severity_levels(
    category: str, p: np.ndarray, y: np.ndarray, clean: np.ndarray, flag_threshold: float
) -> list[Level]:
    """The severity ladder of one category, by calibrated score: what a finding at that score earns.

    A flag is `info` (the lowest severity) at the flag threshold; it becomes a `warning` where precision on
    the calibration split surely reaches WARN_PRECISION, and pages at the category's full severity where it
    surely reaches PAGE_PRECISION (with at least MIN_POSITIVES labelled positives). No clean answer of the
    training split may reach either: an ordinary answer the judge over-scores stays info. A category whose
    precision cannot be measured (too few labelled positives or flagged rows) is a warning above that clean
    floor, never a page."""
    clean_floor = float(np.nextafter(clean.max(), 1.0)) if len(clean) else 0.0
    known = ~np.isnan(y)
    positives = int(y[known].sum())
    full = FULL_SEVERITY[category]
    levels = [Level(flag_threshold, "info", "over the flag threshold: info, the lowest severity")]
    flagged = int((p[known] >= flag_threshold).sum())
    if positives < MIN_POSITIVES or flagged < MIN_FLAGGED:
        levels.append(
            Level(
                max(flag_threshold, clean_floor),
                "warning",
                f"precision not measured ({positives} labelled positives, {flagged} flagged): a ticket "
                f"at most, above every clean training answer",
            )
        )
        return levels
    warn = precision_threshold(p, y, flag_threshold, WARN_PRECISION)
    if warn is None:
        return levels
    levels.append(
        Level(
            max(warn, clean_floor),
            "warning",
            f"precision surely >= {WARN_PRECISION:.2f} on the calibration split from {warn:.3f}; above "
            f"every clean training answer",
        )
    )
    if LADDER.index(full) > LADDER.index("warning"):
        page = precision_threshold(p, y, warn, PAGE_PRECISION)
        if page is not None:
            levels.append(
                Level(
                    max(page, clean_floor),
                    full,
                    f"precision surely >= {PAGE_PRECISION:.2f} on the calibration split from {page:.3f}; "
                    f"above every clean training answer",
                )
            )
    return levels


def measure(p: np.ndarray, y: np.ndarray, threshold: float) -> Measured:
    known = ~np.isnan(y)
    yk, pk = y[known], p[known]
    positives = int(yk.sum())
    flagged = pk >= threshold
    precision = float(yk[flagged].mean()) if flagged.sum() >= MIN_FLAGGED else None
    recall = float(flagged[yk == 1].mean()) if positives else None
    return Measured(threshold, precision, recall, positives)
