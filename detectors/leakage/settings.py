"""Settings of the leakage detector: the keys of `detectors.leakage` in watchkeeper.yaml.

Kept apart from the detector so the configuration is validated without loading its models.
"""

from __future__ import annotations

from pydantic import Field

from watchkeeper.core.detector import DetectorSettings
from watchkeeper.core.findings import Severity

# category -> (kind shown to people, default severity)
CATEGORIES: dict[str, tuple[str, Severity]] = {
    "private_key": ("secret", Severity.critical),
    "api_key": ("secret", Severity.critical),
    "jwt": ("secret", Severity.error),
    "payment_card": ("pii", Severity.error),
    "iban": ("pii", Severity.error),
    "ssn": ("pii", Severity.error),
    "email": ("pii", Severity.warning),
    "phone": ("pii", Severity.warning),
}


class LeakageSettings(DetectorSettings):
    """Keys of `detectors.leakage` in watchkeeper.yaml."""

    categories: list[str] = Field(
        default_factory=lambda: list(CATEGORIES),
        description="categories to report: " + ", ".join(CATEGORIES),
    )
    ignore_echoed: bool = Field(
        True, description="a value the user's own prompt already contains is an echo, not a leak"
    )
    ignore_email_domains: list[str] = Field(
        default_factory=lambda: [
            "example.com",
            "example.org",
            "example.net",
            "test.com",
            "domain.com",
            "yourdomain.com",
            "company.com",
            "email.com",
            "mail.com",
            "yourcompany.com",
            "acme.com",
            "localhost",
        ],
        description="placeholder domains used in documentation-style answers",
    )
    max_matches_in_evidence: int = Field(10, ge=1, description="masked matches kept per finding")
