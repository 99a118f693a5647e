"""Inhibition: an open incident matching a rule's source mutes incidents matching its target.

Alertmanager semantics (inhibit/inhibit.go): the source must be firing (here: triggered or acknowledged), the
labels listed in `equal` must have the same value on both (a label missing on both counts as equal), and an
incident never inhibits itself. When the target also matches the source side, only sources that do not match
the target side can mute it, so two incidents of the same kind cannot mute each other.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from watchkeeper.alerts.config import InhibitRuleConfig
from watchkeeper.alerts.matchers import Matcher, all_match, parse_matchers


@dataclass(slots=True)
class InhibitRule:
    source: list[Matcher]
    target: list[Matcher]
    equal: tuple[str, ...]

    @classmethod
    def from_config(cls, cfg: InhibitRuleConfig) -> InhibitRule:
        return cls(parse_matchers(cfg.source_matchers), parse_matchers(cfg.target_matchers), tuple(cfg.equal))

    def mutes(
        self, target_id: str, target: Mapping[str, str], sources: Iterable[tuple[str, Mapping[str, str]]]
    ) -> str | None:
        """Id of the open incident that inhibits `target`, if any."""
        if not all_match(self.target, target):
            return None
        two_sided = all_match(self.source, target)
        for source_id, labels in sources:
            if source_id == target_id or not all_match(self.source, labels):
                continue
            if any(labels.get(name, "") != target.get(name, "") for name in self.equal):
                continue
            if two_sided and all_match(self.target, labels):
                continue
            return source_id
        return None


class Inhibitor:
    def __init__(self, rules: Iterable[InhibitRuleConfig]) -> None:
        self.rules = [InhibitRule.from_config(r) for r in rules]

    def inhibited_by(
        self, target_id: str, target: Mapping[str, str], open_incidents: list[tuple[str, Mapping[str, str]]]
    ) -> str | None:
        for rule in self.rules:
            source = rule.mutes(target_id, target, open_incidents)
            if source is not None:
                return source
        return None
