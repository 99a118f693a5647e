"""Silences: time-bounded matchers that mute notifications, checked when a notification is about to be sent.

As in Alertmanager a silence is pending before `starts_at`, active until `ends_at`, then expired; expiring
one early moves `ends_at` to now. A silence never stops incidents from being recorded, only from paging.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from watchkeeper.alerts.matchers import Matcher, MatcherError, all_match, parse_matchers

STATES = ("pending", "active", "expired")


@dataclass(slots=True)
class Silence:
    id: str
    matchers: list[Matcher]
    starts_at: float
    ends_at: float
    created_by: str
    comment: str
    created_at: float
    updated_at: float

    def state(self, now: float) -> str:
        if now < self.starts_at:
            return "pending"
        if now < self.ends_at:
            return "active"
        return "expired"

    def mutes(self, labels: Mapping[str, str], now: float) -> bool:
        return self.state(now) == "active" and all_match(self.matchers, labels)

    def to_dict(self, now: float) -> dict[str, Any]:
        return {
            "id": self.id,
            "matchers": [m.to_dict() for m in self.matchers],
            "matchers_text": [str(m) for m in self.matchers],
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "created_by": self.created_by,
            "comment": self.comment,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "state": self.state(now),
        }

    def matchers_json(self) -> str:
        return json.dumps([m.to_dict() for m in self.matchers])


def validate_silence(
    matchers: Sequence[Any], starts_at: float, ends_at: float, created_by: str
) -> list[Matcher]:
    """Parsed matchers, or ValueError naming what is wrong (used by the API and the command line)."""
    if not matchers:
        raise ValueError("a silence needs at least one matcher (it would otherwise mute everything)")
    try:
        parsed = parse_matchers(matchers)
    except MatcherError as exc:
        raise ValueError(str(exc)) from None
    if all(m.matches({}) for m in parsed):
        raise ValueError(
            "the matchers of a silence must not all match an empty label set (they would mute "
            'everything): pin at least one label, e.g. app="chatbot"'
        )
    if ends_at <= starts_at:
        raise ValueError("ends_at must be after starts_at")
    if not created_by:
        raise ValueError("created_by is required (who set this silence)")
    return parsed


def first_muting(silences: Iterable[Silence], labels: Mapping[str, str], now: float) -> Silence | None:
    for silence in silences:
        if silence.mutes(labels, now):
            return silence
    return None
