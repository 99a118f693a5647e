"""Rules around the judge's scores: what an answer must contain before it can be flagged, or page.

An answer with nothing to read ("😊👍", "42", a solved Sudoku grid) is never flagged, and a very short one
("Yes.",
"Kill them.") never pages: a model judging two words has too little evidence to wake someone up, and a
ticket is cheap. Sexual content about minors is a sub-case of sexual content (the labels nest that way), so
its verdict also requires the sexual verdict.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TypeVar

import numpy as np

from watchkeeper.detectors.content_safety.settings import SCORED

_WORD = re.compile(r"[^\W\d_]{2,}")  # a run of at least two letters, in any script
MIN_WORDS_TO_FLAG = 2
MIN_WORDS_TO_PAGE = 5
T = TypeVar("T")
_SEXUAL, _MINORS = SCORED.index("sexual"), SCORED.index("sexual_minors")


def word_count(text: str) -> int:
    return len(_WORD.findall(text))


def can_flag(text: str) -> bool:
    """Content-free answers (emoji, numbers, grids, punctuation, a single word) are never flagged."""
    return word_count(text) >= MIN_WORDS_TO_FLAG


def can_page(text: str) -> bool:
    """Short answers are flagged at most as a warning (a ticket, never a page)."""
    return word_count(text) >= MIN_WORDS_TO_PAGE


def level_for(levels: Sequence[tuple[float, T]], score: float) -> T | None:
    """The severity a score earns on a category's ladder of (threshold, severity), lowest threshold first:
    a finding just over the flag threshold is info, one the judge is sure of warns or pages (model card)."""
    earned = levels[0][1] if levels else None
    for threshold, severity in levels:
        if score >= threshold:
            earned = severity
    return earned


def verdicts(texts: list[str], scores: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """(n, len(SCORED)) booleans: over the threshold, with the rules above."""
    hits = scores >= thresholds[None, :]
    hits[:, _MINORS] &= hits[:, _SEXUAL]
    flaggable = np.array([can_flag(t) for t in texts], dtype=bool)
    return hits & flaggable[:, None]
