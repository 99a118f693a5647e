"""Prometheus metrics of the daemon, one registry for all stages (served on /metrics)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.gc_collector import GCCollector
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

REGISTRY = CollectorRegistry(auto_describe=True)
# The standard process_* (CPU, memory, open files, start time), python_info and python_gc_* series, as every
# Prometheus client exports them, so the usual process dashboards and alerts work on the daemon.
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)


def zero(metric: MetricWrapperBase, label_sets: Iterable[tuple[str, ...]]) -> None:
    """Create the series of `metric` for every known label set, so /metrics shows 0 rather than nothing
    (a dashboard panel then reads 0 instead of "No data", and rate() works from the first increment)."""
    for labels in label_sets:
        metric.labels(*labels)


SPANS_RECEIVED = Counter(
    "watchkeeper_intake_spans_received", "Spans accepted by the intake", ["transport"], registry=REGISTRY
)
INTAKE_REJECTS = Counter(
    "watchkeeper_intake_rejects",
    "Requests or spans the intake refused",
    ["transport", "reason"],
    registry=REGISTRY,
)
CALLS_TRACED = Counter(
    "watchkeeper_calls_traced", "Model calls normalized and analyzed", ["app", "provider"], registry=REGISTRY
)
# The GenAI client distributions (gen_ai.client.operation.duration / token.usage), derived from the spans the
# daemon receives, so instrumented apps need not record them (the SDK's histograms are off by default).
GENAI_DURATION = Histogram(
    "watchkeeper_genai_operation_duration_seconds",
    "Duration of the model calls the daemon analyzed (gen_ai.client.operation.duration)",
    ["app", "provider", "model", "operation"],
    registry=REGISTRY,
    buckets=(0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92),
)
GENAI_TOKENS = Histogram(
    "watchkeeper_genai_token_usage",
    "Tokens per model call by type, input or output (gen_ai.client.token.usage)",
    ["app", "provider", "model", "type"],
    registry=REGISTRY,
    buckets=(1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864),
)
CONTENT_SAFETY_CALLS = Counter(
    "watchkeeper_content_safety_calls",
    "Answers judged by content safety, by judge: semantic (the multilingual judge) or lexical (over budget)",
    ["app", "judge"],
    registry=REGISTRY,
)
CONTENT_SAFETY_COVERAGE = Gauge(
    "watchkeeper_content_safety_coverage",
    "Share of the last batch's answers the semantic judge read, per app (1 = every call)",
    ["app"],
    registry=REGISTRY,
)
FINDINGS = Counter("watchkeeper_findings", "Findings raised", ["detector", "severity"], registry=REGISTRY)
DETECTOR_ERRORS = Counter(
    "watchkeeper_detector_errors",
    "Detector exceptions (the call is skipped by that detector)",
    ["detector"],
    registry=REGISTRY,
)
DETECTOR_SECONDS = Histogram(
    "watchkeeper_detector_seconds",
    "Time per batch per detector",
    ["detector"],
    registry=REGISTRY,
    buckets=(0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5),
)
INCIDENTS = Gauge("watchkeeper_incidents", "Incidents by status", ["status"], registry=REGISTRY)
NOTIFICATIONS = Counter(
    "watchkeeper_notifications", "Notification attempts", ["channel", "outcome"], registry=REGISTRY
)
DEAD_LETTERS = Gauge("watchkeeper_dead_letters", "Notifications in the dead-letter list", registry=REGISTRY)
BUS_LAG = Gauge(
    "watchkeeper_bus_lag", "Records not yet processed per consumer group", ["group"], registry=REGISTRY
)
CALLS_RECORD_ERRORS = Counter(
    "watchkeeper_calls_record_errors",
    "Batches of calls the calls explorer could not keep (detection went on)",
    registry=REGISTRY,
)
FEEDBACK = Counter(
    "watchkeeper_feedback",
    "Verdicts people gave on findings and incidents",
    ["detector", "verdict"],
    registry=REGISTRY,
)
FEEDBACK_VERDICTS = Gauge(
    "watchkeeper_feedback_verdicts",
    "Verdicts on record per detector (false_positive, confirmed)",
    ["detector", "verdict"],
    registry=REGISTRY,
)
FALSE_POSITIVE_RATE = Gauge(
    "watchkeeper_false_positive_rate",
    "Share of a detector's judged findings that people marked false positive (0-1)",
    ["detector"],
    registry=REGISTRY,
)
FINDINGS_SUPPRESSED = Counter(
    "watchkeeper_findings_suppressed",
    "Findings muted as near-duplicates of a false positive (stored, no incident, no page)",
    ["detector"],
    registry=REGISTRY,
)
SPAN_VALUES_DROPPED = Counter(
    "watchkeeper_span_values_dropped",
    "Span numbers that cannot be true (negative, not finite, absurdly large) read as unknown",
    ["field"],
    registry=REGISTRY,
)
SPANS_UNREADABLE = Counter(
    "watchkeeper_spans_unreadable",
    "Spans the translation could not read: each went alone to the dead-letter topic",
    registry=REGISTRY,
)
INTAKE_DETECTOR_BACKLOG = Gauge(
    "watchkeeper_intake_detector_backlog_spans",
    "Spans waiting for the detectors, as the intake estimates them for backpressure",
    registry=REGISTRY,
)


# --- label cardinality: per-app label values are capped so 50,000 distinct apps cannot grow memory ---------
OTHER_APP = "__other__"
MAX_APP_LABELS = 1000  # set from limits at start (`metrics.set_app_label_limit`)
APP_LABEL_OVERFLOW = Counter(
    "watchkeeper_app_label_overflow",
    "Observations whose app label was replaced by __other__ (more distinct apps than the label limit)",
    registry=REGISTRY,
)
_app_labels: set[str] = set()
_app_labels_lock = threading.Lock()
_overflow_logged_at = 0.0


def set_app_label_limit(limit: int) -> None:
    global MAX_APP_LABELS
    MAX_APP_LABELS = max(1, int(limit))


def app_label(app: str) -> str:
    """The `app` label value for a metric: the app itself while fewer than the limit are known, else
    `__other__` (one WARNING per minute says so and names the setting)."""
    if app in _app_labels:
        return app
    with _app_labels_lock:
        if app in _app_labels:
            return app
        if len(_app_labels) < MAX_APP_LABELS:
            _app_labels.add(app)
            return app
    APP_LABEL_OVERFLOW.inc()
    global _overflow_logged_at
    now = time.monotonic()
    if now - _overflow_logged_at >= 60.0:
        _overflow_logged_at = now
        logging.getLogger("watchkeeper").warning(
            "more than %d distinct apps: metrics and dashboard aggregates count app %r and later new apps as "
            "%r (watchkeeper_app_label_overflow_total counts them); raise detectors.max_app_labels if these "
            "apps are real",
            MAX_APP_LABELS,
            app,
            OTHER_APP,
        )
    return OTHER_APP
