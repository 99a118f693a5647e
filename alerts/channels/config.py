"""Receiver and channel configuration (the `receivers:` list of the alerts section).

Every secret (webhook URL, routing key, API key, SMTP password, signing secret) is a SecretStr, so it never
shows in repr() or logs, and can come from the YAML, from a file (`<key>_file`, e.g. a mounted Kubernetes
secret) or from an environment variable named in the YAML (`<key>_env`). Validation errors name the key and
the fix and never echo the secret (inputs are hidden from error messages).
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails

from watchkeeper.alerts.channels.urls import UrlError, is_loopback_host, validate_url
from watchkeeper.alerts.durations import Duration

PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
OPSGENIE_US_API = "https://api.opsgenie.com"
OPSGENIE_EU_API = "https://api.eu.opsgenie.com"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True, populate_by_name=True)


def read_secret(model: BaseModel, name: str, *, required: bool) -> SecretStr | None:
    """Resolve `name` from itself, `<name>_file` or `<name>_env` (exactly one of them), as a SecretStr."""
    inline: SecretStr | None = getattr(model, name)
    file: Path | None = getattr(model, f"{name}_file")
    env: str | None = getattr(model, f"{name}_env")
    given = [k for k, v in ((name, inline), (f"{name}_file", file), (f"{name}_env", env)) if v is not None]
    if len(given) > 1:
        raise ValueError(
            f"{' and '.join(given)} are all set; keep exactly one of {name}, {name}_file, {name}_env"
        )
    if file is not None:
        try:
            text = Path(file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(
                f"{name}_file: cannot read {file} ({exc.strerror}); mount the file or set {name}_env"
            ) from None
        if not text:
            raise ValueError(f"{name}_file: {file} is empty; write the {name} into it")
        return SecretStr(text)
    if env is not None:
        text = os.environ.get(env, "").strip()
        if not text:
            raise ValueError(
                f"{name}_env: environment variable {env} is not set or empty; export it or set {name}"
            )
        return SecretStr(text)
    if inline is not None:
        if not inline.get_secret_value().strip():
            raise ValueError(f"{name}: is empty; set it, or use {name}_file / {name}_env")
        return SecretStr(inline.get_secret_value().strip())
    if required:
        raise ValueError(
            f"{name} is required: set {name}, {name}_file (a file holding it) or {name}_env (a variable)"
        )
    return None


class ChannelConfig(_Strict):
    send_resolved: bool = True  # also announce resolves (PagerDuty/Opsgenie close their alert only if true)
    allow_insecure: bool = False  # permit plain http to non-loopback hosts (trusted networks only)
    refuse_private_addresses: bool = (
        False  # SSRF guard: refuse hosts that resolve to private/loopback addresses
    )
    max_text_chars: int = Field(3000, ge=200, le=100_000, description="cap on the model-output excerpt")

    def _check_url(self, url: str, key: str) -> None:
        try:
            validate_url(
                url,
                key=key,
                allow_insecure=self.allow_insecure,
                refuse_private_addresses=self.refuse_private_addresses,
            )
        except UrlError as exc:
            raise ValueError(str(exc)) from None


class _WebhookUrlConfig(ChannelConfig):
    url: SecretStr | None = None
    url_file: Path | None = None
    url_env: str | None = None

    @model_validator(mode="after")
    def _resolve_url(self) -> Any:
        self.url = read_secret(self, "url", required=True)
        assert self.url is not None
        self._check_url(self.url.get_secret_value(), "url")
        return self


class SlackConfig(_WebhookUrlConfig):
    """Slack incoming webhook (https://hooks.slack.com/services/...).

    `channel`, `username`, `icon_emoji` and `icon_url` are sent with each message, as Alertmanager sends
    them; Slack honours them for legacy webhooks, while an app's webhook posts to the channel it was made for.
    """

    channel: str | None = None
    username: str | None = None
    icon_emoji: str | None = None
    icon_url: str | None = None

    def message_overrides(self) -> dict[str, str]:
        keys = ("channel", "username", "icon_emoji", "icon_url")
        return {k: getattr(self, k) for k in keys if getattr(self, k)}


class TeamsConfig(_WebhookUrlConfig):
    """Microsoft Teams Workflows webhook ("Send webhook alerts to a channel" flow URL)."""


class PagerDutyConfig(ChannelConfig):
    """PagerDuty Events API v2 integration (the routing key is the service's integration key)."""

    routing_key: SecretStr | None = None
    routing_key_file: Path | None = None
    routing_key_env: str | None = None
    url: str = PAGERDUTY_EVENTS_URL
    source: str | None = None  # default: the incident's app label
    client: str = "Watchkeeper"

    @model_validator(mode="after")
    def _resolve(self) -> Any:
        self.routing_key = read_secret(self, "routing_key", required=True)
        self._check_url(self.url, "url")
        return self


class OpsgenieConfig(ChannelConfig):
    """Opsgenie Alert API v2 (an API integration's key; EU accounts use https://api.eu.opsgenie.com)."""

    api_key: SecretStr | None = None
    api_key_file: Path | None = None
    api_key_env: str | None = None
    api_url: str = OPSGENIE_US_API
    tags: list[str] = Field(default_factory=list)
    responders: list[dict[str, str]] = Field(default_factory=list)  # e.g. {type: team, name: ml-oncall}
    source: str = "Watchkeeper"

    @model_validator(mode="after")
    def _resolve(self) -> Any:
        self.api_key = read_secret(self, "api_key", required=True)
        self.api_url = self.api_url.rstrip("/")
        self._check_url(self.api_url, "api_url")
        return self


class WebhookConfig(ChannelConfig):
    """Generic webhook signed per Standard Webhooks (https://www.standardwebhooks.com)."""

    url: SecretStr | None = None
    url_file: Path | None = None
    url_env: str | None = None
    secret: SecretStr | None = None  # whsec_<base64>
    secret_file: Path | None = None
    secret_env: str | None = None
    #: extra secrets during a rotation: the body is signed with each, signatures space-separated
    secrets: list[SecretStr] = Field(default_factory=list)
    max_text_chars: int = Field(4000, ge=200, le=100_000)
    format: Literal["watchkeeper", "alertmanager"] = Field(
        "watchkeeper",
        description="watchkeeper: the incident as JSON; alertmanager: Alertmanager's webhook payload "
        "(version 4), for receivers written for Alertmanager",
    )

    @model_validator(mode="after")
    def _resolve(self) -> Any:
        self.url = read_secret(self, "url", required=True)
        assert self.url is not None
        self._check_url(self.url.get_secret_value(), "url")
        self.secret = read_secret(self, "secret", required=False)
        if self.secret is not None:
            decode_signing_secret(self.secret, key="secret")
        for index, value in enumerate(self.secrets):
            decode_signing_secret(value, key=f"secrets[{index}]")
        return self

    def signing_secrets(self) -> list[SecretStr]:
        return ([self.secret] if self.secret is not None else []) + list(self.secrets)


def decode_signing_secret(secret: SecretStr, *, key: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret: base64 after the `whsec_` prefix."""
    raw = secret.get_secret_value().strip()
    if not raw.startswith("whsec_"):
        raise ValueError(
            f"{key}: a signing secret must look like whsec_<base64>; generate one with "
            "python -c \"import os,base64;print('whsec_'+base64.b64encode(os.urandom(32)).decode())\""
        )
    try:
        key_bytes = base64.b64decode(raw.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{key}: the part after whsec_ is not valid base64; regenerate the secret") from None
    if len(key_bytes) < 24:
        raise ValueError(f"{key}: the secret decodes to {len(key_bytes)} bytes; use at least 24 random bytes")
    return key_bytes


class AlertmanagerConfig(ChannelConfig):
    """An existing Prometheus Alertmanager (base URL, e.g. http://alertmanager:9093): incidents as alerts.

    Alertmanager resolves an alert whose `endsAt` has passed, so open incidents are re-sent every
    `resend_interval` with `endsAt` = now + 4 x resend_interval (what Prometheus does): one lost refresh never
    resolves an alert, a stopped Watchkeeper lets them expire.
    """

    url: str
    resend_interval: Duration = Field(60.0, ge=1.0, description="how often open incidents are re-sent")
    labels: dict[str, str] = Field(default_factory=dict)  # static labels added to every alert (e.g. source)
    bearer_token: SecretStr | None = None
    bearer_token_file: Path | None = None
    bearer_token_env: str | None = None
    basic_auth_username: str | None = None
    basic_auth_password: SecretStr | None = None
    basic_auth_password_file: Path | None = None
    basic_auth_password_env: str | None = None
    max_text_chars: int = Field(4000, ge=200, le=100_000, description="cap on each annotation")

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not _LABEL_NAME.match(name):
                raise ValueError(
                    f"labels: {name!r} is not an Alertmanager label name; use letters, digits and '_', "
                    "not starting with a digit"
                )
        return value

    @model_validator(mode="after")
    def _resolve(self) -> Any:
        self.url = self.url.strip().rstrip("/")
        for suffix in ("/api/v2/alerts", "/api/v2"):
            if self.url.endswith(suffix):
                raise ValueError(
                    f"url: give Alertmanager's base URL ({self.url.removesuffix(suffix)}); "
                    "/api/v2/alerts is added"
                )
        self._check_url(self.url, "url")
        self.bearer_token = read_secret(self, "bearer_token", required=False)
        self.basic_auth_password = read_secret(self, "basic_auth_password", required=False)
        if self.bearer_token is not None and (self.basic_auth_username or self.basic_auth_password):
            raise ValueError("bearer_token and basic_auth_* are both set; Alertmanager takes one of them")
        if bool(self.basic_auth_username) != (self.basic_auth_password is not None):
            raise ValueError("basic auth needs both basic_auth_username and basic_auth_password(_file/_env)")
        return self


_LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")


class EmailConfig(ChannelConfig):
    """SMTP delivery: STARTTLS (587) by default, implicit TLS ("tls", usually 465) or none (loopback)."""

    host: str
    port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    password_file: Path | None = None
    password_env: str | None = None
    from_address: str = Field(alias="from")
    to: list[str] = Field(min_length=1)
    ca_file: Path | None = None  # trust this CA (a private relay's certificate) instead of the system store
    tls_verify: bool = True
    timeout_s: float = Field(10.0, gt=0)

    @field_validator("from_address")
    @classmethod
    def _from(cls, value: str) -> str:
        if not _ADDRESS.match(value.strip()):
            raise ValueError("from: not an email address; write it as alerts@example.com")
        return value.strip()

    @field_validator("to")
    @classmethod
    def _to(cls, value: list[str]) -> list[str]:
        for index, address in enumerate(value):
            if not _ADDRESS.match(address.strip()):
                raise ValueError(f"to[{index}]: not an email address; write it as oncall@example.com")
        return [a.strip() for a in value]

    @model_validator(mode="after")
    def _resolve(self) -> Any:
        self.password = read_secret(self, "password", required=False)
        if self.password is not None and not self.username:
            raise ValueError("password is set but username is not; set username for SMTP AUTH")
        if self.username and self.password is None:
            raise ValueError("username is set but no password; set password, password_file or password_env")
        plain = self.security == "none" and not is_loopback_host(self.host)
        if plain and not self.allow_insecure:
            raise ValueError(
                f"security: none would send mail{' and the password' if self.password else ''} "
                f"unencrypted to {self.host}; use starttls or tls (or allow_insecure: true if trusted)"
            )
        if self.ca_file is not None and not Path(self.ca_file).is_file():
            raise ValueError(
                f"ca_file: {self.ca_file} does not exist; point it at the relay's CA certificate (PEM)"
            )
        return self


_RECEIVER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


class ReceiverConfig(_Strict):
    """A named set of destinations; routes point at receivers by name (as in Alertmanager).

    The built-in channels are typed fields; a channel plug-in's key (`<kind>_configs: [...]`) is validated by
    its plug-in's config class. `channel_sections()` lists both in delivery order.
    """

    name: str
    slack_configs: list[SlackConfig] = Field(default_factory=list)
    teams_configs: list[TeamsConfig] = Field(default_factory=list)
    pagerduty_configs: list[PagerDutyConfig] = Field(default_factory=list)
    opsgenie_configs: list[OpsgenieConfig] = Field(default_factory=list)
    webhook_configs: list[WebhookConfig] = Field(default_factory=list)
    email_configs: list[EmailConfig] = Field(default_factory=list)
    alertmanager_configs: list[AlertmanagerConfig] = Field(default_factory=list)
    console: bool = False
    max_elapsed_time: Duration | None = Field(
        None, gt=0, description="retry budget of this receiver's notifications (default alerts.outbox's)"
    )

    _plugin_sections: dict[str, Any] = PrivateAttr(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _RECEIVER_NAME.match(value):
            raise ValueError(
                "name: use 1-64 letters, digits, '_', '-' or '.', starting with a letter or digit"
            )
        return value

    @model_validator(mode="wrap")
    @classmethod
    def _plugin_channels(cls, data: Any, handler: Any) -> Any:
        """Keys of installed channel plug-ins go to their config class; any other unknown key is an error."""
        if not isinstance(data, dict):
            return handler(data)
        from watchkeeper.alerts.channels.base import (
            channel_plugins,  # late: the channel modules import this one
        )

        by_key = {p.config_key: p for p in channel_plugins().values() if p.config_key not in cls.model_fields}
        sections = {k: v for k, v in data.items() if k in by_key}
        errors: list[InitErrorDetails] = []
        model = None
        try:
            model = handler({k: v for k, v in data.items() if k not in sections})
        except ValidationError as exc:
            errors += [_details(e, ()) for e in exc.errors()]
        validated: dict[str, Any] = {}
        for key, value in sections.items():
            config_class = by_key[key].config_class
            try:
                if config_class is None:
                    validated[key] = TypeAdapter(bool).validate_python(value)
                else:
                    validated[key] = TypeAdapter(list[config_class]).validate_python(value)  # type: ignore[valid-type]
            except ValidationError as exc:
                errors += [_details(e, (key,)) for e in exc.errors()]
        if errors:
            raise ValidationError.from_exception_data(cls.__name__, errors, hide_input=True)
        model._plugin_sections = validated
        return model

    def channel_sections(self) -> list[tuple[str, Any]]:
        """(config key, value) of every channel key in delivery order: built-ins, then plug-ins as written."""
        from watchkeeper.alerts.channels.base import channel_plugins

        keys = {plugin.config_key for plugin in channel_plugins().values()}
        typed = [(key, getattr(self, key)) for key in type(self).model_fields if key in keys]
        return typed + list(self._plugin_sections.items())


def _details(error: Any, prefix: tuple[str, ...]) -> InitErrorDetails:
    details = InitErrorDetails(type=error["type"], loc=(*prefix, *error["loc"]), input=error.get("input"))
    if "ctx" in error:
        details["ctx"] = error["ctx"]
    return details
