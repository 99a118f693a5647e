"""What a stage is to the daemon (`Stage`), and the one consumer loop every stage that reads the bus runs.

The loop owns the at-least-once rhythm: poll a batch, let the stage process it, and let the stage commit only
after its output is durable. When anything fails (a bus outage, a full disk, a bug), the loop records the
error for /readyz, drops the consumer and, after `RETRY_S`, opens a fresh one, which resumes from the last
committed position: nothing is skipped, and a batch half done is simply read again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from watchkeeper.core import metrics
from watchkeeper.core.bus.base import Bus, BusError, Consumer, PartitionListener, Producer

#: Wait before a fresh consumer after a failed batch. The detectors stage waited 2 s, the alerts stage 1 s:
#: the shorter wait is kept, since a transient failure (a broker restart) then costs less delay and nothing is
#: lost either way (the batch is read again from the committed position).
RETRY_S = 1.0
#: How often the consumer lag is sampled for `watchkeeper_bus_lag`. A lag query costs broker round trips on
#: Kafka; the detectors stage sampled every 10 s, the alerts stage every 5 s (and after every batch): every
#: 5 s is kept, fresh enough for a dashboard and cheap on a busy stream.
LAG_EVERY_S = 5.0


class Stage(Protocol):
    """A stage the daemon runs: started once, stopped once, asked whether it can do its job now (/readyz)."""

    last_error: str | None

    def start(self) -> None: ...

    def stop(self) -> None: ...

    @property
    def healthy(self) -> bool: ...


class ConsumerLoop:
    """Runs `process(consumer, producer)` in a thread until stopped; the stage's step polls and commits.

    The consumer (and the producer, when the stage publishes) lives and dies on the loop's thread: Kafka
    consumers are not thread-safe. Lag is best effort: failing to read it never fails a batch.
    """

    def __init__(
        self,
        name: str,
        bus: Bus,
        group: str,
        topics: Sequence[str],
        process: Callable[[Consumer, Producer | None], object],
        *,
        log: logging.Logger,
        publishes: bool = False,
        retry_s: float = RETRY_S,
        lag_every_s: float = LAG_EVERY_S,
        listener: PartitionListener | None = None,
        on_error: Callable[[], object] | None = None,
        before_close: Callable[[Consumer], object] | None = None,
    ) -> None:
        """`listener` hears of partitions gained and lost (stages whose state follows the partition);
        `on_error` runs after a failed batch, before a fresh consumer (e.g. back to the last checkpoint);
        `before_close` runs when the loop stops cleanly, before the consumer closes (e.g. a last
        checkpoint)."""
        self.name = name
        self.bus = bus
        self.group = group
        self.topics = list(topics)
        self.process = process
        self.log = log
        self.publishes = publishes
        self.retry_s = retry_s
        self.lag_every_s = lag_every_s
        self.listener = listener
        self.on_error = on_error
        self.before_close = before_close
        self.ready = threading.Event()
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._consumer: Consumer | None = None
        self._producer: Producer | None = None
        self._lag_at: float | None = None

    # -- the resources, created on first use (timeline tests drive a stage's step without the thread) ---
    @property
    def consumer(self) -> Consumer:
        if self._consumer is None:
            self._consumer = self.bus.consumer(self.group, self.topics, listener=self.listener)
        return self._consumer

    @property
    def producer(self) -> Producer:
        if self._producer is None:
            self._producer = self.bus.producer()
        return self._producer

    def close_consumer(self) -> None:
        consumer, self._consumer = self._consumer, None
        _close_quietly(consumer, self.log)

    # -- the thread ---------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Ask the loop to finish its batch (commit included); True when it did within `timeout_s`."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is None:
            return True
        thread.join(timeout_s)
        return not thread.is_alive()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def healthy(self) -> bool:
        return self.alive and self.ready.is_set() and self.last_error is None

    @property
    def stopping(self) -> threading.Event:
        return self._stop

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    producer = self.producer if self.publishes else None
                    self.process(self.consumer, producer)
                    self.last_error = None
                    self.ready.set()  # ready once a batch went through: the consumer reads and commits
                except Exception as exc:  # a bus outage, a full disk, a bug: never die silently
                    self.last_error = f"{type(exc).__name__}: {exc}"
                    self.log.error(
                        "%s failed on a batch (%s); uncommitted records are read again in %g s",
                        self.name,
                        self.last_error,
                        self.retry_s,
                        exc_info=not isinstance(exc, BusError),
                    )
                    # A fresh consumer resumes from the last committed position: nothing is skipped.
                    self.close_consumer()
                    if self.on_error is not None:
                        try:
                            self.on_error()
                        except Exception:
                            self.log.exception("%s: recovering from the failed batch failed", self.name)
                    self._stop.wait(self.retry_s)
                    continue
                self._sample_lag()
        finally:
            if self.before_close is not None and self._consumer is not None and self.last_error is None:
                try:
                    self.before_close(self._consumer)
                except Exception:
                    self.log.exception("%s: the last step before stopping failed", self.name)
            self.close_consumer()
            producer, self._producer = self._producer, None
            _close_quietly(producer, self.log)

    def _sample_lag(self) -> None:
        now = time.monotonic()
        if self._lag_at is not None and now - self._lag_at < self.lag_every_s:
            return
        self._lag_at = now
        try:
            metrics.BUS_LAG.labels(group=self.group).set(self.consumer.lag())
        except Exception:  # lag is best effort
            self.log.debug("bus lag unavailable", exc_info=True)


def _close_quietly(resource: Consumer | Producer | None, log: logging.Logger) -> None:
    if resource is not None:
        try:
            resource.close()
        except Exception:
            log.debug("closing %s failed", type(resource).__name__, exc_info=True)
