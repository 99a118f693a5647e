"""Integrity: catch unapproved system-prompt changes and silent model, parameter or provider changes.

A system prompt is the app's policy; a change nobody approved (a bad deploy, a tampered config, a prompt
injection into the template) must page someone on the very first call that carries it. Approved prompts
come from the config, from `watchkeeper integrity approve` (the hash-chained audit chain in the shared store,
re-read within `approvals_refresh_s` of a change, so every worker applies an approval within seconds), and in
learn mode from the first prompt an app without a registry sends. Everything learned about an app is kept in
its checkpointed state: neither a restart nor a move of the app to another worker re-learns a change as
normal.
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from watchkeeper.core.detector import Detector, DetectorContext, DetectorSettings, StateStore
from watchkeeper.core.findings import Finding, Severity, call_labels, make_finding
from watchkeeper.core.records import ModelCall
from watchkeeper.core.store import Database, SqliteDatabase
from watchkeeper.core.store.config import DEFAULT_FILENAME
from watchkeeper.detectors.integrity.audit import AuditLog, StoreAuditLog, current_approvals
from watchkeeper.detectors.integrity.metadata import METADATA
from watchkeeper.detectors.integrity.settings import IntegritySettings

log = logging.getLogger("watchkeeper.detectors.integrity")


ANY_APP = "*"
_DIFF_MAX_CHARS = 8000
_TEXTS_KEPT = 8  # approved prompt texts kept per app for diffs


def open_audit(
    settings: IntegritySettings,
    *,
    state_dir: str | os.PathLike[str] | None = None,
    audit_path: str | os.PathLike[str] | None = None,
    store: Database | None = None,
) -> AuditLog | StoreAuditLog:
    """The approval chain: an explicit file (`audit_log`), else the shared store (the daemon's, or the
    SQLite default in the state directory; an older release's file there is imported once)."""
    if audit_path is not None or settings.audit_log:
        return AuditLog(Path(audit_path or settings.audit_log))  # type: ignore[arg-type]
    base = Path(
        state_dir if state_dir is not None else os.environ.get("WATCHKEEPER_STATE_DIR", ".watchkeeper")
    )
    if store is None:
        store = SqliteDatabase(base / DEFAULT_FILENAME)
    return StoreAuditLog(store, legacy_dir=base if isinstance(store, SqliteDatabase) else None)


def _unified_diff(old: str, new: str, old_sha: str, new_sha: str) -> str:
    lines = difflib.unified_diff(
        old.splitlines(), new.splitlines(), f"approved {old_sha[:12]}", f"new {new_sha[:12]}", lineterm=""
    )
    return "\n".join(lines)[:_DIFF_MAX_CHARS]


class IntegrityDetector(Detector):
    name = "integrity"
    settings_class = IntegritySettings
    metadata = METADATA
    settings: IntegritySettings

    @classmethod
    def create(cls, settings: DetectorSettings, context: DetectorContext) -> IntegrityDetector:
        """Approvals come from the daemon's shared store (or the state directory's default store)."""
        assert isinstance(settings, IntegritySettings)
        return cls(settings, state=context.state, state_dir=context.state_dir, store=context.store)

    def __init__(
        self,
        settings: IntegritySettings | None = None,
        *,
        state: StateStore | None = None,
        state_dir: str | os.PathLike[str] | None = None,
        audit_path: str | os.PathLike[str] | None = None,
        store: Database | None = None,
    ) -> None:
        super().__init__(settings, state=state)
        self.audit = open_audit(self.settings, state_dir=state_dir, audit_path=audit_path, store=store)
        self._apps = self.state.apps(new=lambda _app: {}, load=lambda _app, data: data, dump=lambda d: d)
        self.audit_problem: str | None = None  # set when the audit chain does not verify
        self._audit_signature: object = None
        self._audit_checked = 0.0
        self._audit_generation = -1
        self._audit_latest: dict[tuple[str, str], str] = {}  # (app, sha) -> last action
        self._config = {app: set(hashes) for app, hashes in self.settings.approved.items()}
        self._refresh_audit(force=True)

    # -- approvals --------------------------------------------------------------------------------------
    def _refresh_audit(self, force: bool = False) -> None:
        """Re-read the chain when it changed: a file is stat'ed per call, the store asked every few
        seconds."""
        if isinstance(self.audit, StoreAuditLog) and not force:
            now = time.monotonic()
            generation = self.audit.local_generation()  # an approval made in this process: apply it now
            if (
                generation == self._audit_generation
                and now - self._audit_checked < self.settings.approvals_refresh_s
            ):
                return
            self._audit_checked, self._audit_generation = now, generation
        signature = self.audit.signature()
        if not force and signature == self._audit_signature:
            return
        self._audit_signature = signature
        entries, result = self.audit.read()
        problem = None if result.ok else f"audit log {self.audit.path} is broken at {result.error}"
        head = self.state.get("audit_head")  # [count, hash] seen last time: catches truncation too
        if head and (len(entries) < head[0] or entries[head[0] - 1].entry_hash != head[1]):
            problem = problem or f"audit log {self.audit.path} lost or rewrote entries seen before"
        if problem and problem != self.audit_problem:
            log.error("%s; only the entries before the break are trusted", problem)
        self.audit_problem = problem
        self._audit_latest = {key: e.action for key, e in current_approvals(entries).items()}
        if entries and not problem:
            self.state.put("audit_head", [len(entries), entries[-1].entry_hash])

    def _explicit_and_revoked(self, app: str) -> tuple[set[str], set[str]]:
        approved = self._config.get(app, set()) | self._config.get(ANY_APP, set())
        revoked: set[str] = set()
        for (entry_app, sha), action in self._audit_latest.items():
            if entry_app == app:
                (approved.add if action == "approve" else revoked.add)(sha)
        return approved - revoked, revoked

    def approved_hashes(self, app: str, environment: str) -> set[str]:
        """The system-prompt hashes that pass for this app and environment now."""
        self._refresh_audit()
        explicit, revoked = self._explicit_and_revoked(app)
        baseline = (self._apps.get(app).get(f"prompt|{environment}") or {}).get("baseline")
        if self.settings.mode == "learn" and baseline and baseline not in revoked:
            explicit.add(baseline)
        return explicit

    # -- observe ----------------------------------------------------------------------------------------
    def observe(self, call: ModelCall) -> list[Finding]:
        self._refresh_audit()
        findings: list[Finding] = []
        if call.system_instructions_sha256:
            findings.extend(self._check_prompt(call, self._apps.get(call.service)))
        call_key = f"{call.trace_id}:{call.span_id}"
        app = self._apps.get(call.service)
        scope = call.environment
        if self.settings.watch_response_model and call.response_model:
            before = self._track(app, f"model|{scope}|{call.request_model}", call.response_model, call_key)
            if before is not None:
                findings.append(self._model_change(call, before))
        for param in self.settings.watch_params:
            if param in call.request_params:
                value = json.dumps(call.request_params[param], sort_keys=True)
                before = self._track(app, f"param|{scope}|{call.request_model}|{param}", value, call_key)
                if before is not None:
                    findings.append(self._param_change(call, param, before, value))
        if self.settings.watch_system_fingerprint and call.system_fingerprint:
            key = f"fp|{scope}|{call.provider}|{call.model}"
            before = self._track(app, key, call.system_fingerprint, call_key)
            if before is not None:
                findings.append(self._fingerprint_change(call, before))
        return findings

    def _check_prompt(self, call: ModelCall, app: dict[str, Any]) -> list[Finding]:
        sha = call.system_instructions_sha256 or ""
        key = f"prompt|{call.environment}"
        record: dict[str, Any] = app.get(key) or {}
        explicit, revoked = self._explicit_and_revoked(call.service)
        learning = self.settings.mode == "learn"
        if learning and not explicit and not record.get("baseline") and sha not in revoked:
            # An app with no registry adopts its first prompt as the baseline.
            app[key] = {"baseline": sha, "current": sha}
            self._remember_text(call, app)
            return []
        approved = set(explicit)
        if learning and record.get("baseline") and record["baseline"] not in revoked:
            approved.add(record["baseline"])
        if sha in approved:
            self._remember_text(call, app)
            if record.get("current") != sha:
                app[key] = {**record, "current": sha}
            return []
        return [self._prompt_finding(call, sha, record.get("current"), approved, app)]

    def _remember_text(self, call: ModelCall, app: dict[str, Any]) -> None:
        """Keep the text of approved prompts (the last few per app), so a change can be shown as a diff."""
        sha = call.system_instructions_sha256
        if call.system_instructions is None or sha is None:
            return
        texts: dict[str, str] = app.setdefault("texts", {})
        if sha not in texts:
            texts[sha] = call.system_instructions
            while len(texts) > _TEXTS_KEPT:
                del texts[next(iter(texts))]

    def _prompt_finding(
        self, call: ModelCall, sha: str, old: str | None, approved: set[str], app_state: dict[str, Any]
    ) -> Finding:
        app, env = call.service, call.environment
        if old:
            summary = (
                f"System prompt of {app} ({env}) changed without approval: sha256 {sha[:12]} replaced the "
                f"approved {old[:12]}."
            )
        else:
            summary = f"System prompt of {app} ({env}) is not approved: sha256 {sha[:12]}."
            if not approved:
                summary += " No system prompt is approved for this app."
        summary += f" If intended: watchkeeper integrity approve {app} {sha}"
        old_text = app_state.get("texts", {}).get(old) if old else None
        diff = None
        if old and old_text is not None and call.system_instructions is not None:
            diff = _unified_diff(old_text, call.system_instructions, old, sha)
        evidence: dict[str, Any] = {
            "old_sha256": old,
            "new_sha256": sha,
            "approved_sha256": sorted(approved)[:20],
            "text_captured": call.system_instructions is not None,
        }
        if diff is not None:
            evidence["diff"] = diff
        labels = call_labels(call, self.name, "system_prompt_change", prompt_sha=sha[:12])
        return make_finding(
            call,
            detector=self.name,
            category="system_prompt_change",
            severity=self.severity(Severity.critical),
            score=1.0,
            summary=summary,
            excerpt=diff or (call.system_instructions or "")[:2000],
            labels=labels,
            evidence=evidence,
            annotations={"remedy": f"watchkeeper integrity approve {app} {sha} --comment 'why'"},
        )

    # -- watched values ---------------------------------------------------------------------------------
    def _track(self, app: dict[str, Any], key: str, value: str, call_key: str) -> str | None:
        """The previous value when `value` is new for `key` (a change to report), else None.

        Each value is reported once, by the call that introduced it, so load-balanced alternation between
        known values does not flap; a replay of that same call reports it again (same finding id).
        """
        record = app.get(key)
        if record is None:
            app[key] = {"last": value, "values": {value: None}}
            return None
        values: dict[str, list[str] | None] = record["values"]
        if value in values:
            introduced = values[value]
            if introduced is not None and introduced[0] == call_key:
                return introduced[1]
            if record["last"] != value:
                record["last"] = value
            return None
        before = record["last"]
        values[value] = [call_key, before]
        record["last"] = value
        while len(values) > self.settings.max_values:
            del values[next(iter(values))]
        return before

    def _model_change(self, call: ModelCall, before: str) -> Finding:
        summary = (
            f"{call.service} ({call.environment}) requested {call.request_model or 'a model'} and was served "
            f"{call.response_model}, not {before} as before: the model behind these calls changed."
        )
        return make_finding(
            call,
            detector=self.name,
            category="model_change",
            severity=self.severity(Severity.error),
            score=1.0,
            summary=summary,
            excerpt=f"{before} -> {call.response_model}",
            labels=call_labels(call, self.name, "model_change"),
            evidence={
                "request_model": call.request_model,
                "old_response_model": before,
                "new_response_model": call.response_model,
            },
        )

    def _param_change(self, call: ModelCall, param: str, before: str, value: str) -> Finding:
        summary = (
            f"{call.service} ({call.environment}) changed request parameter {param} for "
            f"{call.request_model or 'its model'}: {before} -> {value}."
        )
        return make_finding(
            call,
            detector=self.name,
            category="parameter_change",
            severity=self.severity(Severity.warning),
            score=1.0,
            summary=summary,
            excerpt=f"{param}: {before} -> {value}",
            labels=call_labels(call, self.name, "parameter_change", param=param),
            evidence={"param": param, "old_value": json.loads(before), "new_value": json.loads(value)},
            id_salt=param,
        )

    def _fingerprint_change(self, call: ModelCall, before: str) -> Finding:
        summary = (
            f"The provider {call.provider} changed its serving configuration for {call.model} "
            f"(system_fingerprint {before} -> {call.system_fingerprint}); this is a provider-side change, "
            f"not a change in {call.service}. Answers may shift."
        )
        return make_finding(
            call,
            detector=self.name,
            category="provider_config_change",
            severity=self.severity(Severity.warning),
            score=1.0,
            summary=summary,
            excerpt=f"{before} -> {call.system_fingerprint}",
            labels=call_labels(call, self.name, "provider_config_change"),
            evidence={"old_system_fingerprint": before, "new_system_fingerprint": call.system_fingerprint},
        )
