"""Configuration of the bus (the `bus:` section): which implementation, its connection and its topics.

It lives with the bus, not with the composition root, so the bus needs nothing above the core.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from watchkeeper.core.bus.base import TopicsConfig

__all__ = ["BusConfig", "TopicsConfig"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BusConfig(Strict):
    kind: Literal["embedded", "kafka"] = "embedded"
    # --- kafka ---
    bootstrap_servers: str = "127.0.0.1:9092"
    client_id: str = "watchkeeper"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_check_hostname: bool = True
    session_timeout_ms: int = Field(10_000, ge=1000)
    heartbeat_interval_ms: int = Field(3_000, ge=100)
    request_timeout_ms: int = Field(30_000, ge=1000)
    partitions: int = Field(6, ge=1, description="partitions for topics Watchkeeper creates")
    replication_factor: int = Field(1, ge=1)
    create_topics: bool = True
    # --- embedded ---
    sync: Literal["normal", "full"] = "normal"  # sqlite synchronous: 'normal' survives a crash of the process
    retention_hours: float = Field(72.0, gt=0)
    poll_interval_s: float = Field(
        0.05,
        gt=0,
        le=5,
        description="embedded: how often a consumer re-reads the log for records published by other "
        "processes (publishes in the same process wake it at once)",
    )
    topics: TopicsConfig = TopicsConfig()
