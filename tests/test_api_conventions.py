"""API conventions a client relies on: ISO 8601 times with a zone, filters as the README writes them, the
incident order an on-call engineer reads (open first, most severe first, then the latest), ISO log lines."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from tests.support.alerts import finding
from tests.support.daemon import daemon_settings
from watchkeeper.alerts.service import IncidentStore
from watchkeeper.app import Daemon
from watchkeeper.logs import setup_logging
from watchkeeper.web.times import iso, parse_time, with_iso_times

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    d = Daemon(daemon_settings(tmp_path_factory.mktemp("conventions")))
    d.start()
    store: IncidentStore = d.alerts.store
    # Three groups (one per app): warning newest, critical oldest, error in between; one resolved critical.
    store.ingest([finding(app="a-warn", severity="warning", t=1_800_000_300.0, fid="f1")])
    store.ingest([finding(app="b-crit", severity="critical", t=1_800_000_100.0, fid="f2")])
    store.ingest([finding(app="c-err", severity="error", t=1_800_000_200.0, fid="f3")])
    store.ingest([finding(app="d-crit-resolved", severity="critical", t=1_800_000_400.0, fid="f4")])
    closed = store.list_incidents(app="d-crit-resolved")[0][0]
    store.resolve(closed["id"], by="tester", comment="done")
    yield d
    d.stop()


@pytest.fixture(scope="module")
def client(daemon: Daemon) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=daemon.web_url, timeout=10.0) as c:
        yield c


def test_default_order_is_open_first_then_severity_then_latest(client: httpx.Client) -> None:
    apps = [i["labels"]["app"] for i in client.get("/api/v1/incidents").json()]
    assert apps == ["b-crit", "c-err", "a-warn", "d-crit-resolved"]
    by_time = [i["labels"]["app"] for i in client.get("/api/v1/incidents", params={"sort": "time"}).json()]
    assert by_time == ["d-crit-resolved", "a-warn", "c-err", "b-crit"]
    bad = client.get("/api/v1/incidents", params={"sort": "loudest"})
    assert bad.status_code == 400 and "severity" in bad.json()["reason"]


def test_empty_status_filter_means_every_status(client: httpx.Client) -> None:
    """The README writes `GET /api/v1/incidents[?status=]`: an empty value is no filter, not an error."""
    resp = client.get("/api/v1/incidents?status=")
    assert resp.status_code == 200, resp.text
    assert resp.headers["X-Total-Count"] == "4"
    assert client.get("/api/v1/incidents?status=open").headers["X-Total-Count"] == "3"


def test_every_time_in_the_api_is_iso_8601_with_a_zone(client: httpx.Client) -> None:
    listed = client.get("/api/v1/incidents", params={"app": "d-crit-resolved"}).json()[0]
    for key in ("first_seen", "last_seen", "created_at", "updated_at", "resolved_at"):
        assert ISO.match(listed[key]), (key, listed[key])
    assert listed["first_seen"] == "2027-01-15T08:06:40.000Z"
    detail = client.get(f"/api/v1/incidents/{listed['id']}").json()
    assert ISO.match(detail["findings"][0]["time"]) and ISO.match(detail["findings"][0]["received_at"])
    assert detail["acknowledged_at"] is None
    findings = client.get("/api/v1/findings").json()
    assert all(ISO.match(f["time"]) for f in findings)


def test_time_filters_take_iso_or_unix_seconds(client: httpx.Client) -> None:
    iso_since = client.get("/api/v1/findings", params={"since": "2027-01-15T08:03:20Z"})
    unix_since = client.get("/api/v1/findings", params={"since": "1800000200"})
    assert iso_since.status_code == unix_since.status_code == 200
    assert iso_since.json() == unix_since.json()
    assert {f["id"] for f in iso_since.json()} == {"f1", "f3", "f4"}
    naive = client.get("/api/v1/findings", params={"since": "2027-01-15T08:03:20"})
    assert naive.status_code == 400 and "zone" in naive.json()["reason"]


def test_conversion_leaves_evidence_and_labels_alone() -> None:
    body = {"time": 0.0, "evidence": {"time": 5}, "labels": {"created_at": "x"}, "n": 3, "ok_at": None}
    assert with_iso_times(body) == {
        "time": "1970-01-01T00:00:00.000Z",
        "evidence": {"time": 5},
        "labels": {"created_at": "x"},
        "n": 3,
        "ok_at": None,
    }
    assert iso(float("nan")) is None
    assert parse_time("2027-01-15T09:00:00+01:00", "t") == 1_800_000_000.0


def test_log_lines_carry_iso_times_with_offset(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    for fmt in ("text", "json"):
        setup_logging("info", fmt)
        logging.getLogger("watchkeeper.test").info("hello")
        line = capsys.readouterr().err.strip().splitlines()[-1]
        stamp = json.loads(line)["time"] if fmt == "json" else line.split(" ", 1)[0]
        parsed = datetime.fromisoformat(stamp)
        assert parsed.tzinfo is not None and re.search(r"[+-]\d\d:\d\d$", stamp), stamp
    setup_logging("warning")
