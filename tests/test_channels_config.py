"""Receiver configuration: secrets from YAML, files or env, never shown; URL checks; clear errors."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pydantic import ValidationError

from tests.support.receivers import MALICIOUS, make_notification
from watchkeeper.alerts.channels import ConsoleChannel, ReceiverConfig, build_channels, close_channels
from watchkeeper.alerts.channels.config import SlackConfig
from watchkeeper.alerts.channels.http import HttpSender, Policy
from watchkeeper.alerts.channels.urls import UrlError, mask_url, validate_url
from watchkeeper.alerts.model import Event

SLACK_URL = "https://hooks.slack.com/services/T000/B000/XXXXsecretXXXX"


def error_text(exc: pytest.ExceptionInfo[ValidationError]) -> str:
    return str(exc.value)


def test_secret_is_hidden_in_repr_and_dump() -> None:
    config = ReceiverConfig(name="oncall", slack_configs=[{"url": SLACK_URL}])
    assert "XXXXsecretXXXX" not in repr(config)
    assert "XXXXsecretXXXX" not in str(config.model_dump())
    assert config.slack_configs[0].url is not None
    assert config.slack_configs[0].url.get_secret_value() == SLACK_URL


def test_secret_from_file(tmp_path: Path) -> None:
    path = tmp_path / "slack-url"
    path.write_text(SLACK_URL + "\n")
    config = SlackConfig(url_file=path)
    assert config.url is not None and config.url.get_secret_value() == SLACK_URL


def test_secret_from_named_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONCALL_ROUTING_KEY", "k" * 32)
    config = ReceiverConfig(name="pd", pagerduty_configs=[{"routing_key_env": "ONCALL_ROUTING_KEY"}])
    key = config.pagerduty_configs[0].routing_key
    assert key is not None and key.get_secret_value() == "k" * 32


def test_missing_env_var_names_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    with pytest.raises(ValidationError) as exc:
        SlackConfig(url_env="NOT_SET_ANYWHERE")
    assert "url_env" in error_text(exc) and "NOT_SET_ANYWHERE" in error_text(exc)


def test_missing_file_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as exc:
        SlackConfig(url_file=tmp_path / "nope")
    assert "url_file" in error_text(exc)


def test_two_sources_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as exc:
        SlackConfig(url=SLACK_URL, url_env="X")
    assert "keep exactly one" in error_text(exc)


def test_missing_secret_is_required() -> None:
    with pytest.raises(ValidationError) as exc:
        ReceiverConfig(name="x", slack_configs=[{}])
    assert "slack_configs.0" in error_text(exc) and "url is required" in error_text(exc)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://hooks.slack.com/services/T/B/SECRETPART", "scheme 'ftp' is not allowed"),
        ("http://hooks.slack.com/services/T/B/SECRETPART", "plain http"),
        ("https://user:SECRETPART@hooks.slack.com/x", "credentials in the URL"),
        ("https:///services/SECRETPART", "no host"),
    ],
)
def test_bad_urls_are_refused_without_echoing_the_secret(url: str, message: str) -> None:
    with pytest.raises(ValidationError) as exc:
        SlackConfig(url=url)
    assert message in error_text(exc) and "url:" in error_text(exc)
    assert "SECRETPART" not in error_text(exc)


def test_http_allowed_for_loopback_or_with_allow_insecure() -> None:
    assert SlackConfig(url="http://127.0.0.1:9000/hook").url is not None
    assert SlackConfig(url="http://localhost/hook").url is not None
    assert SlackConfig(url="http://relay.internal/hook", allow_insecure=True).url is not None


def test_refuse_private_addresses() -> None:
    with pytest.raises(ValidationError) as exc:
        SlackConfig(url="http://127.0.0.1:9000/hook", refuse_private_addresses=True)
    assert "non-public address 127.0.0.1" in error_text(exc)
    for url in (
        "https://10.1.2.3/x",
        "https://169.254.169.254/latest",
        "https://192.168.0.1/",
        "https://[::1]/",
    ):
        with pytest.raises(UrlError):
            validate_url(url, key="url", refuse_private_addresses=True)
    assert validate_url("https://93.184.215.14/hook", key="url", refuse_private_addresses=True)


def test_refuse_private_addresses_also_at_send_time() -> None:
    """DNS may change after validation (rebinding): the sender checks the address before each request."""
    policy = Policy(vendor="Webhook", config_key="receivers[x].webhook_configs[0]", secret_key="url")
    sender = HttpSender(policy, secrets=[], refuse_private_addresses=True)
    try:
        result = sender.post("http://127.0.0.1:9/h", body=b"{}", timeout_s=1)
    finally:
        sender.close()
    assert not result.ok and not result.retryable and "non-public" in (result.error or "")


def test_webhook_secret_format() -> None:
    with pytest.raises(ValidationError) as exc:
        ReceiverConfig(name="x", webhook_configs=[{"url": "https://h.example.com", "secret": "plain-SECRET"}])
    assert "whsec_" in error_text(exc) and "plain-SECRET" not in error_text(exc)
    with pytest.raises(ValidationError) as exc:
        ReceiverConfig(name="x", webhook_configs=[{"url": "https://h.example.com", "secrets": ["whsec_!!"]}])
    assert "secrets[0]" in error_text(exc)


def test_email_config_checks() -> None:
    base = {"host": "smtp.example.com", "from": "wk@example.com", "to": ["a@example.com"]}
    ReceiverConfig(name="m", email_configs=[base])
    with pytest.raises(ValidationError) as exc:
        ReceiverConfig(
            name="m", email_configs=[{**base, "security": "none", "username": "u", "password": "PW"}]
        )
    assert "unencrypted" in error_text(exc) and "PW" not in error_text(exc)
    with pytest.raises(ValidationError) as exc:
        ReceiverConfig(name="m", email_configs=[{**base, "to": ["not-an-address"]}])
    assert "to[0]" in error_text(exc)
    with pytest.raises(ValidationError):
        ReceiverConfig(name="m", email_configs=[{**base, "password": "PW"}])  # password without username


def test_unknown_keys_are_refused() -> None:
    with pytest.raises(ValidationError) as exc:
        ReceiverConfig(name="x", slack_configs=[{"url": SLACK_URL, "chanel": "#ops"}])
    assert "chanel" in error_text(exc)


def test_build_channels_order_and_keys() -> None:
    config = ReceiverConfig(
        name="oncall",
        slack_configs=[{"url": SLACK_URL}],
        pagerduty_configs=[{"routing_key": "r" * 32}],
        webhook_configs=[{"url": "https://hooks.example.com/a"}, {"url": "https://hooks.example.com/b"}],
        console=True,
    )
    channels = build_channels(config, dashboard_url="http://127.0.0.1:8686")
    try:
        assert [c.kind for c in channels] == ["slack", "pagerduty", "webhook", "webhook", "console"]
        keys = [c.destination_key for c in channels]
        assert len(set(keys)) == len(keys)
        assert all("secret" not in k and "r" * 32 not in k for k in keys)
    finally:
        close_channels(channels)


def test_console_logs_one_clean_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="watchkeeper.alerts.console")
    channel = ConsoleChannel(
        config_key="receivers[dev].console", dashboard_url="http://127.0.0.1:8686", receiver="dev"
    )
    result = channel.send(make_notification(summary=MALICIOUS))
    assert result.ok
    (record,) = [r for r in caplog.records if r.name == "watchkeeper.alerts.console"]
    line = record.getMessage()
    assert "\n" not in line and "\r" not in line and "\x1b" not in line
    assert "@here" not in line and "[CRITICAL] Triggered" in line and "model=gpt-4o-mini" in line
    assert channel.send(make_notification(Event.resolve)).ok


def test_mask_url() -> None:
    assert mask_url(SLACK_URL) == "https://hooks.slack.com"
    assert mask_url("http://127.0.0.1:8080/x?token=1") == "http://127.0.0.1:8080"
    assert mask_url("https://[::1]:9/x") == "https://[::1]:9"


def test_settings_errors_name_the_key_and_hide_the_secret(tmp_path: Path) -> None:
    from watchkeeper.config import ConfigError, load_settings

    path = tmp_path / "watchkeeper.yaml"
    path.write_text(
        "alerts:\n  receivers:\n    - name: oncall\n      slack_configs:\n"
        "        - url: http://hooks.slack.com/services/T/B/TOPSECRET\n"
    )
    with pytest.raises(ConfigError) as exc:
        load_settings(path)
    assert "alerts.receivers.0.slack_configs.0" in str(exc.value) and "plain http" in str(exc.value)
    assert "TOPSECRET" not in str(exc.value)
