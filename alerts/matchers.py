"""Label matchers in Alertmanager's syntax and semantics: `name="v"`, `name!="v"`, `name=~"re"`, `name!~"re"`.

Regexes are anchored (`^(?:re)$`) as in Alertmanager; a missing label matches as the empty string, so
`team=""` matches findings without a `team` label.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

OPS = ("=", "!=", "=~", "!~")

_MATCHER_RE = re.compile(
    r"""^\s*(?P<name>[A-Za-z_][A-Za-z0-9_.\-]*)\s*(?P<op>=~|!~|!=|=)\s*"""
    r"""(?:"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<bare>[^"=~!,{}\s][^",{}\s]*)?)\s*$"""
)


class MatcherError(ValueError):
    """A matcher string is malformed; the message shows the offending text and the expected form."""


@dataclass(frozen=True, slots=True)
class Matcher:
    name: str
    op: str
    value: str
    _regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def create(cls, name: str, op: str, value: str) -> Matcher:
        if op not in OPS:
            raise MatcherError(f"invalid matcher operator {op!r}: use one of {', '.join(OPS)}")
        regex = None
        if op in ("=~", "!~"):
            try:
                regex = re.compile(f"^(?:{value})$")
            except re.error as exc:
                raise MatcherError(
                    f"invalid regular expression {value!r} in matcher for {name!r}: {exc}"
                ) from None
        return cls(name, op, value, regex)

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        assert self._regex is not None
        found = self._regex.match(actual) is not None
        return found if self.op == "=~" else not found

    def __str__(self) -> str:
        return f"{self.name}{self.op}{json.dumps(self.value)}"

    def to_dict(self) -> dict[str, Any]:
        """Alertmanager API v2 shape, plus `op` for readers who prefer it."""
        return {
            "name": self.name,
            "value": self.value,
            "isRegex": self.op in ("=~", "!~"),
            "isEqual": self.op in ("=", "=~"),
            "op": self.op,
        }


def parse_matcher(text: str) -> Matcher:
    """Parse one matcher string such as `app="chatbot"` or `severity=~"critical|error"`."""
    if not isinstance(text, str):
        raise MatcherError(f'invalid matcher {text!r}: expected a string like name="value"')
    m = _MATCHER_RE.match(text)
    if m is None:
        raise MatcherError(
            f'invalid matcher {text!r}: use name="value" (operators =, !=, =~, !~; quote values with spaces)'
        )
    quoted = m.group("quoted")
    if quoted is not None:
        value = json.loads(f'"{quoted}"') if "\\" in quoted else quoted
    else:
        value = m.group("bare") or ""
    return Matcher.create(m.group("name"), m.group("op"), value)


def matcher_from_any(item: str | Mapping[str, Any]) -> Matcher:
    """A matcher from a string or from Alertmanager's API v2 dict {name, value, isRegex, isEqual}."""
    if isinstance(item, str):
        return parse_matcher(item)
    if isinstance(item, Mapping) and "name" in item and "value" in item:
        if "op" in item:
            return Matcher.create(str(item["name"]), str(item["op"]), str(item["value"]))
        regex = bool(item.get("isRegex", False))
        equal = bool(item.get("isEqual", True))
        op = {(False, True): "=", (False, False): "!=", (True, True): "=~", (True, False): "!~"}[
            (regex, equal)
        ]
        return Matcher.create(str(item["name"]), op, str(item["value"]))
    raise MatcherError(
        f'invalid matcher {item!r}: use a string like name="value" or {{name, value, isRegex}}'
    )


def parse_matchers(items: Iterable[str | Mapping[str, Any]]) -> list[Matcher]:
    return [matcher_from_any(item) for item in items]


def split_matchers(text: str) -> list[str]:
    """Split `a="x",b=~"y|z"` (optionally in braces) on commas outside quotes; for command-line input."""
    text = text.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    parts: list[str] = []
    current: list[str] = []
    in_quotes = escaped = False
    for ch in text:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            in_quotes = not in_quotes
        elif ch == "," and not in_quotes:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    if "".join(current).strip():
        parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def all_match(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)
