"""The outbox dispatcher: delivers notification rows written by the store, at least once and in order.

Why an outbox: Alertmanager keeps notifications in memory, so a restart during an outage loses pages. Here
every notification is a SQLite row before any send; the dispatcher retries with exponential backoff and full
jitter, honours the receiver's Retry-After, paces each destination (Channel.min_interval_s), keeps the order
per incident+receiver+channel (the store hands out only the head of each line, so a resolve never overtakes
its trigger), and once its retry budget (`max_elapsed_time`, per receiver) is spent or the answer is a
permanent error moves the row to the dead letters. The budget is time, not attempts: a receiver that throttles
with Retry-After or resets connections for an hour must not burn a page's attempts in a minute.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait

from watchkeeper.alerts.channels.base import Channel, DeliveryResult
from watchkeeper.alerts.clock import Clock, SystemClock
from watchkeeper.alerts.config import OutboxConfig
from watchkeeper.alerts.model import Event, Incident, Notification
from watchkeeper.alerts.service import AlertsService
from watchkeeper.alerts.store import OutboxRow
from watchkeeper.core import metrics

log = logging.getLogger(__name__)


def backoff_delay(attempt: int, base_s: float, max_s: float, rng: random.Random | None = None) -> float:
    """Full jitter (AWS architecture blog): uniform in [0, min(max, base * 2**(attempt-1))]; attempt >= 1."""
    cap = min(max_s, base_s * (2 ** max(0, attempt - 1)))
    return (rng or random).uniform(0.0, cap)


def retry_delay(
    result: DeliveryResult, attempt: int, cfg: OutboxConfig, rng: random.Random | None = None
) -> float:
    """The wait before the next attempt: the receiver's Retry-After when given (capped), else backoff."""
    if result.retry_after_s is not None and result.retry_after_s >= 0:
        return min(float(result.retry_after_s), cfg.retry_after_max_s)
    return backoff_delay(attempt, cfg.backoff_base_s, cfg.backoff_max_s, rng)


def to_notification(row: OutboxRow, dashboard_url: str) -> Notification:
    incident = Incident.from_dict(json.loads(row.payload))
    return Notification(
        id=row.id,
        incident=incident,
        event=Event(row.event),
        receiver=row.receiver,
        channel=row.channel,
        dashboard_url=incident_url(dashboard_url, incident.id),
        created_at=row.created_at,
        attempt=row.attempts + 1,
    )


def incident_url(dashboard_url: str, incident: str) -> str:
    return f"{dashboard_url.rstrip('/')}/incidents/{incident}"


class Dispatcher:
    """Sends due outbox rows through the receivers' channels on a small worker pool."""

    def __init__(
        self,
        store: AlertsService,
        channels: Mapping[str, Sequence[Channel]],
        cfg: OutboxConfig,
        *,
        dashboard_url: str,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        retry_budgets: Mapping[str, float] | None = None,
    ) -> None:
        """`retry_budgets`: receiver -> seconds its notifications are retried (else cfg.max_elapsed_time)."""
        self.store = store
        self.channels = {name: list(chs) for name, chs in channels.items()}
        self.cfg = cfg
        self.retry_budgets = dict(retry_budgets or {})
        self.dashboard_url = dashboard_url
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.rng = rng or random.Random()
        self._pool = ThreadPoolExecutor(max_workers=cfg.workers, thread_name_prefix="alerts-send")
        self._inflight: dict[tuple[str, str, int], Future[None]] = {}
        self._inflight_rows: dict[tuple[str, str, int], int] = {}  # order key -> claimed outbox rowid
        self._renewed_at = 0.0
        self._lock = threading.Lock()
        self._next_allowed: dict[str, float] = {}  # destination_key -> earliest next send (pacing)
        self._wakeup = threading.Event()
        self._busy = False  # the last dispatch found the pool full or claimed all it asked for

    def dispatch_once(self, *, wait_for_sends: bool = False) -> int:
        """Claim every due row (bounded by the pool) and start sending it; returns the rows handled."""
        with self._lock:
            room = self.cfg.workers * 16 - len(self._inflight)
        if room <= 0:
            self._busy = True  # a send's completion wakes the loop
            return 0
        self._renew_claims()
        rows = self.store.claim_due(limit=room)
        self._busy = len(rows) >= room  # more rows may be due right now
        now = self.clock.now()
        started: list[Future[None]] = []
        handled = 0
        for row in rows:
            channel = self._channel(row)
            if channel is None:
                self.store.mark_dead(
                    row,
                    error=f"receiver {row.receiver!r} channel #{row.channel_idx} is not configured any more",
                    status=None,
                    reason="unknown receiver or channel",
                )
                handled += 1
                continue
            suppressed = self.store.suppression(row)
            if suppressed is not None:
                self.store.mark_suppressed(row, *suppressed)
                metrics.NOTIFICATIONS.labels(channel=row.channel, outcome=suppressed[0]).inc()
                handled += 1
                continue
            dest = f"{channel.kind}:{channel.destination_key}"
            with self._lock:
                paced_until = self._next_allowed.get(dest, 0.0)
                if paced_until <= now:
                    self._next_allowed[dest] = now + max(0.0, channel.min_interval_s())
                    future = self._pool.submit(self._send, row, channel, dest)
                    self._inflight[row.order_key] = future
                    self._inflight_rows[row.order_key] = row.rowid
            if paced_until > now:
                self.store.release_claim(row, paced_until)  # claimable again when the destination allows
                continue
            started.append(future)
            handled += 1
        if wait_for_sends and started:
            wait(started)
        return handled

    def _renew_claims(self) -> None:
        """Keep the claims of sends in flight (a slow receiver must not hand its row to another worker)."""
        now = self.clock.now()
        if now - self._renewed_at < self.store.lease_s / 3:
            return
        self._renewed_at = now
        with self._lock:
            rowids = list(self._inflight_rows.values())
        if rowids:
            self.store.renew_claims(rowids)

    def _channel(self, row: OutboxRow) -> Channel | None:
        chs = self.channels.get(row.receiver)
        if chs is None or row.channel_idx >= len(chs) or chs[row.channel_idx].kind != row.channel:
            return None  # the receiver was removed or reordered since the row was written
        return chs[row.channel_idx]

    def _send(self, row: OutboxRow, channel: Channel, dest: str) -> None:
        try:
            notification = to_notification(row, self.dashboard_url)
            try:
                result = channel.send(notification, timeout_s=self.cfg.send_timeout_s)
            except Exception as exc:  # a channel must not raise; if it does, treat it as a transient error
                log.exception("channel %s raised while sending %s", channel.kind, row.id)
                result = DeliveryResult(ok=False, retryable=True, error=f"{type(exc).__name__}: {exc}")
            self._record(row, channel, dest, result)
        except Exception:  # never let a worker die silently; the row stays pending and is retried
            log.exception("recording the outcome of %s failed", row.id)
        finally:
            with self._lock:
                self._inflight.pop(row.order_key, None)
                self._inflight_rows.pop(row.order_key, None)
            self._wakeup.set()

    def _record(self, row: OutboxRow, channel: Channel, dest: str, result: DeliveryResult) -> None:
        attempt = row.attempts + 1
        if result.ok:
            self.store.mark_sent(row, result.status)
            metrics.NOTIFICATIONS.labels(channel=channel.kind, outcome="sent").inc()
            return
        now = self.clock.now()
        deadline = row.retry_from + self.retry_budgets.get(row.receiver, self.cfg.max_elapsed_time)
        reason = None
        if not result.retryable:
            reason = "permanent error"
        elif self.cfg.max_attempts is not None and attempt >= self.cfg.max_attempts:
            reason = f"gave up after {attempt} attempts"
        elif now >= deadline:
            reason = f"gave up after {attempt} attempts over {_span(now - row.retry_from)}"
        if reason is not None:
            self.store.mark_dead(row, error=result.error, status=result.status, reason=reason)
            metrics.NOTIFICATIONS.labels(channel=channel.kind, outcome="dead").inc()
            log.warning(
                "notification %s to %s is a dead letter: %s (%s)", row.id, row.receiver, reason, result.error
            )
            return
        # One last attempt at the deadline rather than none: a wait never runs past the budget.
        delay = min(retry_delay(result, attempt, self.cfg, self.rng), max(0.0, deadline - now))
        if result.retry_after_s is not None:
            # The destination asked everybody to slow down, not just this message.
            with self._lock:
                self._next_allowed[dest] = max(self._next_allowed.get(dest, 0.0), now + delay)
        self.store.mark_retry(row, delay_s=delay, error=result.error, status=result.status)
        metrics.NOTIFICATIONS.labels(channel=channel.kind, outcome="retry").inc()

    def next_wake(self) -> float | None:
        """Clock time at which a row becomes claimable (a retry is due, a paced row is released, a claim
        expires); rows in flight here wake the loop when their send ends."""
        due = self.store.next_notification_due()
        if due is None:
            return None
        with self._lock:
            if self._inflight and due <= self.clock.now():
                return None  # heads of line still in flight here: their completion wakes the loop
        return due

    def wake(self) -> None:
        """New rows are waiting (or the stage is stopping): do not sleep out the poll interval."""
        self._wakeup.set()

    def run(self, stop: threading.Event) -> None:
        """Dispatch until stopped. While the pool is full or a claim took all it asked for, the loop goes
        on at the next send's completion (or at once) without asking the store when the next row is
        due: that query reads every pending line head, and a backlog of N rows asked it N times."""
        while not stop.is_set():
            self._wakeup.clear()
            try:
                self.dispatch_once()
                if self._busy:
                    with self._lock:
                        full = len(self._inflight) >= self.cfg.workers * 16
                    nxt = None if full else self.clock.now()
                else:
                    nxt = self.next_wake()
            except Exception:
                log.exception("outbox dispatch failed; retrying")
                nxt = None
            now = self.clock.now()
            delay = (
                self.cfg.poll_interval_s
                if nxt is None
                else min(self.cfg.poll_interval_s, max(0.0, nxt - now))
            )
            if delay > 0:
                self._wakeup.wait(delay)

    def close(self, timeout_s: float | None = None) -> None:
        """Let sends in flight finish and record their outcome (one send timeout at most), so a restart
        does not page twice; rows still unfinished stay pending and are resent after a restart."""
        with self._lock:
            futures = list(self._inflight.values())
        if futures:
            wait(futures, timeout=self.cfg.send_timeout_s + 1.0 if timeout_s is None else timeout_s)
        self._pool.shutdown(wait=False, cancel_futures=True)


def _span(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"
