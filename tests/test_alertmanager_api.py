"""The Alertmanager v2-compatible API, read by the real `amtool` (Debian's prometheus-alertmanager package).

A daemon with a routing tree, an inhibition rule and web auth; findings published on its bus open incidents;
amtool (with a bearer token in its --http.config.file) lists them as alerts, with filters, lists silences,
shows the routing tree it parsed from /api/v2/status, and the cluster status.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.support.alertmanager import AMTOOL, requires_alertmanager
from tests.support.alerts import finding
from tests.support.daemon import running_daemon, wait_until
from watchkeeper.alerts.channels.alertmanager import fingerprint
from watchkeeper.app import Daemon

pytestmark = [requires_alertmanager]

TOKEN = "am-api-token-0123456789"


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    alerts = {
        "resolve_timeout": "30m",
        "route": {
            "receiver": "oncall",
            "group_by": ["app", "detector"],
            "group_wait": "0s",
            "routes": [{"matchers": ['severity="critical"'], "receiver": "pager", "continue": True}],
        },
        "receivers": [{"name": "oncall", "console": True}, {"name": "pager", "console": True}],
        "inhibit_rules": [
            {
                "source_matchers": ['detector="integrity"'],
                "target_matchers": ['detector="drift"'],
                "equal": ["app"],
            }
        ],
    }
    with running_daemon(tmp_path_factory.mktemp("am-api"), alerts=alerts, web={"auth_token": TOKEN}) as d:
        yield d


@pytest.fixture(scope="module")
def api(daemon: Daemon) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=daemon.web_url, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        yield client


@pytest.fixture(scope="module")
def incidents(daemon: Daemon, api: httpx.Client) -> list[dict[str, Any]]:
    now = time.time()
    found = [
        finding(app="chatbot", severity="critical", t=now),
        finding(
            app="chatbot", detector="integrity", category="system_prompt_change", severity="error", t=now
        ),
        finding(app="chatbot", detector="drift", category="embedding_shift", severity="warning", t=now),
        finding(app="billing", detector="leakage", category="pii", severity="error", t=now),
    ]
    assert daemon.bus is not None
    daemon.bus.producer().publish(
        daemon.settings.bus.topics.findings, [(f.labels["app"].encode(), f.to_json()) for f in found]
    )
    return wait_until(
        lambda: (
            (items := api.get("/api/v1/incidents", params={"status": "open"}).json())
            and len(items) == 4
            and items
        ),
        what="4 open incidents",
    )


@pytest.fixture
def amtool(daemon: Daemon, tmp_path: Path) -> Any:
    http_config = tmp_path / "http.yml"
    http_config.write_text(yaml.safe_dump({"authorization": {"type": "Bearer", "credentials": TOKEN}}))

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [AMTOOL, f"--alertmanager.url={daemon.web_url}", f"--http.config.file={http_config}", *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if check:
            assert done.returncode == 0, done.stderr
        return done

    return run


def test_amtool_lists_incidents_as_alerts(amtool: Any, incidents: list[dict[str, Any]]) -> None:
    # amtool shows active alerts only, unless asked for inhibited (-i) or silenced (-s) ones.
    shown = json.loads(amtool("alert", "query", "-o", "json").stdout)
    assert {(a["labels"]["app"], a["labels"]["alertname"]) for a in shown} == {
        ("chatbot", "content_safety"),
        ("chatbot", "integrity"),
        ("billing", "leakage"),
    }
    alerts = json.loads(amtool("alert", "query", "-o", "json", "--active", "--inhibited").stdout)
    assert len(alerts) == 4
    [only] = json.loads(amtool("alert", "query", "-o", "json", "--inhibited").stdout)
    assert only["labels"]["alertname"] == "drift"
    by_name = {(a["labels"]["app"], a["labels"]["alertname"]): a for a in alerts}
    critical = by_name[("chatbot", "content_safety")]
    assert critical["labels"]["severity"] == "critical"
    assert [r["name"] for r in critical["receivers"]] == ["pager"]  # a child route matched: not the root's
    assert [r["name"] for r in by_name[("billing", "leakage")]["receivers"]] == ["oncall"]
    assert critical["fingerprint"] == fingerprint(critical["labels"])
    assert critical["status"]["state"] == "active"
    assert critical["generatorURL"].endswith("/incidents/" + critical["annotations"]["incident_id"])
    # The drift incident is inhibited by the open integrity incident of the same app.
    drift = by_name[("chatbot", "drift")]
    assert drift["status"]["state"] == "suppressed"
    assert drift["status"]["inhibitedBy"] == [by_name[("chatbot", "integrity")]["fingerprint"]]

    filtered = json.loads(amtool("alert", "query", "-o", "json", "app=billing").stdout)
    assert [a["labels"]["alertname"] for a in filtered] == ["leakage"]
    regex = json.loads(amtool("alert", "query", "-o", "json", "-a", "-i", "alertname=~drift|leakage").stdout)
    assert {a["labels"]["alertname"] for a in regex} == {"drift", "leakage"}
    plain = amtool("alert", "query").stdout  # the default table output parses too
    assert "leakage" in plain and "content_safety" in plain


def test_amtool_lists_silences_and_the_silenced_alert(
    amtool: Any, api: httpx.Client, incidents: list[dict[str, Any]]
) -> None:
    created = api.post(
        "/api/v1/silences",
        json={
            "matchers": ['app="billing"'],
            "ends_at": time.time() + 3600,
            "created_by": "alice",
            "comment": "deploy",
        },
    )
    assert created.status_code == 201, created.text
    silence_id = created.json()["id"]
    silences = json.loads(amtool("silence", "query", "-o", "json").stdout)
    [silence] = [s for s in silences if s["id"] == silence_id]
    assert silence["createdBy"] == "alice" and silence["status"]["state"] == "active"
    assert silence["matchers"] == [{"name": "app", "value": "billing", "isRegex": False, "isEqual": True}]
    assert json.loads(amtool("silence", "query", "-o", "json", "app=billing").stdout)
    assert json.loads(amtool("silence", "query", "-o", "json", "app=chatbot").stdout) == []
    assert json.loads(amtool("alert", "query", "-o", "json", "app=billing").stdout) == []  # silenced: hidden
    alerts = json.loads(amtool("alert", "query", "-o", "json", "--silenced", "app=billing").stdout)
    assert alerts[0]["status"]["silencedBy"] == [silence_id]
    assert api.get(f"/api/v2/silence/{silence_id}").json()["id"] == silence_id
    assert api.get("/api/v2/silence/nope").status_code == 404


def test_amtool_reads_the_routing_tree_and_cluster(amtool: Any, daemon: Daemon) -> None:
    routes = amtool("config", "routes").stdout
    assert "oncall" in routes and "pager" in routes and 'severity="critical"' in routes
    tested = amtool("config", "routes", "test", "severity=critical", "app=x").stdout
    assert "pager" in tested
    cluster = json.loads(amtool("cluster", "show", "-o", "json").stdout)
    assert cluster["status"] == "disabled"
    status = httpx.get(f"{daemon.web_url}/api/v2/status", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    assert status["versionInfo"]["version"].startswith("watchkeeper-")


def test_groups_receivers_auth_and_read_only(
    api: httpx.Client, daemon: Daemon, incidents: list[dict[str, Any]], amtool: Any
) -> None:
    groups = api.get("/api/v2/alerts/groups").json()
    keys = {(g["receiver"]["name"], tuple(sorted(g["labels"].items()))) for g in groups}
    assert ("pager", (("app", "chatbot"), ("detector", "content_safety"))) in keys
    assert ("oncall", (("app", "billing"), ("detector", "leakage"))) in keys
    assert [r["name"] for r in api.get("/api/v2/receivers").json()] == ["oncall", "pager"]
    assert httpx.get(f"{daemon.web_url}/api/v2/alerts").status_code == 401
    refused = api.post("/api/v2/silences", json={})
    assert refused.status_code == 405 and "/api/v1/silences" in refused.json()["reason"]
    bad = api.get("/api/v2/alerts", params={"filter": "app=~("})
    assert bad.status_code == 400 and "filter" in bad.json()["reason"]
    no_token = subprocess.run(
        [AMTOOL, f"--alertmanager.url={daemon.web_url}", "alert", "query"], capture_output=True, text=True
    )
    assert no_token.returncode != 0
