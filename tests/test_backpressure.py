"""Backpressure from detection: the intake refuses (503 + Retry-After, gRPC RESOURCE_EXHAUSTED + RetryInfo)
once the detectors' backlog passes its bound, and accepts again when they catch up. The detectors stage is
replaced by a consumer of its group that the test drives, so the backlog is exact and the test needs no clock.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from google.rpc.error_details_pb2 import RetryInfo
from google.rpc.status_pb2 import Status

from tests.support.daemon import daemon_settings, running_daemon, wait_until
from tests.support.intake import kv, traces_request
from watchkeeper.app import Daemon
from watchkeeper.core import semconv as sc
from watchkeeper.core.bus.base import DETECTORS_GROUP, Consumer
from watchkeeper.core.bus.embedded import EmbeddedBus
from watchkeeper.detectors.stage import DetectorsStage

SPANS_PER_REQUEST = 100
BOUND = 1000


@contextlib.contextmanager
def collector_only(tmp_path: Path, **intake: Any) -> Iterator[tuple[Daemon, Consumer]]:
    """The collector stage alone, and the detectors' group as a consumer the test drives."""
    settings = daemon_settings(tmp_path, intake={"lag_check_interval_s": 0.2, **intake})
    bus = EmbeddedBus(tmp_path / "bus.sqlite3")
    detectors = bus.consumer(DETECTORS_GROUP, [settings.bus.topics.spans, settings.bus.topics.logs])
    daemon = Daemon(settings, stage="collector")
    daemon.start()
    try:
        yield daemon, detectors
    finally:
        daemon.stop()
        detectors.close()
        bus.close()


@pytest.fixture
def lagging(tmp_path: Path) -> Iterator[tuple[Daemon, Consumer]]:
    with collector_only(tmp_path, max_detector_lag_spans=BOUND) as pair:
        yield pair


def measured(daemon: Daemon) -> None:
    assert daemon.intake is not None
    backpressure = daemon.intake.backpressure
    wait_until(lambda: backpressure.estimate() is not None, 10, what="a first measure of the backlog")


def _post(url: str, spans: int = SPANS_PER_REQUEST) -> httpx.Response:
    body = traces_request(spans).SerializeToString()
    return httpx.post(
        url + "/v1/traces", content=body, headers={"Content-Type": "application/x-protobuf"}, timeout=10
    )


def test_intake_refuses_while_detectors_lag_and_accepts_once_they_catch_up(lagging: Any) -> None:
    daemon, detectors = lagging
    measured(daemon)
    answers = [_post(daemon.intake_url) for _ in range(30)]
    accepted = [r for r in answers if r.status_code == 200]
    refused = [r for r in answers if r.status_code != 200]
    assert len(accepted) * SPANS_PER_REQUEST <= BOUND + SPANS_PER_REQUEST
    assert refused, "the intake must push back instead of acknowledging without bound"
    assert all(r.status_code == 503 and int(r.headers["Retry-After"]) >= 1 for r in refused)
    assert "max_detector_lag_spans" in refused[0].text  # the reason names the bound
    assert detectors.lag() == len(accepted)  # nothing refused reached the bus

    # gRPC clients get RESOURCE_EXHAUSTED with RetryInfo (OTLP exporters retry it only with RetryInfo)
    with grpc.insecure_channel(f"127.0.0.1:{daemon.intake.grpc_port}") as channel:
        export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
        with pytest.raises(grpc.RpcError) as err:
            export(traces_request(SPANS_PER_REQUEST).SerializeToString(), timeout=10)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    status = Status.FromString(dict(err.value.trailing_metadata())["grpc-status-details-bin"])
    info = RetryInfo()
    assert status.details[0].Unpack(info) and info.retry_delay.seconds >= 1

    # the detectors catch up: the intake takes spans again
    while detectors.poll(500, timeout_s=0.1):
        pass
    detectors.commit()
    wait_until(lambda: _post(daemon.intake_url).status_code == 200, 10, 0.2, "the intake accepting again")


def test_the_bound_in_bytes(tmp_path: Path) -> None:
    size = len(traces_request(SPANS_PER_REQUEST).SerializeToString())
    bound = 5 * size
    bounds = {"max_detector_lag_spans": 0, "max_detector_lag_bytes": bound}
    with collector_only(tmp_path, **bounds) as (daemon, detectors):
        measured(daemon)
        codes = [_post(daemon.intake_url).status_code for _ in range(20)]
        assert codes.count(200) * size <= bound + size
        assert 503 in codes
        assert detectors.lag() == codes.count(200)


def test_no_refusal_before_the_detectors_group_exists(tmp_path: Path) -> None:
    settings = daemon_settings(tmp_path, intake={"max_detector_lag_spans": 10, "lag_check_interval_s": 0.2})
    daemon = Daemon(settings, stage="collector")
    daemon.start()
    try:
        assert all(_post(daemon.intake_url).status_code == 200 for _ in range(5))
    finally:
        daemon.stop()


def answered_request() -> bytes:
    """100 distinct calls with their answer on the span (none waits for content sent as log events)."""
    req = traces_request(SPANS_PER_REQUEST)
    for span in req.resource_spans[0].scope_spans[0].spans:
        span.attributes.append(
            kv(
                sc.OUTPUT_MESSAGES,
                '[{"role": "assistant", "parts": [{"type": "text", "content": "Paris."}]}]',
            )
        )
    return req.SerializeToString()


def test_batch_size_counts_spans_not_bus_records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    batches: list[int] = []
    analyze = DetectorsStage.analyze

    def counting(self: DetectorsStage, calls: list[Any]) -> Any:
        batches.append(len(calls))
        return analyze(self, calls)

    monkeypatch.setattr(DetectorsStage, "analyze", counting)
    state = tmp_path / "state"
    # ten records of 100 spans wait on the bus before the detectors start: the batch is not timing-bound
    settings = daemon_settings(state)
    bus = EmbeddedBus(state / "bus.sqlite3")
    bus.consumer(DETECTORS_GROUP, [settings.bus.topics.spans, settings.bus.topics.logs]).close()
    bus.producer().publish(settings.bus.topics.spans, [(b"app-a", answered_request()) for _ in range(10)])
    bus.close()
    with running_daemon(state, detectors={"batch_size": 250}) as daemon:
        wait_until(lambda: sum(batches) >= 1000, 60, what="the 1000 calls analyzed")
        assert daemon.detectors is not None
    assert max(batches) <= 250 + SPANS_PER_REQUEST, batches  # a record is never split; one may overshoot
    assert len(batches) >= 4, batches  # records were 500 per batch before: all ten in one
