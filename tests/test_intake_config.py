"""The intake section of watchkeeper.yaml: good files load, each bad value is refused naming its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from watchkeeper.config import ConfigError, load_settings

# name -> (YAML of the intake section, text the error must contain)
BAD: dict[str, tuple[str, list[str]]] = {
    "http_port_too_big": ("http_port: 70000", ["intake.http_port", "65535"]),
    "grpc_port_negative": ("grpc_port: -1", ["intake.grpc_port"]),
    "port_not_a_number": ("http_port: four-three-one-eight", ["intake.http_port"]),
    "max_body_tiny": ("max_body_bytes: 10", ["intake.max_body_bytes", "1024"]),
    "unknown_key": ("max_body_size: 1000000", ["intake.max_body_size", "unknown key"]),
    "bad_host": ("host: 'not a host!'", ["intake.host", "IP address or a host name"]),
    "rate_zero": ("rate_limit_per_s: 0", ["intake.rate_limit_per_s"]),
    "burst_without_rate": ("rate_limit_burst: 100", ["intake.rate_limit_burst", "rate_limit_per_s"]),
    "inflight_below_body": (
        "max_body_bytes: 2000000\n  max_inflight_bytes: 1000000",
        ["intake.max_inflight_bytes", "intake.max_body_bytes"],
    ),
    "same_ports": ("http_port: 5000\n  grpc_port: 5000", ["intake.http_port", "intake.grpc_port"]),
    "empty_token": ("auth_token: ''", ["intake.auth_token", "empty"]),
    "control_char_token": ('auth_token: "abc\\x01secretpart"', ["intake.auth_token", "control characters"]),
    "timeout_words": ("read_timeout_s: soon", ["intake.read_timeout_s"]),
    "grpc_enabled_maybe": ("grpc_enabled: maybe", ["intake.grpc_enabled"]),
    "retry_after_zero": ("retry_after_s: 0", ["intake.retry_after_s"]),
    "inflight_requests_zero": ("max_inflight_requests: 0", ["intake.max_inflight_requests"]),
}


def write(tmp_path: Path, name: str, intake_yaml: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"intake:\n  {intake_yaml}\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_value_is_refused_naming_the_key(tmp_path: Path, name: str) -> None:
    intake_yaml, expected = BAD[name]
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, name, intake_yaml))
    message = str(info.value)
    for text in expected:
        assert text in message, f"{text!r} missing from:\n{message}"
    assert "secretpart" not in message  # a token is never echoed back


def test_good_file_loads_and_env_overrides_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(
        tmp_path,
        "good",
        'host: 0.0.0.0\n  http_port: 14318\n  grpc_port: 14317\n  auth_token: "tok-abc\\n"\n'
        "  max_body_bytes: 1048576\n  rate_limit_per_s: 5000\n  retry_after_s: 2",
    )
    monkeypatch.setenv("WATCHKEEPER_INTAKE__HTTP_PORT", "24318")
    cfg = load_settings(path).intake
    assert (cfg.host, cfg.http_port, cfg.grpc_port) == ("0.0.0.0", 24318, 14317)
    assert (
        cfg.auth_token is not None and cfg.auth_token.get_secret_value() == "tok-abc"
    )  # newline from a file
    assert "tok-abc" not in repr(cfg)
    assert cfg.bucket_size == 5000 and cfg.retry_after_s == 2


def test_defaults_are_valid_and_local() -> None:
    cfg = load_settings().intake
    assert (cfg.host, cfg.http_port, cfg.grpc_port, cfg.grpc_enabled) == ("127.0.0.1", 4318, 4317, True)
    assert cfg.auth_token is None and cfg.rate_limit_per_s is None
