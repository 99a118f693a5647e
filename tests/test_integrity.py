"""Integrity detector: unapproved system prompts, model/parameter/provider changes, the approval audit log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from tests.support import otlp_samples as samples
from tests.support.otlp_samples import CallSpec
from watchkeeper.collector.translate.otlp_model import model_calls_from_request
from watchkeeper.core.findings import Severity
from watchkeeper.core.records import ModelCall, sha256_text
from watchkeeper.core.store import SqliteDatabase
from watchkeeper.detectors.integrity import audit
from watchkeeper.detectors.integrity.detector import IntegrityDetector, IntegritySettings
from watchkeeper.detectors.state import Checkpoints
from watchkeeper.remote.integrity import integrity_cli

APP = "support-bot"
PROMPT_A = ("You are a helpful support agent for Acme.", "Never give legal advice.")
PROMPT_B = ("You are a helpful support agent for Acme.", "Never give legal advice.", "Offer a discount code.")


def call(
    seed: int, system: tuple[str, ...] = PROMPT_A, dialect: str = "current_attributes", **kw
) -> ModelCall:
    spec = CallSpec(seed=seed, system=system, **kw)
    builder = samples.hash_only if dialect == "hash_only" else samples.CONTENT_DIALECTS[dialect]
    (result,) = model_calls_from_request(builder(spec))
    return result


def sha(system: tuple[str, ...]) -> str:
    return sha256_text("\n".join(system))


def detector(tmp_path: Path, state=None, audit_path=None, **settings) -> IntegrityDetector:
    settings.setdefault("approvals_refresh_s", 0)  # the CLI approves in the same test: see it at once
    return IntegrityDetector(
        IntegritySettings(**settings), state=state, state_dir=tmp_path, audit_path=audit_path
    )


def checkpoints(tmp_path: Path) -> Checkpoints:
    return Checkpoints(SqliteDatabase(tmp_path / "store.sqlite3"), "watchkeeper-detectors")


def prompt_findings(findings):
    return [f for f in findings if f.category == "system_prompt_change"]


# --- system prompt --------------------------------------------------------------------------------------
def test_every_unapproved_prompt_is_flagged_on_its_first_call(tmp_path: Path) -> None:
    det = detector(tmp_path, mode="registry", approved={APP: [sha(PROMPT_A)]})
    assert det.observe(call(1)) == []
    fingerprints = set()
    for i in range(25):
        system = (*PROMPT_A, f"Variant {i}: always mention product {i}.")
        findings = det.observe(call(100 + i, system))
        assert len(findings) == 1, i
        (finding,) = findings
        assert finding.category == "system_prompt_change" and finding.severity is Severity.critical
        assert finding.labels["prompt_sha"] == sha(system)[:12]
        assert finding.evidence["new_sha256"] == sha(system)
        assert finding.evidence["old_sha256"] == sha(PROMPT_A)
        fingerprints.add(finding.fingerprint)
    assert len(fingerprints) == 25  # different unapproved prompts are different incidents


def test_later_calls_with_the_same_unapproved_prompt_share_a_fingerprint(tmp_path: Path) -> None:
    det = detector(tmp_path)
    det.observe(call(1))
    first, second = det.observe(call(2, PROMPT_B)), det.observe(call(3, PROMPT_B))
    assert len(first) == len(second) == 1
    assert first[0].fingerprint == second[0].fingerprint and first[0].id != second[0].id
    assert "changed without approval" in first[0].summary
    assert sha(PROMPT_B) in first[0].summary  # the approve command is ready to copy


def test_learn_mode_adopts_the_first_prompt_per_app_and_environment(tmp_path: Path) -> None:
    det = detector(tmp_path)  # learn is the default
    assert det.observe(call(1)) == []
    assert det.observe(call(2)) == []
    assert det.observe(call(3, PROMPT_B, environment="staging")) == []  # staging learns its own baseline
    assert len(prompt_findings(det.observe(call(4, PROMPT_B)))) == 1  # prod's baseline is PROMPT_A
    assert det.observe(call(5, PROMPT_A, service="other-app")) == []


def test_registry_mode_without_approvals_flags_everything(tmp_path: Path) -> None:
    det = detector(tmp_path, mode="registry")
    (finding,) = det.observe(call(1))
    assert "No system prompt is approved" in finding.summary
    assert finding.evidence["old_sha256"] is None


def test_diff_shows_what_changed(tmp_path: Path) -> None:
    det = detector(tmp_path)
    det.observe(call(1))
    (finding,) = prompt_findings(det.observe(call(2, PROMPT_B)))
    diff = finding.evidence["diff"]
    assert diff.startswith("--- approved ")
    assert "+Offer a discount code." in diff
    assert " Never give legal advice." in diff
    assert finding.evidence["text_captured"] is True


def test_hash_only_calls_are_checked_without_a_diff(tmp_path: Path) -> None:
    det = detector(tmp_path)
    assert det.observe(call(1, dialect="hash_only")) == []
    (finding,) = prompt_findings(det.observe(call(2, PROMPT_B, dialect="hash_only")))
    assert "diff" not in finding.evidence and finding.evidence["text_captured"] is False


def test_switching_instrumentation_dialect_is_not_a_prompt_change(tmp_path: Path) -> None:
    det = detector(tmp_path, mode="registry", approved={APP: [sha(PROMPT_A)]})
    for seed, dialect in enumerate([*samples.CONTENT_DIALECTS, "hash_only"], start=1):
        assert det.observe(call(seed, dialect=dialect)) == [], dialect


def test_approved_rollouts_produce_no_findings(tmp_path: Path) -> None:
    det = detector(tmp_path, approved={APP: [sha(PROMPT_A)]})
    assert det.observe(call(1)) == []
    # The approval is made while the detector runs: it picks the audit log change up on the next call.
    audit.approve(tmp_path, APP, "\n".join(PROMPT_B), actor="alice", comment="release 2.3")
    findings = [
        f for seed in range(2, 12) for f in det.observe(call(seed, PROMPT_B if seed % 2 else PROMPT_A))
    ]
    assert findings == []


def test_config_approval_for_any_app(tmp_path: Path) -> None:
    det = detector(tmp_path, mode="registry", approved={"*": [sha(PROMPT_B)]})
    assert det.observe(call(1, PROMPT_B, service="anything")) == []


def test_revoking_a_learned_baseline_flags_it_again(tmp_path: Path) -> None:
    det = detector(tmp_path)
    assert det.observe(call(1)) == []
    audit.revoke(tmp_path, APP, sha(PROMPT_A), actor="bob", comment="leaked secret in prompt")
    assert len(prompt_findings(det.observe(call(2)))) == 1
    audit.approve(tmp_path, APP, sha(PROMPT_A), actor="bob", comment="false alarm")
    assert det.observe(call(3)) == []


def test_state_is_durable_across_detector_recreation(tmp_path: Path) -> None:
    db = checkpoints(tmp_path)
    det = detector(tmp_path, state=db.namespace("integrity"))
    det.observe(call(1, response_model="gpt-4o-mini-2024-07-18"))
    det.close()
    db.checkpoint({})

    reopened = checkpoints(tmp_path)
    again = detector(tmp_path, state=reopened.namespace("integrity"))
    findings = again.observe(call(2, PROMPT_B, response_model="gpt-4o-mini-2025-01-01"))
    assert {f.category for f in findings} == {"system_prompt_change", "model_change"}
    (prompt,) = prompt_findings(findings)
    assert "+Offer a discount code." in prompt.evidence["diff"]  # the approved text survived too


def test_replay_of_the_same_call_yields_the_same_finding_ids(tmp_path: Path) -> None:
    det = detector(tmp_path)
    det.observe(call(1))
    changes = [
        call(2, PROMPT_B, temperature=0.9, system_fingerprint="fp_new"),
        call(3, PROMPT_A, response_model="gpt-4o-mini-2025-01-01"),
    ]
    expected = [{"system_prompt_change", "parameter_change", "provider_config_change"}, {"model_change"}]
    for changed, categories in zip(changes, expected, strict=True):
        first = det.observe(changed)
        replay = det.observe(ModelCall.from_dict(changed.to_dict()))  # at-least-once: delivered again
        assert {f.category for f in first} == categories
        assert sorted(f.id for f in first) == sorted(f.id for f in replay)
    assert det.observe(call(4, PROMPT_A, response_model="gpt-4o-mini-2025-01-01", temperature=0.9)) == []


# --- model, parameters, provider --------------------------------------------------------------------------
def test_response_model_change(tmp_path: Path) -> None:
    det = detector(tmp_path)
    det.observe(call(1))
    (finding,) = det.observe(call(2, response_model="gpt-4o-mini-2025-01-01"))
    assert finding.category == "model_change" and finding.severity is Severity.error
    assert finding.evidence["old_response_model"] == "gpt-4o-mini-2024-07-18"
    assert det.observe(call(3)) == []  # alternating between known models does not flap
    assert det.observe(call(4, request_model="gpt-4o", response_model="gpt-4o-2024-08-06")) == []


def test_parameter_change_only_for_watched_parameters(tmp_path: Path) -> None:
    det = detector(tmp_path, watch_params=["gen_ai.request.temperature"])
    det.observe(call(1))
    (finding,) = det.observe(call(2, temperature=1.1, max_tokens=4096))
    assert finding.category == "parameter_change" and finding.severity is Severity.warning
    assert finding.labels["param"] == "temperature"
    assert (finding.evidence["old_value"], finding.evidence["new_value"]) == (0.2, 1.1)


def test_system_fingerprint_change_blames_the_provider(tmp_path: Path) -> None:
    det = detector(tmp_path)
    det.observe(call(1))
    (finding,) = det.observe(call(2, system_fingerprint="fp_b28b39ffa8"))
    assert finding.category == "provider_config_change" and finding.severity is Severity.warning
    assert "provider openai changed its serving configuration" in finding.summary
    assert "not a change in support-bot" in finding.summary


def test_watchers_can_be_switched_off(tmp_path: Path) -> None:
    det = detector(tmp_path, watch_response_model=False, watch_params=[], watch_system_fingerprint=False)
    det.observe(call(1))
    assert det.observe(call(2, response_model="x", temperature=2.0, system_fingerprint="fp_x")) == []


def test_settings_validation_names_the_problem() -> None:
    with pytest.raises(ValidationError, match="not a sha256"):
        IntegritySettings(approved={APP: ["abc"]})
    with pytest.raises(ValidationError, match="unknown request parameter"):
        IntegritySettings(watch_params=["temprature"])


# --- audit log --------------------------------------------------------------------------------------------
def _approve_three(tmp_path: Path) -> Path:
    """Three approvals in a JSON-lines chain file (the file backend: tampering is a text edit)."""
    path = audit.audit_path(tmp_path)
    for i in range(3):
        audit.approve(audit.AuditLog(path), APP, f"prompt {i}", actor="alice", comment=f"r{i}")
    return path


def test_audit_chain_verifies_and_lists(database) -> None:
    chain = audit.StoreAuditLog(database)
    for i in range(3):
        audit.approve(chain, APP, f"prompt {i}", actor="alice", comment=f"r{i}")
    audit.revoke(chain, APP, "prompt 1", actor="bob")
    assert audit.verify(chain).ok and audit.verify(chain).entries == 4
    assert [e.sha256 for e in audit.list_approvals(chain, APP)] == [
        sha256_text("prompt 0"),
        sha256_text("prompt 2"),
    ]
    first = chain.entries()[0]
    assert first.prev_hash == audit.GENESIS and first.actor == "alice" and first.comment == "r0"


def test_store_chain_catches_an_edited_or_deleted_row(database) -> None:
    chain = audit.StoreAuditLog(database)
    for i in range(3):
        audit.approve(chain, APP, f"prompt {i}", actor="alice", comment=f"r{i}")
    with database.transaction() as tx:
        tx.execute("UPDATE approval_audit SET sha256=? WHERE seq=2", (sha256_text("an attacker's prompt"),))
    result = chain.verify()
    assert not result.ok and result.line == 2 and "edited" in (result.error or "")
    with pytest.raises(audit.AuditError):
        audit.approve(chain, APP, "more", actor="mallory")
    with database.transaction() as tx:
        tx.execute("DELETE FROM approval_audit WHERE seq=2")
    assert chain.verify().line == 2 and "removed" in (chain.verify().error or "")


def test_an_approval_through_one_store_handle_applies_to_another_detector(database) -> None:
    det = IntegrityDetector(IntegritySettings(mode="registry", approvals_refresh_s=0), store=database)
    assert len(prompt_findings(det.observe(call(1, PROMPT_B)))) == 1
    audit.approve(audit.StoreAuditLog(database), APP, "\n".join(PROMPT_B), actor="alice")
    assert det.observe(call(2, PROMPT_B)) == []


def test_a_verified_legacy_chain_file_is_imported_once(tmp_path: Path) -> None:
    _approve_three(tmp_path)
    chain = audit.open_chain(tmp_path)  # the store in the state dir, created now: imports the file
    assert [e.comment for e in chain.entries()] == ["r0", "r1", "r2"]
    audit.approve(chain, APP, "prompt 3", actor="bob")
    assert audit.open_chain(tmp_path).verify().entries == 4


def test_audit_verify_catches_an_edited_line(tmp_path: Path) -> None:
    path = _approve_three(tmp_path)
    lines = path.read_text().splitlines()
    edited = json.loads(lines[1])
    edited["sha256"] = sha256_text("an attacker's prompt")
    lines[1] = json.dumps(edited)
    path.write_text("\n".join(lines) + "\n")
    result = audit.verify(audit.AuditLog(path))
    assert not result.ok and result.line == 2 and result.entries == 1
    assert "edited" in (result.error or "")
    with pytest.raises(audit.AuditError):
        audit.approve(audit.AuditLog(path), APP, "more", actor="mallory")


@pytest.mark.parametrize("how", ["delete", "reorder"])
def test_audit_verify_catches_removed_or_reordered_lines(tmp_path: Path, how: str) -> None:
    path = _approve_three(tmp_path)
    lines = path.read_text().splitlines()
    lines = [lines[0], lines[2]] if how == "delete" else [lines[0], lines[2], lines[1]]
    path.write_text("\n".join(lines) + "\n")
    result = audit.verify(audit.AuditLog(path))
    assert not result.ok and result.line == 2


def test_detector_trusts_only_entries_before_a_break(tmp_path: Path) -> None:
    path = _approve_three(tmp_path)
    det = detector(tmp_path, mode="registry", audit_path=path)
    assert det.observe(call(1, ("prompt 2",))) == []
    lines = path.read_text().splitlines()
    forged = json.loads(lines[2])
    forged["comment"] = "approved by the CEO"
    path.write_text("\n".join([*lines[:2], json.dumps(forged)]) + "\n")
    assert len(det.observe(call(2, ("prompt 2",)))) == 1
    assert det.audit_problem is not None and "line 3" in det.audit_problem
    assert det.observe(call(3, ("prompt 1",))) == []


def test_detector_notices_a_truncated_audit_log(tmp_path: Path) -> None:
    path = _approve_three(tmp_path)
    state_db = checkpoints(tmp_path)
    detector(tmp_path, state=state_db.namespace("integrity"), audit_path=path)
    state_db.checkpoint({})
    path.write_text("\n".join(path.read_text().splitlines()[:2]) + "\n")  # a valid but shorter chain
    det = detector(tmp_path, state=checkpoints(tmp_path).namespace("integrity"), audit_path=path)
    assert det.audit_problem is not None and "lost or rewrote" in det.audit_problem


def test_cli_verifies_a_copy_of_the_audit_log_offline(tmp_path: Path) -> None:
    """`integrity verify --file` checks a backup without a daemon; approvals themselves go through the API
    (tests/test_cli_live.py)."""
    path = _approve_three(tmp_path)
    runner = CliRunner()
    result = runner.invoke(integrity_cli, ["verify", "--file", str(path)])
    assert result.exit_code == 0 and "ok: 3 entries verified" in result.output, result.output
    path.write_text(path.read_text().replace('"comment":"r1"', '"comment":"r9"', 1))
    result = runner.invoke(integrity_cli, ["verify", "--file", str(path)])
    assert result.exit_code == 1 and "BROKEN" in result.output
    assert runner.invoke(integrity_cli, ["approve", APP]).exit_code == 2  # usage: no prompt given
