"""Quality of the content-safety detector, measured the way we promise it in the model card.

- Ranking: 5-fold stratified cross-validation on the OpenAI moderation rows; extra rows (clean calibration
  answers, own extremism seeds) join the training folds only, never a test fold. AUPRC per category and for
  "any".
- False positives: the shipped artifacts (weights + thresholds) on the held-out clean answers (odd-numbered
  alpaca_eval instructions, never used for training or for choosing thresholds).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.metrics import average_precision_score
from sklearn.model_selection import StratifiedKFold

from watchkeeper.detectors.content_safety import training_data as ds
from watchkeeper.detectors.content_safety.detector import ContentSafetyDetector
from watchkeeper.detectors.content_safety.settings import CATEGORIES, HEADS, ContentSafetySettings
from watchkeeper.detectors.content_safety.text_features import HashedTextFeatures
from watchkeeper.detectors.content_safety.training import Scorer, TrainOptions, embed, training_set

REFERENCES = {"OpenAI moderation API": 0.856, "Llama Guard": 0.847, "Perspective API": 0.787}


@dataclass
class SafetyReport:
    tier: str
    auprc: dict[str, float]  # head -> AUPRC (cross-validated); nan where the head has no labels in the set
    positives: dict[str, int]
    alpaca_heldout_fp: dict[str, float]  # "all" + per generator: share of clean answers flagged
    alpaca_heldout_n: int
    per_category_fp: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, object]:
        return {
            "tier": self.tier,
            "auprc_cv5": {k: (None if np.isnan(v) else round(v, 4)) for k, v in self.auprc.items()},
            "positives": self.positives,
            "alpaca_heldout_fp_rate": {k: round(v, 5) for k, v in self.alpaca_heldout_fp.items()},
            "alpaca_heldout_fp_rate_per_category": {k: round(v, 5) for k, v in self.per_category_fp.items()},
            "alpaca_heldout_n": self.alpaca_heldout_n,
            "seconds": round(self.seconds, 1),
        }

    def to_text(self) -> str:
        lines = [
            f"content_safety, tier={self.tier}",
            "",
            "AUPRC, 5-fold stratified CV on openai_moderation/dev.jsonl",
        ]
        lines.append(f"{'category':<15}{'positives':>10}{'AUPRC':>8}")
        for head in HEADS:
            value = self.auprc[head]
            shown = "  n/a" if np.isnan(value) else f"{value:.3f}"
            lines.append(f"{head:<15}{self.positives[head]:>10}{shown:>8}")
        lines += ["", "published on the full set (binary flagged):"]
        lines += [f"  {name:<22}{value:.3f}" for name, value in REFERENCES.items()]
        lines += [
            "",
            f"clean answers flagged at shipped thresholds (held-out alpaca_eval, n={self.alpaca_heldout_n})",
        ]
        lines += [f"  {name:<34}{100 * value:6.2f}%" for name, value in self.alpaca_heldout_fp.items()]
        lines += [
            "  per category: " + ", ".join(f"{k} {100 * v:.2f}%" for k, v in self.per_category_fp.items())
        ]
        lines += ["", "extremism: no public labels; its seeds are our own phrasings (see the model card)."]
        return "\n".join(lines) + "\n"


def cross_validated_auprc(
    data_dir: Path, tier: str, opts: TrainOptions
) -> tuple[dict[str, float], dict[str, int]]:
    dev, extras = training_set(data_dir, opts)
    rows = dev + extras
    features = HashedTextFeatures()
    x = features.transform(rows.texts)
    emb = embed(rows.texts) if tier == "embedding" else None
    scorer = Scorer(tier, opts, features)
    n_dev = len(dev)
    pred = np.zeros((n_dev, len(HEADS)))
    extra_idx = np.arange(n_dev, len(rows))
    any_col = dev.labels[:, HEADS.index("any")].astype(int)
    folds = StratifiedKFold(opts.folds, shuffle=True, random_state=opts.seed)
    for train, test in folds.split(np.zeros(n_dev), any_col):
        pred[test] = scorer.fit_predict(rows, x, emb, np.concatenate([train, extra_idx]), test)
    auprc, positives = {}, {}
    for h, head in enumerate(HEADS):
        known = ~np.isnan(dev.labels[:, h])
        y = dev.labels[known, h]
        positives[head] = int(y.sum())
        auprc[head] = (
            float(average_precision_score(y, pred[known, h])) if 0 < y.sum() < len(y) else float("nan")
        )
    return auprc, positives


def heldout_false_positives(
    data_dir: Path, tier: str, artifacts_dir: Path | None
) -> tuple[dict[str, float], dict[str, float], int]:
    alpaca = ds.load_alpaca_outputs(data_dir)
    _, heldout = ds.alpaca_split(alpaca)
    settings = ContentSafetySettings(tier=tier, artifacts_dir=str(artifacts_dir) if artifacts_dir else None)
    detector = ContentSafetyDetector(settings)
    scores = detector.score_texts([alpaca.texts[i] for i in heldout])
    hits = detector.hits(scores)  # the verdicts the detector acts on, rules included
    flagged = hits.any(axis=1)
    gens = np.array([alpaca.generators[i] for i in heldout])
    rates = {"all generators": float(flagged.mean())}
    rates.update({str(g): float(flagged[gens == g].mean()) for g in sorted(set(gens))})
    per_category = {head: float(hits[:, HEADS.index(head)].mean()) for head in (*CATEGORIES, "any")}
    return rates, per_category, len(heldout)


def evaluate_content_safety(
    data_dir: Path, tier: str = "fast", artifacts_dir: Path | None = None, opts: TrainOptions | None = None
) -> SafetyReport:
    """Cross-validated AUPRC + false-positive rate of the shipped thresholds on held-out clean answers."""
    start = time.perf_counter()
    opts = opts or TrainOptions()
    auprc, positives = cross_validated_auprc(Path(data_dir), tier, opts)
    rates, per_category, n = heldout_false_positives(Path(data_dir), tier, artifacts_dir)
    return SafetyReport(tier, auprc, positives, rates, n, per_category, time.perf_counter() - start)
