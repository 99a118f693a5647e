"""Redaction of personal data and secrets from message content before it is put on a span.

Content capture exists so detectors can read what the model was asked and said; it must not turn the trace
store into a copy of every user's e-mail address or a leaked API key. Everything is compiled once; a cheap
C-speed pre-check per kind (``"@" in text``, a digit search, ...) skips the regexes a text cannot match, so
clean text costs about a microsecond per kilobyte.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache

from watchkeeper.core import identifiers, semconv

#: Text kinds: name -> (pattern, pre-check). Order matters: earlier kinds win where matches overlap.
_TEXT_KINDS: dict[str, tuple[str, Callable[[str], bool]]] = {
    "bearer": (r"\b[Bb]earer\s+[A-Za-z0-9._~+/=-]{8,}", lambda t: "earer" in t),
    "api_key": (
        r"\b(?:sk|pk|rk)-[A-Za-z0-9_-]{16,}"
        r"|\bgh[pousr]_[A-Za-z0-9]{30,}"
        r"|\bxox[abprs]-[A-Za-z0-9-]{10,}"
        r"|\bAIza[0-9A-Za-z_-]{35}",
        lambda t: "k-" in t or "xox" in t or "AIza" in t or ("gh" in t and "_" in t),
    ),
    "jwt": (r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}", lambda t: "eyJ" in t),
    "aws_key": (
        r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b|(?i:aws_secret_access_key)\s*[:=]\s*[A-Za-z0-9/+=]{40}",
        lambda t: "AKIA" in t or "ASIA" in t or "ws_secret" in t or "WS_SECRET" in t,
    ),
    "email": (r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b", lambda t: "@" in t),
}
#: Number kinds, found by one scan for digit runs and told apart by digit count and checksum.
_NUMBER_KINDS = ("card", "phone")
KINDS: tuple[str, ...] = (*_TEXT_KINDS, *_NUMBER_KINDS)
DEFAULT_KINDS: tuple[str, ...] = KINDS

_HAS_DIGIT = re.compile(r"\d").search
_NUMBER_RUN = re.compile(r"\d[\d ().-]{7,}\d")  # a leading "+" or "(" is taken in by _redact_numbers
_PHONE_SHAPE = re.compile(r"(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]\d{2,4}){1,3}")
_CARD_SHAPE = re.compile(r"\d(?:[ -]?\d){12,18}")
_PHONE_DIGITS = range(9, 16)
_CARD_DIGITS = range(13, 20)


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum: separates real card numbers from order ids and other long digit runs."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


@lru_cache(maxsize=256)
def _compile(sources: tuple[tuple[str, str], ...]) -> re.Pattern[str]:
    """One alternation per combination of kinds present in a text, compiled once per combination."""
    return re.compile("|".join(f"(?P<k{i}>{source})" for i, (_, source) in enumerate(sources)))


class Redactor:
    """Replace matches of the selected kinds with a marker such as ``[REDACTED:email]``.

    `kinds` selects from KINDS (bearer, api_key, jwt, aws_key, email, card, phone); `extra` adds named
    patterns of your own. Card numbers are replaced only when they pass Luhn, phone numbers only with 9-15
    digits in a phone-like grouping, so dates, versions, ids and amounts stay readable.
    """

    def __init__(
        self,
        kinds: Iterable[str] = DEFAULT_KINDS,
        *,
        extra: Mapping[str, str | re.Pattern[str]] | None = None,
        replacement: str = "[REDACTED:{kind}]",
    ) -> None:
        selected = list(kinds)
        unknown = [kind for kind in selected if kind not in KINDS]
        if unknown:
            raise ValueError(f"unknown redaction kinds {unknown}; choose from {list(KINDS)}")
        self._text_kinds = [(kind, *_TEXT_KINDS[kind]) for kind in _TEXT_KINDS if kind in selected]
        self._extra: tuple[tuple[str, str], ...] = tuple(
            (name, p.pattern if isinstance(p, re.Pattern) else p) for name, p in (extra or {}).items()
        )
        for _, source in self._extra:
            re.compile(source)  # fail at configuration time, not on the first call
        self._card = "card" in selected
        self._phone = "phone" in selected
        self.kinds: tuple[str, ...] = (*[k for k in KINDS if k in selected], *(n for n, _ in self._extra))
        self._markers = {name: replacement.format(kind=name) for name in self.kinds}

    def _classify(self, run: str) -> str | None:
        """The kind of one digit run, or None to keep it."""
        digits = "".join(ch for ch in run if ch.isdigit())
        if self._card and len(digits) in _CARD_DIGITS and _CARD_SHAPE.fullmatch(run) and luhn_valid(digits):
            return "card"
        if self._phone and len(digits) in _PHONE_DIGITS and _PHONE_SHAPE.fullmatch(run):
            return "phone"
        return None

    def _redact_numbers(self, text: str, removed: list[tuple[str, str]] | None = None) -> str:
        out: list[str] = []
        last = 0
        for match in _NUMBER_RUN.finditer(text):
            start, end = match.span()
            while start > last and text[start - 1] in "+(":
                start -= 1
            before = text[start - 1] if start else " "
            after = text[end] if end < len(text) else " "
            if before.isalnum() or before == "-" or after.isalnum() or after == "-":
                continue  # part of a longer token (an id, a hash, a version string)
            kind = self._classify(text[start:end])
            if kind is not None:
                if removed is not None:
                    removed.append((kind, text[start:end]))
                out.append(text[last:start])
                out.append(self._markers[kind])
                last = end
        if not out:
            return text
        out.append(text[last:])
        return "".join(out)

    def __call__(self, text: str) -> str:
        """Redact one text; returns the same object when nothing matched."""
        if not text:
            return text
        sources = tuple((kind, source) for kind, source, present in self._text_kinds if present(text))
        sources += self._extra
        if sources:
            regex = _compile(sources)
            names = [kind for kind, _ in sources]
            markers = self._markers
            text = regex.sub(lambda m: markers[names[int((m.lastgroup or "k0")[1:])]], text)
        if (self._card or self._phone) and _HAS_DIGIT(text):
            text = self._redact_numbers(text)
        return text

    def scan(self, text: str) -> tuple[str, list[tuple[str, str]]]:
        """Redact one text and say what was removed: (text, [(kind, value), ...]).

        The values are for the caller's bookkeeping in memory (was it in the request? a reserved example?);
        they must never be exported.
        """
        removed: list[tuple[str, str]] = []
        if not text:
            return text, removed
        sources = tuple((kind, source) for kind, source, present in self._text_kinds if present(text))
        sources += self._extra
        if sources:
            regex = _compile(sources)
            names = [kind for kind, _ in sources]
            markers = self._markers

            def replace(m: re.Match[str]) -> str:
                kind = names[int((m.lastgroup or "k0")[1:])]
                removed.append((kind, m.group(0)))
                return markers[kind]

            text = regex.sub(replace, text)
        if (self._card or self._phone) and _HAS_DIGIT(text):
            text = self._redact_numbers(text, removed)
        return text, removed


def default_redactor() -> Redactor:
    """All built-in kinds: the default whenever content capture is on."""
    return Redactor()


def _reserved(kind: str, value: str) -> bool:
    """A removed value that is a documentation example or a placeholder, not anyone's data."""
    if kind == "email":
        return identifiers.is_placeholder_email(value) or identifiers.is_role_email(value)
    if kind == "card":
        return identifiers.is_test_card(value)
    if kind == "phone":
        return identifiers.is_reserved_phone(value)
    if kind in ("api_key", "aws_key", "bearer", "jwt"):
        return identifiers.is_example_secret(value)
    return False


def _fingerprint(kind: str, value: str) -> str:
    normal = value.lower() if kind == "email" else "".join(ch for ch in value if ch.isalnum())
    return hashlib.sha256(f"{kind}|{normal}".encode()).hexdigest()


class RedactionTally:
    """What one call's redaction removed, counted for the span: kinds and counts, never values.

    Values removed from the request (messages and system instructions) are remembered as hashes for the
    length of the call, so an answer that echoes the user's own e-mail address is counted as an echo; removed
    values that are reserved examples (example.com, 555-01xx, published test cards) are counted apart. The
    leakage detector raises its finding from these counts, since the values never reach it.
    """

    __slots__ = ("_redactor", "_request", "echoed", "input", "output", "reserved")

    def __init__(self, redactor: Redactor) -> None:
        self._redactor = redactor
        self._request: set[str] = set()
        self.input: Counter[str] = Counter()
        self.output: Counter[str] = Counter()
        self.echoed: Counter[str] = Counter()
        self.reserved: Counter[str] = Counter()

    def request(self, text: str) -> str:
        """Redact request content (a message, a system instruction, a tool result)."""
        text, removed = self._redactor.scan(text)
        for kind, value in removed:
            self.input[kind] += 1
            self._request.add(_fingerprint(kind, value))
        return text

    def answer(self, text: str) -> str:
        """Redact answer content."""
        text, removed = self._redactor.scan(text)
        for kind, value in removed:
            self.output[kind] += 1
            if _fingerprint(kind, value) in self._request:
                self.echoed[kind] += 1
            elif _reserved(kind, value):
                self.reserved[kind] += 1
        return text

    def reset_answer(self) -> None:
        self.output.clear()
        self.echoed.clear()
        self.reserved.clear()

    def input_attributes(self) -> dict[str, int]:
        return {semconv.redaction_attribute("input", k): n for k, n in sorted(self.input.items())}

    def output_attributes(self) -> dict[str, int]:
        attrs = {semconv.redaction_attribute("output", k): n for k, n in sorted(self.output.items())}
        for kind, n in self.echoed.items():
            attrs[semconv.redaction_attribute("output", kind, "echoed_count")] = n
        for kind, n in self.reserved.items():
            attrs[semconv.redaction_attribute("output", kind, "reserved_count")] = n
        return attrs
