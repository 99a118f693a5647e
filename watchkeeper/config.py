"""One YAML file, validated at start; every key can be overridden by WATCHKEEPER_<SECTION>__<KEY>.

Each stage owns the schema of its own section (`collector.config`, `detectors.config`, `alerts.config`);
this module composes them and turns validation errors into messages that name the key and the fix.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from watchkeeper.alerts.config import AlertsConfig
from watchkeeper.collector.intake.config import IntakeConfig
from watchkeeper.core.bus.config import BusConfig
from watchkeeper.core.configfile import ConfigError, format_validation_error, read_config_file
from watchkeeper.detectors.config import DetectorsConfig


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WebConfig(Strict):
    host: str = "127.0.0.1"
    port: int = Field(8686, ge=0, le=65535)
    public_url: str | None = None  # how links in notifications reach the dashboard
    auth_token: SecretStr | None = None
    basic_auth_username: str | None = None
    basic_auth_password: SecretStr | None = None

    @model_validator(mode="after")
    def _auth_off_loopback(self) -> WebConfig:
        if bool(self.basic_auth_username) != bool(self.basic_auth_password):
            raise ValueError("set both web.basic_auth_username and web.basic_auth_password, or neither")
        if self.host not in ("127.0.0.1", "localhost", "::1") and not (
            self.auth_token or self.basic_auth_username
        ):
            raise ValueError(
                f"web.host is {self.host!r} (not loopback) but no auth is configured: set web.auth_token or "
                "web.basic_auth_username/web.basic_auth_password, or bind web.host to 127.0.0.1"
            )
        return self

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        return f"http://{self.host}:{self.port}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="WATCHKEEPER_", env_nested_delimiter="__", extra="forbid", case_sensitive=False
    )

    state_dir: Path = Path(".watchkeeper")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["text", "json"] = "text"
    bus: BusConfig = BusConfig()
    intake: IntakeConfig = IntakeConfig()
    web: WebConfig = WebConfig()
    detectors: DetectorsConfig = DetectorsConfig()
    alerts: AlertsConfig = AlertsConfig()

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment beats the file, so one YAML serves several deployments.
        return (env_settings, init_settings)


def load_settings(path: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
    """Read YAML (optional), apply env overrides and `overrides` (tests), validate. Raises ConfigError."""
    data: dict[str, Any] = {}
    source = "built-in defaults"
    if path is not None:
        source = str(path)
        data = read_config_file(path)
    data = _merge(data, overrides)
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source + " (or WATCHKEEPER_* environment)")) from None


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out
