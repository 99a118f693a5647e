"""Refusals: how the operational and drift detectors recognise an answer that declines the request.

Shared by both (the refusal rate is an operational metric and a drift signal), so it lives beside them.
"""

from __future__ import annotations

import functools
import re

REFUSAL_PHRASES: tuple[str, ...] = (
    "i'm sorry, but i can't",
    "i'm sorry, but i cannot",
    "i am sorry, but i cannot",
    "i'm sorry, i can't",
    "i cannot help with",
    "i can't help with",
    "i can't assist",
    "i cannot assist",
    "i'm unable to",
    "i am unable to",
    "i won't be able to",
    "as an ai, i cannot",
    "i cannot provide",
    "i can't provide",
    "i'm not able to",
    "i am not able to",
    "i must decline",
    "i cannot fulfill",
    "i can't fulfill",
    "i cannot comply",
    "i can't comply",
    "i'm not allowed to",
    "i cannot engage",
)


@functools.lru_cache(maxsize=16)
def _phrase_pattern(phrases: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(re.escape(p.lower()) for p in phrases))


def is_refusal(text: str, phrases: tuple[str, ...] = REFUSAL_PHRASES) -> bool:
    """A refusal opens with one of a few stock phrases; looking at the start keeps quoted ones out."""
    head = text[:250].lower().replace("\u2019", "'")
    return _phrase_pattern(phrases).search(head) is not None
