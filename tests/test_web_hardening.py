"""The web server against hostile browsers and odd clients: DNS rebinding (Host allowlist, Origin checked
against it), security headers on every response, and /readyz that tells outsiders nothing internal."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.daemon import running_daemon
from watchkeeper.app import Daemon

SILENCE = {
    "matchers": ['app=~".+"'],
    "ends_at": time.time() + 3600,
    "created_by": "mallory",
    "comment": "mute everything",
}


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with running_daemon(tmp_path_factory.mktemp("web")) as d:
        yield d


@pytest.fixture(scope="module")
def client(daemon: Daemon) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=daemon.web_url, timeout=10) as c:
        yield c


def test_a_dns_rebinding_page_can_neither_write_nor_read(client: httpx.Client) -> None:
    evil = {"Host": "evil.example:8686", "Origin": "http://evil.example:8686"}
    created = client.post("/api/v1/silences", json=SILENCE, headers=evil)
    assert created.status_code == 400 and "web.allowed_hosts" in created.json()["reason"]
    assert client.get("/api/v1/silences").json() == []
    assert client.get("/api/v1/incidents", headers={"Host": "evil.example:8686"}).status_code == 400
    assert client.get("/", headers={"Host": "evil.example"}).status_code == 400


@pytest.mark.parametrize("host", ["localhost:8686", "127.0.0.1:8686", "[::1]:8686", "LOCALHOST"])
def test_loopback_names_are_allowed(client: httpx.Client, host: str) -> None:
    assert client.get("/api/v1/incidents", headers={"Host": host}).status_code == 200


def test_allowed_hosts_admit_configured_public_names(tmp_path: Path) -> None:
    with (
        running_daemon(tmp_path, web={"allowed_hosts": ["watchkeeper.corp.example", ".ops.example"]}) as d,
        httpx.Client(base_url=d.web_url, timeout=10) as c,
    ):
        for host in ("watchkeeper.corp.example", "wk.ops.example:8686", "localhost"):
            assert c.get("/healthz", headers={"Host": host}).status_code == 200, host
        assert c.get("/healthz", headers={"Host": "evil.example"}).status_code == 400


@pytest.mark.parametrize(
    "origin", ["http://[::1", "http://a:99999", "x:y:z", "http://evil.example", "null", "http://%zz"]
)
def test_odd_or_foreign_origins_are_403_never_500(client: httpx.Client, origin: str) -> None:
    resp = client.post("/api/v1/silences", json=SILENCE, headers={"Origin": origin})
    assert resp.status_code == 403, resp.text
    assert resp.json()["error"] == "forbidden"


def test_same_origin_state_change_still_works(client: httpx.Client, daemon: Daemon) -> None:
    resp = client.post(
        "/api/v1/silences", json={**SILENCE, "matchers": ['app="x"']}, headers={"Origin": daemon.web_url}
    )
    assert resp.status_code == 201


@pytest.mark.parametrize(
    "path", ["/api/v1/incidents", "/metrics", "/healthz", "/readyz", "/", "/api/v1/nope", "/static/nope.js"]
)
def test_security_headers_on_every_response(client: httpx.Client, path: str) -> None:
    headers = client.get(path).headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer"


def test_readyz_shows_no_internal_error_text(tmp_path: Path) -> None:
    with running_daemon(tmp_path, web={"auth_token": "s3cret"}) as d:
        error = "OperationalError: disk I/O error at /var/lib/watchkeeper/detectors.sqlite3"
        d.readiness = lambda: {"detectors": {"ready": False, "error": error}}  # type: ignore[method-assign]
        with httpx.Client(base_url=d.web_url, timeout=10) as c:
            body = c.get("/readyz").json()
            assert body["ready"] is False
            assert "disk I/O" not in str(body) and "/var/lib" not in str(body)
            assert body["stages"]["detectors"] == {"ready": False}
            authed = c.get("/readyz", headers={"Authorization": "Bearer s3cret"}).json()
            assert "disk I/O error" in authed["stages"]["detectors"]["error"]
