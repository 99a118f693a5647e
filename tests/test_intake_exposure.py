"""The intake, like the web server, is not opened to the network without auth unless the config says so."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest

from tests.support.daemon import daemon_settings, running_daemon
from tests.support.intake import traces_request
from watchkeeper.config import ConfigError


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "intake.corp.example"])
def test_non_loopback_intake_without_auth_is_refused(tmp_path: Path, host: str) -> None:
    with pytest.raises(ConfigError) as err:
        daemon_settings(tmp_path, intake={"host": host})
    text = str(err.value)
    assert "intake.auth_token" in text and "intake.allow_unauthenticated_network" in text


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_intake_needs_no_auth(tmp_path: Path, host: str) -> None:
    assert daemon_settings(tmp_path, intake={"host": host}).intake.host == host


def test_explicit_opt_in_starts_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    with running_daemon(tmp_path, intake={"host": "0.0.0.0", "allow_unauthenticated_network": True}) as d:
        resp = httpx.post(
            f"http://127.0.0.1:{d.intake.http_port}/v1/traces",
            content=traces_request(1).SerializeToString(),
            headers={"Content-Type": "application/x-protobuf"},
            timeout=10,
        )
        assert resp.status_code == 200
    assert any(
        "without authentication" in r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING
    )


def test_a_token_opens_the_network(tmp_path: Path) -> None:
    assert daemon_settings(tmp_path, intake={"host": "0.0.0.0", "auth_token": "t0k"}).intake.host == "0.0.0.0"


def test_a_loopback_intake_without_token_refuses_a_rebound_host(tmp_path: Path) -> None:
    """A page on `evil.example` (rebound to 127.0.0.1) must not feed spans; local senders still do."""
    with running_daemon(tmp_path) as d:
        body = traces_request(1).SerializeToString()
        headers = {"Content-Type": "application/x-protobuf"}
        url = f"http://127.0.0.1:{d.intake.http_port}/v1/traces"
        evil = httpx.post(url, content=body, headers={**headers, "Host": "evil.example:4318"}, timeout=10)
        assert evil.status_code == 400 and "intake.allowed_hosts" in evil.text
        for host in ("localhost:4318", "127.0.0.1", "[::1]:4318"):
            ok = httpx.post(url, content=body, headers={**headers, "Host": host}, timeout=10)
            assert ok.status_code == 200, host


def test_with_a_token_the_host_is_not_checked(tmp_path: Path) -> None:
    with running_daemon(tmp_path, intake={"auth_token": "t0k"}) as d:
        resp = httpx.post(
            f"http://127.0.0.1:{d.intake.http_port}/v1/traces",
            content=traces_request(1).SerializeToString(),
            headers={
                "Content-Type": "application/x-protobuf",
                "Host": "intake.corp.example",
                "Authorization": "Bearer t0k",
            },
            timeout=10,
        )
        assert resp.status_code == 200
