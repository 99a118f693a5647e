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
from watchkeeper.calls.config import CallsConfig
from watchkeeper.collector.intake.config import IntakeConfig
from watchkeeper.core.auth import is_loopback_address, valid_host_patterns
from watchkeeper.core.bus.config import BusConfig
from watchkeeper.core.configfile import ConfigError, format_validation_error, read_config_file
from watchkeeper.core.store.config import StoreConfig
from watchkeeper.detectors.config import DetectorsConfig


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ApiToken(Strict):
    """A personal API token: what is done with it (approvals, acks, feedback) is recorded as `actor`."""

    actor: str = Field(min_length=1, description="who holds this token, as the audit log names them")
    token: SecretStr | None = None
    token_file: Path | None = Field(None, description="file holding the token (first line)")

    @model_validator(mode="after")
    def _one_secret(self) -> ApiToken:
        if (self.token is None) == (self.token_file is None):
            raise ValueError(f"api token of {self.actor!r}: set exactly one of token or token_file")
        if self.token_file is not None:
            try:
                text = self.token_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ValueError(
                    f"api token of {self.actor!r}: cannot read {self.token_file}: {exc.strerror}"
                ) from None
            self.token = SecretStr(text)
        if len(self.secret) < 16:
            raise ValueError(f"api token of {self.actor!r} is shorter than 16 characters: use a random token")
        return self

    @property
    def secret(self) -> str:
        return self.token.get_secret_value() if self.token is not None else ""


TRACE_URL_FIELDS = ("trace_id", "span_id", "app", "start_ms", "end_ms")


class WebConfig(Strict):
    host: str = "127.0.0.1"
    port: int = Field(8686, ge=0, le=65535)
    public_url: str | None = None  # how links in notifications reach the dashboard
    auth_token: SecretStr | None = None
    basic_auth_username: str | None = None
    basic_auth_password: SecretStr | None = None
    api_tokens: list[ApiToken] = Field(
        default_factory=list, description="personal tokens; the audit log records their actor"
    )
    trace_url_template: str | None = Field(
        None,
        description="link from a call to your trace backend, e.g. http://jaeger:16686/trace/{trace_id}; "
        "placeholders: "
        + ", ".join("{" + p + "}" for p in ("trace_id", "span_id", "app", "start_ms", "end_ms")),
    )

    @field_validator("trace_url_template")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        if value is None:
            return None
        import string

        names = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
        unknown = names - set(TRACE_URL_FIELDS)
        if unknown:
            raise ValueError(
                f"unknown placeholder(s) {sorted(unknown)}: use "
                + ", ".join("{" + p + "}" for p in TRACE_URL_FIELDS)
            )
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL, e.g. http://jaeger:16686/trace/{trace_id}")
        return value

    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="names browsers may use to reach the dashboard and API besides localhost and IP "
        "addresses (the public_url host is added): exact names, '.example.com' for a domain, '*' for any",
    )

    @field_validator("allowed_hosts")
    @classmethod
    def _hosts(cls, value: list[str]) -> list[str]:
        return valid_host_patterns(value)

    max_connections: int = Field(4096, ge=1, le=1_000_000, description="open connections; beyond it: 503")
    header_read_timeout_s: float = Field(
        10.0, gt=0, le=600, description="time a new connection has to send its request head"
    )
    idle_timeout_s: float = Field(60.0, gt=0, le=3600, description="an idle keep-alive connection is closed")

    @model_validator(mode="after")
    def _auth_off_loopback(self) -> WebConfig:
        if bool(self.basic_auth_username) != bool(self.basic_auth_password):
            raise ValueError("set both web.basic_auth_username and web.basic_auth_password, or neither")
        if not is_loopback_address(self.host) and not (
            self.auth_token or self.basic_auth_username or self.api_tokens
        ):
            raise ValueError(
                f"web.host is {self.host!r} (not loopback) but no auth is configured: set web.auth_token or "
                "web.basic_auth_username/web.basic_auth_password, or bind web.host to 127.0.0.1"
            )
        return self

    @property
    def host_allowlist(self) -> list[str]:
        """`allowed_hosts` plus the host of `public_url` (the name notifications link to)."""
        names = list(self.allowed_hosts)
        if self.public_url:
            from urllib.parse import urlsplit

            public = urlsplit(self.public_url).hostname
            if public:
                names.append(public)
        return names

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
    store: StoreConfig = StoreConfig()
    intake: IntakeConfig = IntakeConfig()
    web: WebConfig = WebConfig()
    detectors: DetectorsConfig = DetectorsConfig()
    alerts: AlertsConfig = AlertsConfig()
    calls: CallsConfig = CallsConfig()

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
