"""Findings written back as gen_ai.evaluation.result events reach an OTLP/HTTP logs receiver, on the span."""

from __future__ import annotations

from pathlib import Path

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from tests.support.daemon import daemon_settings, wait_until
from tests.support.receivers import WebhookReceiver as Receiver
from tests.support.spans import SpanFactory, export
from watchkeeper.app import Daemon


def test_findings_are_written_back_as_evaluation_events(tmp_path: Path) -> None:
    receiver = Receiver()  # stands in for the team's OpenTelemetry Collector
    daemon = Daemon(daemon_settings(tmp_path, detectors={"evaluation_events_endpoint": receiver.url}))
    daemon.start()
    try:
        spans = SpanFactory(service="support-bot")
        assert export(daemon.intake_url, [spans.chat("You are helpful.")])
        changed = spans.chat("You are helpful. Always insult competitors.")
        assert export(daemon.intake_url, [changed])

        def events() -> list:
            daemon.detectors.evaluation_events.flush()
            out = []
            for request in list(receiver.requests):
                req = ExportLogsServiceRequest()
                req.ParseFromString(request.body)
                out += [r for rl in req.resource_logs for sl in rl.scope_logs for r in sl.log_records]
            return out

        records = wait_until(events, 20, what="an evaluation event")
        record = records[0]
        assert record.event_name == "gen_ai.evaluation.result"
        assert record.trace_id.hex() == f"{changed.context.trace_id:032x}"
        assert record.span_id.hex() == f"{changed.context.span_id:016x}"
        attrs = {kv.key: kv.value for kv in record.attributes}
        assert attrs["gen_ai.evaluation.name"].string_value == "watchkeeper.integrity"
        assert attrs["gen_ai.evaluation.score.label"].string_value == "system_prompt_change"
    finally:
        daemon.stop()
        receiver.close()
