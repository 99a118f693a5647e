"""System-prompt approvals through the API: approve or revoke, list, the audit chain, the hashes an app sent.

Each approval is an entry of the hash-chained audit log the integrity detector reads (the running detector
picks it up on its next call), signed with the authenticated actor. Hashes are taken the way people paste
them: a full sha256, or a unique prefix of at least 8 hex characters of a hash seen for that app (in its
recorded calls, its integrity findings, the audit log or the configured approvals); the prompt text itself
only when given as `text`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, model_validator

from watchkeeper.core.records import sha256_text
from watchkeeper.detectors.integrity import audit
from watchkeeper.web.actor import actor_of, audit_actor
from watchkeeper.web.api import DAEMON_KEY, ApiError, run_blocking
from watchkeeper.web.endpoints import EndpointTable
from watchkeeper.web.models import ANY_LIST, ANY_OBJECT, AppFilter, AppRequired
from watchkeeper.web.times import json_response

routes = EndpointTable(tag="approvals")
TABLES = [routes]

MIN_PREFIX = 8
HEX = re.compile(r"^[0-9a-f]+$")
MAX_FINDINGS_SCANNED = 2000


class ApprovalRequest(BaseModel):
    """POST /api/v1/approvals: approve (or revoke) one system prompt of one app."""

    model_config = ConfigDict(extra="forbid")

    app: str = Field(min_length=1, max_length=200)
    sha256: str | None = Field(
        None, description="the prompt's sha256, or a unique prefix of >= 8 hex characters"
    )
    text: str | None = Field(None, description="the prompt text itself (hashed here), instead of sha256")
    action: Literal["approve", "revoke"] = "approve"
    comment: str = Field("", max_length=2000)
    by: str | None = Field(
        None, description="who (recorded as unverified unless the request is authenticated)"
    )
    incident_id: str | None = Field(None, description="the incident this decision answers (its activity log)")

    @model_validator(mode="after")
    def _one_prompt(self) -> ApprovalRequest:
        if (self.sha256 is None) == (self.text is None):
            raise ValueError("give sha256 (a hash or a prefix of >= 8 hex characters) or text, not both")
        return self


class AmbiguousHash(ApiError):
    def __init__(self, status: int, error: str, reason: str, candidates: list[dict[str, Any]]) -> None:
        super().__init__(status, error, reason)
        self.details = {"candidates": candidates}


def audit_log(request: web.Request) -> audit.AuditLog | audit.StoreAuditLog:
    """The approval chain the detectors read: the shared store's (every worker sees it within seconds), or
    the file configured in `detectors.integrity.audit_log`."""
    daemon = request.app[DAEMON_KEY]
    configured = daemon.settings.detectors.integrity.audit_log
    if configured:
        return audit.AuditLog(Path(configured))
    if daemon.store is None:
        raise ApiError(
            503, "unavailable", "this process has no store; ask a process that runs web, alerts or all"
        )
    chain = getattr(daemon, "approval_chain", None)
    if chain is None:  # migrated once per process
        chain = daemon.approval_chain = audit.StoreAuditLog(daemon.store)
    return chain


def known_hashes(request: web.Request, app: str) -> dict[str, dict[str, Any]]:
    """sha256 -> where it was seen, for one app: recorded calls, integrity findings, audit log, config."""
    daemon = request.app[DAEMON_KEY]
    seen: dict[str, dict[str, Any]] = {}

    def note(sha: Any, source: str, **extra: Any) -> None:
        if isinstance(sha, str) and audit.is_sha256(sha):
            entry = seen.setdefault(sha.lower(), {"sha256": sha.lower(), "sources": []})
            if source not in entry["sources"]:
                entry["sources"].append(source)
            for key, value in extra.items():
                entry.setdefault(key, value)

    calls = getattr(daemon, "calls", None)
    if calls is not None:
        for row in calls.prompt_hashes(app):
            note(
                row["sha256"],
                "calls",
                calls=row["calls"],
                first_seen=row["first_seen"],
                last_seen=row["last_seen"],
            )
    service = getattr(daemon, "alerts_service", None)
    if service is not None:
        findings, _ = service.list_findings(limit=MAX_FINDINGS_SCANNED, detector="integrity", app=app)
        for f in findings:
            evidence = f.get("evidence") or {}
            note(evidence.get("new_sha256"), "findings")
            note(evidence.get("old_sha256"), "findings")
    try:
        entries = audit_log(request).entries()
    except audit.AuditError:
        entries = []
    for entry in entries:
        if entry.app == app:
            note(entry.sha256, "audit log")
    configured = daemon.settings.detectors.integrity.approved
    for sha in [*configured.get(app, []), *configured.get("*", [])]:
        note(sha, "config")
    return seen


def resolve_hash(given: str, app: str, candidates: dict[str, dict[str, Any]]) -> str:
    """A full sha256 as is; a prefix of >= 8 hex to the one hash seen for `app` it starts; else an error."""
    value = given.strip().lower()
    if not HEX.match(value):
        raise ApiError(
            400,
            "bad_request",
            f"{given!r} is not a sha256 or a hex prefix; to approve a prompt by its text send it as `text` "
            "(CLI: --text or --file)",
        )
    if len(value) == 64:
        return value
    if len(value) < MIN_PREFIX:
        raise ApiError(
            400, "bad_request", f"a hash prefix needs at least {MIN_PREFIX} hex characters, got {len(value)}"
        )
    matches = sorted(sha for sha in candidates if sha.startswith(value))
    if len(matches) == 1:
        return matches[0]
    listed = sorted(candidates.values(), key=lambda c: c["sha256"])
    if not matches:
        known = ", ".join(c["sha256"][:12] for c in listed) or "none"
        raise AmbiguousHash(
            404,
            "unknown_hash",
            f"no system-prompt hash seen for {app} starts with {value}; hashes seen for {app}: {known}",
            listed,
        )
    raise AmbiguousHash(
        409,
        "ambiguous_hash",
        f"prefix {value} matches {len(matches)} hashes seen for {app}: {', '.join(matches)}; "
        "give more characters",
        [candidates[m] for m in matches],
    )


def approvals_in_force(log: audit.AuditLog | audit.StoreAuditLog, app: str | None) -> list[dict[str, Any]]:
    latest = audit.current_approvals(log.entries())
    found = [e for (a, _), e in latest.items() if e.action == "approve" and (app is None or a == app)]
    return [entry_dict(e) for e in sorted(found, key=lambda e: e.time)]


def entry_dict(entry: audit.AuditEntry) -> dict[str, Any]:
    return {
        "app": entry.app,
        "sha256": entry.sha256,
        "action": entry.action,
        "actor": entry.actor,
        "comment": entry.comment,
        "time": entry.time,
        "entry_hash": entry.entry_hash,
        "prev_hash": entry.prev_hash,
    }


@routes.get(
    "/api/v1/approvals",
    operation_id="listApprovals",
    summary="System prompts approved now (audit log and configuration), per app",
    query=AppFilter,
    response=ANY_LIST,
    errors=(409,),
)
async def list_approvals(request: web.Request, query: AppFilter) -> web.Response:
    log = audit_log(request)
    app = query.app
    try:
        items = await run_blocking(approvals_in_force, log, app)
    except audit.AuditError as exc:
        raise ApiError(409, "audit_broken", f"{exc}; restore the audit log from a backup") from None
    configured = request.app[DAEMON_KEY].settings.detectors.integrity.approved
    for cfg_app, hashes in sorted(configured.items()):
        if app is None or cfg_app in (app, "*"):
            items.extend(
                {"app": cfg_app, "sha256": h, "action": "approve", "actor": "config"} for h in hashes
            )
    return json_response(items)


@routes.post(
    "/api/v1/approvals",
    operation_id="createApproval",
    summary="Approve or revoke one system prompt of one app (a signed entry of the audit chain)",
    body=ApprovalRequest,
    response=ANY_OBJECT,
    status=201,
    errors=(400, 409),
)
async def create_approval(request: web.Request, body: ApprovalRequest) -> web.Response:
    if body.text is not None:
        sha = sha256_text(body.text)
    else:
        assert body.sha256 is not None
        candidates = await run_blocking(known_hashes, request, body.app)
        sha = resolve_hash(body.sha256, body.app, candidates)
    actor = audit_actor(request, body.by)
    log = audit_log(request)
    try:
        entry = await run_blocking(
            log.append, actor=actor, action=body.action, app=body.app, sha256=sha, comment=body.comment
        )
    except audit.AuditError as exc:
        raise ApiError(
            409, "audit_broken", f"{exc}; see GET /api/v1/approvals/audit, restore the file"
        ) from None
    except ValueError as exc:
        raise ApiError(400, "bad_request", str(exc)) from None
    await run_blocking(_note_on_incidents, request, body, entry)
    return json_response(entry_dict(entry), status=201)


def _note_on_incidents(request: web.Request, body: ApprovalRequest, entry: audit.AuditEntry) -> None:
    """The decision goes into the activity of the incident it answers and of the app's open integrity ones."""
    store = getattr(request.app[DAEMON_KEY], "alerts_service", None)
    if store is None:
        return
    name, verified = actor_of(request, body.by)
    ids = {
        i["id"]
        for i in store.list_incidents(status="open", app=entry.app, detector="integrity", limit=200)[0]
    }
    if body.incident_id and store.get_incident(body.incident_id) is not None:
        ids.add(body.incident_id)
    data = {"action": entry.action, "app": entry.app, "sha256": entry.sha256, "entry_hash": entry.entry_hash}
    for incident_id in sorted(ids):
        store.record_activity(
            incident_id, "approval", actor=name, comment=entry.comment, verified=verified, data=data
        )


@routes.get(
    "/api/v1/approvals/audit",
    operation_id="getApprovalAudit",
    summary="The whole audit chain and whether it verifies",
    response=ANY_OBJECT,
)
async def audit_entries(request: web.Request) -> web.Response:
    log = audit_log(request)
    entries, result = await run_blocking(log.read)
    return json_response(
        {
            "path": str(log.path),
            "ok": result.ok,
            "verified_entries": result.entries,
            "error": result.error,
            "line": result.line,
            "entries": [entry_dict(e) for e in entries],
        }
    )


@routes.get(
    "/api/v1/prompts",
    operation_id="listPrompts",
    summary="The system-prompt hashes seen for an app and whether each is approved now",
    query=AppRequired,
    response=ANY_LIST,
    errors=(400,),
)
async def prompts(request: web.Request, query: AppRequired) -> web.Response:
    """GET /api/v1/prompts?app=: the system-prompt hashes seen for an app and whether each is approved now."""
    app = query.app
    candidates = await run_blocking(known_hashes, request, app)
    try:
        latest = audit.current_approvals(await run_blocking(audit_log(request).entries))
    except audit.AuditError:
        latest = {}
    configured = request.app[DAEMON_KEY].settings.detectors.integrity.approved
    config_hashes = set(configured.get(app, [])) | set(configured.get("*", []))
    out = []
    for sha, info in candidates.items():
        entry = latest.get((app, sha))
        state = (
            entry.action + "d"
            if entry is not None
            else ("approved" if sha in config_hashes else "no decision")
        )
        out.append({**info, "state": state})
    out.sort(key=lambda c: c.get("last_seen") or 0, reverse=True)
    return json_response(out)
