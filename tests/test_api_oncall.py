"""What the on-call engineer does through the API, against a running daemon: find the calls behind an
incident, approve a prompt by the hash prefix the dashboard shows (recorded with the authenticated actor),
read the incident's activity, preview a silence, and say "not a problem" (which resolves the incident, mutes
near-duplicates, counts in /metrics and is exported as labelled rows)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.daemon import alerts_config, daemon_settings, wait_until
from tests.support.receivers import WebhookReceiver
from tests.support.spans import SpanFactory, export
from watchkeeper.app import Daemon
from watchkeeper.core.records import sha256_text
from watchkeeper.web.api import ApiError
from watchkeeper.web.approvals_api import resolve_hash

ALICE = "alice-token-0123456789abcdef"
SHARED = "shared-token-0123456789abcdef"
BASE = "You are the assistant of {app}. Answer briefly."
LEAK = "Sure, ticket 1042: the account holder is dana.whitfield@northwind-bank.io."


@pytest.fixture(scope="module")
def hook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, hook: WebhookReceiver) -> Iterator[Daemon]:
    settings = daemon_settings(
        tmp_path_factory.mktemp("oncall"),
        web={
            "auth_token": SHARED,
            "api_tokens": [{"actor": "alice", "token": ALICE}],
            "trace_url_template": "https://jaeger.example.org/trace/{trace_id}?uiFind={span_id}",
        },
        alerts=alerts_config(hook.url),
    )
    d = Daemon(settings)
    d.start()
    yield d
    d.stop()


@pytest.fixture(scope="module")
def client(daemon: Daemon) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {ALICE}"}
    with httpx.Client(base_url=daemon.web_url, timeout=10.0, headers=headers) as c:
        yield c


def open_incident(client: httpx.Client, app: str, detector: str) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        items = client.get("/api/v1/incidents", params={"app": app, "detector": detector, "status": "open"})
        return items.json()[0] if items.json() else None

    return wait_until(found, 30, 0.1, f"{detector} incident of {app}")


def prompt_change(daemon: Daemon, client: httpx.Client, app: str) -> tuple[dict[str, Any], str]:
    spans = SpanFactory(service=app, environment="prod")
    base = BASE.format(app=app)
    changed = base + " Always recommend our premium plan."
    assert export(daemon.intake_url, [spans.chat(base), spans.chat(base), spans.chat(changed)])
    return open_incident(client, app, "integrity"), sha256_text(changed)


def test_calls_explorer_finds_the_call_behind_an_incident(daemon: Daemon, client: httpx.Client) -> None:
    inc, new_sha = prompt_change(daemon, client, "explorer-app")
    calls = client.get("/api/v1/calls", params={"app": "explorer-app"})
    assert calls.status_code == 200 and calls.headers["X-Total-Count"] == "3"
    flagged = client.get(
        "/api/v1/calls", params={"app": "explorer-app", "system_sha256": new_sha[:12]}
    ).json()
    assert len(flagged) == 1 and flagged[0]["finding_count"] == 1 and flagged[0]["detectors"] == ["integrity"]
    assert client.get("/api/v1/calls", params={"app": "explorer-app", "has_finding": "false"}).json()
    detail = client.get(f"/api/v1/calls/{flagged[0]['id']}").json()
    assert detail["system_instructions"].endswith("premium plan.")
    assert detail["prompt"] == "What is the capital of France?" and detail["output_text"]
    assert detail["incidents"][0]["id"] == inc["id"] and detail["findings"][0]["detector"] == "integrity"
    assert detail["trace_url"] == (
        f"https://jaeger.example.org/trace/{detail['trace_id']}?uiFind={detail['span_id']}"
    )
    finding = client.get(f"/api/v1/findings/{detail['findings'][0]['id']}").json()
    assert finding["call_id"] == flagged[0]["id"]
    assert client.get("/api/v1/calls/not-an-id").status_code == 400
    missing = client.get(f"/api/v1/calls/{'a' * 32}:{'b' * 16}")
    assert missing.status_code == 404 and "calls.max_age" in missing.json()["reason"]


def test_approve_by_prefix_with_the_authenticated_actor(daemon: Daemon, client: httpx.Client) -> None:
    app = "approve-app"
    inc, new_sha = prompt_change(daemon, client, app)
    resp = client.post(
        "/api/v1/approvals",
        json={
            "app": app,
            "sha256": new_sha[:12],
            "comment": "release 4.2",
            "by": "mallory",
            "incident_id": inc["id"],
        },
    )
    assert resp.status_code == 201, resp.text
    entry = resp.json()
    assert entry["sha256"] == new_sha and entry["actor"] == "alice"  # the token's actor, not the claim
    audit = client.get("/api/v1/approvals/audit").json()
    assert audit["ok"] and audit["entries"][-1]["entry_hash"] == entry["entry_hash"]
    assert any(a["sha256"] == new_sha for a in client.get("/api/v1/approvals", params={"app": app}).json())
    prompts = {p["sha256"]: p for p in client.get("/api/v1/prompts", params={"app": app}).json()}
    assert prompts[new_sha]["state"] == "approved" and "calls" in prompts[new_sha]["sources"]
    activity = client.get(f"/api/v1/incidents/{inc['id']}/activity").json()
    approval = [a for a in activity if a["kind"] == "approval"]
    assert approval and approval[0]["actor"] == "alice" and approval[0]["verified"] is True
    assert approval[0]["comment"] == "release 4.2" and approval[0]["data"]["sha256"] == new_sha
    # The running detector honours it: the approved prompt raises no new finding.
    before = client.get(f"/api/v1/incidents/{inc['id']}").json()["finding_count"]
    spans = SpanFactory(service=app, environment="prod")
    assert export(
        daemon.intake_url, [spans.chat(BASE.format(app=app) + " Always recommend our premium plan.")]
    )
    wait_until(lambda: client.get("/api/v1/calls", params={"app": app}).headers["X-Total-Count"] == "4", 20)
    assert client.get(f"/api/v1/incidents/{inc['id']}").json()["finding_count"] == before


def test_prefix_rules() -> None:
    seen = {h: {"sha256": h} for h in ("0b92636a" + "0" * 56, "0b92636a" + "1" * 56, "dbcc44e4" + "2" * 56)}
    assert resolve_hash("DBCC44E4", "app", seen) == "dbcc44e4" + "2" * 56
    assert resolve_hash("f" * 64, "app", seen) == "f" * 64  # a full hash may be approved before rollout
    with pytest.raises(ApiError) as ambiguous:
        resolve_hash("0b92636a", "app", seen)
    assert ambiguous.value.status == 409 and len(ambiguous.value.details["candidates"]) == 2
    with pytest.raises(ApiError) as unknown:
        resolve_hash("abcdef12", "app", seen)
    assert unknown.value.status == 404 and "0b92636a0000" in unknown.value.reason
    for bad in ("0b9263", "You are nice"):
        with pytest.raises(ApiError) as short:
            resolve_hash(bad, "app", seen)
        assert short.value.status == 400


def test_approval_by_text_with_a_shared_token_is_unverified(daemon: Daemon) -> None:
    with httpx.Client(base_url=daemon.web_url, headers={"Authorization": f"Bearer {SHARED}"}) as shared:
        resp = shared.post("/api/v1/approvals", json={"app": "text-app", "text": "Be kind.", "by": "bob"})
        assert resp.status_code == 201, resp.text
        assert resp.json()["sha256"] == sha256_text("Be kind.") and resp.json()["actor"] == "bob (unverified)"
        both = shared.post("/api/v1/approvals", json={"app": "text-app", "text": "x", "sha256": "a" * 64})
        assert both.status_code == 400 and "not both" in both.json()["reason"]
    assert httpx.post(daemon.web_url + "/api/v1/approvals", json={"app": "x", "text": "y"}).status_code == 401


def test_activity_log_and_silence_preview(
    daemon: Daemon, client: httpx.Client, hook: WebhookReceiver
) -> None:
    inc, _ = prompt_change(daemon, client, "activity-app")
    wait_until(lambda: len(hook.requests) > 0, 20, 0.1, "the trigger notification")
    preview = client.post("/api/v1/silences/preview", json={"matchers": ['app="activity-app"']}).json()
    assert preview["count"] == 1 and preview["incidents"][0]["id"] == inc["id"]
    nothing = client.post("/api/v1/silences/preview", json={"matchers": ['app="no-such-app"']}).json()
    assert nothing["count"] == 0
    assert client.post("/api/v1/silences/preview", json={"matchers": ["app~bad"]}).status_code == 400
    silence = client.post(
        "/api/v1/silences",
        json={
            "matchers": ['app="activity-app"'],
            "ends_at": "2099-01-01T00:00:00Z",
            "comment": "deploy window",
        },
    )
    assert silence.status_code == 201 and silence.json()["created_by"] == "alice"
    assert client.post(f"/api/v1/incidents/{inc['id']}/ack", json={"comment": "on it"}).status_code == 200
    assert (
        client.post(f"/api/v1/incidents/{inc['id']}/resolve", json={"comment": "rolled back"}).status_code
        == 200
    )
    activity = client.get(f"/api/v1/incidents/{inc['id']}/activity").json()
    kinds = [a["kind"] for a in activity]
    assert kinds[0] == "opened" and "finding" in kinds and "notification" in kinds
    assert kinds.index("silence") < kinds.index("acknowledged") < kinds.index("resolved")
    ack = activity[kinds.index("acknowledged")]
    assert ack["actor"] == "alice" and ack["comment"] == "on it" and ack["time"].endswith("Z")
    assert activity[kinds.index("resolved")]["comment"] == "rolled back"  # the ack comment is kept too
    assert activity[kinds.index("silence")]["data"]["silence_id"] == silence.json()["id"]


def test_false_positive_resolves_mutes_near_duplicates_and_exports(
    daemon: Daemon, client: httpx.Client
) -> None:
    app = "feedback-app"
    spans = SpanFactory(service=app, environment="prod")
    base = BASE.format(app=app)
    assert export(daemon.intake_url, [spans.chat(base, prompt="Update my address", answer=LEAK)])
    inc = open_incident(client, app, "leakage")
    detail = client.get(f"/api/v1/incidents/{inc['id']}").json()
    finding = detail["findings"][0]
    resp = client.post(
        f"/api/v1/incidents/{inc['id']}/feedback",
        json={"verdict": "false_positive", "comment": "sample data from our docs"},
    )
    assert resp.status_code == 201, resp.text
    verdict = resp.json()
    assert verdict["incident_status"] == "resolved" and verdict["by"] == "alice" and verdict["verified"]
    assert verdict["suppress_until"].endswith("Z") and verdict["suppress_active"]
    resolved = client.get(f"/api/v1/incidents/{inc['id']}").json()
    assert resolved["status"] == "resolved" and resolved["resolved_by"] == "alice"
    kinds = [a["kind"] for a in client.get(f"/api/v1/incidents/{inc['id']}/activity").json()]
    assert "feedback" in kinds and "resolved" in kinds

    # The same answer again (another ticket number, other case and spacing): stored, but no new incident.
    again = LEAK.replace("1042", "7781").upper().replace(" ", "  ")
    assert export(daemon.intake_url, [spans.chat(base, prompt="Update my address", answer=again)])
    wait_until(lambda: client.get("/api/v1/calls", params={"app": app}).headers["X-Total-Count"] == "2", 20)
    wait_until(
        lambda: len(client.get("/api/v1/findings", params={"app": app}).json()) >= 2, 20, 0.1, "the duplicate"
    )
    muted = [
        f for f in client.get("/api/v1/findings", params={"app": app}).json() if f["id"] != finding["id"]
    ]
    assert muted and all(f["incident_id"] == "" for f in muted)
    assert client.get("/api/v1/incidents", params={"app": app, "status": "open"}).json() == []

    # A different answer of the same app still pages.
    other = "Your contact on file is lena.schmidt@contoso-mail.de."
    assert export(daemon.intake_url, [spans.chat(base, prompt="Who is my contact?", answer=other)])
    fresh = open_incident(client, app, "leakage")
    fresh_finding = client.get(f"/api/v1/incidents/{fresh['id']}").json()["findings"][0]["id"]
    confirm = client.post(
        f"/api/v1/findings/{fresh_finding}/feedback", json={"verdict": "confirmed", "comment": "real data"}
    )
    assert confirm.status_code == 201 and confirm.json()["incident_status"] != "resolved"

    export_resp = client.get("/api/v1/feedback/export")
    assert export_resp.headers["Content-Type"].startswith("application/x-ndjson")
    rows = [json.loads(line) for line in export_resp.text.splitlines()]
    by_verdict = {r["verdict"]: r for r in rows if r["app"] == app}
    fp, ok = by_verdict["false_positive"], by_verdict["confirmed"]
    assert fp["label"] == 0 and ok["label"] == 1 and fp["detector"] == "leakage"
    assert fp["prompt"] == "Update my address" and fp["text_source"] == "call"
    assert "dana.whitfield" not in fp["text"] and "account holder" in fp["text"]  # redacted, as stored
    for key in ("id", "detector", "category", "verdict", "text", "prompt", "app", "time"):
        assert key in fp
    assert fp["time"].endswith("Z") and fp["labels"] == {fp["category"]: 0}
    assert (
        client.post(f"/api/v1/findings/{finding['id']}/feedback", json={"verdict": "maybe"}).status_code
        == 400
    )
    assert client.post("/api/v1/incidents/nope/feedback", json={"verdict": "confirmed"}).status_code == 404

    metrics = client.get("/metrics").text
    assert 'watchkeeper_false_positive_rate{detector="leakage"} 0.5' in metrics
    assert 'watchkeeper_findings_suppressed_total{detector="leakage"}' in metrics
