"""Plug-ins: a third party's detector and channel, installed with pip, work exactly like the built-ins.

The example package (tests/plugins/example_detector) is installed offline with pip into a temporary
directory (never into the test venv) and put on sys.path; its entry points are all Watchkeeper needs to run
its detector, validate its config section, title its incidents, deliver to its channel and render its
evidence in the dashboard from its evidence schema.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.daemon import daemon_settings, wait_until
from tests.support.spans import SpanFactory, export
from watchkeeper.alerts.channels import build_channels
from watchkeeper.alerts.channels.base import channel_plugins
from watchkeeper.app import Daemon
from watchkeeper.config import ConfigError, load_settings
from watchkeeper.core import plugins
from watchkeeper.core.detector import detector_plugins

EXAMPLE = Path(__file__).resolve().parent / "plugins" / "example_detector"
CHROMIUM = "/usr/bin/chromium"
ANSWER = "Our roadmap is confidential, but Project Bluebird ships in March to every customer."


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """`pip install` of the example package into a temporary directory, on sys.path for this module."""
    tmp = tmp_path_factory.mktemp("plugin")
    source = tmp / "source"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    target = tmp / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--disable-pip-version-check",
            "--target",
            str(target),
            str(source),
        ],
        check=True,
        timeout=300,
        capture_output=True,
    )
    sys.path.insert(0, str(target))
    plugins.reset()
    try:
        yield target
    finally:
        sys.path.remove(str(target))
        for name in [m for m in sys.modules if m.startswith("watchkeeper_example_plugin")]:
            del sys.modules[name]
        plugins.reset()


def test_entry_points_make_it_a_detector_and_a_channel(installed: Path) -> None:
    detectors = detector_plugins()
    assert "keyword" in detectors and "integrity" in detectors  # found beside the built-ins, the same way
    assert detectors["keyword"].metadata.title("keyword.project_bluebird") == (
        "Confidential code name in answers (project bluebird)"
    )
    assert "jsonl_file" in channel_plugins()


def test_its_config_sections_are_validated_by_its_own_classes(installed: Path, tmp_path: Path) -> None:
    settings = load_settings(
        None,
        detectors={"keyword": {"keywords": ["falcon"]}},
        alerts={
            "receivers": [{"name": "files", "jsonl_file_configs": [{"path": str(tmp_path / "p.jsonl")}]}],
            "route": {"receiver": "files"},
        },
    )
    assert settings.detectors.settings_for("keyword").keywords == ["falcon"]  # type: ignore[attr-defined]
    channels = build_channels(settings.alerts.receivers[0], dashboard_url="http://dash")
    assert [c.kind for c in channels] == ["jsonl_file"]
    with pytest.raises(ConfigError) as bad:
        load_settings(None, detectors={"keyword": {"keywords": "falcon", "colour": 1}})
    assert "detectors.keyword.keywords" in str(bad.value) and "detectors.keyword.colour: unknown key" in str(
        bad.value
    )
    with pytest.raises(ConfigError, match=r"detectors\.keywrd: unknown key"):
        load_settings(None, detectors={"keywrd": {}})
    with pytest.raises(ConfigError, match=r"jsonl_file_configs\.0\.path"):
        load_settings(
            None,
            alerts={"receivers": [{"name": "x", "jsonl_file_configs": [{}]}], "route": {"receiver": "x"}},
        )


def test_score_command_runs_it_in_a_fresh_interpreter(installed: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(installed), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run(
        [sys.executable, "-m", "watchkeeper.cli", "score", "--detector", "keyword"],
        input=json.dumps({"id": 1, "text": ANSWER}) + "\n",
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    # the keyword detector judges calls, not single texts: the command says so, naming the detector
    assert out.returncode != 0 and "detector 'keyword' does not score single texts" in out.stderr


@pytest.fixture(scope="module")
def daemon(installed: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, Path]]:
    tmp = tmp_path_factory.mktemp("plugin-daemon")
    pages = tmp / "pages.jsonl"
    settings = daemon_settings(
        tmp / "state",
        alerts={
            "route": {"receiver": "files", "group_wait": "0s", "group_interval": "1s"},
            "receivers": [{"name": "files", "jsonl_file_configs": [{"path": str(pages)}]}],
        },
    )
    d = Daemon(settings)
    d.start()
    try:
        yield d, pages
    finally:
        d.stop()


def _incident(daemon: Daemon, app: str) -> dict[str, Any]:
    spans = SpanFactory(service=app, environment="prod")
    assert export(
        daemon.intake_url, [spans.chat("You are the roadmap assistant.", prompt="What ships?", answer=ANSWER)]
    )

    def found() -> dict[str, Any] | None:
        items = httpx.get(
            f"{daemon.web_url}/api/v1/incidents", params={"app": app, "detector": "keyword"}
        ).json()
        return items[0] if items else None

    return wait_until(found, 30, 0.1, f"keyword incident for {app}")


def test_its_findings_become_incidents_paged_through_its_channel(daemon: tuple[Daemon, Path]) -> None:
    d, pages = daemon
    incident = _incident(d, "roadmap-bot")
    assert incident["title"] == "Confidential code name in answers (project bluebird) in roadmap-bot"
    assert incident["severity"] == "error"
    detail = httpx.get(f"{d.web_url}/api/v1/incidents/{incident['id']}").json()
    evidence = detail["findings"][0]["evidence"]
    assert evidence["keyword"] == "Project Bluebird" and evidence["position"] == ANSWER.lower().find(
        "project"
    )
    lines = wait_until(lambda: pages.exists() and pages.read_text().splitlines(), 30, 0.1, "a paged line")
    page = json.loads(lines[0])
    assert page["event"] == "trigger" and page["title"] == incident["title"]
    assert page["url"].endswith(f"/incidents/{incident['id']}")


def test_the_api_serves_its_metadata_and_evidence_schema(daemon: tuple[Daemon, Path]) -> None:
    d, _ = daemon
    listed = {m["name"]: m for m in httpx.get(f"{d.web_url}/api/v1/detectors").json()}
    assert set(listed) >= {
        "content_safety",
        "topic_injection",
        "integrity",
        "operational",
        "drift",
        "leakage",
    }
    keyword = httpx.get(f"{d.web_url}/api/v1/detectors/keyword").json()
    assert keyword == listed["keyword"]
    assert keyword["description"] == "a confidential code name in model answers"
    schema = keyword["evidence_schema"]
    assert schema["properties"]["keyword"]["type"] == "string" and "trace_id" in schema["required"]
    assert [b["widget"] for b in schema["x-layout"]] == ["text", "kv"]
    assert httpx.get(f"{d.web_url}/api/v1/detectors/nope").status_code == 404


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is absent: apt-get install chromium")
def test_the_dashboard_renders_its_evidence_from_the_schema(daemon: tuple[Daemon, Path]) -> None:
    from playwright.sync_api import sync_playwright

    d, _ = daemon
    incident = _incident(d, "roadmap-ui")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page()
            page.goto(f"{d.web_url}/incidents/{incident['id']}")
            page.wait_for_selector(".finding[open] dl.kv")
            assert "a confidential code name in model answers" in page.inner_text(".plain")
            assert page.text_content(".finding[open] .eb-title") == "Answer containing the code name"
            assert page.inner_text(".finding[open] pre.excerpt mark") == "Project Bluebird"
            row = page.locator(".finding[open] dl.kv dt:has-text('Matched keyword') + dd code")
            assert row.inner_text() == "Project Bluebird"
            position = page.locator(".finding[open] dl.kv dt:has-text('Position in the answer') + dd")
            assert position.inner_text() == str(ANSWER.lower().find("project"))
        finally:
            browser.close()
