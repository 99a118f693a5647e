"""Leakage: secrets and personal data in model outputs.

An answer that contains an API key, a private key, a payment card or someone's email address is an incident
whether the model read it from its context or made it up: either way it reaches a user. Every pattern is
validated (Luhn for cards, mod 97 for IBANs, character entropy for tokens) so ordinary prose with numbers
stays quiet, and evidence only ever holds a masked form of what matched.
"""

from __future__ import annotations

import base64
import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from watchkeeper.core import identifiers, semconv
from watchkeeper.core.detector import Detector, StateStore
from watchkeeper.core.findings import Finding, Severity, call_labels, make_finding
from watchkeeper.core.records import ModelCall
from watchkeeper.detectors.leakage.metadata import METADATA
from watchkeeper.detectors.leakage.settings import CATEGORIES, LeakageSettings


@dataclass(frozen=True, slots=True)
class Match:
    category: str
    value: str
    start: int
    end: int

    @property
    def masked(self) -> str:
        return mask(self.value, self.category)


# --- validators --------------------------------------------------------------------------------------------


def luhn_ok(digits: str) -> bool:
    """Luhn checksum: what every payment card number satisfies and 90% of random digit runs do not."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


_IBAN_LENGTHS = {
    "AD": 24,
    "AE": 23,
    "AL": 28,
    "AT": 20,
    "AZ": 28,
    "BA": 20,
    "BE": 16,
    "BG": 22,
    "BH": 22,
    "BR": 29,
    "CH": 21,
    "CR": 22,
    "CY": 28,
    "CZ": 24,
    "DE": 22,
    "DK": 18,
    "DO": 28,
    "EE": 20,
    "EG": 29,
    "ES": 24,
    "FI": 18,
    "FO": 18,
    "FR": 27,
    "GB": 22,
    "GE": 22,
    "GI": 23,
    "GL": 18,
    "GR": 27,
    "GT": 28,
    "HR": 21,
    "HU": 28,
    "IE": 22,
    "IL": 23,
    "IQ": 23,
    "IS": 26,
    "IT": 27,
    "JO": 30,
    "KW": 30,
    "KZ": 20,
    "LB": 28,
    "LI": 21,
    "LT": 20,
    "LU": 20,
    "LV": 21,
    "MC": 27,
    "MD": 24,
    "ME": 22,
    "MK": 19,
    "MR": 27,
    "MT": 31,
    "MU": 30,
    "NL": 18,
    "NO": 15,
    "PK": 24,
    "PL": 28,
    "PS": 29,
    "PT": 25,
    "QA": 29,
    "RO": 24,
    "RS": 22,
    "SA": 24,
    "SE": 24,
    "SI": 19,
    "SK": 24,
    "SM": 27,
    "TN": 24,
    "TR": 26,
    "UA": 29,
    "VG": 24,
    "XK": 20,
}


def iban_ok(iban: str) -> bool:
    """ISO 13616: the country's length and the mod-97 check digits."""
    iban = iban.replace(" ", "").upper()
    if _IBAN_LENGTHS.get(iban[:2]) != len(iban):
        return False
    rearranged = iban[4:] + iban[:4]
    try:
        number = int("".join(str(int(ch, 36)) for ch in rearranged))
    except ValueError:
        return False
    return number % 97 == 1


def entropy_bits(text: str) -> float:
    """Shannon entropy per character: real tokens are random, placeholders like sk-xxxx... are not."""
    if not text:
        return 0.0
    counts = Counter(text)
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


# Well-known documentation/test values: quoting them is not a leak.
_KNOWN_TEST_VALUES = {
    "4111111111111111",
    "4242424242424242",
    "5555555555554444",
    "5105105105105100",
    "378282246310005",
    "371449635398431",
    "6011111111111117",
    "4012888888881881",
    "4000056655665556",
    "5200828282828210",
    "AKIAIOSFODNN7EXAMPLE",
    "GB82WEST12345698765432",
    "DE89370400440532013000",
}

_CARD_PREFIX = re.compile(r"^(?:4|5[1-5]|2(?:2[2-9]|[3-6]\d|7[01]|720)|3[47]|6(?:011|5)|35)")


def _card_ok(raw: str) -> bool:
    digits = re.sub(r"[ -]", "", raw)
    return (
        13 <= len(digits) <= 19
        and bool(_CARD_PREFIX.match(digits))
        and len(set(digits)) > 2
        and luhn_ok(digits)
        and digits not in _KNOWN_TEST_VALUES
    )


_TOKEN_PREFIX = re.compile(
    r"^(?:sk-proj-|sk-ant-[a-z0-9]+-|sk-|sk_live_|AKIA|gh[pousr]_|github_pat_|xox[abprs]-|AIza|eyJ)"
)


def _token_ok(raw: str) -> bool:
    body = _TOKEN_PREFIX.sub("", raw)
    return raw not in _KNOWN_TEST_VALUES and "example" not in raw.lower() and entropy_bits(body) >= 3.0


def _phone_ok(raw: str) -> bool:
    digits = re.sub(r"\D", "", raw)
    if not 10 <= len(digits) <= 15 or len(set(digits)) < 4:
        return False
    national = digits[1:] if len(digits) == 11 and digits[0] == "1" else digits
    return not (len(national) == 10 and "555" in (national[:3], national[3:6]))  # reserved for fiction


def _ssn_ok(raw: str) -> bool:
    area, group, serial = raw.split("-")
    return area not in {"000", "666"} and area[0] != "9" and group != "00" and serial != "0000"


# --- patterns ----------------------------------------------------------------------------------------------

_PATTERNS: list[tuple[str, re.Pattern[str], Callable[[str], bool] | None]] = [
    (
        "private_key",
        re.compile(
            r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----"
            r"[\s\S]{16,}?(?:-----END [A-Z ]*PRIVATE KEY(?: BLOCK)?-----|\Z)"
        ),
        None,
    ),
    (
        "api_key",
        re.compile(
            r"(?<![A-Za-z0-9_-])(?:sk-(?:proj-|ant-[a-z0-9]+-)?[A-Za-z0-9_-]{20,}|AKIA[0-9A-Z]{16}"
            r"|gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{50,}|xox[abprs]-[A-Za-z0-9-]{10,}"
            r"|AIza[0-9A-Za-z_-]{35}|sk_live_[0-9A-Za-z]{20,})(?![A-Za-z0-9_-])"
        ),
        _token_ok,
    ),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), None),
    (
        "email",
        re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]{1,64}@(?:[A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,24}\b"),
        None,  # domain placeholders are settings-dependent: checked in the detector
    ),
    # IBANs before cards: an IBAN's digits can pass Luhn, and its check digits are the stronger evidence
    ("iban", re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b"), iban_ok),
    ("payment_card", re.compile(r"(?<![\w-])(?:\d[ -]?){12,18}\d(?![\d-])"), _card_ok),
    ("ssn", re.compile(r"(?<![\d-])\d{3}-\d{2}-\d{4}(?![\d-])"), _ssn_ok),
    (
        "ip_address",
        re.compile(r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?!\w|\.\d)"),
        None,  # which addresses are personal is decided in the detector (documentation ranges, resolvers)
    ),
    (
        "phone",
        re.compile(
            r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?|\d{2,4}[ .-])\d{3,4}[ .-]\d{3,4}(?![\w-])"
            # European mobile and national formats: +33 6 12 34 56 78, 06 12 34 56 78, +31 6 1234 5678
            r"|(?<![\w+])(?:\+\d{2,3}[ .-]?\d|0\d)(?:[ .-]\d{2}){4}(?![\w-])"
            r"|(?<![\w+])\+\d{2,3}[ .-]?\d[ .-]\d{4}[ .-]\d{4}(?![\w-])"
            r"|(?<![\w+])\+\d{10,14}\b"
        ),
        _phone_ok,
    ),
]

# Cheap prefilters: most answers contain none of these, and skipping the regexes is what keeps us fast.
_HAS_DIGIT_RUN = re.compile(r"\d[\d ().+-]{8,}\d")
_SECRET_HINT = re.compile(r"BEGIN|sk-|AKIA|gh[pousr]_|github_pat_|xox|eyJ|AIza|sk_live_")


def find_matches(text: str) -> list[Match]:
    """Every validated match in `text`, in order; overlapping weaker matches (a card inside a key) dropped."""
    has_digits = _HAS_DIGIT_RUN.search(text) is not None
    has_secret = _SECRET_HINT.search(text) is not None
    has_at = "@" in text
    found: list[Match] = []
    taken: list[tuple[int, int]] = []
    for category, pattern, validate in _PATTERNS:
        if category in {"private_key", "api_key", "jwt"} and not has_secret:
            continue
        if category == "email" and not has_at:
            continue
        if category in {"payment_card", "ssn", "phone", "iban"} and not has_digits:
            continue
        for m in pattern.finditer(text):
            value = m.group(0).strip()
            if validate is not None and not validate(value):
                continue
            if any(m.start() < end and start < m.end() for start, end in taken):
                continue
            taken.append((m.start(), m.end()))
            found.append(Match(category, value, m.start(), m.end()))
    found.sort(key=lambda x: x.start)
    return found


def _shifted(matches: list[Match], offset: int) -> list[Match]:
    return [Match(m.category, m.value, m.start + offset, m.end + offset) for m in matches]


def mask(value: str, category: str) -> str:
    """A recognisable but useless form of a secret: never more than a few characters of the original."""
    if category == "email":
        local, _, domain = value.partition("@")
        tld = domain.rsplit(".", 1)[-1]
        return f"{local[:1]}***@{domain[:1]}***.{tld}"
    if category == "private_key":
        return "-----BEGIN PRIVATE KEY----- [masked] -----END PRIVATE KEY-----"
    if category in {"payment_card", "iban", "phone", "ssn"}:
        keep = 2 if category == "ssn" else 4
        out, seen, total = [], 0, sum(ch.isalnum() for ch in value)
        for ch in value:
            if ch.isalnum():
                seen += 1
                keep_it = (category == "iban" and seen <= 2) or seen > total - keep
                out.append(ch if keep_it else "*")
            else:
                out.append(ch)
        return "".join(out)
    prefix = _TOKEN_PREFIX.match(value)
    head = prefix.group(0) if prefix else value[:2]
    return f"{head}…[{len(value) - len(head) - 2} masked]…{value[-2:]}"


def masked_excerpt(text: str, matches: list[Match], width: int = 60) -> str:
    """Context around the first match with every recognised value in the window masked."""
    if not matches:
        return ""
    first = matches[0]
    lo, hi = max(0, first.start - width), min(len(text), first.end + width)
    everything = sorted({*matches, *_shifted(find_matches(text[lo:hi]), lo)}, key=lambda m: m.start)
    pieces, pos = [], lo
    for m in everything:
        if m.start < pos:
            continue
        if m.end <= lo or m.start >= hi:
            continue
        start, end = max(m.start, lo), min(m.end, hi)
        pieces.append(text[pos:start])
        pieces.append(m.masked)
        pos = end
    pieces.append(text[pos:hi])
    return ("…" if lo > 0 else "") + "".join(pieces) + ("…" if hi < len(text) else "")


def _normal(m: Match) -> str:
    """The value as compared with the request: case-folded address, digits of a number, the token itself."""
    if m.category == "email":
        return m.value.lower()
    if m.category in ("payment_card", "phone", "ssn"):
        return "".join(ch for ch in m.value if ch.isdigit())
    if m.category == "iban":
        return m.value.replace(" ", "").upper()
    return m.value


_DIGIT_RUNS = re.compile(r"\+?\d[\d ().-]{5,}\d")


class _Echo:
    """What the request already contained, normalized like `_normal`."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.lower = text.lower()
        self.digits = {"".join(ch for ch in run if ch.isdigit()) for run in _DIGIT_RUNS.findall(text)}
        self.compact = text.replace(" ", "").upper()

    def contains(self, m: Match) -> bool:
        if m.category == "email":
            return m.value.lower() in self.lower
        if m.category in ("payment_card", "phone", "ssn"):
            digits = _normal(m)
            return any(digits in d for d in self.digits)
        if m.category == "iban":
            return _normal(m) in self.compact
        return m.value in self.text


@dataclass(frozen=True, slots=True)
class _Redacted:
    sdk_kind: str
    kind: str  # "secret" or "pii"
    count: int
    echoed: int
    reserved: int
    real: int  # count - echoed - reserved


#: the SDK's redaction kinds -> the detector's categories (custom kinds keep their own name, as personal data)
_REDACTION_KINDS = {
    "email": "email",
    "card": "payment_card",
    "phone": "phone",
    "api_key": "api_key",
    "aws_key": "api_key",
    "bearer": "api_key",
    "jwt": "jwt",
}
_REDACTED_NAMES = {
    "email": ("e-mail address", "e-mail addresses"),
    "card": ("card number", "card numbers"),
    "phone": ("phone number", "phone numbers"),
    "api_key": ("API key", "API keys"),
    "aws_key": ("AWS key", "AWS keys"),
    "bearer": ("bearer token", "bearer tokens"),
    "jwt": ("JSON web token", "JSON web tokens"),
}


def _marker_excerpt(text: str, sdk_kind: str, width: int = 60) -> str:
    """The redacted answer around the first marker of this kind (nothing of the value is left in it)."""
    marker = f"[REDACTED:{sdk_kind}]"
    at = text.find(marker)
    if at < 0:
        return ""
    lo, hi = max(0, at - width), min(len(text), at + len(marker) + width)
    return ("…" if lo else "") + text[lo:hi] + ("…" if hi < len(text) else "")


def _request_text(call: ModelCall) -> str:
    """Everything the caller gave the model: every request message and the system prompt."""
    parts = [m.content for m in call.input_messages]
    if call.system_instructions:
        parts.append(call.system_instructions)
    return "\n".join(parts)


def _sample_jwt(token: str) -> bool:
    """jwt.io's sample token and its kin: subject 1234567890 or the name John Doe."""
    try:
        payload = token.split(".")[1]
        data = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode("utf-8", "replace")
    except (IndexError, ValueError):
        return False
    return '"1234567890"' in data or "John Doe" in data


class LeakageDetector(Detector):
    """Secrets and personal data in answers; one finding per category per call."""

    name = "leakage"
    settings_class = LeakageSettings
    metadata = METADATA

    def __init__(self, settings: LeakageSettings | None = None, *, state: StateStore | None = None) -> None:
        super().__init__(settings, state=state)
        self.cfg: LeakageSettings = self.settings  # type: ignore[assignment]
        unknown = set(self.cfg.categories) - set(CATEGORIES)
        if unknown:
            raise ValueError(
                f"detectors.leakage.categories: unknown {sorted(unknown)}; use any of {list(CATEGORIES)}"
            )
        self._enabled = set(self.cfg.categories)
        self._ignored_domains = {d.lower() for d in self.cfg.ignore_email_domains}

    def matches(self, text: str, prompt: str = "") -> list[Match]:
        """Validated matches the daemon would report: reserved, placeholder and echoed values removed.

        `prompt` is everything the caller gave the model (request messages and system prompt): a value found
        there is an echo, not a leak.
        """
        echo = _Echo(prompt) if self.cfg.ignore_echoed and prompt else None
        out: list[Match] = []
        for m in find_matches(text):
            if m.category not in self._enabled or self._not_real(m):
                continue
            if echo is not None and echo.contains(m):
                continue
            out.append(m)
        return out

    def _not_real(self, m: Match) -> bool:
        """Reserved for documentation or fiction, a published test value, or an obvious placeholder."""
        value = m.value
        if m.category == "email":
            domain = value.rsplit("@", 1)[-1].lower()
            return (
                domain in self._ignored_domains
                or identifiers.is_placeholder_email(value)
                or (self.cfg.ignore_role_addresses and identifiers.is_role_email(value))
            )
        if m.category == "phone":
            return identifiers.is_reserved_phone(value)
        if m.category == "payment_card":
            return identifiers.is_test_card(value)
        if m.category == "iban":
            return identifiers.is_example_iban(value)
        if m.category == "ssn":
            return identifiers.is_placeholder_ssn(value)
        if m.category == "ip_address":
            return not identifiers.is_personal_ip(value)
        if m.category in ("api_key", "jwt"):
            return identifiers.is_example_secret(value) or (m.category == "jwt" and _sample_jwt(value))
        return False

    def score_text(self, text: str, prompt: str = "") -> tuple[dict[str, float], bool]:
        found = {m.category for m in self.matches(text, prompt)}
        scores = {category: (1.0 if category in found else 0.0) for category in self.cfg.categories}
        return scores, bool(found)

    def observe(self, call: ModelCall) -> list[Finding]:
        text = call.output_text
        matches = self.matches(text, _request_text(call)) if text else []
        redacted = self._redacted(call)
        if not matches and not redacted:
            return []
        # Severity of personal data by how much one answer holds: distinct values found in the text plus
        # the ones the SDK removed (not echoes of the request, not reserved examples).
        personal = len({(m.category, _normal(m)) for m in matches if CATEGORIES[m.category][0] == "pii"})
        personal += sum(r.real for r in redacted.values() if r.kind == "pii")
        by_category: dict[str, list[Match]] = {}
        for m in matches:
            by_category.setdefault(m.category, []).append(m)
        findings = []
        for category, group in by_category.items():
            _, full_category, severity = self._severity(category, personal)
            findings.append(
                make_finding(
                    call,
                    detector=self.name,
                    category=full_category,
                    severity=severity,
                    score=1.0,
                    summary=f"{len(group)} {category.replace('_', ' ')} value(s) in the answer "
                    f"of {call.service} ({call.model or 'unknown model'})",
                    excerpt=masked_excerpt(text, group),
                    labels=call_labels(call, self.name, full_category),
                    evidence={
                        "count": len(group),
                        "matches": [
                            {"category": m.category, "masked": m.masked, "offset": m.start}
                            for m in group[: self.cfg.max_matches_in_evidence]
                        ],
                    },
                    id_salt=category,
                )
            )
        for category, r in redacted.items():
            _, full_category, severity = self._severity(category, personal)
            what = _REDACTED_NAMES.get(r.sdk_kind, (f"{r.sdk_kind} value", f"{r.sdk_kind} values"))
            findings.append(
                make_finding(
                    call,
                    detector=self.name,
                    category=full_category,
                    severity=severity,
                    score=1.0,
                    summary=f"an answer of {call.service} contained {r.real} {what[r.real != 1]}; "
                    f"{'it was' if r.real == 1 else 'they were'} redacted before export",
                    excerpt=_marker_excerpt(text, r.sdk_kind),
                    labels=call_labels(call, self.name, full_category),
                    evidence={
                        "count": r.real,
                        "redacted": True,
                        "redaction_kind": r.sdk_kind,
                        "removed": r.count,
                        "echoed": r.echoed,
                        "reserved": r.reserved,
                    },
                    id_salt=f"{category}|redacted",
                )
            )
        return findings

    def _severity(self, category: str, personal: int) -> tuple[str, str, Severity]:
        kind, default = CATEGORIES.get(category, ("pii", Severity.warning))
        if kind == "pii":
            default = self.cfg.single_datum_severity if personal == 1 else self.cfg.several_data_severity
        return kind, f"leakage.{kind}.{category}", self.severity(default)

    def _redacted(self, call: ModelCall) -> dict[str, _Redacted]:
        """Per category: what the SDK's redaction removed from the answer, from the span's attributes."""
        counts: dict[str, dict[str, int]] = {}
        for name, value in call.attributes.items():
            parsed = semconv.parse_redaction_attribute(name)
            if parsed is None or parsed[0] != "output":
                continue
            try:
                number = max(0, int(value))
            except (TypeError, ValueError):
                continue  # a malformed count from a foreign sender: ignored, like any unknown attribute
            counts.setdefault(parsed[1], {})[parsed[2]] = number
        out: dict[str, _Redacted] = {}
        for sdk_kind, fields in sorted(counts.items()):
            category = _REDACTION_KINDS.get(sdk_kind, sdk_kind)
            if category in CATEGORIES and category not in self._enabled:
                continue
            count = fields.get("count", 0)
            echoed = fields.get("echoed_count", 0) if self.cfg.ignore_echoed else 0
            reserved = min(fields.get("reserved_count", 0), max(0, count - echoed))
            real = count - echoed - reserved
            if real <= 0:
                continue
            kind = CATEGORIES.get(category, ("pii", Severity.warning))[0]
            previous = out.get(category)
            if previous is not None:  # two SDK kinds of one category (api_key and aws_key)
                real, count = real + previous.real, count + previous.count
                echoed, reserved = echoed + previous.echoed, reserved + previous.reserved
            out[category] = _Redacted(sdk_kind, kind, count, echoed, reserved, real)
        return out
