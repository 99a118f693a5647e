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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from watchkeeper.core.records import sha256_text
from watchkeeper.core.store import Database, Migration, Tx, migrate

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
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return [], VerifyResult(True, 0)
        parsed: list[AuditEntry] = []
        numbers: list[int] = []
        unreadable: AuditError | None = None
        for number, raw in enumerate(text.splitlines(), start=1):
            if not raw.strip():
                continue
            try:
                parsed.append(_parse_line(raw, number))
            except AuditError as exc:
                unreadable = exc
                numbers.append(number)
                break
            numbers.append(number)
        entries, result = verify_chain(parsed, unit="line", numbers=numbers)
        if result.ok and unreadable is not None:
            return entries, VerifyResult(False, len(entries), str(unreadable), numbers[-1])
        return entries, result

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
        _check_entry(action, app, sha256)
        with self._locked():
            entry = _new_entry(
                self.entries(), actor=actor, action=action, app=app, sha256=sha256, comment=comment, now=now
            )
            line = json.dumps(asdict(entry), ensure_ascii=False, separators=(",", ":")) + "\n"
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(line)
                fh.flush()
                os.fsync(fh.fileno())
        return entry


# --- the chain in the shared store (what the daemon and every worker use) -----------------------------------
COMPONENT = "integrity"
_V1 = """
CREATE TABLE approval_audit (
    seq BIGINT PRIMARY KEY, time DOUBLE PRECISION NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
    app TEXT NOT NULL, sha256 TEXT NOT NULL, comment TEXT NOT NULL, prev_hash TEXT NOT NULL,
    entry_hash TEXT NOT NULL UNIQUE
)
"""
_COLUMNS = "time, actor, action, app, sha256, comment, prev_hash, entry_hash"


def _v1(legacy_dir: Path | None) -> Callable[[Tx, str], None]:
    def apply(tx: Tx, dialect: str) -> None:
        tx.execute(_V1)
        legacy = None if legacy_dir is None else audit_path(legacy_dir)
        if legacy is None or not legacy.is_file():
            return
        # Upgrade path: the JSON-lines chain of an older release is copied in once, after it verified.
        entries, result = AuditLog(legacy).read()
        if not result.ok:
            raise AuditError(
                f"{legacy} does not verify ({result.error}); it is not imported into the store. Restore the "
                "file from a backup or move it away, then start again"
            )
        tx.executemany(
            f"INSERT INTO approval_audit (seq, {_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)",
            [(i, *_entry_values(e)) for i, e in enumerate(entries, start=1)],
        )

    return apply


def migrations(legacy_dir: Path | None = None) -> list[Migration]:
    return [Migration(1, "approval audit chain", _v1(legacy_dir))]


def _entry_values(e: AuditEntry) -> tuple[object, ...]:
    return (e.time, e.actor, e.action, e.app, e.sha256, e.comment, e.prev_hash, e.entry_hash)


#: Appends made by this process, per store URL: a detector in the same process as the API that approved
#: applies the approval at its next call instead of at its next periodic re-read.
_local_appends: dict[str, int] = {}


class StoreAuditLog:
    """The approval chain as rows of the shared store: one chain for every worker and host.

    Same entries and hashes as the file format; appends lock the chain's head (PostgreSQL advisory lock,
    SQLite's single writer), so concurrent approvals from several API processes cannot fork it.
    """

    def __init__(self, db: Database, *, legacy_dir: Path | None = None) -> None:
        self.db = db
        self.path = db.url  # named in messages, like the file's path
        migrate(db, {COMPONENT: migrations(legacy_dir)})

    def local_generation(self) -> int:
        """How many appends this process made to this chain (free to ask, unlike `signature`)."""
        return _local_appends.get(self.path, 0)

    def signature(self) -> tuple[int, str] | None:
        """(entries, head hash): changes with every append, and with a rewrite of the head."""
        with self.db.read() as tx:
            row = tx.one("SELECT seq, entry_hash FROM approval_audit ORDER BY seq DESC LIMIT 1")
        return None if row is None else (int(row["seq"]), row["entry_hash"])

    def _rows(self, tx: Tx) -> list[AuditEntry]:
        return [
            AuditEntry(
                time=r["time"],
                actor=r["actor"],
                action=r["action"],
                app=r["app"],
                sha256=r["sha256"],
                comment=r["comment"],
                prev_hash=r["prev_hash"],
                entry_hash=r["entry_hash"],
            )
            for r in tx.execute(f"SELECT {_COLUMNS} FROM approval_audit ORDER BY seq")
        ]

    def read(self) -> tuple[list[AuditEntry], VerifyResult]:
        with self.db.read() as tx:
            return verify_chain(self._rows(tx))

    def entries(self) -> list[AuditEntry]:
        entries, result = self.read()
        if not result.ok:
            raise AuditError(f"approval chain in {self.path}: {result.error}")
        return entries

    def verify(self) -> VerifyResult:
        return self.read()[1]

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
        _check_entry(action, app, sha256)

        def write(tx: Tx) -> AuditEntry:
            tx.lock_keys("approval-chain", ["head"])
            entries, result = verify_chain(self._rows(tx))
            if not result.ok:
                raise AuditError(f"approval chain in {self.path}: {result.error}")
            entry = _new_entry(
                entries, actor=actor, action=action, app=app, sha256=sha256, comment=comment, now=now
            )
            tx.execute(
                f"INSERT INTO approval_audit (seq, {_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)",
                (len(entries) + 1, *_entry_values(entry)),
            )
            return entry

        entry = self.db.run(write)
        _local_appends[self.path] = _local_appends.get(self.path, 0) + 1
        return entry


def verify_chain(
    entries: list[AuditEntry], *, unit: str = "entry", numbers: list[int] | None = None
) -> tuple[list[AuditEntry], VerifyResult]:
    """The prefix of entries that verifies, and the verdict; `line` of a break is the entry's 1-based
    position (or its number in `numbers`, e.g. the file's line numbers)."""
    prev = GENESIS
    good: list[AuditEntry] = []
    for index, entry in enumerate(entries):
        number = numbers[index] if numbers is not None else index + 1
        problem = None
        if entry.action not in ACTIONS:
            problem = f"unknown action {entry.action!r}"
        elif entry.prev_hash != prev:
            problem = "prev_hash does not match the entry before (entry removed or reordered)"
        elif compute_hash(entry.fields()) != entry.entry_hash:
            problem = "entry_hash does not match its content (entry edited)"
        if problem is not None:
            return good, VerifyResult(False, len(good), f"{unit} {number}: {problem}", number)
        good.append(entry)
        prev = entry.entry_hash
    return good, VerifyResult(True, len(good))


def _check_entry(action: str, app: str, sha256: str) -> None:
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {ACTIONS}, got {action!r}")
    if not is_sha256(sha256):
        raise ValueError(f"sha256 must be 64 hex characters, got {sha256!r}")
    if not app:
        raise ValueError("app must not be empty")


def _new_entry(
    entries: list[AuditEntry],
    *,
    actor: str,
    action: str,
    app: str,
    sha256: str,
    comment: str,
    now: float | None,
) -> AuditEntry:
    fields: dict[str, object] = {
        "time": round(time.time() if now is None else now, 6),
        "actor": actor,
        "action": action,
        "app": app,
        "sha256": sha256.lower(),
        "comment": comment,
        "prev_hash": entries[-1].entry_hash if entries else GENESIS,
    }
    return AuditEntry(**fields, entry_hash=compute_hash(fields))  # type: ignore[arg-type]


def current_approvals(entries: list[AuditEntry]) -> dict[tuple[str, str], AuditEntry]:
    """(app, sha256) -> the latest entry about it; its action says whether the prompt is approved now."""
    latest: dict[tuple[str, str], AuditEntry] = {}
    for entry in entries:
        latest[(entry.app, entry.sha256)] = entry
    return latest


# --- plain functions for the CLI -------------------------------------------------------------------------
def open_chain(
    where: str | os.PathLike[str] | Database | AuditLog | StoreAuditLog,
) -> AuditLog | StoreAuditLog:
    """The approval chain of a store, of a state directory's default store, or an audit log given as is."""
    if isinstance(where, AuditLog | StoreAuditLog):
        return where
    if isinstance(where, Database):
        return StoreAuditLog(where)
    from watchkeeper.core.store import SqliteDatabase
    from watchkeeper.core.store.config import DEFAULT_FILENAME

    return StoreAuditLog(SqliteDatabase(Path(where) / DEFAULT_FILENAME), legacy_dir=Path(where))


def approve(
    where: str | os.PathLike[str] | Database | AuditLog | StoreAuditLog,
    app: str,
    sha256_or_text: str,
    actor: str,
    comment: str = "",
) -> AuditEntry:
    """Approve a system prompt (its sha256, or its text) for an app; takes effect on a running daemon."""
    return open_chain(where).append(
        actor=actor, action="approve", app=app, sha256=prompt_hash(sha256_or_text), comment=comment
    )


def revoke(
    where: str | os.PathLike[str] | Database | AuditLog | StoreAuditLog,
    app: str,
    sha256_or_text: str,
    actor: str,
    comment: str = "",
) -> AuditEntry:
    """Withdraw an approval (also of a learned baseline or a config approval): calls with it are flagged."""
    return open_chain(where).append(
        actor=actor, action="revoke", app=app, sha256=prompt_hash(sha256_or_text), comment=comment
    )


def list_approvals(
    where: str | os.PathLike[str] | Database | AuditLog | StoreAuditLog, app: str | None = None
) -> list[AuditEntry]:
    """The approvals in force (latest action per app+hash is approve), oldest first."""
    latest = current_approvals(open_chain(where).entries())
    found = [e for (a, _), e in latest.items() if e.action == "approve" and (app is None or a == app)]
    return sorted(found, key=lambda e: e.time)


def verify(where: str | os.PathLike[str] | Database | AuditLog | StoreAuditLog) -> VerifyResult:
    return open_chain(where).verify()
