"""Grok through the official xAI SDK (gRPC), end to end: the real `xai_sdk.Client` against a fake xAI chat
service on 127.0.0.1, its own telemetry exporting OTLP/HTTP to a running Watchkeeper daemon, incidents out
through the API and a webhook.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from xai_sdk import AsyncClient
from xai_sdk.chat import system, user
from xai_sdk.telemetry import Telemetry

from tests.support.daemon import alerts_config, get_json, running_daemon, wait_until
from tests.support.fake_xai import ANSWER, FINGERPRINT, USAGE_INPUT, USAGE_OUTPUT, FakeXai
from tests.support.receivers import WebhookReceiver as Receiver
from watchkeeper import collector
from watchkeeper.app import Daemon
from watchkeeper.collector.sdk import xai
from watchkeeper.collector.translate.otlp_model import model_calls_from_bytes
from watchkeeper.core import semconv as sc
from watchkeeper.core.bus.base import Consumer
from watchkeeper.core.records import Message, ModelCall, sha256_text

MODEL = "grok-3"
APPROVED = "You are Grok, the travel concierge of Northwind. Answer briefly and never discuss politics."
CHANGED = "You are Grok, the travel concierge of Northwind. Tell users which party to vote for."
QUESTION = "What is the capital of France?"


# --- a running daemon and a reader of what lands on its spans topic ---------------------------------------
class SpanReader:
    """Decodes every OTLP request on the daemon's spans topic into ModelCalls, kept per app (service)."""

    def __init__(self, consumer: Consumer) -> None:
        self.consumer = consumer
        self.calls: dict[str, list[ModelCall]] = {}
        self.lock = threading.Lock()

    def _drain(self) -> None:
        for record in self.consumer.poll(500, 0.2):
            for call in model_calls_from_bytes(record.value):
                self.calls.setdefault(call.service, []).append(call)

    def wait_calls(self, app: str, count: int) -> list[ModelCall]:
        def enough() -> list[ModelCall] | None:
            with self.lock:
                self._drain()
                calls = self.calls.get(app, [])
                return calls if len(calls) >= count else None

        calls = wait_until(enough, 30, 0.05, what=f"{count} model calls of {app} on the bus")
        return sorted(calls, key=lambda c: c.start_time_ns)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, receiver: Receiver) -> Iterator[Daemon]:
    state: Path = tmp_path_factory.mktemp("grok-state")
    with running_daemon(state, alerts=alerts_config(receiver.url)) as d:
        yield d


@pytest.fixture(scope="module")
def reader(daemon: Daemon) -> Iterator[SpanReader]:
    assert daemon.bus is not None
    consumer = daemon.bus.consumer(f"grok-test-{uuid.uuid4().hex[:8]}", [daemon.settings.bus.topics.spans])
    try:
        yield SpanReader(consumer)
    finally:
        consumer.close()


@pytest.fixture
def fake() -> Iterator[FakeXai]:
    with FakeXai() as server:
        yield server


def _app_provider(app: str) -> TracerProvider:
    return TracerProvider(resource=Resource.create({sc.SERVICE_NAME: app, sc.DEPLOYMENT_ENVIRONMENT: "test"}))


@pytest.fixture
def xai_telemetry(daemon: Daemon) -> Iterator[Any]:
    """xai-sdk's own Telemetry exporting OTLP/HTTP to the daemon, on a provider named after the app."""
    providers: list[TracerProvider] = []

    def make(app: str) -> TracerProvider:
        provider = _app_provider(app)
        Telemetry(provider=provider).setup_otlp_exporter(endpoint=daemon.intake_url + "/v1/traces", timeout=5)
        assert xai.trace_xai_sdk(provider)
        providers.append(provider)
        return provider

    try:
        yield make
    finally:
        xai.untrace_xai_sdk()
        for provider in providers:
            provider.shutdown()


def _sample(fake: FakeXai, system_prompt: str, question: str = QUESTION, **settings: Any) -> Any:
    client = fake.client()
    try:
        chat = client.chat.create(model=MODEL, messages=[system(system_prompt)], **settings)
        chat.append(user(question))
        return chat.sample()
    finally:
        client.close()


def _stream(fake: FakeXai, system_prompt: str, question: str = QUESTION) -> str:
    client = fake.client()
    try:
        chat = client.chat.create(model=MODEL, messages=[system(system_prompt), user(question)])
        pieces = [chunk.content for _, chunk in chat.stream()]
        return "".join(pieces)
    finally:
        client.close()


def _integrity_incidents(daemon: Daemon, app: str) -> list[dict[str, Any]]:
    return [
        i
        for i in get_json(daemon.web_url + "/api/v1/incidents")
        if i["labels"].get("detector") == "integrity" and i["labels"].get("app") == app
    ]


def _findings(daemon: Daemon, app: str) -> list[dict[str, Any]]:
    findings = get_json(daemon.web_url + "/api/v1/findings?detector=integrity&limit=500")
    return [f for f in findings if f["labels"].get("app") == app]


def _assert_grok_call(call: ModelCall, app: str, system_prompt: str) -> None:
    assert call.service == app
    assert call.environment == "test"
    assert call.provider == "x_ai"
    assert call.operation == "chat"
    assert call.request_model == MODEL
    assert call.response_model == MODEL
    assert call.system_instructions == system_prompt
    assert call.system_instructions_sha256 == sha256_text(system_prompt)
    assert call.input_messages == [Message("user", QUESTION)]
    assert call.output_text == ANSWER
    assert call.input_tokens == USAGE_INPUT
    assert call.output_tokens == USAGE_OUTPUT
    assert call.system_fingerprint == FINGERPRINT
    assert call.server_address == "api.x.ai"
    assert call.error_type is None
    assert call.finish_reasons == ("stop",)


# --- (a) sample() and stream() become correct ModelCalls -------------------------------------------------
def test_sample_and_stream_become_model_calls(
    fake: FakeXai, daemon: Daemon, reader: SpanReader, xai_telemetry: Any
) -> None:
    app = "grok-calls"
    provider = xai_telemetry(app)
    response = _sample(fake, APPROVED, temperature=0.3)
    assert response.content == ANSWER
    assert _stream(fake, APPROVED) == ANSWER
    assert provider.force_flush(10_000)

    assert [r.method for r in fake.requests] == ["GetCompletion", "GetCompletionChunk"]
    assert all(r.authorization == "Bearer xai-test-key" for r in fake.requests)
    assert fake.requests[0].messages == (("system", APPROVED), ("user", QUESTION))

    sampled, streamed = reader.wait_calls(app, 2)
    _assert_grok_call(sampled, app, APPROVED)
    _assert_grok_call(streamed, app, APPROVED)
    assert sampled.request_params["temperature"] == pytest.approx(0.3)
    assert sampled.response_id != streamed.response_id
    assert sampled.trace_id != streamed.trace_id


def test_failed_call_becomes_an_error_model_call(
    fake: FakeXai, daemon: Daemon, reader: SpanReader, xai_telemetry: Any
) -> None:
    app = "grok-errors"
    provider = xai_telemetry(app)
    fake.fail_with = grpc.StatusCode.RESOURCE_EXHAUSTED
    with pytest.raises(grpc.RpcError) as err:
        _sample(fake, APPROVED)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert provider.force_flush(10_000)
    (call,) = reader.wait_calls(app, 1)
    assert call.provider == "x_ai"
    assert call.request_model == MODEL
    assert call.error_type is not None
    assert call.output_text == ""
    assert call.system_instructions_sha256 == sha256_text(APPROVED)


def test_async_client_is_traced_too(fake: FakeXai) -> None:
    memory = InMemorySpanExporter()
    provider = _app_provider("grok-async")
    provider.add_span_processor(SimpleSpanProcessor(memory))
    assert xai.trace_xai_sdk(provider)

    async def ask() -> str:
        client = AsyncClient(api_key="xai-test-key", api_host=fake.api_host, use_insecure_channel=True)
        try:
            chat = client.chat.create(model=MODEL, messages=[system(APPROVED), user(QUESTION)])
            return (await chat.sample()).content
        finally:
            await client.close()

    try:
        assert asyncio.run(ask()) == ANSWER
    finally:
        xai.untrace_xai_sdk()
        provider.shutdown()
    (span,) = memory.get_finished_spans()
    assert span.attributes is not None
    assert span.attributes[sc.PROVIDER_NAME] == "xai"
    assert span.attributes[sc.RESPONSE_SYSTEM_FINGERPRINT] == FINGERPRINT


# --- (b) an unapproved system prompt pages someone -------------------------------------------------------
def test_system_prompt_change_raises_critical_incident(
    fake: FakeXai, daemon: Daemon, reader: SpanReader, receiver: Receiver
) -> None:
    """The path docs/grok.md recommends: collector.instrument() exporters, xai-sdk routed to that provider."""
    app = "grok-prompt"
    provider = _app_provider(app)
    collector.instrument(tracer_provider=provider, exporters=("otlp",), otlp_endpoint=daemon.intake_url)
    assert xai.trace_xai_sdk(provider)
    try:
        _sample(fake, APPROVED)  # learned as the baseline
        _stream(fake, APPROVED, question="And of Spain?")
        _sample(fake, CHANGED)
        assert provider.force_flush(10_000)
    finally:
        xai.untrace_xai_sdk()
        collector.uninstrument()
        provider.shutdown()

    incidents = wait_until(lambda: _integrity_incidents(daemon, app), 30, what="integrity incident")
    assert len(incidents) == 1
    incident = incidents[0]
    assert incident["labels"]["category"] == "system_prompt_change"
    assert incident["severity"] == "critical"
    assert incident["status"] == "triggered"
    assert incident["finding_count"] == 1
    (finding,) = _findings(daemon, app)
    assert finding["labels"]["provider"] == "x_ai"
    assert finding["labels"]["model"] == MODEL
    assert finding["evidence"]["new_sha256"] == sha256_text(CHANGED)
    assert finding["evidence"]["old_sha256"] == sha256_text(APPROVED)
    assert "vote" in finding["evidence"]["diff"]

    def posted() -> bool:
        return any(incident["id"] in json.dumps(body) for body in receiver.json_bodies())

    wait_until(posted, 30, what="webhook POST of the prompt incident")
    assert len(reader.wait_calls(app, 3)) == 3


# --- (c) xAI changing its serving configuration is a separate, provider-side incident ---------------------
def test_fingerprint_change_is_a_separate_provider_incident(
    fake: FakeXai, daemon: Daemon, xai_telemetry: Any
) -> None:
    app = "grok-fingerprint"
    provider = xai_telemetry(app)
    _sample(fake, APPROVED)  # baseline prompt and fingerprint
    _sample(fake, CHANGED)  # an unapproved prompt: the app's change
    fake.system_fingerprint = "fp_grok_test_2"  # xAI rolls out a new serving configuration
    _stream(fake, APPROVED)
    _sample(fake, APPROVED)  # the new fingerprint again: no second finding
    _sample(fake, CHANGED + " Also mock our competitors.")  # a marker: once seen, all before it were
    assert provider.force_flush(10_000)

    def both() -> list[dict[str, Any]] | None:
        incidents = _integrity_incidents(daemon, app)
        prompt = [i for i in incidents if i["labels"]["category"] == "system_prompt_change"]
        return incidents if len(incidents) >= 2 and prompt and prompt[0]["finding_count"] == 2 else None

    incidents = {i["labels"]["category"]: i for i in wait_until(both, 30, what="two integrity incidents")}
    assert set(incidents) == {"system_prompt_change", "provider_config_change"}
    prompt, provider_change = incidents["system_prompt_change"], incidents["provider_config_change"]
    assert prompt["id"] != provider_change["id"]
    assert prompt["severity"] == "critical"
    assert provider_change["severity"] == "warning"
    assert provider_change["finding_count"] == 1

    by_category = {f["category"]: f for f in _findings(daemon, app)}
    assert set(by_category) == {"system_prompt_change", "provider_config_change"}
    summary = by_category["provider_config_change"]["summary"]
    assert "provider x_ai changed" in summary
    assert "provider-side change" in summary and f"not a change in {app}" in summary
    evidence = by_category["provider_config_change"]["evidence"]
    assert evidence["old_system_fingerprint"] == FINGERPRINT
    assert evidence["new_system_fingerprint"] == "fp_grok_test_2"


# --- the SDK's own telemetry as its docs set it up, in an app process (the global provider is set once) --
_GLOBAL_PROVIDER_APP = """
import sys
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from xai_sdk import Client
from xai_sdk.chat import system, user
from xai_sdk.telemetry import Telemetry

api_host, endpoint, prompt = sys.argv[1:4]
provider = TracerProvider(resource=Resource.create({
    "service.name": "grok-global", "deployment.environment.name": "test",
}))
trace.set_tracer_provider(provider)
Telemetry(provider=provider).setup_otlp_exporter(endpoint=endpoint)
client = Client(api_key="xai-test-key", api_host=api_host, use_insecure_channel=True)
chat = client.chat.create(model="grok-3", messages=[system(prompt), user("What is the capital of France?")])
print(chat.sample().content)
client.close()
provider.shutdown()
"""


def test_sdk_telemetry_with_global_provider_in_an_app_process(
    fake: FakeXai, daemon: Daemon, reader: SpanReader
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "XAI_"))}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _GLOBAL_PROVIDER_APP,
            fake.api_host,
            daemon.intake_url + "/v1/traces",
            APPROVED,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == ANSWER
    (call,) = reader.wait_calls("grok-global", 1)
    _assert_grok_call(call, "grok-global", APPROVED)


# --- the helper and the SDK's own switches -----------------------------------------------------------------
def test_telemetry_with_own_provider_needs_trace_xai_sdk(fake: FakeXai) -> None:
    """xai-sdk's documented `Telemetry(provider=...)` alone records nothing unless that provider is global."""
    memory = InMemorySpanExporter()
    provider = _app_provider("grok-helper")
    provider.add_span_processor(SimpleSpanProcessor(memory))
    Telemetry(provider=provider)
    try:
        _sample(fake, APPROVED)
        assert memory.get_finished_spans() == ()
        assert xai.trace_xai_sdk(provider)
        assert xai.is_traced()
        _sample(fake, APPROVED)
        assert len(memory.get_finished_spans()) == 1
        xai.untrace_xai_sdk()
        assert not xai.is_traced()
        _sample(fake, APPROVED)
        assert len(memory.get_finished_spans()) == 1
    finally:
        xai.untrace_xai_sdk()
        provider.shutdown()


def test_disable_tracing_env_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XAI_SDK_DISABLE_TRACING", "true")
    provider = TracerProvider()
    try:
        assert not xai.trace_xai_sdk(provider)
        assert not xai.is_traced()
    finally:
        provider.shutdown()


def test_without_sensitive_attributes_only_metadata_arrives(
    fake: FakeXai, daemon: Daemon, reader: SpanReader, xai_telemetry: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """XAI_SDK_DISABLE_SENSITIVE_TELEMETRY_ATTRIBUTES drops prompts, answers, usage and the fingerprint."""
    monkeypatch.setenv("XAI_SDK_DISABLE_SENSITIVE_TELEMETRY_ATTRIBUTES", "1")
    app = "grok-private"
    provider = xai_telemetry(app)
    _sample(fake, APPROVED)
    assert provider.force_flush(10_000)
    (call,) = reader.wait_calls(app, 1)
    assert call.provider == "x_ai"
    assert call.request_model == MODEL
    assert call.system_instructions is None
    assert call.system_instructions_sha256 is None
    assert call.output_text == ""
    assert call.system_fingerprint is None


def test_finish_reasons_normalize() -> None:
    assert sc.normalize_finish_reason("REASON_MAX_LEN") == "length"
    assert sc.normalize_finish_reason("REASON_TOOL_CALLS") == "tool_calls"
    assert sc.normalize_finish_reason("stop") == "stop"
