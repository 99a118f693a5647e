"""Configuration of the daemon-side intake (OTLP/HTTP and OTLP/gRPC)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class IntakeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    http_port: int = Field(4318, ge=0, le=65535)
    grpc_port: int = Field(4317, ge=0, le=65535)
    grpc_enabled: bool = True
    auth_token: SecretStr | None = None  # when set, requests need "Authorization: Bearer <token>"
    max_body_bytes: int = Field(16 * 1024 * 1024, ge=1024)
