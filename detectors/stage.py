"""The detectors stage: spans (and content log events) from the bus -> ModelCalls -> detectors -> findings.

At-least-once, and exact for detector state: findings (and dead letters) are published per batch; every
`checkpoint_interval_s` (and before a partition is handed over, and at stop) one store transaction writes the
detectors' changed per-app state, the calls still waiting for their log events, and the next input offset of
each partition; the bus is committed after it. After a crash or a partition move, records below the stored
offset are skipped (their effects are in the checkpoint) and the rest is replayed onto the checkpointed state,
so the findings are those of an undisturbed run (finding ids are deterministic, so re-published findings have
no second effect downstream). Records that cannot be decoded, and calls a detector raised on, go to the
dead-letter topic.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from watchkeeper.core import metrics
from watchkeeper.core.bus.base import DETECTORS_GROUP, Bus, Consumer, Producer, Record
from watchkeeper.core.bus.config import TopicsConfig
from watchkeeper.core.decoding import CallDecoder
from watchkeeper.core.detector import Detector
from watchkeeper.core.findings import Finding, Severity
from watchkeeper.core.records import ModelCall
from watchkeeper.core.stage import ConsumerLoop
from watchkeeper.core.store import Database, SqliteDatabase
from watchkeeper.core.store.config import DEFAULT_FILENAME
from watchkeeper.detectors.config import DetectorsConfig
from watchkeeper.detectors.evaluation_events import EvaluationEvents
from watchkeeper.detectors.registry import build_suite
from watchkeeper.detectors.state import Checkpoints, Partition

log = logging.getLogger("watchkeeper.detectors")

Letters = list[tuple[bytes | None, bytes]]  # dead letters: (key, value)
DETECTOR_FAILURE = "detector_failure"


class DetectorsStage:
    group = DETECTORS_GROUP

    def __init__(
        self,
        cfg: DetectorsConfig,
        bus: Bus,
        topics: TopicsConfig,
        state_dir: Path,
        *,
        decoder: CallDecoder,
        store: Database | None = None,
        recorder: Callable[[list[ModelCall], list[Finding]], None] | None = None,
    ) -> None:
        """`decoder` turns bus records into ModelCalls (the collector's translation, wired by the daemon);
        `store` is the shared store (default: the SQLite file in `state_dir`); `recorder`, when given, keeps
        each judged batch with its findings (the calls explorer's store)."""
        self.cfg = cfg
        self.recorder = recorder
        self.bus = bus
        self.topics = topics
        metrics.set_app_label_limit(cfg.max_app_labels)
        self._owns_db = store is None
        self.db = store if store is not None else SqliteDatabase(Path(state_dir) / DEFAULT_FILENAME)
        self.checkpoints = Checkpoints(self.db, self.group, capacity=cfg.max_hot_apps)
        self.detectors: list[Detector] = build_suite(
            cfg.detector_settings(), self.checkpoints.namespace, Path(state_dir), store=self.db
        )
        names = [d.name for d in self.detectors]
        metrics.zero(metrics.DETECTOR_ERRORS, [(n,) for n in names])
        metrics.zero(metrics.FINDINGS, [(n, s.value) for n in names for s in Severity])
        metrics.zero(metrics.FINDINGS_SUPPRESSED, [(n,) for n in names])
        self.decoder = decoder
        self._restored: list[
            ModelCall
        ] = []  # held calls beyond the decoder's bound: analyzed with the next batch
        self._owned: set[Partition] = set()
        self._positions: dict[Partition, int] = {}  # next offset to analyze, per owned partition
        self._app_partition: dict[str, Partition] = {}  # where each app in memory comes from
        self._consumer: Consumer | None = None
        self._checkpointed_at = time.monotonic()
        self.skipped_replayed = 0  # records skipped because a checkpoint already holds their effects
        self.evaluation_events: EvaluationEvents | None = None
        if cfg.evaluation_events_endpoint:
            self.evaluation_events = EvaluationEvents(cfg.evaluation_events_endpoint)
        self.loop = ConsumerLoop(
            "detectors stage",
            bus,
            self.group,
            [topics.spans, topics.logs],
            self._step,
            log=log,
            publishes=True,
            listener=self,
            on_error=self._rollback,
            before_close=self._checkpoint,
        )
        self.ready = self.loop.ready
        self.calls_processed = 0
        # Spans per record of the last poll: how many records the next poll asks for (None: ask for one).
        self._spans_per_record: float | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        log.info("detectors stage running: %s", ", ".join(d.name for d in self.detectors))
        self.loop.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        if not self.loop.stop(timeout_s):  # never touch state under a running batch: it is replayed instead
            log.error("detectors stage did not finish its batch within %.0f s; state not flushed", timeout_s)
            return
        for detector in self.detectors:
            detector.close()
        if self.evaluation_events is not None:
            self.evaluation_events.close()
        if self._owns_db:
            self.db.close()

    @property
    def healthy(self) -> bool:
        return self.loop.healthy

    @property
    def last_error(self) -> str | None:
        return self.loop.last_error

    # -- processing ------------------------------------------------------------------------------
    def analyze(self, calls: list[ModelCall]) -> tuple[list[Finding], list[tuple[bytes | None, bytes]]]:
        """Run every detector over a batch: (findings, dead letters).

        One failing detector never stops the others, and never stalls the stream (a retry would fail the same
        way); each call a detector could not analyze becomes one dead letter naming the detectors and errors,
        so none is silently left unanalyzed.
        """
        findings: list[Finding] = []
        failures: dict[int, list[dict[str, str]]] = {}
        for detector in self.detectors:
            started = time.perf_counter()
            try:
                findings.extend(detector.observe_batch(calls))
            except Exception as exc:  # a detector bug must not stall the pipeline
                metrics.DETECTOR_ERRORS.labels(detector.name).inc()
                log.exception(
                    "detector %s failed on a batch of %d calls (%s); the calls are kept in %s",
                    detector.name,
                    len(calls),
                    exc,
                    self.topics.deadletter,
                )
                error = {"detector": detector.name, "error": f"{type(exc).__name__}: {exc}"}
                for i, call in enumerate(calls):
                    if detector.applies_to(call):
                        failures.setdefault(i, []).append(error)
            metrics.DETECTOR_SECONDS.labels(detector.name).observe(time.perf_counter() - started)
        return findings, [detector_failure(calls[i], errors) for i, errors in failures.items()]

    def _poll(self, consumer: Consumer) -> tuple[list[Record], list[ModelCall], Letters]:
        """One batch: records polled until they hold `batch_size` spans (a record is never split, so a batch
        overshoots by at most what one poll brings), decoded as they come; with the calls restored after a
        restart and those whose wait for log events is over."""
        calls, self._restored = self._restored, []
        dead: Letters = []
        records: list[Record] = []
        spans, timeout = 0, 0.5
        while spans < self.cfg.batch_size:
            room = self.cfg.batch_size - spans
            per_record = self._spans_per_record
            limit = 1 if per_record is None else max(1, min(room, round(room / per_record)))
            polled = consumer.poll(limit, timeout_s=timeout)
            if not polled:
                break
            # Below the checkpointed position: analyzed before, its effects are in the checkpointed state.
            got = [r for r in polled if r.offset >= self._positions.get((r.topic, r.partition), 0)]
            self.skipped_replayed += len(polled) - len(got)
            if not got:
                continue
            records.extend(got)
            counted = self._decode(got, calls, dead)
            spans += counted
            self._spans_per_record = max(1.0, counted / len(got))
            timeout = 0.0  # the rest of the batch only if it is there already
        calls.extend(self.decoder.flush(time.time()))
        return records, calls, dead

    def _decode(self, records: list[Record], calls: list[ModelCall], dead: Letters) -> int:
        """Decode into `calls` and `dead`; returns the spans the records carried (a logs record counts 1)."""
        spans = 0
        for record in records:
            try:
                decoded = self.decoder.decode(record)
            except Exception as exc:  # the intake validated it; anything left is a bug or a foreign producer
                log.warning(
                    "record %s/%d@%d cannot be decoded (%s); moved to %s",
                    record.topic,
                    record.partition,
                    record.offset,
                    exc,
                    self.topics.deadletter,
                )
                dead.append((record.key, record.value))
                spans += 1
                continue
            spans += max(1, decoded.spans)
            if record.topic == self.topics.spans and record.key:  # spans are keyed by app
                self._app_partition[record.key.decode(errors="replace")] = (record.topic, record.partition)
            for call in decoded.calls:
                self._app_partition.setdefault(call.service, (record.topic, record.partition))
            calls.extend(decoded.calls)
            for span, error in decoded.unreadable:  # one bad span is one bad span: the others are analyzed
                log.warning(
                    "a span of record %s/%d@%d cannot be read (%s); that span alone moved to %s",
                    record.topic,
                    record.partition,
                    record.offset,
                    error,
                    self.topics.deadletter,
                )
                dead.append((record.key, span))
        return spans

    def _step(self, consumer: Consumer, producer: Producer | None) -> None:
        assert producer is not None  # the loop publishes
        self._consumer = consumer
        records, calls, dead = self._poll(consumer)
        if records or calls:
            self.checkpoints.prefetch({c.service for c in calls})
            findings, failed = self.analyze(calls) if calls else ([], [])
            for call in calls:
                app = metrics.app_label(call.service)
                metrics.CALLS_TRACED.labels(app, call.provider).inc()
                model = call.response_model or call.request_model
                metrics.GENAI_DURATION.labels(app, call.provider, model, call.operation).observe(
                    call.duration_ms / 1000.0
                )
                for kind, tokens in (("input", call.input_tokens), ("output", call.output_tokens)):
                    if tokens is not None:
                        metrics.GENAI_TOKENS.labels(app, call.provider, model, kind).observe(tokens)
            if findings:
                # Keyed by app, like the spans: one app's findings stay in order on one partition.
                producer.publish(
                    self.topics.findings, [(f.labels.get("app", "").encode(), f.to_json()) for f in findings]
                )
                for f in findings:
                    metrics.FINDINGS.labels(f.detector, f.severity.value).inc()
                if self.evaluation_events is not None:
                    self.evaluation_events.emit(findings)
            if dead or failed:  # after the findings; a replayed batch repeats letters under the same id
                producer.publish(self.topics.deadletter, dead + failed)
            if self.recorder is not None and calls:
                self._record(calls, findings)
            for record in records:
                self._positions[(record.topic, record.partition)] = record.offset + 1
            self.calls_processed += len(calls)
        self.checkpoints.end_batch()
        due = time.monotonic() - self._checkpointed_at >= self.cfg.checkpoint_interval_s
        if (due and (records or self.checkpoints.dirty)) or self.checkpoints.needs_checkpoint:
            self._checkpoint(consumer)

    # -- checkpoints and partition ownership -----------------------------------------------------------
    def _checkpoint(self, consumer: Consumer | None) -> None:
        """State + held calls + positions in one store transaction, then the (advisory) bus commit."""
        pending: dict[Partition, list[dict[str, Any]]] = {tp: [] for tp in self._owned}
        for call in self.decoder.pending():
            tp = self._app_partition.get(call.service)
            if tp is not None:
                pending.setdefault(tp, []).append(call.to_dict())
        positions = {tp: self._positions[tp] for tp in self._owned if tp in self._positions}
        self.checkpoints.checkpoint(positions, pending)
        self._checkpointed_at = time.monotonic()
        if consumer is not None:
            consumer.commit()
        live = {c.service for c in self.decoder.pending()}
        for container in self.checkpoints.containers:
            live.update(container.apps())
        for app in [a for a in self._app_partition if a not in live]:
            del self._app_partition[app]

    def on_assigned(self, partitions: Sequence[Partition]) -> None:
        """Before the first record of a gained partition: its position and held calls; stale apps dropped."""
        parts = set(partitions)
        self._forget(parts)
        self._owned |= parts
        self._positions.update(self.checkpoints.positions(parts))
        for tp, calls in self.checkpoints.pending(parts).items():
            restored = [ModelCall.from_dict(c) for c in calls]
            for call in restored:
                self._app_partition[call.service] = tp
            # Held calls beyond the decoder's bound are analyzed with the next batch, not dropped.
            self._restored.extend(self.decoder.restore(restored))
        log.info("detectors: assigned %s", ", ".join(f"{t}[{p}]" for t, p in sorted(parts)))

    def on_revoked(self, partitions: Sequence[Partition]) -> None:
        """Before a partition goes to another worker: checkpoint, then forget its apps."""
        parts = set(partitions) & self._owned
        if self.loop.last_error is None:
            self._checkpoint(self._consumer)
        self._forget(parts)
        self._owned -= parts
        log.info("detectors: revoked %s", ", ".join(f"{t}[{p}]" for t, p in sorted(parts)))

    def _forget(self, parts: set[Partition]) -> None:
        apps = [a for a, tp in self._app_partition.items() if tp in parts]
        if apps:
            self.checkpoints.evict(apps)
            self.decoder.discard(set(apps))
            for app in apps:
                del self._app_partition[app]
        for tp in parts:
            self._positions.pop(tp, None)

    def _rollback(self) -> None:
        """After a failed batch: back to the last checkpoint (memory may hold half a batch's effects)."""
        n = len(self._app_partition)
        self.checkpoints.discard_all()
        self.decoder.discard(set(self._app_partition) | {c.service for c in self.decoder.pending()})
        self._restored = []
        self._app_partition.clear()
        owned, self._owned = set(self._owned), set()
        self._positions.clear()
        self._consumer = None
        if owned:
            self.on_assigned(sorted(owned))
        log.info("detectors: state of %d apps reloaded from the last checkpoint", n)

    def _record(self, calls: list[ModelCall], findings: list[Finding]) -> None:
        """The calls explorer is a view: failing to keep a batch there (full disk) must not stop detection."""
        assert self.recorder is not None
        try:
            self.recorder(calls, findings)
        except Exception as exc:
            metrics.CALLS_RECORD_ERRORS.inc()
            log.error(
                "could not record %d calls for the calls explorer (%s); detection goes on", len(calls), exc
            )


def detector_failure(call: ModelCall, errors: list[dict[str, str]]) -> tuple[bytes, bytes]:
    """The dead letter of one call that detectors could not analyze: strict JSON (non-finite numbers become
    null), keyed and identified by the span, so a reader can deduplicate letters of a replayed batch. Records
    that could not be decoded at all keep their original key and bytes instead."""
    span_id = f"{call.trace_id}:{call.span_id}"
    envelope = {
        "kind": DETECTOR_FAILURE,
        "id": span_id,
        "failures": errors,
        "failed_at": time.time(),
        "call": _strict_json(call.to_dict()),
    }
    return f"{DETECTOR_FAILURE}:{span_id}".encode(), json.dumps(envelope, allow_nan=False).encode()


def _strict_json(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _strict_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_strict_json(v) for v in value]
    if value is None or isinstance(value, str | int | bool):
        return value
    return str(value)
