"""Write findings back into the app's telemetry as `gen_ai.evaluation.result` events tied to the judged span.

Teams that look at traces in their own tool (Jaeger, Tempo, Application Insights, Phoenix) see the verdict
next to the call, without opening Watchkeeper. Sent as OTLP log records with the span's trace/span ids.
"""

from __future__ import annotations

import logging

from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.trace import TraceFlags

from watchkeeper.core import semconv as sc
from watchkeeper.core.findings import Finding, Severity

log = logging.getLogger("watchkeeper.detectors")

_SEVERITY = {
    Severity.critical: SeverityNumber.FATAL,
    Severity.error: SeverityNumber.ERROR,
    Severity.warning: SeverityNumber.WARN,
    Severity.info: SeverityNumber.INFO,
}


class EvaluationEvents:
    """Batches and exports one event per finding; never blocks the detectors stage (bounded queue, drops)."""

    def __init__(self, endpoint: str, headers: dict[str, str] | None = None) -> None:
        self.provider = LoggerProvider(resource=Resource.create({sc.SERVICE_NAME: "watchkeeper"}))
        self.provider.add_log_record_processor(
            BatchLogRecordProcessor(
                OTLPLogExporter(endpoint=endpoint, headers=headers), max_queue_size=10_000
            )
        )
        self._logger = self.provider.get_logger("watchkeeper.detectors")
        self.endpoint = endpoint

    def emit(self, findings: list[Finding]) -> None:
        for f in findings:
            try:
                trace_id = int(f.evidence.get("trace_id") or "0", 16)
                span_id = int(f.evidence.get("span_id") or "0", 16)
            except ValueError:
                continue
            self._logger.emit(
                LogRecord(
                    timestamp=int(f.time * 1e9),
                    trace_id=trace_id,
                    span_id=span_id,
                    trace_flags=TraceFlags(TraceFlags.SAMPLED),
                    severity_number=_SEVERITY[f.severity],
                    severity_text=f.severity.value,
                    event_name=sc.EVENT_EVALUATION_RESULT,
                    body=f.summary,
                    attributes={
                        sc.EVALUATION_NAME: f"watchkeeper.{f.detector}",
                        sc.EVALUATION_SCORE_VALUE: f.score,
                        sc.EVALUATION_SCORE_LABEL: f.category,
                        sc.EVALUATION_EXPLANATION: f.summary[:2000],
                        "watchkeeper.finding.id": f.id,
                        "watchkeeper.finding.severity": f.severity.value,
                    },
                )
            )

    def flush(self) -> None:
        self.provider.force_flush()

    def close(self) -> None:
        self.provider.shutdown()
