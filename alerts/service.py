"""`AlertsService`: what the alerts stage, the API and the CLI do with incidents, over the shared store.

The store (`alerts.store`) only reads and writes rows; every decision is made here by the pure policy modules:
`routing` (which routes and receivers), `incidents` (grouping findings into incidents, group timers),
`silences` and `inhibition` (send-time suppression). Each operation is one store transaction, so several
alerts workers on one PostgreSQL database cooperate: findings are folded under a per-group lock (one open
incident per group, a finding counted once), group flushes and lifecycle changes hold the incident's row lock
(no notification is queued after a resolve), and notifications are claimed with a lease (each delivered by one
worker; a dead worker's claims are taken over when the lease expires).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from watchkeeper.alerts.clock import Clock, SystemClock
from watchkeeper.alerts.config import AlertsConfig
from watchkeeper.alerts.incidents import OpenIncident, Target, flush_decision, next_flush, routing_labels
from watchkeeper.alerts.inhibition import Inhibitor
from watchkeeper.alerts.model import Event, Status
from watchkeeper.alerts.routing import Route, Router
from watchkeeper.alerts.silences import STATES, Silence, validate_silence
from watchkeeper.alerts.store import findings as findings_table
from watchkeeper.alerts.store import incidents as incidents_table
from watchkeeper.alerts.store import outbox as outbox_table
from watchkeeper.alerts.store import queries
from watchkeeper.alerts.store import silences as silences_table
from watchkeeper.alerts.store import targets as targets_table
from watchkeeper.alerts.store.activity import ActivityMixin
from watchkeeper.alerts.store.errors import InvalidTransition, NotFound, StoreError
from watchkeeper.alerts.store.feedback import FeedbackMixin
from watchkeeper.alerts.store.rows import (
    IngestResult,
    OutboxRow,
    dumps,
    notification_dict,
    open_incident_from_row,
    outbox_row,
    parse_timestamp,
)
from watchkeeper.alerts.store.schema import COMPONENT, NEVER_TOLD, migrations
from watchkeeper.alerts.timeintervals import at
from watchkeeper.core import metrics
from watchkeeper.core.findings import Finding
from watchkeeper.core.store import Database, SqliteDatabase, Tx, migrate
from watchkeeper.core.store.config import DEFAULT_FILENAME

log = logging.getLogger("watchkeeper.alerts")

_SNAPSHOT_SAMPLES = 5  # findings embedded in each notification (the full list lives in the dashboard)
_CACHE_S = 1.0  # silences and inhibition sources are re-read at most this often (per process)


def _finding_row(f: Finding, incident_id: str, now: float, data: str | None = None) -> tuple[Any, ...]:
    """A `findings` row; a muted near-duplicate of a false positive has no incident (''). `data` is the
    finding's JSON as it arrived, when it did (decoding then encoding it again cost time for nothing)."""
    return (
        f.id,
        incident_id,
        f.detector,
        f.category,
        f.severity.value,
        f.labels.get("app"),
        f.time,
        now,
        f.summary,
        data if data is not None else f.to_json().decode(),
    )


def _earliest(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


def worker_name() -> str:
    """A claim owner that is unique per process and readable in the table: host:pid:random."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def is_gone_local_worker(worker: str, host: str) -> bool:
    """Whether `worker` (a `worker_name()`) was a process of this host that no longer runs."""
    parts = worker.split(":")
    if len(parts) != 3 or parts[0] != host or not parts[1].isdigit():
        return False
    pid = int(parts[1])
    if pid == os.getpid() or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists, another user's process
        return False
    return False


class AlertsService(FeedbackMixin, ActivityMixin):
    """All alerts state, over a `Database` (or a state directory: the SQLite default in it).

    `channel_kinds` maps receiver -> channel kinds, for the rows a flush must write.
    """

    def __init__(
        self,
        store: Database | Path | str,
        cfg: AlertsConfig | None = None,
        *,
        clock: Clock | None = None,
        channel_kinds: Mapping[str, Sequence[str]] | None = None,
        worker: str | None = None,
    ) -> None:
        self.cfg = cfg if cfg is not None else AlertsConfig()
        self.clock: Clock = clock if clock is not None else SystemClock()
        if isinstance(store, Database):
            self.db, self._owns_db, legacy_dir = store, False, None
        else:
            path = Path(store) / DEFAULT_FILENAME
            self.db, self._owns_db, legacy_dir = SqliteDatabase(path), True, path.parent
        if isinstance(self.db, SqliteDatabase):
            legacy_dir = self.db.path.parent
        migrate(self.db, {COMPONENT: migrations(legacy_dir)})
        self.router = Router(self.cfg.route)
        self.inhibitor = Inhibitor(self.cfg.inhibit_rules)
        self.time_intervals = self.cfg.compiled_time_intervals()
        self.channel_kinds = {k: list(v) for k, v in (channel_kinds or {}).items()}
        self.worker = worker or worker_name()
        self._cache_lock = threading.Lock()
        self._silences_cache: tuple[float, list[Silence]] | None = None
        self._sources_cache: tuple[float, list[tuple[str, Mapping[str, str]]]] | None = None
        self._suppression_cache = None
        self.refresh_gauges()

    @property
    def lease_s(self) -> float:
        lease = getattr(self.cfg.outbox, "lease_s", None)
        return float(lease) if lease else 2 * self.cfg.outbox.send_timeout_s + 5.0

    def close(self) -> None:
        if self._owns_db:
            self.db.close()

    # ------------------------------------------------------------------------------------------ ingest
    def ingest(
        self,
        findings: Sequence[Finding],
        *,
        encoded: Mapping[str, str] | None = None,
        refresh_gauges: bool = True,
    ) -> IngestResult:
        """Store findings and fold them into incidents in one transaction; replays have no second effect.

        `encoded`: finding id -> the JSON it was decoded from (stored as is). A new incident whose route
        has no group_wait gets its first notification queued in the same transaction, as Alertmanager
        flushes such a group at once (`IngestResult.flushed` says how many: wake the dispatcher).
        `refresh_gauges=False`: the caller refreshes the incident gauges itself, after waking the
        dispatcher (two counting queries a first notification need not wait for)."""
        if not findings:
            return IngestResult()
        unique: dict[str, Finding] = {}
        for f in findings:
            unique.setdefault(f.id, f)
        # Routing and feedback suppression depend on the finding alone: decided before the transaction.
        now = self.clock.now()
        planned: list[tuple[Finding, dict[str, str], list[Route], str]] = []
        muted: dict[str, str] = {}  # finding id -> the false-positive verdict muting it
        for f in unique.values():
            muted_by = self.suppression_for(f, now)
            if muted_by is not None:
                muted[f.id] = muted_by
            labels = routing_labels(f)
            routes = self.router.match(labels)
            planned.append((f, labels, routes, routes[0].group_key(labels)))
        raw = encoded or {}
        result = self.db.run(lambda tx: self._ingest(tx, planned, len(findings) - len(unique), muted, raw))
        for f, *_ in planned:
            if f.id in muted:
                metrics.FINDINGS_SUPPRESSED.labels(detector=f.detector).inc()
        if result.incidents_created and refresh_gauges:
            self.refresh_gauges()
        return result

    def _ingest(
        self,
        tx: Tx,
        planned: list[tuple[Finding, dict[str, str], list[Route], str]],
        duplicates: int,
        muted: dict[str, str],
        raw: Mapping[str, str],
    ) -> IngestResult:
        now = self.clock.now()
        result = IngestResult(duplicates=duplicates)
        suppressed: list[tuple[str, str, float]] = []
        groups = {p[3] for p in planned}
        tx.lock_keys("incident-group", groups)  # one writer per group across workers (PostgreSQL)
        known = findings_table.existing_ids(tx, [p[0].id for p in planned])
        result.duplicates += len(known)
        open_ = incidents_table.open_by_group(tx, groups)
        created: dict[str, tuple[OpenIncident, list[Route]]] = {}
        touched: dict[str, OpenIncident] = {}
        taken: set[str] = set()
        rows: list[tuple[Any, ...]] = []
        for f, labels, routes, group_key in planned:
            if f.id in known:
                continue
            if f.id in muted:  # a near-duplicate of a false positive: kept, never paged
                suppressed.append((f.id, muted[f.id], now))
                rows.append(_finding_row(f, "", now, raw.get(f.id)))
                continue
            inc = open_.get(group_key)
            if inc is None:
                primary = routes[0]
                inc = OpenIncident.start(
                    incident=incidents_table.new_id(tx, group_key, f.time, taken),
                    group_key=group_key,
                    route=primary.path,
                    finding=f,
                    labels=labels,
                    annotations=primary.annotations,
                    now=now,
                )
                taken.add(inc.id)
                open_[group_key] = inc
                created[inc.id] = (inc, routes)
            else:
                inc.add(f, labels, now)
                touched[inc.id] = inc
            rows.append(_finding_row(f, inc.id, now, raw.get(f.id)))
        result.accepted = len(rows) - len(suppressed)
        result.suppressed = len(suppressed)
        result.incidents_created = len(created)
        if not rows:
            return result
        incidents_table.insert(tx, [inc for inc, _ in created.values()], now)
        findings_table.insert(tx, rows)
        if suppressed:
            self._mark_suppressed(tx, suppressed)
        incidents_table.update_folded(tx, [i for i in touched.values() if i.id not in created], now)
        target_rows = []
        for inc, routes in created.values():
            seen: set[str] = set()
            for route in routes:
                if route.receiver in seen:
                    continue
                seen.add(route.receiver)
                target_rows.append(
                    (
                        inc.id,
                        route.receiver,
                        route.path,
                        route.group_wait,
                        route.group_interval,
                        route.repeat_interval,
                        int(route.send_resolved),
                        now + route.group_wait,
                    )
                )
        targets_table.insert(tx, target_rows)
        # Groups without group_wait are flushed now, in this transaction (the new incidents' rows are
        # locked by their insert; what the flush needs is in memory: nothing was told of them yet).
        waiting: list[float | None] = []
        by_incident: dict[str, list[Target]] = {}
        for row in target_rows:
            by_incident.setdefault(row[0], []).append(Target(*row[:6], bool(row[6]), row[7]))
            if row[7] > now:
                waiting.append(row[7])
        for incident in sorted(by_incident):
            targets = sorted(by_incident[incident], key=lambda t: t.receiver)
            if any(t.next_flush_at is not None and t.next_flush_at <= now for t in targets):
                inc = created[incident][0]
                waiting.append(self._flush_targets(tx, inc, targets, now, told=set()))
                result.flushed += 1
        result.next_flush_at = min((t for t in waiting if t is not None), default=None)
        return result

    # ------------------------------------------------------------------------------------------ timers
    def run_due(self) -> float | None:
        """Auto-resolve quiet incidents and flush due groups into the outbox; returns the next due time."""
        now = self.clock.now()
        timeout = self.cfg.resolve_timeout
        with self.db.read() as tx:
            quiet = incidents_table.quiet_ids(tx, now - timeout)
        resolved = 0
        for incident in quiet:
            resolved += self.db.run(lambda tx, i=incident: self._resolve_quiet(tx, i, now, timeout))
        with self.db.read() as tx:
            due = targets_table.due_incidents(tx, now)
        if due:
            self.db.run(lambda tx: self._flush(tx, due, now))
        if resolved:
            self.refresh_gauges()
        with self.db.read() as tx:
            nxt = targets_table.next_due(tx)
            oldest = incidents_table.oldest_received(tx)
        candidates = [t for t in (nxt, None if oldest is None else oldest + timeout) if t is not None]
        return min(candidates) if candidates else None

    def _resolve_quiet(self, tx: Tx, incident: str, now: float, timeout: float) -> int:
        inc = incidents_table.lock_open(tx, incident, skip_locked=True)
        if inc is None or inc.last_received_at + timeout > now:
            return 0  # resolved meanwhile, a new finding arrived, or another worker holds it
        self._resolve(tx, inc, by="watchkeeper", comment=f"no new findings for {timeout:g}s", now=now)
        return 1

    def _flush(self, tx: Tx, incidents: list[str], now: float) -> float | None:
        """Flush the due targets of these incidents; returns the earliest next flush it scheduled."""
        earliest: float | None = None
        for incident in sorted(incidents):
            row = incidents_table.lock(tx, incident, skip_locked=True)
            if row is None:
                continue  # another worker is flushing or changing it right now
            if row["status"] not in (Status.triggered.value, Status.acknowledged.value):
                targets_table.stop(tx, incident)  # resolved meanwhile: its timers stop
                continue
            inc = open_incident_from_row(row)
            nxt = self._flush_targets(tx, inc, targets_table.of_incident(tx, incident), now)
            earliest = _earliest(earliest, nxt)
        return earliest

    def _flush_targets(
        self,
        tx: Tx,
        inc: OpenIncident,
        targets: Sequence[Target],
        now: float,
        *,
        told: set[int] | None = None,
    ) -> float | None:
        """Flush the due ones of an incident's targets (its row locked by the caller). `told`: the channels
        already told of the incident's trigger, when the caller knows (a new incident: none)."""
        earliest: float | None = None
        for target in targets:
            if target.next_flush_at is None or target.next_flush_at > now:
                continue
            if self._route_muted(target.route, now):
                # As Alertmanager: nothing is sent this flush; the next one (group_interval) tries again.
                target.next_flush_at = next_flush(target, now)
                targets_table.save(tx, target)
                earliest = _earliest(earliest, target.next_flush_at)
                continue
            decision = flush_decision(target, inc, now)
            if decision is not None:
                event, repeat = decision
                channels = None
                if event == Event.trigger:  # a trigger dead on one channel goes again only there
                    sent = told
                    if sent is None:
                        sent = outbox_table.told_channels(tx, inc.id, target.receiver)
                    kinds = self.channel_kinds.get(target.receiver, [])
                    channels = [(i, kind) for i, kind in enumerate(kinds) if i not in sent]
                self._enqueue(tx, target, inc, event, now, repeat=repeat, channels=channels)
                target.last_notified_at = now
                target.notified_count = inc.finding_count
                if event == Event.trigger:
                    target.announced = True
            target.next_flush_at = next_flush(target, now)
            targets_table.save(tx, target)
            earliest = _earliest(earliest, target.next_flush_at)
        return earliest

    def _route_muted(self, path: str, now: float) -> str | None:
        """Why the route at `path` sends nothing now (its mute / active time intervals), or None."""
        route = self.router.by_path.get(path)
        if route is None or not (route.mute_time_intervals or route.active_time_intervals):
            return None
        return self.time_intervals.muted(route.mute_time_intervals, route.active_time_intervals, at(now))

    def _enqueue(
        self,
        tx: Tx,
        target: Target,
        inc: OpenIncident,
        event: Event,
        now: float,
        *,
        repeat: bool = False,
        status: Status | None = None,
        resolved_at: float | None = None,
        channels: Sequence[tuple[int, str]] | None = None,
    ) -> int:
        """Write one outbox row per channel of the receiver (in the caller's transaction)."""
        if channels is None:
            channels = list(enumerate(self.channel_kinds.get(target.receiver, [])))
        if not channels:
            return 0
        target.seq += 1
        data = inc.to_dict()
        data["status"] = (status or inc.status).value
        data["resolved_at"] = resolved_at
        data.pop("samples", None)
        # The samples are stored JSON objects: spliced in as they are, not decoded and encoded again.
        samples = findings_table.samples_json(tx, inc.id, _SNAPSHOT_SAMPLES)
        payload = f'{dumps(data)[:-1]},"samples":[{",".join(samples)}]}}'
        outbox_table.insert(
            tx,
            [
                (
                    f"{inc.id}-{target.receiver}-{idx}-{target.seq}-{event.value}",
                    inc.id,
                    target.receiver,
                    idx,
                    kind,
                    target.seq,
                    event.value,
                    int(repeat),
                    payload,
                    now,
                    "pending",
                    0,
                    now,
                    now,
                )
                for idx, kind in channels
            ],
        )
        return len(channels)

    # ------------------------------------------------------------------------------------------ lifecycle
    def acknowledge(
        self, incident: str, by: str, comment: str = "", *, verified: bool = False
    ) -> dict[str, Any]:
        """`verified`: `by` was authenticated (a personal token or basic auth), not just claimed."""
        self.db.run(lambda tx: self._acknowledge(tx, incident, by, comment, verified))
        self.refresh_gauges()
        return self.get_incident(incident) or {}

    def _acknowledge(self, tx: Tx, incident: str, by: str, comment: str, verified: bool) -> None:
        inc = self._lock_open_or_raise(tx, incident, "acknowledge")
        if inc.status == Status.acknowledged:
            raise InvalidTransition(f"incident {incident} is already acknowledged by {inc.acknowledged_by}")
        now = self.clock.now()
        inc.status = Status.acknowledged
        inc.acknowledged_by = by
        inc.acknowledged_at = now
        incidents_table.set_acknowledged(tx, inc.id, by, comment, now)
        self._announce_change(tx, inc, Event.acknowledge, now, status=Status.acknowledged)
        self._activity(tx, inc.id, "acknowledged", actor=by, comment=comment, verified=verified, now=now)

    def resolve(self, incident: str, by: str, comment: str = "", *, verified: bool = False) -> dict[str, Any]:
        def fn(tx: Tx) -> None:
            inc = self._lock_open_or_raise(tx, incident, "resolve")
            self._resolve(tx, inc, by=by, comment=comment, now=self.clock.now(), verified=verified)

        self.db.run(fn)
        self.refresh_gauges()
        return self.get_incident(incident) or {}

    def _lock_open_or_raise(self, tx: Tx, incident: str, action: str) -> OpenIncident:
        row = incidents_table.lock(tx, incident)
        if row is None:
            raise NotFound(f"no incident with id {incident!r}")
        if row["status"] not in (Status.triggered.value, Status.acknowledged.value):
            raise InvalidTransition(
                f"cannot {action} incident {incident}: it is {row['status']} "
                "(a resolved incident is never reopened; a new finding starts a new incident)"
            )
        return open_incident_from_row(row)

    def _resolve(
        self,
        tx: Tx,
        inc: OpenIncident,
        *,
        by: str,
        comment: str,
        now: float,
        verified: bool = False,
        activity: dict[str, Any] | None = None,
    ) -> None:
        """Resolve inside the caller's transaction (the incident row is locked): announce, stop the timers,
        and log who did it (`activity`: what else the log entry carries, e.g. the feedback verdict)."""
        incidents_table.set_resolved(tx, inc.id, by, comment, now)
        self._announce_change(tx, inc, Event.resolve, now, status=Status.resolved, resolved_at=now)
        targets_table.stop(tx, inc.id)
        self._activity(
            tx, inc.id, "resolved", actor=by, comment=comment, verified=verified, data=activity, now=now
        )
        inc.status = Status.resolved

    def _announce_change(
        self,
        tx: Tx,
        inc: OpenIncident,
        event: Event,
        now: float,
        *,
        status: Status,
        resolved_at: float | None = None,
    ) -> None:
        """Acknowledge/resolve go only to the channels that were told about the incident (its trigger row)."""
        for target in targets_table.of_incident(tx, inc.id):
            if event == Event.resolve and not target.send_resolved:
                continue
            channels = outbox_table.trigger_channels(tx, inc.id, target.receiver)
            if not channels:
                continue
            self._enqueue(
                tx, target, inc, event, now, status=status, resolved_at=resolved_at, channels=channels
            )
            targets_table.save(tx, target)

    # ------------------------------------------------------------------------------------------ outbox
    def claim_due(self, limit: int = 200) -> list[OutboxRow]:
        """Claim due rows at the head of their line for this worker, for one lease."""
        now = self.clock.now()
        with self.db.read() as tx:
            if not outbox_table.any_claimable(tx, now):
                return []  # idle: no write transaction (they serialize writers on SQLite)
        return self.db.run(lambda tx: outbox_table.claim(tx, self.worker, now, self.lease_s, limit))

    def release_gone_claims(self) -> int:
        """At start: the claims of a process of this host that died mid-delivery (SIGKILL) are given back
        at once instead of at the end of their lease, so a restart delivers them without waiting. Only on
        SQLite, where every worker runs on this host (a PostgreSQL store may be shared by hosts whose
        names and process ids collide: there the lease decides). Returns the rows released."""
        if self.db.dialect != "sqlite":
            return 0
        host = socket.gethostname()
        with self.db.read() as tx:
            gone = [w for w in outbox_table.claim_owners(tx) if is_gone_local_worker(w, host)]
        released = 0
        for owner in gone:
            released += self.db.run(lambda tx, o=owner: outbox_table.release_owner(tx, o))
        if released:
            log.info("took over %d notification claims of stopped processes (%s)", released, ", ".join(gone))
        return released

    def due_notifications(self, limit: int = 200, exclude: Any = ()) -> list[OutboxRow]:
        """Compatibility name of `claim_due` (rows are claimed: call it only to send them)."""
        return self.claim_due(limit)

    def renew_claims(self, rowids: Sequence[int]) -> None:
        until = self.clock.now() + self.lease_s
        if rowids:
            self.db.run(lambda tx: outbox_table.renew(tx, self.worker, rowids, until))

    def release_claim(self, row: OutboxRow, at: float) -> None:
        self.db.run(lambda tx: outbox_table.release(tx, row, self.worker, at))

    def next_notification_due(self) -> float | None:
        with self.db.read() as tx:
            return outbox_table.next_due(tx, self.clock.now())

    def suppression(self, row: OutboxRow) -> tuple[str, str] | None:
        """(status, reason) if the row must not be sent now; checked at send time, as Alertmanager does."""
        with self.db.read() as tx:
            if row.event in (Event.trigger.value, Event.update.value):
                later = outbox_table.later_sent_event(tx, row)
                if later is not None:
                    return "superseded", f"a later {later} notification was already delivered"
                labels = json.loads(row.payload).get("labels", {})
                silence = self.muting_silence(labels)
                if silence is not None:
                    return "suppressed", f"silenced by {silence.id}"
                source = self._inhibitor_source(row.incident_id, labels)
                if source is not None:
                    return "suppressed", f"inhibited by incident {source}"
                return None
            if not outbox_table.announced_before(tx, row):
                return "suppressed", NEVER_TOLD
        return None

    def _inhibitor_source(self, incident: str, labels: Mapping[str, str]) -> str | None:
        if not self.inhibitor.rules:
            return None
        now = self.clock.now()
        cache = self._sources_cache
        if cache is None or now - cache[0] > _CACHE_S or now < cache[0]:
            with self.db.read() as tx:
                cache = (now, incidents_table.open_labels(tx))
            self._sources_cache = cache
        return self.inhibitor.inhibited_by(incident, labels, cache[1])

    def _outcome(self, fn: Any) -> bool:
        done = bool(self.db.run(fn))
        if not done:
            log.info(
                "an outcome was not recorded: another worker took the claim over after the lease expired"
            )
        return done

    def mark_sent(self, row: OutboxRow, status: int | None) -> None:
        now = self.clock.now()
        self._outcome(lambda tx: outbox_table.mark_sent(tx, row, self.worker, status, now))

    def mark_retry(self, row: OutboxRow, *, delay_s: float, error: str | None, status: int | None) -> None:
        now = self.clock.now()
        self._outcome(
            lambda tx: outbox_table.mark_retry(tx, row, self.worker, now + delay_s, error, status, now)
        )

    def mark_dead(self, row: OutboxRow, *, error: str | None, status: int | None, reason: str) -> None:
        now = self.clock.now()

        def fn(tx: Tx) -> bool:
            done = outbox_table.mark_dead(tx, row, self.worker, error, status, reason, now)
            if done and row.event == Event.trigger.value:
                outbox_table.unannounce_unless_delivered(tx, row.incident_id, row.receiver)
            return done

        self._outcome(fn)
        self.refresh_gauges()

    def mark_suppressed(self, row: OutboxRow, status: str, reason: str) -> None:
        now = self.clock.now()

        def fn(tx: Tx) -> bool:
            done = outbox_table.mark_suppressed(tx, row, self.worker, status, reason, now)
            if done and row.event == Event.trigger.value and status == "suppressed":
                # Not announced after all: the next group flush tries again (e.g. once the silence ends).
                targets_table.unannounce(tx, row.incident_id, row.receiver)
            return done

        self._outcome(fn)

    def list_dead_letters(self, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        with self.db.read() as tx:
            return outbox_table.dead_letters(tx, limit, offset)

    def replay_dead_letter(self, notification_id: str) -> dict[str, Any]:
        """Queue a dead letter again so the receiver ends up with the incident's current state.

        Refused (marked superseded) if a later message of its line already went out. A dead trigger is queued
        again together with the acknowledge/resolve that were held back because the receiver never got it, in
        their order, so the receiver hears "trigger, then resolve"."""
        now = self.clock.now()

        def fn(tx: Tx) -> dict[str, Any]:
            row = outbox_table.get(tx, notification_id, lock=True)
            if row is None or row["status"] != "dead":
                raise NotFound(f"no dead letter with id {notification_id!r}")
            probe = outbox_row(row)
            if outbox_table.later_sent_event(tx, probe) is not None:
                outbox_table.supersede(
                    tx,
                    row["rowid"],
                    "not replayed: a later notification for this incident was already delivered",
                    now,
                )
            elif row["event"] == Event.trigger.value:
                outbox_table.replay_trigger(tx, probe.order_key, now)
            else:
                outbox_table.requeue(tx, row["rowid"], now)
            out = outbox_table.by_rowid(tx, row["rowid"])
            assert out is not None
            return notification_dict(out)

        result = self.db.run(fn)
        self.refresh_gauges()
        return result

    # ------------------------------------------------------------------------------------------ silences
    def create_silence(
        self,
        matchers: Sequence[Any],
        starts_at: float | str | None,
        ends_at: float | str | None,
        created_by: str,
        comment: str = "",
    ) -> dict[str, Any]:
        """Times are unix seconds or ISO 8601 strings; starts_at defaults to now."""
        now = self.clock.now()
        start = now if starts_at in (None, "") else parse_timestamp(starts_at, "starts_at")
        if ends_at in (None, ""):
            raise StoreError("ends_at is required (unix seconds or ISO 8601): when should the silence end?")
        end = parse_timestamp(ends_at, "ends_at")
        try:
            parsed = validate_silence(matchers, start, end, created_by)
        except ValueError as exc:
            raise StoreError(str(exc)) from None
        if end <= now:
            raise StoreError("ends_at is in the past: the silence would never be active")
        silence = Silence(str(uuid.uuid4()), parsed, start, end, created_by, comment, now, now)
        self.db.run(lambda tx: silences_table.insert(tx, silence))
        self._silences_cache = None
        return silence.to_dict(now)

    def _silences(self) -> list[Silence]:
        with self.db.read() as tx:
            return silences_table.all_silences(tx)

    def list_silences(self, state: str | None = None) -> list[dict[str, Any]]:
        if state is not None and state not in STATES:
            raise StoreError(f"unknown silence state {state!r}: use one of {', '.join(STATES)}")
        now = self.clock.now()
        out = [s.to_dict(now) for s in self._silences()]
        return [s for s in out if state is None or s["state"] == state]

    def get_silence(self, silence_id: str) -> dict[str, Any] | None:
        now = self.clock.now()
        return next((s.to_dict(now) for s in self._silences() if s.id == silence_id), None)

    def expire_silence(self, silence_id: str) -> dict[str, Any]:
        now = self.clock.now()
        if self.db.run(lambda tx: silences_table.expire(tx, silence_id, now)) is None:
            raise NotFound(f"no silence with id {silence_id!r}")
        self._silences_cache = None
        return self.get_silence(silence_id) or {}

    def muting_silence(self, labels: Mapping[str, str]) -> Silence | None:
        now = self.clock.now()
        cache = self._silences_cache
        if cache is None or now - cache[0] > _CACHE_S or now < cache[0]:
            cache = (now, self._silences())
            self._silences_cache = cache
        for silence in cache[1]:
            if silence.mutes(labels, now):
                return silence
        return None

    # ------------------------------------------------------------------------------------------ reads
    def list_incidents(self, *args: Any, **kwargs: Any) -> tuple[list[dict[str, Any]], int]:
        with self.db.read() as tx:
            return queries.list_incidents(tx, *args, **kwargs)

    def get_incident(self, incident: str) -> dict[str, Any] | None:
        with self.db.read() as tx:
            return queries.get_incident(tx, incident, self.cfg.max_samples)

    def list_findings(self, *args: Any, **kwargs: Any) -> tuple[list[dict[str, Any]], int]:
        with self.db.read() as tx:
            return queries.list_findings(tx, *args, **kwargs)

    def get_finding(self, finding_id: str) -> dict[str, Any] | None:
        with self.db.read() as tx:
            return queries.get_finding(tx, finding_id)

    def findings_by_ids(self, ids: list[str]) -> list[dict[str, Any]]:
        with self.db.read() as tx:
            return queries.findings_by_ids(tx, ids)

    def incidents_by_ids(self, ids: list[str]) -> list[dict[str, Any]]:
        with self.db.read() as tx:
            return queries.incidents_by_ids(tx, ids)

    def findings_timeseries(self, bucket_s: float = 60.0, since: float | None = None) -> dict[str, Any]:
        with self.db.read() as tx:
            return queries.findings_timeseries(tx, self.clock.now(), bucket_s, since)

    def counts(self) -> dict[str, Any]:
        with self.db.read() as tx:
            return queries.counts(tx)

    def counts_light(self) -> dict[str, Any]:
        with self.db.read() as tx:
            return queries.counts_light(tx)

    def open_incident_ids(self) -> list[str]:
        with self.db.read() as tx:
            return queries.open_incident_ids(tx)

    def refresh_metrics(self) -> None:
        """Every gauge derived from the store, for /metrics (incidents, dead letters, feedback)."""
        self.refresh_gauges()
        self.refresh_feedback_gauges()

    def refresh_gauges(self) -> None:
        try:
            c = self.counts_light()
        except Exception:  # gauges are best effort; the store being down is reported elsewhere
            log.debug("incident gauges not refreshed", exc_info=True)
            return
        for status, n in c["incidents"].items():
            metrics.INCIDENTS.labels(status=status).set(n)
        metrics.DEAD_LETTERS.set(c["dead_letters"])

    # ------------------------------------------------------------------------------------------ retention
    def prune(self) -> int:
        """Drop findings and finished outbox rows older than the retention; keeps the store bounded."""
        cutoff = self.clock.now() - self.cfg.findings_retention_hours * 3600.0
        return self.db.run(lambda tx: findings_table.prune(tx, cutoff) + outbox_table.prune(tx, cutoff))


#: The name the API, the CLI and older callers use.
IncidentStore = AlertsService
