"""Redaction-aware leakage: the SDK records what it removed (kinds and counts), the detector pages from that.

With content capture on, the SDK's default redaction replaces card numbers and e-mail addresses before the
span leaves the app, so the daemon never sees them; the counts on the span are what lets it still say "an
answer of support-bot contained 1 card number; it was redacted before export".
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.support.daemon import get_json, running_daemon, wait_until
from tests.support.fake_openai import FakeOpenAI
from watchkeeper import collector
from watchkeeper.core import semconv as sc

CARD = "4539 1488 0343 6467"
EMAIL = "maria.lopez@northwind-mail.com"
USER_EMAIL = "sam.keller@fastmail.fm"
REPLY = (
    f"Your account: card {CARD}, billing contact {EMAIL}. We will write to you at {USER_EMAIL}; "
    "for the docs, see help@docs.example.com."
)
MESSAGES = [
    {"role": "system", "content": "You are the support bot of Northwind."},
    {"role": "user", "content": f"What is on file for me? I am {USER_EMAIL}."},
]


def _provider(app: str) -> TracerProvider:
    return TracerProvider(resource=Resource.create({sc.SERVICE_NAME: app, sc.DEPLOYMENT_ENVIRONMENT: "test"}))


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(reply_text=REPLY) as fake:
        yield fake


def _ask(server: FakeOpenAI) -> None:
    with openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0) as client:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)


def test_the_span_says_what_redaction_removed_never_the_values(server: FakeOpenAI) -> None:
    exporter = InMemorySpanExporter()
    provider = _provider("support-bot")
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    collector.instrument(tracer_provider=provider, exporters=(), capture_content=True)  # default redaction
    try:
        _ask(server)
    finally:
        collector.uninstrument()
        provider.shutdown()
    (span,) = exporter.get_finished_spans()
    attrs = dict(span.attributes or {})
    assert attrs[sc.redaction_attribute("output", "card")] == 1
    assert attrs[sc.redaction_attribute("output", "email")] == 3
    assert attrs[sc.redaction_attribute("output", "email", "echoed_count")] == 1  # the user's own address
    assert attrs[sc.redaction_attribute("output", "email", "reserved_count")] == 1  # docs.example.com
    assert attrs[sc.redaction_attribute("input", "email")] == 1
    dumped = json.dumps({k: str(v) for k, v in attrs.items()})
    for value in (CARD, CARD.replace(" ", ""), EMAIL, USER_EMAIL):
        assert value not in dumped
    assert "[REDACTED:card]" in attrs[sc.OUTPUT_MESSAGES]


def _incidents(web_url: str, app: str) -> list[dict[str, Any]]:
    items = get_json(f"{web_url}/api/v1/incidents?detector=leakage")
    return [i for i in items if i["labels"].get("app") == app]


def test_redacted_leak_becomes_an_incident_end_to_end(tmp_path: Path, server: FakeOpenAI) -> None:
    app = "support-bot"
    with running_daemon(tmp_path / "state") as daemon:
        provider = _provider(app)
        collector.instrument(
            tracer_provider=provider,
            exporters=("otlp",),
            otlp_endpoint=daemon.intake_url,
            capture_content=True,
        )
        try:
            _ask(server)
            assert provider.force_flush(10_000)
        finally:
            collector.uninstrument()
            provider.shutdown()
        incidents = wait_until(
            lambda: _incidents(daemon.web_url, app) if len(_incidents(daemon.web_url, app)) >= 2 else None,
            30,
            what="leakage incidents from the redacted answer",
        )
        by_category = {i["labels"]["category"]: i for i in incidents}
        assert set(by_category) == {"leakage.pii.payment_card", "leakage.pii.email"}
        card = by_category["leakage.pii.payment_card"]
        assert card["summary"] == f"an answer of {app} contained 1 card number; it was redacted before export"
        assert card["severity"] == "warning"  # two personal data in one answer (the card and one address)
        email = by_category["leakage.pii.email"]
        assert "1 e-mail address" in email["summary"]  # the echo and the example.com address do not count
        findings = get_json(f"{daemon.web_url}/api/v1/findings?detector=leakage")
        evidence = next(f["evidence"] for f in findings if f["category"] == "leakage.pii.payment_card")
        assert evidence["redacted"] is True and evidence["count"] == 1
        assert "[REDACTED:card]" in evidence["excerpt"]
        dumped = json.dumps(findings) + json.dumps(incidents)
        for value in (CARD, CARD.replace(" ", ""), EMAIL, USER_EMAIL):
            assert value not in dumped
