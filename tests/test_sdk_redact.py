"""Redaction of personal data and secrets in captured content."""

from __future__ import annotations

import re

import pytest

from watchkeeper.collector.sdk.redact import KINDS, Redactor, luhn_valid


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    return Redactor()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("write to john.doe+news@mail.example.co.uk today", "write to [REDACTED:email] today"),
        ("call +1 (555) 123-4567 now", "call [REDACTED:phone] now"),
        ("or 555-123-4567.", "or [REDACTED:phone]."),
        ("uk: +44 20 7946 0958", "uk: [REDACTED:phone]"),
        ("card 4111 1111 1111 1111 exp 12/29", "card [REDACTED:card] exp 12/29"),
        ("card 4111-1111-1111-1111", "card [REDACTED:card]"),
        ("key sk-proj-AbCdEfGhIjKlMnOpQrSt123", "key [REDACTED:api_key]"),
        ("Authorization: Bearer eyJhbGciOi.abc-def_123", "Authorization: [REDACTED:bearer]"),
        ("aws AKIAIOSFODNN7EXAMPLE here", "aws [REDACTED:aws_key] here"),
        ("aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "[REDACTED:aws_key]"),
        ("token ghp_abcdefghijklmnopqrstuvwxyz0123456789", "token [REDACTED:api_key]"),
    ],
)
def test_redacts_sensitive_values(redactor: Redactor, text: str, expected: str) -> None:
    assert redactor(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "The meeting is on 2024-01-15 at 10:30.",
        "Order 12345678 shipped; version 1.2.3; ip 192.168.1.10",
        "card-like but invalid 4111 1111 1111 1112",
        "commit a1234567890b and uuid 123e4567-e89b-12d3-a456-426614174000",
        "Total: $1,234,567.89 for 3 items",
        "Nothing sensitive here at all.",
    ],
)
def test_leaves_ordinary_text_alone(redactor: Redactor, text: str) -> None:
    assert redactor(text) == text


def test_clean_text_returns_same_object(redactor: Redactor) -> None:
    text = "plain words only " * 50
    assert redactor(text) is text


def test_selected_kinds_and_custom_patterns() -> None:
    only_email = Redactor(["email"], extra={"ticket": re.compile(r"\bTCK-\d{4}\b")}, replacement="<{kind}>")
    text = "a@b.io, +1 555 123 4567, TCK-1234"
    assert only_email(text) == "<email>, +1 555 123 4567, <ticket>"
    assert only_email.kinds == ("email", "ticket")


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown redaction kinds"):
        Redactor(["emails"])
    assert "email" in KINDS


def test_luhn() -> None:
    assert luhn_valid("4111111111111111")
    assert luhn_valid("79927398713")
    assert not luhn_valid("4111111111111112")


def test_many_findings_in_one_text(redactor: Redactor) -> None:
    text = " ".join(f"user{i}@example.com" for i in range(100))
    assert redactor(text) == " ".join(["[REDACTED:email]"] * 100)
