"""Hash-chained audit log of system-prompt approvals (JSON lines).

Approving a prompt silences the integrity detector for it, so who approved what, when and why must be
trustworthy: every entry carries the hash of the previous one, and its own hash covers its fields and that
link. Editing, inserting or deleting an entry breaks the chain from there on, and `verify()` says where.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from watchkeeper.core.records import sha256_text

AUDIT_FILENAME = "integrity-audit.jsonl"
GENESIS = "0" * 64
Action = Literal["approve", "revoke"]
ACTIONS = ("approve", "revoke")
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


class AuditError(ValueError):
    """The audit log is unreadable or its chain is broken; the message names the line."""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    time: float
    actor: str
    action: str
    app: str
    sha256: str
    comment: str
    prev_hash: str
    entry_hash: str

    def fields(self) -> dict[str, object]:
        data = asdict(self)
        del data["entry_hash"]
        return data


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    entries: int  # entries that verified (the trustworthy prefix)
    error: str | None = None
    line: int | None = None  # 1-based line of the first problem

    def __bool__(self) -> bool:
        return self.ok


def compute_hash(fields: dict[str, object]) -> str:
    """sha256 of the canonical JSON of an entry's fields (prev_hash included, entry_hash excluded)."""
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def is_sha256(value: str) -> bool:
    return bool(_HEX64.match(value))


def prompt_hash(sha256_or_text: str) -> str:
    """A 64-hex value is taken as the hash itself; anything else is prompt text and is hashed."""
    value = sha256_or_text.strip()
    return value.lower() if is_sha256(value) else sha256_text(sha256_or_text)


def audit_path(state_dir: str | os.PathLike[str]) -> Path:
    return Path(state_dir) / AUDIT_FILENAME


def _parse_line(raw: str, number: int) -> AuditEntry:
    try:
        data = json.loads(raw)
        entry = AuditEntry(**data)
    except (ValueError, TypeError) as exc:
        raise AuditError(f"line {number}: not an audit entry ({exc})") from None
    if entry.action not in ACTIONS:
        raise AuditError(f"line {number}: unknown action {entry.action!r}")
    return entry


class AuditLog:
    """One JSON-lines file; appends are serialized with an advisory lock so concurrent CLIs cannot fork it."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def signature(self) -> tuple[int, int, int] | None:
        """(inode, mtime_ns, size): a cheap way to notice that the file changed; None if it does not exist."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def read(self) -> tuple[list[AuditEntry], VerifyResult]:
        """The entries that verify (the prefix before any break) and the verdict on the whole file."""
        entries: list[AuditEntry] = []
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return entries, VerifyResult(True, 0)
        prev = GENESIS
        for number, raw in enumerate(text.splitlines(), start=1):
            if not raw.strip():
                continue
            try:
                entry = _parse_line(raw, number)
            except AuditError as exc:
                return entries, VerifyResult(False, len(entries), str(exc), number)
            if entry.prev_hash != prev:
                msg = f"line {number}: prev_hash does not match the entry before (entry removed or reordered)"
                return entries, VerifyResult(False, len(entries), msg, number)
            if compute_hash(entry.fields()) != entry.entry_hash:
                msg = f"line {number}: entry_hash does not match its content (entry edited)"
                return entries, VerifyResult(False, len(entries), msg, number)
            entries.append(entry)
            prev = entry.entry_hash
        return entries, VerifyResult(True, len(entries))

    def entries(self) -> list[AuditEntry]:
        """All entries; AuditError if the chain is broken."""
        entries, result = self.read()
        if not result.ok:
            raise AuditError(f"{self.path}: {result.error}")
        return entries

    def verify(self) -> VerifyResult:
        return self.read()[1]

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def append(
        self,
        *,
        actor: str,
        action: Action,
        app: str,
        sha256: str,
        comment: str = "",
        now: float | None = None,
    ) -> AuditEntry:
        """Add one entry linked to the last; refuses to extend a broken chain (it would launder the break)."""
        if action not in ACTIONS:
            raise ValueError(f"action must be one of {ACTIONS}, got {action!r}")
        if not is_sha256(sha256):
            raise ValueError(f"sha256 must be 64 hex characters, got {sha256!r}")
        if not app:
            raise ValueError("app must not be empty")
        with self._locked():
            entries = self.entries()
            fields: dict[str, object] = {
                "time": round(time.time() if now is None else now, 6),
                "actor": actor,
                "action": action,
                "app": app,
                "sha256": sha256.lower(),
                "comment": comment,
                "prev_hash": entries[-1].entry_hash if entries else GENESIS,
            }
            entry = AuditEntry(**fields, entry_hash=compute_hash(fields))  # type: ignore[arg-type]
            line = json.dumps(asdict(entry), ensure_ascii=False, separators=(",", ":")) + "\n"
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(line)
                fh.flush()
                os.fsync(fh.fileno())
        return entry


def current_approvals(entries: list[AuditEntry]) -> dict[tuple[str, str], AuditEntry]:
    """(app, sha256) -> the latest entry about it; its action says whether the prompt is approved now."""
    latest: dict[tuple[str, str], AuditEntry] = {}
    for entry in entries:
        latest[(entry.app, entry.sha256)] = entry
    return latest


# --- plain functions for the CLI -------------------------------------------------------------------------
def approve(
    state_dir: str | os.PathLike[str], app: str, sha256_or_text: str, actor: str, comment: str = ""
) -> AuditEntry:
    """Approve a system prompt (its sha256, or its text) for an app; takes effect on a running daemon."""
    return AuditLog(audit_path(state_dir)).append(
        actor=actor, action="approve", app=app, sha256=prompt_hash(sha256_or_text), comment=comment
    )


def revoke(
    state_dir: str | os.PathLike[str], app: str, sha256_or_text: str, actor: str, comment: str = ""
) -> AuditEntry:
    """Withdraw an approval (also of a learned baseline or a config approval): calls with it are flagged."""
    return AuditLog(audit_path(state_dir)).append(
        actor=actor, action="revoke", app=app, sha256=prompt_hash(sha256_or_text), comment=comment
    )


def list_approvals(state_dir: str | os.PathLike[str], app: str | None = None) -> list[AuditEntry]:
    """The approvals in force (latest action per app+hash is approve), oldest first."""
    latest = current_approvals(AuditLog(audit_path(state_dir)).entries())
    found = [e for (a, _), e in latest.items() if e.action == "approve" and (app is None or a == app)]
    return sorted(found, key=lambda e: e.time)


def verify(state_dir: str | os.PathLike[str]) -> VerifyResult:
    return AuditLog(audit_path(state_dir)).verify()
