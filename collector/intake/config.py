"""Configuration of the daemon-side intake (OTLP/HTTP and OTLP/gRPC).

Every limit here keeps the daemon's memory bounded and its answers honest: a client is told to back off
(503/429 with Retry-After) rather than the daemon buffering without end or acknowledging what it cannot store.
"""

from __future__ import annotations

import ipaddress
import re

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from watchkeeper.core.auth import is_loopback_address, valid_host_patterns

_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*$")


class IntakeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = Field("127.0.0.1", description="address to bind; 0.0.0.0 opens the listeners to the network")
    http_port: int = Field(4318, ge=0, le=65535, description="OTLP/HTTP port; 0 picks a free one")
    grpc_port: int = Field(4317, ge=0, le=65535, description="OTLP/gRPC port; 0 picks a free one")
    grpc_enabled: bool = True
    auth_token: SecretStr | None = None  # when set, requests need "Authorization: Bearer <token>"
    allow_unauthenticated_network: bool = Field(
        False,
        description="accept spans from the network without a token (host not loopback, no auth_token); "
        "only behind a firewall or network policy that limits who can reach the intake",
    )
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Host names a loopback intake without token answers besides localhost and IP "
        "addresses (stops DNS-rebinding pages from posting spans)",
    )
    max_body_bytes: int = Field(
        16 * 1024 * 1024, ge=1024, description="largest request body, checked again after gunzip (gzip bombs)"
    )
    max_gzip_members: int = Field(
        64, ge=1, le=1_000_000, description="gzip members in one body (exporters send one); beyond it: 400"
    )
    max_inflight_bytes: int = Field(
        64 * 1024 * 1024, ge=1024, description="request bytes held while waiting for the bus; beyond it: 503"
    )
    max_inflight_requests: int = Field(
        256, ge=1, le=100_000, description="requests waiting for the bus; beyond it: 503"
    )
    rate_limit_per_s: float | None = Field(
        None, gt=0, description="spans plus log records accepted per second (token bucket); beyond it: 429"
    )
    rate_limit_burst: int | None = Field(None, ge=1, description="bucket size; default: one second of rate")
    retry_after_s: int = Field(1, ge=1, le=3600, description="Retry-After sent with 503 (busy, bus failing)")
    read_timeout_s: float = Field(30.0, gt=0, le=3600, description="time allowed to receive one request body")
    max_connections: int = Field(
        4096, ge=1, le=1_000_000, description="open connections per listener (HTTP, gRPC); beyond it: 503"
    )
    header_read_timeout_s: float = Field(
        10.0, gt=0, le=600, description="time a new connection has to send its request head (HTTP/2 preface)"
    )
    idle_timeout_s: float = Field(60.0, gt=0, le=3600, description="an idle keep-alive connection is closed")
    publish_batch_bytes: int = Field(
        4 * 1024 * 1024, ge=1024, description="concurrent requests share one publish up to this many bytes"
    )
    max_detector_lag_spans: int = Field(
        200_000,
        ge=0,
        description="spans waiting for the detectors beyond which new spans are refused (503 + Retry-After, "
        "gRPC RESOURCE_EXHAUSTED); 0 turns the bound off",
    )
    max_detector_lag_bytes: int = Field(
        256 * 1024 * 1024,
        ge=0,
        description="bytes of spans waiting for the detectors beyond which new spans are refused; 0: off",
    )
    lag_check_interval_s: float = Field(1.0, gt=0, le=60, description="how often the backlog is measured")
    shutdown_grace_s: float = Field(10.0, ge=0, le=600, description="how long stop() waits for requests")

    @field_validator("host")
    @classmethod
    def _valid_host(cls, value: str) -> str:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            if not _HOSTNAME.match(value):
                raise ValueError("must be an IP address or a host name, e.g. 127.0.0.1 or 0.0.0.0") from None
        return value

    @field_validator("allowed_hosts")
    @classmethod
    def _hosts(cls, value: list[str]) -> list[str]:
        return valid_host_patterns(value)

    @model_validator(mode="after")
    def _consistent(self) -> IntakeConfig:
        # The token is checked here, not in a field validator, so an error never echoes the secret back.
        if self.auth_token is not None:
            secret = self.auth_token.get_secret_value().strip()
            if not secret:
                raise ValueError("intake.auth_token is empty: remove the key to disable auth, or set a token")
            if not secret.isprintable():
                raise ValueError("intake.auth_token holds control characters: it must fit in an HTTP header")
            self.auth_token = SecretStr(secret)  # a token read from a file often ends with a newline
        if not self.auth_token and not self.allow_unauthenticated_network and not self.loopback:
            raise ValueError(
                f"intake.host is {self.host!r} (not loopback) but intake.auth_token is not set: anyone who "
                "can reach it could send spans. Set intake.auth_token, bind intake.host to 127.0.0.1, or, "
                "behind a firewall that limits who reaches it, set intake.allow_unauthenticated_network: true"
            )
        if self.max_inflight_bytes < self.max_body_bytes:
            raise ValueError(
                "intake.max_inflight_bytes must be >= intake.max_body_bytes, "
                f"got {self.max_inflight_bytes} < {self.max_body_bytes}: raise max_inflight_bytes"
            )
        if self.grpc_enabled and self.http_port != 0 and self.http_port == self.grpc_port:
            raise ValueError(
                f"intake.http_port and intake.grpc_port are both {self.http_port}: give them different ports"
            )
        if self.rate_limit_burst is not None and self.rate_limit_per_s is None:
            raise ValueError("intake.rate_limit_burst is set but intake.rate_limit_per_s is not: set both")
        return self

    @property
    def loopback(self) -> bool:
        return is_loopback_address(self.host)

    @property
    def checks_host(self) -> bool:
        """A loopback intake without token is what a DNS-rebinding page can reach: it checks Host."""
        return self.loopback and self.auth_token is None

    @property
    def bucket_size(self) -> float:
        """Token-bucket capacity: explicit burst, or one second's worth of the rate."""
        if self.rate_limit_burst is not None:
            return float(self.rate_limit_burst)
        return float(self.rate_limit_per_s or 0.0)
