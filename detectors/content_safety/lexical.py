"""The cheap lexical signal: hashed word and byte n-grams with one linear head per category.

It never judges alone when the semantic judge has time: it orders calls by suspicion when the worker is over
its
CPU budget (the most suspicious are read by the judge first) and scores the calls the judge could not read.
Its
scores are mapped onto the judge's scale (its own threshold lands on the judge's threshold), so one set of
thresholds and verdict rules serves both.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from watchkeeper.detectors.content_safety.judge import CALIBRATION_FILE, artifact_error, load_npz
from watchkeeper.detectors.content_safety.settings import SCORED
from watchkeeper.detectors.content_safety.text_features import HashedTextFeatures, LinearHeads

LEXICAL_FILE = "lexical_heads.npz"


class LexicalSignal:
    def __init__(self, root: Path) -> None:
        arrays = load_npz(root / LEXICAL_FILE)
        names = [str(n) for n in arrays.get("names", [])]
        if names != list(SCORED):
            raise artifact_error(root / LEXICAL_FILE, f"has heads {names}, expected {list(SCORED)}")
        try:
            self.heads = LinearHeads.from_arrays(names, arrays, "")
        except KeyError as exc:
            raise artifact_error(root / LEXICAL_FILE, f"lacks array {exc}") from exc
        self.features = HashedTextFeatures(n_hash=self.heads.n_features // 2)
        try:
            data = json.loads((root / CALIBRATION_FILE).read_text())
            own = np.array([float(data["lexical_thresholds"][h]) for h in SCORED])
            target = np.array([float(data["thresholds"][h]) for h in SCORED])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise artifact_error(root / CALIBRATION_FILE, f"lacks the lexical thresholds ({exc!r})") from exc
        self.own, self.target = np.clip(own, 1e-4, 1 - 1e-4), np.clip(target, 1e-4, 1 - 1e-4)

    def raw(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, len(SCORED)), dtype=np.float32)
        return self.heads.predict_proba(self.features.transform(texts))

    def scores(self, texts: list[str]) -> np.ndarray:
        """(n, len(SCORED)) on the judge's scale: piecewise linear, own threshold -> judge threshold."""
        p = self.raw(texts)
        below = p / self.own * self.target
        above = self.target + (p - self.own) / (1 - self.own) * (1 - self.target)
        return np.where(p < self.own, below, above).astype(np.float32)
