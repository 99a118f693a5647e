"""People's verdicts on findings ("not a problem" / "confirmed") and what makes two findings near-duplicates.

A false-positive verdict mutes, for a while, the findings of the same app, detector and category whose
passage is the same once normalized (case, accents' compatibility forms, digits, punctuation and spacing
do not matter), so the answer that paged for nothing does not page again when it recurs with another
number or another name for the same thing. Findings without a passage (metric anomalies) are
near-duplicates when their labels are identical.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Any

VERDICTS = ("false_positive", "confirmed")
#: Evidence fields that hold the text a finding is about, most specific first.
PASSAGE_FIELDS = ("passage", "excerpt", "text")
MIN_PASSAGE_CHARS = 8  # shorter normalized texts are too generic to stand for one passage

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)
_DIGITS = re.compile(r"\d")


def normalize(text: str) -> str:
    """The comparable form of a passage: NFKC, case-folded, digits as 0, words separated by one space."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_NON_WORD.sub(" ", _DIGITS.sub("0", folded)).split())


def passage(finding: dict[str, Any]) -> str | None:
    evidence = finding.get("evidence") or {}
    for key in PASSAGE_FIELDS:
        value = evidence.get(key)
        if isinstance(value, str) and value.strip():
            return value
    return None


def fingerprint(finding: dict[str, Any]) -> str:
    """What identifies a finding's near-duplicates: its normalized passage, else its label set."""
    text = passage(finding)
    normalized = normalize(text) if text else ""
    if len(normalized) >= MIN_PASSAGE_CHARS:
        return "text:" + hashlib.sha256(normalized.encode()).hexdigest()[:32]
    return "labels:" + str(finding.get("fingerprint") or "")


def validate_verdict(verdict: str) -> str:
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {', '.join(VERDICTS)}, got {verdict!r}")
    return verdict
