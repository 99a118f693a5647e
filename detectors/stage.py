"""The detectors stage: spans (and content log events) from the bus -> ModelCalls -> detectors -> findings.

At-least-once: the input position is committed only after the findings (and dead letters) are published and
detector state is flushed; calls still waiting for their log events are persisted with the state, so a crash
loses none. Records that cannot be decoded, and calls a detector raised on, go to the dead-letter topic.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
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
from watchkeeper.detectors.config import DetectorsConfig
from watchkeeper.detectors.evaluation_events import EvaluationEvents
from watchkeeper.detectors.registry import build_suite
from watchkeeper.detectors.state import StateDb

log = logging.getLogger("watchkeeper.detectors")

PENDING_KEY = "pending_calls"
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
        recorder: Callable[[list[ModelCall], list[Finding]], None] | None = None,
    ) -> None:
        """`decoder` turns bus records into ModelCalls (the collector's translation, wired by the daemon);
        `recorder`, when given, keeps each judged batch with its findings (the calls explorer's store)."""
        self.cfg = cfg
        self.recorder = recorder
        self.bus = bus
        self.topics = topics
        self.state_db = StateDb(Path(state_dir) / "detectors.sqlite3")
        self._stage_state = self.state_db.namespace("stage")
        self.detectors: list[Detector] = build_suite(
            cfg.detector_settings(), self.state_db.namespace, Path(state_dir)
        )
        names = [d.name for d in self.detectors]
        metrics.zero(metrics.DETECTOR_ERRORS, [(n,) for n in names])
        metrics.zero(metrics.FINDINGS, [(n, s.value) for n in names for s in Severity])
        metrics.zero(metrics.FINDINGS_SUPPRESSED, [(n,) for n in names])
        self.decoder = decoder
        pending = self._stage_state.get(PENDING_KEY) or []
        # Persisted calls beyond the decoder's bound are analyzed with the first batch, not dropped.
        self._restored = self.decoder.restore([ModelCall.from_dict(c) for c in pending]) if pending else []
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
        self.state_db.flush()
        if self.evaluation_events is not None:
            self.evaluation_events.close()

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
            got = consumer.poll(limit, timeout_s=timeout)
            if not got:
                break
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
        records, calls, dead = self._poll(consumer)
        if not records and not calls:
            return
        findings, failed = self.analyze(calls) if calls else ([], [])
        for call in calls:
            metrics.CALLS_TRACED.labels(call.service, call.provider).inc()
            model = call.response_model or call.request_model
            metrics.GENAI_DURATION.labels(call.service, call.provider, model, call.operation).observe(
                call.duration_ms / 1000.0
            )
            for kind, tokens in (("input", call.input_tokens), ("output", call.output_tokens)):
                if tokens is not None:
                    metrics.GENAI_TOKENS.labels(call.service, call.provider, model, kind).observe(tokens)
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
        self._stage_state.put(PENDING_KEY, [c.to_dict() for c in self.decoder.pending()])
        self.state_db.flush()
        consumer.commit()
        self.calls_processed += len(calls)

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
