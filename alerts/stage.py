"""The alerts stage: findings topic -> incident store -> group scheduler -> outbox -> channels.

Three threads, each with one job: the consumer folds findings into incidents and commits the bus position
only after the store transaction committed; the scheduler runs group timers (group_wait / group_interval /
repeat_interval) and auto-resolves quiet incidents; the dispatcher delivers the outbox. The same steps are
public (`poll_once`, `scheduler_tick`, `dispatcher.dispatch_once`) so timeline tests can drive them on a fake
clock without threads.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from watchkeeper.alerts.channels.base import Channel
from watchkeeper.alerts.clock import Clock, SystemClock
from watchkeeper.alerts.config import AlertsConfig
from watchkeeper.alerts.outbox import Dispatcher, incident_url
from watchkeeper.alerts.service import IncidentStore
from watchkeeper.core import metrics
from watchkeeper.core.bus.base import Bus, Consumer, Producer, Record, TopicsConfig
from watchkeeper.core.findings import Finding
from watchkeeper.core.stage import ConsumerLoop
from watchkeeper.core.store import Database

log = logging.getLogger(__name__)

_PRUNE_EVERY_S = 3600.0
#: Findings read per store transaction. A transaction reads and writes each open incident its findings
#: touch once, so a larger batch folds more findings per incident row (500 groups x 500 findings cost one
#: incident read and write per finding); 2,000 keeps a transaction well under the lease and the lock short.
BATCH_RECORDS = 2000
#: What a notification attempt ends as (watchkeeper_notifications{outcome=...}).
NOTIFICATION_OUTCOMES = ("sent", "retry", "dead", "suppressed", "superseded")


def _utf8_json(value: bytes | str) -> str | None:
    """The record's JSON object as text if it is plain UTF-8 (else None: stored re-encoded). JSON may
    also come as UTF-16/32 or with a BOM (its first bytes tell), and lone surrogates decode only
    leniently: none of those is kept as is."""
    if not isinstance(value, bytes) or value[:1] != b"{" or value[1:2] == b"\x00":
        return None
    try:
        return value.decode()
    except UnicodeDecodeError:
        return None


def default_channel_factory(cfg: AlertsConfig, dashboard_url: str) -> dict[str, list[Channel]]:
    """Channels of every receiver, built by the channels package."""
    from watchkeeper.alerts.channels import (
        build_channels,  # imported late: the channels package is optional in tests
    )

    return {r.name: list(build_channels(r, dashboard_url=dashboard_url)) for r in cfg.receivers}


class AlertsStage:
    def __init__(
        self,
        cfg: AlertsConfig,
        bus: Bus,
        topics: TopicsConfig,
        state_dir: Path,
        *,
        dashboard_url: str,
        clock: Clock | None = None,
        channels: Mapping[str, Sequence[Channel]] | None = None,
        channel_factory: Callable[[AlertsConfig, str], Mapping[str, Sequence[Channel]]] | None = None,
        store: Database | None = None,
    ) -> None:
        """`channels` (receiver name -> channels) replaces the configured ones; for tests and embedding.
        `store` is the shared store (default: the SQLite file in `state_dir`)."""
        self.cfg = cfg
        self.bus = bus
        self.topics = topics
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.dashboard_url = dashboard_url
        if channels is None:
            channels = (channel_factory or default_channel_factory)(cfg, dashboard_url)
        self.channels = {name: list(chs) for name, chs in channels.items()}
        kinds = {c.kind for chs in self.channels.values() for c in chs}
        metrics.zero(metrics.NOTIFICATIONS, [(k, o) for k in sorted(kinds) for o in NOTIFICATION_OUTCOMES])
        self.store = IncidentStore(
            store if store is not None else Path(state_dir),
            cfg,
            clock=self.clock,
            channel_kinds={name: [c.kind for c in chs] for name, chs in self.channels.items()},
        )
        self.dispatcher = Dispatcher(
            self.store,
            self.channels,
            cfg.outbox,
            dashboard_url=dashboard_url,
            clock=self.clock,
            retry_budgets={
                r.name: budget
                for r in cfg.receivers
                if (budget := getattr(r, "max_elapsed_time", None)) is not None
            },
        )
        self.loop = ConsumerLoop(
            "alerts consumer", bus, cfg.consumer_group, [topics.findings], self._consume, log=log
        )
        self.ready = self.loop.ready
        self._stop = threading.Event()
        self._schedule_wake = threading.Event()
        self._schedule_at = float("-inf")  # clock time the scheduler thread sleeps until (-inf: not asleep)
        self._threads: list[threading.Thread] = []
        self._last_prune = self.clock.now()
        self.bad_records = 0

    # ------------------------------------------------------------------ steps (also used by tests)
    @property
    def consumer(self) -> Consumer:
        return self.loop.consumer

    def poll_once(self, max_records: int = BATCH_RECORDS, timeout_s: float = 0.5) -> int:
        """Consume one batch, store it, then commit the bus position; returns the records consumed."""
        records = self.consumer.poll(max_records=max_records, timeout_s=timeout_s)
        if records:
            encoded: dict[str, str] = {}
            findings = self._decode(records, encoded)
            result = self.store.ingest(findings, encoded=encoded, refresh_gauges=False)
            if result.flushed:
                self.dispatcher.wake()  # first notifications were queued with the findings
            self.consumer.commit()
            due = result.next_flush_at
            if due is not None and due < self._schedule_at:
                self._schedule_wake.set()  # a group timer the scheduler does not wait for yet
            if result.incidents_created:
                self.store.refresh_gauges()
        return len(records)

    def _decode(self, records: Sequence[Record], encoded: dict[str, str] | None = None) -> list[Finding]:
        """Findings of the records (malformed ones skipped); `encoded` collects each finding's JSON."""
        out: list[Finding] = []
        for record in records:
            try:
                finding = Finding.from_json(record.value)
                out.append(finding)
                if encoded is not None and (text := _utf8_json(record.value)) is not None:
                    encoded.setdefault(finding.id, text)
            except (ValueError, TypeError, KeyError) as exc:
                # A malformed record can never succeed: skip it instead of blocking the partition forever.
                self.bad_records += 1
                log.warning(
                    "skipping malformed finding at %s[%d]@%d: %s",
                    record.topic,
                    record.partition,
                    record.offset,
                    exc,
                )
        return out

    def scheduler_tick(self) -> float | None:
        """Run due group flushes and auto-resolves; returns the clock time of the next due item."""
        nxt = self.store.run_due()
        self.dispatcher.wake()
        now = self.clock.now()
        if now - self._last_prune >= _PRUNE_EVERY_S:
            self._last_prune = now
            self.store.prune()
        return nxt

    # ------------------------------------------------------------------ threads
    def start(self) -> None:
        if self._threads:
            return
        self._stop.clear()
        self._resume_channels()
        self.store.release_gone_claims()
        self.loop.start()
        for name, target in (
            ("alerts-schedule", self._schedule_loop),
            ("alerts-dispatch", self._dispatch_loop),
        ):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def _resume_channels(self) -> None:
        """Channels re-sending open incidents (alertmanager) pick up, after a restart, those they had sent."""
        resumable = {
            (name, index): channel
            for name, chs in self.channels.items()
            for index, channel in enumerate(chs)
            if callable(getattr(channel, "resume", None))
        }
        if not resumable:
            return
        pending: dict[tuple[str, int], list[tuple[dict[str, Any], str]]] = {key: [] for key in resumable}
        for incident_id in self.store.open_incident_ids():
            detail = self.store.get_incident(incident_id)
            if detail is None:
                continue
            url = incident_url(self.dashboard_url, incident_id)
            sent = {
                (n["receiver"], n["channel_index"])
                for n in detail.get("notifications", [])
                if n.get("status") == "sent" and n.get("event") != "resolve"
            }
            for key in sent & pending.keys():
                pending[key].append((detail, url))
        for key, channel in resumable.items():
            channel.resume(pending[key])  # type: ignore[attr-defined]

    def _consume(self, consumer: Consumer, producer: Producer | None) -> None:
        self.poll_once(timeout_s=0.2)

    @property
    def healthy(self) -> bool:
        alive = self.loop.alive and all(t.is_alive() for t in self._threads)
        return alive and self.loop.healthy

    @property
    def last_error(self) -> str | None:
        return self.loop.last_error

    def refresh_metrics(self) -> None:
        """Incident gauges for /metrics (ack, resolve and auto-resolve change them too)."""
        self.store.refresh_metrics()

    def _schedule_loop(self) -> None:
        while not self._stop.is_set():
            self._schedule_wake.clear()
            try:
                nxt = self.scheduler_tick()
            except Exception:
                log.exception("alerts scheduler failed; retrying in 1s")
                nxt = None
            now = self.clock.now()
            delay = 1.0 if nxt is None else min(1.0, max(0.0, nxt - now))
            if delay > 0:
                self._schedule_at = now + delay
                self._schedule_wake.wait(delay)
                self._schedule_at = float("-inf")

    def _dispatch_loop(self) -> None:
        self.dispatcher.run(self._stop)

    def stop(self) -> None:
        """Finish the current batch (commit included), stop the threads, release the store and channels."""
        self._stop.set()
        self._schedule_wake.set()
        self.dispatcher.wake()
        self.loop.stop(timeout_s=30.0)  # a Kafka poll may be waiting for a group join to finish
        for thread in self._threads:
            thread.join(timeout=30.0)
        self._threads.clear()
        self.dispatcher.close()
        for chs in self.channels.values():
            for channel in chs:
                close = getattr(channel, "close", None)
                if callable(close):
                    try:
                        close()
                    except Exception:
                        log.debug("channel close failed", exc_info=True)
        self.store.close()
