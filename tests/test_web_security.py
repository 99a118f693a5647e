"""A foreign web page cannot change state through the operator's browser (silence everything, resolve)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.daemon import running_daemon
from watchkeeper.app import Daemon

SILENCE = {"matchers": ['app="chatbot"'], "created_by": "eve", "comment": "mute it", "ends_at": 4102444800}


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    with running_daemon(tmp_path) as d:
        yield d


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    req = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        assert json.loads(err.read())["reason"]
        return err.code


def test_cross_site_state_changes_are_refused(daemon: Daemon) -> None:
    url = daemon.web_url + "/api/v1/silences"
    body = json.dumps(SILENCE).encode()
    assert _post(url, body, {"Content-Type": "text/plain", "Origin": "https://evil.example"}) == 403
    assert _post(url, body, {"Content-Type": "text/plain"}) == 415  # a no-preflight body type
    assert _post(url, b"matchers=x", {"Content-Type": "application/x-www-form-urlencoded"}) == 415
    assert _post(url, body, {"Content-Type": "application/json", "Origin": "null"}) == 403
    assert _post(url, body, {"Content-Type": "application/json", "Origin": daemon.web_url}) == 201
    assert _post(url, body, {"Content-Type": "application/json"}) == 201  # API clients send no Origin


def test_silence_expires_by_path_or_query(daemon: Daemon) -> None:
    url = daemon.web_url + "/api/v1/silences"
    headers = {"Content-Type": "application/json"}
    ids = []
    for _ in range(2):
        req = urllib.request.Request(url, data=json.dumps(SILENCE).encode(), method="POST", headers=headers)
        with urllib.request.urlopen(req, timeout=10) as resp:
            ids.append(json.loads(resp.read())["id"])
    for target in (f"{url}/{ids[0]}", f"{url}?id={ids[1]}"):
        with urllib.request.urlopen(urllib.request.Request(target, method="DELETE"), timeout=10) as resp:
            assert json.loads(resp.read())["state"] == "expired"
