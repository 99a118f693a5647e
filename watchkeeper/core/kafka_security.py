"""Kafka connection security (TLS, SASL PLAIN / SCRAM) as kafka-python settings: one place for the daemon's
bus and the SDK's Kafka exporter, so both take the same names and give the same errors.

Standard library only: instrumented apps load it. Azure Event Hubs' Kafka endpoint is `SASL_SSL` + `PLAIN`
with the username `$ConnectionString` and the namespace's connection string as the password, on port 9093
(`KafkaSecurity.event_hubs(connection_string)`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER")
EVENT_HUBS_USERNAME = "$ConnectionString"
#: WATCHKEEPER_KAFKA_SECURITY_PROTOCOL, WATCHKEEPER_KAFKA_SASL_PASSWORD, ...: what `from_env` reads.
ENV_PREFIX = "WATCHKEEPER_KAFKA_"


class KafkaSecurityError(ValueError):
    """Settings that cannot work together; the message names the key (with its prefix) and the fix."""


@dataclass(frozen=True, slots=True)
class KafkaSecurity:
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_check_hostname: bool = True

    @classmethod
    def event_hubs(cls, connection_string: str, *, ssl_cafile: str | None = None) -> KafkaSecurity:
        """Azure Event Hubs' Kafka endpoint (bootstrap `<namespace>.servicebus.windows.net:9093`)."""
        return cls(
            security_protocol="SASL_SSL",
            sasl_mechanism="PLAIN",
            sasl_username=EVENT_HUBS_USERNAME,
            sasl_password=connection_string,
            ssl_cafile=ssl_cafile,
        )

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], *, prefix: str = "") -> KafkaSecurity:
        """From a dict with these field names (unknown keys are an error naming them)."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise KafkaSecurityError(
                f"{prefix}{unknown[0]}: unknown Kafka security setting; use {', '.join(sorted(names))}"
            )
        return cls(**dict(values))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> KafkaSecurity | None:
        """From WATCHKEEPER_KAFKA_<FIELD> variables; None when none is set."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is None or raw == "":
                continue
            if f.name == "ssl_check_hostname":
                values[f.name] = raw.strip().lower() not in ("0", "false", "no", "off")
            else:
                values[f.name] = raw.strip()
        return cls(**values) if values else None

    def client_settings(self, *, prefix: str = "") -> dict[str, Any]:
        """kafka-python keyword arguments (producer, consumer, admin); `prefix` names the keys in errors."""
        protocol = (self.security_protocol or "PLAINTEXT").upper()
        if protocol not in PROTOCOLS:
            raise KafkaSecurityError(
                f"{prefix}security_protocol={self.security_protocol!r}: use one of {', '.join(PROTOCOLS)}"
            )
        settings: dict[str, Any] = {"security_protocol": protocol}
        if protocol.startswith("SASL_"):
            mechanism = (self.sasl_mechanism or "").upper() or None
            if mechanism is None:
                raise KafkaSecurityError(
                    f"{prefix}security_protocol={protocol} needs {prefix}sasl_mechanism (PLAIN for Azure "
                    "Event Hubs and Confluent Cloud, or SCRAM-SHA-256/512)"
                )
            if mechanism not in MECHANISMS:
                raise KafkaSecurityError(
                    f"{prefix}sasl_mechanism={self.sasl_mechanism!r}: "
                    "use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"
                )
            if mechanism == "OAUTHBEARER":
                raise KafkaSecurityError(
                    f"{prefix}sasl_mechanism=OAUTHBEARER needs a token provider, which Watchkeeper does not "
                    "configure yet: use PLAIN or SCRAM-SHA-256/512"
                )
            if not self.sasl_username or not self.sasl_password:
                raise KafkaSecurityError(
                    f"{prefix}sasl_mechanism={mechanism} needs {prefix}sasl_username and "
                    f"{prefix}sasl_password (for Azure Event Hubs: username '{EVENT_HUBS_USERNAME}', "
                    "password the namespace connection string)"
                )
            settings["sasl_mechanism"] = mechanism
            settings["sasl_plain_username"] = self.sasl_username
            settings["sasl_plain_password"] = self.sasl_password
        elif self.sasl_mechanism or self.sasl_username or self.sasl_password:
            raise KafkaSecurityError(
                f"{prefix}sasl_* is set but {prefix}security_protocol={protocol} does not use SASL: "
                "set security_protocol to SASL_SSL (or SASL_PLAINTEXT on a trusted network)"
            )
        if protocol in ("SSL", "SASL_SSL"):
            settings["ssl_check_hostname"] = self.ssl_check_hostname
            for key in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
                value = getattr(self, key)
                if value:
                    if not os.path.isfile(value):
                        raise KafkaSecurityError(f"{prefix}{key}: {value} does not exist or is not a file")
                    settings[key] = value
        return settings


__all__ = ["EVENT_HUBS_USERNAME", "KafkaSecurity", "KafkaSecurityError"]
