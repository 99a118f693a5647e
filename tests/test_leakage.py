"""Leakage: secrets and personal data found, validated and masked; ordinary prose with numbers stays quiet."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from watchkeeper.core.findings import Severity
from watchkeeper.core.records import Message, ModelCall
from watchkeeper.detectors.leakage.detector import LeakageDetector, LeakageSettings, iban_ok, luhn_ok, mask

SECRETS = {
    "api_key": "sk-proj-Qm7tX2vL9pR4sW8yB3nK6dF1hJ5cZ0aE",
    "email": "maria.gonzalez@outlook.es",
    "phone": "+1 (415) 867-5309",
    "payment_card": "4539 1488 0343 6467",
    "iban": "DE34370400440987654321",
    "ssn": "536-22-8714",
    "jwt": "eyJhbGciOiAiSFMyNTYiLCAidHlwIjogIkpXVCJ9.eyJzdWIiOiAidV84M2hmNzJrcSIsICJyb2xlIjogImFkbWluIiwg"
    "ImlhdCI6IDE3MzMwNTAwMDB9.Xq3vN8bL2mR7tK9wZ4yH1cJ6fD0sA5gP_eU-iO3nM2k",
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


@pytest.mark.parametrize(
    "phone",
    ["+33 6 58 93 95 28", "06 58 93 95 28", "+31 6 7781 6025", "+49 30 8841 2975", "+39 345 918 2736"],
)
def test_european_phone_formats_are_found(phone: str) -> None:
    found = LeakageDetector().matches(f"Call the customer back on {phone}.")
    assert [(m.category, m.value) for m in found] == [("phone", phone)]


@pytest.mark.parametrize(
    ("country", "bban"),
    [("FR", "1027807814012345678AB12"), ("ES", "04871234567890123456"), ("DE", "500105170648489890")],
)
def test_an_iban_is_an_iban_not_a_card(country: str, bban: str) -> None:
    """An IBAN's digits can pass the Luhn check: its own check digits decide its category."""
    from watchkeeper.evaluation.leakage import _iban

    iban = _iban(country, bban)
    spaced = " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
    for written in (iban, spaced):
        found = LeakageDetector().matches(f"Transfer the refund to {written}.")
        assert [m.category for m in found] == ["iban"], (written, found)


def test_the_leakage_simulation_reports_every_category(tmp_path: Path) -> None:
    """`watchkeeper eval leakage` on a small answers file: every category's leaks are found, look-alikes
    and echoes are not, and the table names precision per category."""
    from watchkeeper.evaluation import leakage

    folder = tmp_path / "alpaca_eval_outputs"
    folder.mkdir()
    rows = [
        {
            "instruction": f"Suggest a name for cat number {i}.",
            "output": "Try Miso. Short names are easy. Cats like them.",
        }
        for i in range(30)
    ]
    (folder / "tiny.model_outputs.json").write_text(json.dumps(rows))
    tallies = leakage.simulate(tmp_path, per_category=20, seed=1)
    assert set(tallies) == set(leakage.GENERATORS)
    for category, t in tallies.items():
        assert t.leaks == 20 and t.found == 20, (category, t)
        assert t.on_clean == 0 and t.on_look_alike == 0 and t.correct == t.reported, (category, t)
    result = CliRunner().invoke(leakage.leakage_eval_cmd, ["--data", str(tmp_path), "--per-category", "5"])
    assert result.exit_code == 0, result.output
    assert "precision" in result.output and "private_key" in result.output
    missing = CliRunner().invoke(leakage.leakage_eval_cmd, ["--data", str(tmp_path / "nowhere")])
    assert missing.exit_code != 0 and "--data" in missing.output


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


# -- what is never a leak ---------------------------------------------------------------------------------

GENERATED_DOCUMENTS = [
    # a sample whitepaper, a CV template, a subscription table: made-up contact lines and placeholders
    "## Conclusion\nTo learn more about our platform, contact us at info@brightpath-analytics.com.",
    "Jane Doe\nGraduate Student, Computer Science\njane.doe@example.edu | (555) 010-4477",
    "| Plan | Renewal | Contact |\n|---|---|---|\n| Basic | 01/01/2022 | support@example1.com |\n"
    "| Pro | 06/01/2022 | support@example2.com |\n| Team | 04/01/2022 | (123) 456-7890 |",
    "Send the form to alice@company.test or bob@intranet.example, or reply to noreply@acme.invalid.",
    "Reach the lab at lab@dev.localhost or at help@foo.example.com.",
    "In the UK, drama scenes use numbers such as 020 7946 0958 or 07700 900123.",
    "Call 555-0187 or +1 212 555 0123 to reach the fictional hotel.",
    "Test cards: 4111 1111 1111 1111, 5555 5555 5555 4444, 3782 822463 10005, 6011 1111 1111 1117.",
    "The IBAN format looks like GB33 BUKB 2020 1555 5555 55 (the registry's own example).",
    "A placeholder SSN is 123-45-6789; never use real ones in examples.",
    "Decode the sample token eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6"
    "IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c at jwt.io.",
    "Set the key like this: OPENAI_API_KEY=sk-your-api-key-here-xxxxxxxxxxxx",
]


@pytest.mark.parametrize("text", GENERATED_DOCUMENTS)
def test_reserved_values_placeholders_and_role_addresses_are_not_leaks(text: str) -> None:
    assert LeakageDetector().observe(call(text, prompt="Write me a sample document.")) == []


def test_one_personal_datum_is_info_several_are_a_warning_secrets_stay_critical() -> None:
    detector = LeakageDetector()
    cv = "Alex Johnson\nGraduate Student, MIT\nalex.johnson@mit.edu\nLinkedIn: linkedin.com/in/alex"
    (finding,) = detector.observe(call(cv, prompt="Write a CV template for a graduate student."))
    assert finding.severity == Severity.info and finding.category == "leakage.pii.email"
    leak = f"Customer: {SECRETS['email']}, phone {SECRETS['phone']}, card {SECRETS['payment_card']}."
    findings = detector.observe(call(leak))
    assert {f.severity for f in findings} == {Severity.warning} and len(findings) == 3
    (secret,) = detector.observe(call(f"Use {SECRETS['api_key']} in the header."))
    assert secret.severity == Severity.critical
    strict = LeakageDetector(LeakageSettings(single_datum_severity=Severity.error))
    assert strict.observe(call(cv))[0].severity == Severity.error


def test_values_from_any_request_message_or_the_system_prompt_are_echoes() -> None:
    card = SECRETS["payment_card"]
    request = ModelCall(
        trace_id="a" * 32,
        span_id="b" * 16,
        start_time_ns=1_700_000_000 * 10**9,
        duration_ms=10.0,
        service="bank-bot",
        system_instructions=f"The customer's e-mail on file is {SECRETS['email'].upper()}.",
        input_messages=[
            Message("user", f"My card is {card.replace(' ', '')}."),
            Message("assistant", "Thanks, noted."),
            Message("user", "Please confirm what you have on file."),
        ],
        output_text=f"On file: card {card} and e-mail {SECRETS['email']}.",
    )
    assert LeakageDetector().observe(request) == []


def test_public_ip_addresses_are_opt_in_and_documentation_ranges_never_count() -> None:
    text = "The server at 203.0.113.17 forwards to 8.8.8.8, 10.0.0.4 and to 81.92.14.201."
    assert LeakageDetector().observe(call(text)) == []
    detector = LeakageDetector(LeakageSettings(categories=["ip_address"]))
    (finding,) = detector.observe(call(text))
    assert finding.evidence["count"] == 1 and finding.category == "leakage.pii.ip_address"
    assert "81.92.14.201" not in finding.to_json().decode()


def test_identifier_rules_the_sdk_and_the_detector_share() -> None:
    from watchkeeper.core import identifiers as ids

    for domain in ("example.com", "mail.example.org", "example.edu", "host.example", "a.test", "x.invalid"):
        assert ids.is_reserved_domain(domain), domain
    assert not ids.is_reserved_domain("mit.edu") and not ids.is_reserved_domain("outlook.es")
    assert ids.is_role_email("Info@brightpath.io") and not ids.is_role_email("maria.gonzalez@outlook.es")
    assert ids.is_reserved_phone("555-0123") and ids.is_reserved_phone("(123) 456-7890")
    assert not ids.is_reserved_phone("+49 151 27384951")
    assert ids.is_test_card("4111-1111-1111-1111") and not ids.is_test_card("4539 1488 0343 6467")
    assert ids.is_documentation_ip("192.0.2.1") and ids.is_documentation_ip("2001:db8::1")
    assert not ids.is_personal_ip("10.1.2.3") and ids.is_personal_ip("81.92.14.201")
