"""Settings of the leakage detector: the keys of `detectors.leakage` in watchkeeper.yaml.

Kept apart from the detector so the configuration is validated without loading its models.
"""

from __future__ import annotations

from pydantic import Field

from watchkeeper.core.detector import DetectorSettings
from watchkeeper.core.findings import Severity

# category -> (kind shown to people, default severity). Personal data ("pii") takes its severity from how
# much of it one answer holds (single_datum_severity / several_data_severity), whatever the category.
CATEGORIES: dict[str, tuple[str, Severity]] = {
    "private_key": ("secret", Severity.critical),
    "api_key": ("secret", Severity.critical),
    "jwt": ("secret", Severity.error),
    "payment_card": ("pii", Severity.warning),
    "iban": ("pii", Severity.warning),
    "ssn": ("pii", Severity.warning),
    "email": ("pii", Severity.warning),
    "phone": ("pii", Severity.warning),
    "ip_address": ("pii", Severity.warning),
}
#: reported unless configured otherwise (public IP addresses are opt-in: answers about networks quote many)
DEFAULT_CATEGORIES = [c for c in CATEGORIES if c != "ip_address"]


class LeakageSettings(DetectorSettings):
    """Keys of `detectors.leakage` in watchkeeper.yaml."""

    categories: list[str] = Field(
        default_factory=lambda: list(DEFAULT_CATEGORIES),
        description="categories to report: " + ", ".join(CATEGORIES),
    )
    ignore_echoed: bool = Field(
        True,
        description="a value the request (any message or the system prompt) already contains is an echo, not "
        "a leak",
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
    ignore_role_addresses: bool = Field(
        True, description="info@, support@, sales@ ... are an organisation's mailboxes, not personal data"
    )
    single_datum_severity: Severity = Field(
        Severity.info,
        description="severity of one personal datum in an answer (a made-up contact line in a generated "
        "document; a datum the SDK redacted counts too)",
    )
    several_data_severity: Severity = Field(
        Severity.warning, description="severity of two or more distinct personal data in one answer"
    )
    max_matches_in_evidence: int = Field(10, ge=1, description="masked matches kept per finding")
