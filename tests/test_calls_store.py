"""The recent-calls store: what it keeps (content only when captured, redacted), the explorer's filters, and
retention by age, count and size; a replayed batch has no second effect."""

from __future__ import annotations

from pathlib import Path

import pytest

from watchkeeper.calls.config import CallsConfig
from watchkeeper.calls.store import CallQuery, CallStore
from watchkeeper.collector.sdk.redact import default_redactor
from watchkeeper.core.findings import Severity, make_finding
from watchkeeper.core.records import Message, ModelCall, sha256_text

T0 = 1_800_000_000.0


def call(i: int, *, app: str = "support-bot", t: float | None = None, **kw: object) -> ModelCall:
    defaults: dict[str, object] = {
        "trace_id": f"{i:032x}",
        "span_id": f"{i:016x}",
        "start_time_ns": int((T0 + i if t is None else t) * 1e9),
        "duration_ms": 100.0 + i,
        "service": app,
        "environment": "prod",
        "provider": "openai",
        "request_model": "gpt-4o-mini",
        "response_model": "gpt-4o-mini-2025",
        "input_tokens": 10,
        "output_tokens": 20 + i,
        "finish_reasons": ("stop",),
        "system_instructions": "You are helpful.",
        "system_instructions_sha256": sha256_text("You are helpful."),
        "input_messages": [Message("user", f"question {i}")],
        "output_text": f"answer {i}",
    }
    defaults.update(kw)
    return ModelCall(**defaults)  # type: ignore[arg-type]


@pytest.fixture
def store(tmp_path: Path) -> CallStore:
    s = CallStore(tmp_path, CallsConfig(), redact=default_redactor(), clock=lambda: T0 + 100)
    yield s
    s.close()


def test_keeps_content_redacted_and_the_calls_findings(store: CallStore) -> None:
    leaky = call(1, output_text="Mail maria.lopez@northwind-mail.com or pay with 4539 1488 0343 6467.")
    finding = make_finding(
        leaky, detector="leakage", category="pii", severity=Severity.error, score=1.0, summary="leak"
    )
    store.record([leaky, call(2)], [finding])
    got = store.get_call(leaky.trace_id, leaky.span_id)
    assert got is not None
    assert "maria.lopez" not in got["output_text"] and "4539 1488" not in got["output_text"]
    assert got["prompt"] == "question 1" and got["system_instructions"] == "You are helpful."
    assert got["finding_ids"] == [finding.id] and got["max_severity"] == "error"
    assert got["detectors"] == ["leakage"] and got["content_captured"] is True
    assert got["id"] == f"{leaky.trace_id}:{leaky.span_id}"
    assert store.get_call(call(2).trace_id, call(2).span_id)["finding_count"] == 0


def test_metadata_only_when_content_was_not_captured_or_not_wanted(tmp_path: Path) -> None:
    store = CallStore(tmp_path, CallsConfig(store_content=False))
    store.record([call(1)])
    got = store.get_call(call(1).trace_id, call(1).span_id)
    assert got["output_text"] is None and got["prompt"] is None and got["system_instructions"] is None
    assert got["system_sha256"] == sha256_text("You are helpful.") and got["output_tokens"] == 21
    store.close()
    bare = CallStore(tmp_path / "bare")
    bare.record([call(3, output_text="", input_messages=[], system_instructions=None)])
    assert bare.get_call(call(3).trace_id, call(3).span_id)["content_captured"] is False
    bare.close()


def test_a_replayed_batch_has_no_second_effect(store: CallStore) -> None:
    batch = [call(i) for i in range(5)]
    store.record(batch)
    store.record(batch)
    assert store.list_calls(CallQuery())[1] == 5


def test_filters(store: CallStore) -> None:
    other_prompt = "You are a travel agent."
    store.record(
        [
            call(1, app="support-bot"),
            call(
                2,
                app="travel",
                system_instructions=other_prompt,
                system_instructions_sha256=sha256_text(other_prompt),
            ),
            call(3, app="support-bot", finish_reasons=("length",), error_type="timeout"),
            call(4, app="support-bot", output_text="Paris is the capital of France."),
        ]
    )

    def ids(**kw: object) -> list[int]:
        items, total = store.list_calls(CallQuery(**kw))  # type: ignore[arg-type]
        assert total == len(items)
        return sorted(int(c["span_id"], 16) for c in items)

    assert ids(app="travel") == [2]
    assert ids(system_sha256=sha256_text(other_prompt)[:8]) == [2]
    assert ids(finish_reason="length") == [3]
    assert ids(error=True) == [3] and ids(error=False) == [1, 2, 4]
    assert ids(q="capital of france") == [4]
    assert ids(q="100%") == []  # LIKE wildcards are literal
    assert ids(since=T0 + 2, until=T0 + 4) == [2, 3]
    assert ids(model="gpt-4o-mini") == [1, 2, 3, 4]
    assert ids(has_finding=True) == []
    newest_first = [int(c["span_id"], 16) for c in store.list_calls(CallQuery(limit=2))[0]]
    assert newest_first == [4, 3]
    assert [h["sha256"] for h in store.prompt_hashes("travel")] == [sha256_text(other_prompt)]


def test_list_rows_carry_previews_not_whole_answers(store: CallStore) -> None:
    store.record([call(1, output_text="x" * 5000)])
    row = store.list_calls(CallQuery())[0][0]
    assert len(row["output_text"]) == 240 and "system_instructions" not in row


def test_retention_by_age_count_and_size(tmp_path: Path) -> None:
    now = [T0]
    store = CallStore(tmp_path, CallsConfig(max_age="1h", max_calls=100, max_mb=0.05), clock=lambda: now[0])
    store.record([call(i, t=T0 - 7200 + i) for i in range(10)])  # two hours old
    store.record([call(100 + i, t=T0 + i) for i in range(150)])
    store.prune()
    kept, total = store.list_calls(CallQuery(limit=500))
    assert total == 100  # the 10 old ones by age, then the oldest recent ones by count
    assert min(int(c["span_id"], 16) for c in kept) == 150
    store.record([call(1000 + i, t=T0 + 200 + i, output_text="y" * 2000) for i in range(40)])
    store.prune()
    counts = store.counts()
    assert counts["bytes"] <= 50_000 and counts["calls"] < 100
    newest = store.list_calls(CallQuery(limit=1))[0][0]
    assert int(newest["span_id"], 16) == 1039  # the newest always stay
    store.close()
