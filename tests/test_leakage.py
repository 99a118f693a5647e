"""Leakage: secrets and personal data found, validated and masked; ordinary prose with numbers stays quiet."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from watchkeeper.core.records import Message, ModelCall
from watchkeeper.detectors.leakage.detector import LeakageDetector, LeakageSettings, iban_ok, luhn_ok, mask

SECRETS = {
    "api_key": "sk-proj-Qm7tX2vL9pR4sW8yB3nK6dF1hJ5cZ0aE",
    "email": "maria.gonzalez@outlook.es",
    "phone": "+1 (415) 867-5309",
    "payment_card": "4539 1488 0343 6467",
    "iban": "GB33BUKB20201555555555",
    "ssn": "123-45-6789",
    "jwt": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
    "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
}
MORE_KEYS = [
    "AKIAZ7QK4M2PLX9T3RWB",
    "ghp_9aZk3LmQ7xR2tV5wY8bN1cD4fG6hJ0pS2uE3",
    "xoxb-2048391-9928374-AbCdEfGhIjKlMnOp",
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunVTLw\n"
    "-----END RSA PRIVATE KEY-----",
]

EVERYDAY = [
    "The Eiffel Tower is 330 metres tall and welcomed about 6,100,000 visitors in 2023.",
    "Preheat the oven to 220 C, bake for 25-30 minutes, and let it cool for 10 minutes.",
    "World population passed 8,000,000,000 in November 2022, according to the UN.",
    "Python 3.11.7 was released on 2023-12-04; upgrade with pip install -U pip==23.3.1.",
    "The ISBN of the book is 978-0-13-110362-7 and it has 272 pages.",
    "Call the fictional number 555-0134 from the movie, or dial 911 in an emergency.",
    "Between 1990-2000 the GDP grew from 5,963 to 10,251 billion dollars.",
    "Order #4829103 shipped in 3 boxes weighing 12.5, 8.25 and 3 kg.",
    "Pi is approximately 3.14159265358979 and e is about 2.718281828.",
    "Use the placeholder sk-xxxxxxxxxxxxxxxxxxxxxxxx for your OpenAI key, e.g. export OPENAI_API_KEY=sk-...",
    "Write to support@example.com or john@yourcompany.com for help.",
    "AWS documentation uses AKIAIOSFODNN7EXAMPLE as a sample access key id.",
    "Test your checkout with the card 4242 4242 4242 4242 and any future date.",
    "The coordinates are 48.8584, 2.2945 and the elevation is 35 m.",
    "Version numbers like 1.2.3-beta.4 and timestamps like 1700000000 are common in logs.",
    "Our flight AF 1234 departs at 10:45 from gate 32 and arrives at 13:20.",
]


def call(text: str, prompt: str = "Tell me something.") -> ModelCall:
    return ModelCall(
        trace_id="a" * 32,
        span_id="b" * 16,
        start_time_ns=1_700_000_000 * 10**9,
        duration_ms=10.0,
        service="bank-bot",
        request_model="gpt-x",
        input_messages=[Message("user", prompt)],
        output_text=text,
    )


@pytest.mark.parametrize("category", sorted(SECRETS))
def test_each_category_is_found_and_masked(category: str) -> None:
    secret = SECRETS[category]
    findings = LeakageDetector().observe(call(f"Sure, here it is: {secret}. Anything else?"))
    assert [f.category.rsplit(".", 1)[-1] for f in findings] == [category]
    raw = findings[0].to_json().decode()
    assert secret not in raw and secret.replace(" ", "") not in raw
    assert findings[0].evidence["matches"][0]["masked"]
    assert "*" in findings[0].evidence["excerpt"] or "masked" in findings[0].evidence["excerpt"]


@pytest.mark.parametrize("secret", MORE_KEYS)
def test_other_token_formats(secret: str) -> None:
    findings = LeakageDetector().observe(call(f"config:\n{secret}\n"))
    assert len(findings) == 1 and findings[0].severity.value == "critical"
    assert secret not in findings[0].to_json().decode()


@pytest.mark.parametrize("text", EVERYDAY)
def test_everyday_prose_with_numbers_is_not_flagged(text: str) -> None:
    scores, flagged = LeakageDetector().score_text(text)
    assert not flagged, (text, scores)


def test_validators() -> None:
    assert luhn_ok("4539148803436467") and not luhn_ok("4539148803436468")
    assert iban_ok("GB33BUKB20201555555555") and iban_ok("DE89 3704 0044 0532 0130 00")
    assert not iban_ok("GB33BUKB20201555555556") and not iban_ok("XX33BUKB20201555555555")
    assert mask("4539 1488 0343 6467", "payment_card") == "**** **** **** 6467"
    assert mask("maria.gonzalez@outlook.es", "email") == "m***@o***.es"


def test_values_echoed_from_the_prompt_are_not_leaks() -> None:
    detector = LeakageDetector()
    email = SECRETS["email"]
    assert detector.observe(call(f"I will write to {email}.", prompt=f"My address is {email}")) == []
    assert detector.observe(call(f"I will write to {email}.")) != []
    keep = LeakageDetector(LeakageSettings(ignore_echoed=False))
    assert keep.observe(call(f"I will write to {email}.", prompt=f"My address is {email}")) != []


def test_one_finding_per_category_with_stable_ids() -> None:
    text = f"Key {SECRETS['api_key']} and mail {SECRETS['email']}, also bob.stone@gmail.com."
    first = LeakageDetector().observe(call(text))
    again = LeakageDetector().observe(call(text))
    assert sorted(f.category for f in first) == ["leakage.pii.email", "leakage.secret.api_key"]
    assert [f.id for f in first] == [f.id for f in again]
    assert len({f.id for f in first}) == 2
    email = next(f for f in first if f.category.endswith("email"))
    assert email.evidence["count"] == 2 and email.severity.value == "warning"


def test_score_text_contract_and_settings() -> None:
    detector = LeakageDetector(LeakageSettings(categories=["email"]))
    scores, flagged = detector.score_text(f"token {SECRETS['api_key']}")
    assert scores == {"email": 0.0} and flagged is False
    scores, flagged = LeakageDetector().score_text(f"mail me: {SECRETS['email']}")
    assert scores["email"] == 1.0 and flagged is True
    with pytest.raises(ValueError):
        LeakageDetector(LeakageSettings(categories=["passport"]))
    with pytest.raises(ValidationError):
        LeakageSettings(ignore_echo=True)
