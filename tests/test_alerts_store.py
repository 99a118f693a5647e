"""The IncidentStore API the dashboard and REST layer use, and the `watchkeeper alerts` commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.support.alerts import alerts_config, finding
from watchkeeper.alerts.clock import FakeClock
from watchkeeper.alerts.commands import alerts_cli
from watchkeeper.alerts.service import IncidentStore
from watchkeeper.alerts.store import InvalidTransition, NotFound, StoreError

T0 = 1_700_000_000.0


@pytest.fixture
def store(database) -> IncidentStore:
    cfg = alerts_config({"route": {"receiver": "default", "group_wait": "0s"}, "max_samples": 3})
    s = IncidentStore(database, cfg, clock=FakeClock(T0), channel_kinds={"default": ["webhook"]})
    yield s
    s.close()


def test_incident_fields_filters_and_search(store: IncidentStore) -> None:
    store.ingest(
        [
            finding(app="chatbot", severity="warning", t=T0 - 60),
            finding(app="chatbot", severity="critical", t=T0 - 30),
            finding(app="search", detector="drift", category="drift", t=T0 - 10),
        ]
    )
    items, total = store.list_incidents()
    assert total == 2
    chat = next(i for i in items if i["labels"]["app"] == "chatbot")
    for key in (
        "id",
        "status",
        "severity",
        "title",
        "labels",
        "first_seen",
        "last_seen",
        "finding_count",
        "summary",
        "annotations",
        "acknowledged_by",
        "resolved_at",
    ):
        assert key in chat
    assert chat["severity"] == "critical" and chat["finding_count"] == 2
    assert chat["first_seen"] == T0 - 60 and chat["last_seen"] == T0 - 30
    assert chat["title"] == "Harmful content in answers (hate) in chatbot"
    assert chat["annotations"]["runbook_url"].startswith("https://")
    assert items[0]["labels"]["app"] == "search"  # newest first
    assert store.list_incidents(severity="critical")[1] == 1
    assert store.list_incidents(detector="drift")[0][0]["labels"]["app"] == "search"
    assert store.list_incidents(q="hate")[1] == 1
    assert store.list_incidents(status="resolved")[1] == 0
    assert store.list_incidents(status="open")[1] == 2
    assert len(store.list_incidents(limit=1, offset=1)[0]) == 1
    json.dumps(items)  # JSON-ready


def test_get_incident_has_bounded_findings_with_evidence(store: IncidentStore) -> None:
    store.ingest([finding(t=T0 + i) for i in range(5)])
    (inc,), _ = store.list_incidents()
    full = store.get_incident(inc["id"])
    assert full is not None and full["finding_count"] == 5
    assert len(full["findings"]) == 3  # max_samples
    assert full["findings"][0]["evidence"]["trace_id"] == "t" * 32
    assert full["findings"][0]["time"] == T0 + 4
    store.run_due()
    assert [n["event"] for n in store.get_incident(inc["id"])["notifications"]] == ["trigger"]
    assert store.get_incident("nope") is None


def test_acknowledge_and_resolve_transitions(store: IncidentStore) -> None:
    store.ingest([finding()])
    store.run_due()
    (inc,), _ = store.list_incidents()
    acked = store.acknowledge(inc["id"], "alice", "on it")
    assert acked["status"] == "acknowledged" and acked["acknowledged_by"] == "alice"
    with pytest.raises(InvalidTransition, match="already acknowledged"):
        store.acknowledge(inc["id"], "bob", "")
    resolved = store.resolve(inc["id"], "alice", "fixed")
    assert resolved["status"] == "resolved" and resolved["resolved_at"] == T0
    with pytest.raises(InvalidTransition, match="never reopened"):
        store.resolve(inc["id"], "alice", "")
    with pytest.raises(NotFound, match="no incident"):
        store.acknowledge("missing", "x", "")
    events = [n["event"] for n in store.get_incident(inc["id"])["notifications"]]
    assert events == ["trigger", "acknowledge", "resolve"]
    assert store.counts()["incidents"] == {"triggered": 0, "acknowledged": 0, "resolved": 1}


def test_findings_listing_and_timeseries(store: IncidentStore) -> None:
    store.ingest([finding(t=T0 - 90), finding(t=T0 - 80), finding(detector="drift", category="d", t=T0 - 20)])
    items, total = store.list_findings(limit=10)
    assert total == 3 and items[0]["detector"] == "drift"
    assert store.list_findings(detector="content_safety")[1] == 2
    assert store.list_findings(since=T0 - 30)[1] == 1
    incident = items[0]["incident_id"]
    assert store.list_findings(incident_id=incident)[1] == 1
    ts = store.findings_timeseries(bucket_s=60, since=T0 - 120)
    assert ts["buckets"][0] == T0 - 120 - ((T0 - 120) % 60)
    assert sum(ts["series"]["content_safety"]) == 2 and sum(ts["series"]["drift"]) == 1
    assert len(ts["series"]["drift"]) == len(ts["buckets"])


def test_silence_validation(store: IncidentStore) -> None:
    with pytest.raises(StoreError, match="at least one matcher"):
        store.create_silence([], None, T0 + 60, "a", "")
    with pytest.raises(StoreError, match="mute everything"):
        store.create_silence(['app=~".*"'], None, T0 + 60, "a", "")
    with pytest.raises(StoreError, match="invalid matcher"):
        store.create_silence(["app==x"], None, T0 + 60, "a", "")
    with pytest.raises(StoreError, match="created_by"):
        store.create_silence(['app="x"'], None, T0 + 60, "", "")
    s = store.create_silence([{"name": "app", "value": "x", "isRegex": False}], None, T0 + 60, "a", "c")
    assert s["state"] == "active" and s["matchers_text"] == ['app="x"']
    with pytest.raises(NotFound):
        store.expire_silence("nope")
    with pytest.raises(KeyError):  # the REST layer maps lookups that fail to 404
        store.replay_dead_letter("nope")
    iso = store.create_silence(['app="y"'], "2023-11-14T22:13:20Z", "2023-11-14T23:13:20+00:00", "a", "")
    assert iso["starts_at"] == T0 and iso["ends_at"] == T0 + 3600
    with pytest.raises(StoreError, match="ends_at is required"):
        store.create_silence(['app="y"'], None, None, "a", "")


def test_commands(tmp_path: Path) -> None:
    runner = CliRunner()
    cfg = tmp_path / "wk.yaml"
    cfg.write_text(
        "alerts:\n  receivers: [{name: default}, {name: oncall}]\n  route:\n    receiver: default\n"
        "    routes:\n      - matchers: ['severity=~\"critical|error\"']\n        receiver: oncall\n"
    )
    res = runner.invoke(alerts_cli, ["check-config", "-c", str(cfg)])
    assert res.exit_code == 0, res.output
    assert "route.routes[0]" in res.output and "receiver=oncall" in res.output
    res = runner.invoke(
        alerts_cli, ["test-route", "-c", str(cfg), "--labels", "app=x,severity=critical", "--json"]
    )
    assert res.exit_code == 0, res.output
    assert [r["receiver"] for r in json.loads(res.output)] == ["oncall"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("alerts:\n  route:\n    receiver: default\n    routes:\n      - matchers: ['app==x']\n")
    res = runner.invoke(alerts_cli, ["check-config", "-c", str(bad)])
    assert res.exit_code != 0 and "alerts.route.routes[0].matchers[0]" in res.output
