"""The shipped example configuration and dummy values for the secrets it reads from the environment."""

from __future__ import annotations

from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "watchkeeper.example.yaml"
#: the secrets watchkeeper.example.yaml reads from the environment (`*_env` keys); dummies that validate
EXAMPLE_ENV = {
    "WATCHKEEPER_WEBHOOK_URL": "https://hooks.example.com/watchkeeper",
    "WATCHKEEPER_WEBHOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "PAGERDUTY_ROUTING_KEY": "R0UT1NGK3Y0000000000000000000000",
    "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXX",
}
