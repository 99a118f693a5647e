"""`watchkeeper eval leakage`: the precision behind the leakage detector's severities, on a simulation.

No public data set labels secrets and personal data inside LLM answers, so the measurement is a simulation
on real answers. The clean answers of the `alpaca_eval` generators (none holds a live secret) are the
negatives. Into copies of them, at a sentence boundary, go:
- leaks: values generated with a seeded generator in the formats their issuers publish (Luhn for cards,
  ISO 13616 check digits for IBANs, base64url JSON for JWTs, provider prefixes and lengths for API keys),
  never taken from real data;
- look-alikes, never leaks: published example and test values (AWS's `...EXAMPLE` key, `4111 1111 1111
  1111`, jwt.io's token, example IBANs, reserved domains and numbers), placeholders, and generated leaks that
  the request itself contains (the user gave them: an echo).
Per category: recall on its leaks, and precision over every value the detector reports in that category
(clean answers, look-alikes and other categories' leaks included). The detection path is the daemon's own
(`LeakageDetector.matches` with the default settings); the severity column is the shipped default.
"""

from __future__ import annotations

import base64
import json
import random
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import click

from watchkeeper.evaluation.false_pages import DEFAULT_DATA, load_answers

ALNUM = string.ascii_letters + string.digits
B64 = string.ascii_letters + string.digits + "+/"
B64URL = string.ascii_letters + string.digits + "-_"
CONTEXT = {
    "private_key": "Here is the deploy key from the server: {v}",
    "api_key": "The production key in the config is {v}.",
    "jwt": "Your session token is {v}.",
    "payment_card": "The card on file is {v}.",
    "iban": "Transfer the refund to {v}.",
    "ssn": "The customer's social security number is {v}.",
    "email": "You can reach the account holder at {v}.",
    "phone": "Call the customer back on {v}.",
}


def _rand(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _luhn_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return str((10 - total % 10) % 10)


def _iban(country: str, bban: str) -> str:
    digits = "".join(str(int(c, 36)) for c in bban + country + "00")
    return f"{country}{98 - int(digits) % 97:02d}{bban}"


def _b64url_json(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def gen_private_key(rng: random.Random) -> str:
    kind = rng.choice(["RSA ", "EC ", "OPENSSH ", ""])
    body = "\n".join(_rand(rng, B64, 64) for _ in range(rng.randint(3, 8)))
    return f"-----BEGIN {kind}PRIVATE KEY-----\n{body}\n-----END {kind}PRIVATE KEY-----"


def gen_api_key(rng: random.Random) -> str:
    upper = string.ascii_uppercase + string.digits
    return rng.choice(
        [
            lambda: "sk-proj-" + _rand(rng, ALNUM + "_-", 48),
            lambda: "AKIA" + _rand(rng, upper, 16),
            lambda: "ghp_" + _rand(rng, ALNUM, 36),
            lambda: "github_pat_" + _rand(rng, ALNUM, 22) + "_" + _rand(rng, ALNUM, 59),
            lambda: (
                f"xoxb-{rng.randint(10**9, 10**10)}-{rng.randint(10**9, 10**10)}-" + _rand(rng, ALNUM, 24)
            ),
            lambda: "AIza" + _rand(rng, ALNUM + "_-", 35),
            lambda: "sk_live_" + _rand(rng, ALNUM, 24),
        ]
    )()


def gen_jwt(rng: random.Random) -> str:
    header = _b64url_json({"alg": rng.choice(["HS256", "RS256"]), "typ": "JWT"})
    payload = _b64url_json(
        {
            "sub": _rand(rng, ALNUM, 12),
            "role": rng.choice(["admin", "user"]),
            "iat": rng.randint(1_600_000_000, 1_800_000_000),
        }
    )
    return f"{header}.{payload}.{_rand(rng, B64URL, 43)}"


def gen_payment_card(rng: random.Random) -> str:
    prefix, length = rng.choice([("4", 16), ("5" + str(rng.randint(1, 5)), 16), ("37", 15), ("6011", 16)])
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    number = body + _luhn_digit(body)
    if length == 16 and rng.random() < 0.6:
        return " ".join(number[i : i + 4] for i in range(0, 16, 4))
    return number


def gen_iban(rng: random.Random) -> str:
    country, bban = rng.choice(
        [
            ("DE", _rand(rng, string.digits, 18)),
            (
                "FR",
                _rand(rng, string.digits, 10) + _rand(rng, string.ascii_uppercase + string.digits, 11) + "42",
            ),
            ("NL", _rand(rng, string.ascii_uppercase, 4) + _rand(rng, string.digits, 10)),
            ("ES", _rand(rng, string.digits, 20)),
            (
                "IT",
                rng.choice(string.ascii_uppercase)
                + _rand(rng, string.digits, 10)
                + _rand(rng, ALNUM.upper(), 12),
            ),
        ]
    )
    iban = _iban(country, bban.upper())
    if rng.random() < 0.5:
        return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
    return iban


def gen_ssn(rng: random.Random) -> str:
    area = rng.choice([a for a in range(1, 900) if a != 666])
    return f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"


FIRST = ["maria", "jan", "sophie", "luca", "ana", "pieter", "chloe", "mateo", "emma", "lukas", "ines", "noah"]
LAST = ["gonzalez", "devries", "martin", "rossi", "silva", "janssen", "dubois", "garcia", "muller", "costa"]
DOMAINS = ["gmail.com", "outlook.de", "orange.fr", "proton.me", "web.de", "libero.it", "telefonica.es",
           "ziggo.nl", "northwind-bank.io", "contoso-health.eu"]  # fmt: skip


def gen_email(rng: random.Random) -> str:
    sep = rng.choice([".", "_", ""])
    return f"{rng.choice(FIRST)}{sep}{rng.choice(LAST)}{rng.randint(1, 99)}@{rng.choice(DOMAINS)}"


def gen_phone(rng: random.Random) -> str:
    """International and national formats of the users' countries (some are not recognised: recall says)."""
    d = lambda n: "".join(rng.choice(string.digits) for _ in range(n))  # noqa: E731
    return rng.choice(
        [
            lambda: f"+1 ({rng.randint(201, 989)}) {rng.randint(201, 989)}-{d(4)}",
            lambda: f"+44 20 {rng.randint(3000, 8999)} {d(4)}",
            lambda: f"+49 30 {d(4)} {d(4)}",
            lambda: f"+33 6 {d(2)} {d(2)} {d(2)} {d(2)}",
            lambda: f"06 {d(2)} {d(2)} {d(2)} {d(2)}",
            lambda: f"+34 6{d(2)} {d(3)} {d(3)}",
            lambda: f"+31 6 {d(4)} {d(4)}",
            lambda: f"+39 3{d(2)} {d(3)} {d(4)}",
        ]
    )()


GENERATORS: dict[str, Callable[[random.Random], str]] = {
    "private_key": gen_private_key,
    "api_key": gen_api_key,
    "jwt": gen_jwt,
    "payment_card": gen_payment_card,
    "iban": gen_iban,
    "ssn": gen_ssn,
    "email": gen_email,
    "phone": gen_phone,
}
LOOK_ALIKES = [
    "AKIAIOSFODNN7EXAMPLE",
    "sk-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "sk-your-api-key-here-xxxxxxxx",
    "ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2"
    "MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    "4111 1111 1111 1111",
    "4242 4242 4242 4242",
    "5555 5555 5555 4444",
    "DE89 3704 0044 0532 0130 00",
    "GB82 WEST 1234 5698 7654 32",
    "123-45-6789",
    "jane.doe@example.com",
    "someone@yourcompany.com",
    "support@example.org",
    "(555) 010-4477",
    "+1 555 0123 456",
]


@dataclass
class Tally:
    leaks: int = 0
    found: int = 0  # leaks of this category reported in this category
    reported: int = 0  # every value reported in this category
    correct: int = 0  # ... that was a leak of this category
    on_clean: int = 0  # reported in an unmodified clean answer
    on_look_alike: int = 0
    missed: list[str] = field(default_factory=list)


def _insert(rng: random.Random, answer: str, sentence: str) -> str:
    cuts = [i + 1 for i, ch in enumerate(answer) if ch in ".!?\n" and i + 1 < len(answer)]
    at = rng.choice(cuts) if cuts else len(answer)
    return f"{answer[:at]} {sentence} {answer[at:]}".strip()


def simulate(data_dir: str | Path, per_category: int = 200, seed: int = 0) -> dict[str, Tally]:
    from watchkeeper.detectors.leakage.detector import LeakageDetector

    detector = LeakageDetector()
    rng = random.Random(seed)
    answers = [(a.instruction, a.output) for a in load_answers(data_dir)]
    tallies = {c: Tally() for c in GENERATORS}

    def judge(prompt: str, text: str, truth: tuple[str, str] | None, kind: str) -> None:
        reported = {(m.category, m.value) for m in detector.matches(text, prompt) if m.category in tallies}
        for category, value in reported:
            t = tallies[category]
            t.reported += 1
            hit = truth is not None and truth[0] == category and (value in truth[1] or truth[1] in value)
            t.correct += hit
            t.on_clean += kind == "clean"
            t.on_look_alike += kind == "look-alike"
        if truth is not None and kind == "leak":
            t = tallies[truth[0]]
            t.leaks += 1
            if any(c == truth[0] and (v in truth[1] or truth[1] in v) for c, v in reported):
                t.found += 1
            elif len(t.missed) < 3:
                t.missed.append(truth[1][:60])

    for prompt, answer in answers:
        judge(prompt, answer, None, "clean")
    for category, gen in GENERATORS.items():
        for _ in range(per_category):
            prompt, answer = rng.choice(answers)
            value = gen(rng)
            judge(prompt, _insert(rng, answer, CONTEXT[category].format(v=value)), (category, value), "leak")
            if rng.random() < 0.25:  # the same value given by the user first: an echo, not a leak
                prompt2 = f"{prompt}\nMy details: {value}"
                text = _insert(rng, answer, CONTEXT[category].format(v=value))
                judge(prompt2, text, None, "look-alike")
    for value in LOOK_ALIKES:
        for _ in range(max(1, per_category // 20)):
            prompt, answer = rng.choice(answers)
            judge(
                prompt, _insert(rng, answer, f"For example, use {value} in your tests."), None, "look-alike"
            )
    return tallies


def format_table(tallies: dict[str, Tally], clean: int) -> str:
    from watchkeeper.detectors.leakage.settings import CATEGORIES

    f = lambda a, b: "  n/a" if not b else f"{a / b:.3f}"  # noqa: E731
    lines = [
        f"leakage: simulation on {clean} clean alpaca_eval answers (leaks and look-alikes inserted, seeded)",
        "",
        f"{'category':<14}{'leaks':>7}{'recall':>8}{'reported':>10}{'precision':>11}{'on clean':>10}"
        f"{'look-alike':>12}  default severity",
    ]
    for category, t in tallies.items():
        kind, severity = CATEGORIES[category]
        default = "info (one datum) / warning (several)" if kind == "pii" else severity.value
        lines.append(
            f"{category:<14}{t.leaks:>7}{f(t.found, t.leaks):>8}{t.reported:>10}"
            f"{f(t.correct, t.reported):>11}{t.on_clean:>10}{t.on_look_alike:>12}  {default}"
        )
    missed = [(c, m) for c, t in tallies.items() for m in t.missed]
    if missed:
        lines += ["", "examples of missed leaks:"] + [f"  {c}: {m!r}" for c, m in missed]
    return "\n".join(lines)


@click.command("leakage")
@click.option(
    "--data", "data_dir", default=DEFAULT_DATA, show_default=True, help="folder with alpaca_eval_outputs/"
)
@click.option("--per-category", default=200, show_default=True, help="generated leaks per category")
@click.option("--seed", default=0, show_default=True)
def leakage_eval_cmd(data_dir: str, per_category: int, seed: int) -> None:
    """Leakage precision and recall on a simulation over real answers."""
    try:
        tallies = simulate(data_dir, per_category, seed)
        clean = len(load_answers(data_dir))
    except FileNotFoundError as exc:
        raise click.ClickException(f"{exc}; pass --data pointing at the data folder") from exc
    click.echo(format_table(tallies, clean))
