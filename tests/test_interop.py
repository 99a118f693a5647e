"""Interoperability: third-party senders -> the real OTLP intake of a running daemon -> bus -> detectors.

Each test runs a real sender in its own process: the official OpenAI instrumentation and OpenLLMetry (content
in span attributes, and content as OTLP log records), and the OpenTelemetry JS exporter (OTLP/JSON). It then
reads what the intake published with a fresh consumer group, normalizes it as the detectors stage does, and
checks that the detectors acted on it: an unapproved system-prompt change must open an integrity incident.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.support.daemon import get_json, running_daemon, wait_until
from tests.support.fake_openai import USAGE_INPUT, USAGE_OUTPUT, FakeOpenAI
from watchkeeper.app import Daemon
from watchkeeper.collector.translate.log_join import LogJoiner, content_events
from watchkeeper.collector.translate.otlp_model import attributes_dict, model_calls_from_bytes
from watchkeeper.core.bus.base import Consumer
from watchkeeper.core.records import Message, ModelCall, sha256_text

INTEROP_DIR = Path(__file__).parent / "interop"
PYTHON_APP = INTEROP_DIR / "openai_app.py"
NODE_SENDER = INTEROP_DIR / "send.mjs"
REPO_ROOT = Path(__file__).resolve().parent.parent

APPROVED = "You are the support assistant of Northwind. Answer politely and briefly."
CHANGED = "You are the support assistant of Northwind. Always praise our CEO and insult competitors."
SYSTEMS = [APPROVED, APPROVED, CHANGED]  # a baseline, the same again, then a change
QUESTIONS = ("Where is my order?", "Can I return a lamp?", "Do you ship to Norway?")
#: npm's codes for "the registry cannot be reached": only these turn a failed install into a skip.
NETWORK_ERRORS = ("ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "ENETUNREACH")
SENDER_TIMEOUT_S = 120.0


# --- the daemon and a tap on its bus ----------------------------------------------------------------------
@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    # Content sent as log records comes from another batch processor; a loaded CI machine may need time.
    with running_daemon(
        tmp_path / "state", intake={"grpc_enabled": False}, detectors={"log_hold_s": 15.0}
    ) as d:
        yield d


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(reply_text="Your parcel left our warehouse today.") as server:
        yield server


class BusTap:
    """A fresh consumer group on the daemon's bus, registered before anything is sent so nothing is pruned.

    It decodes spans (and content log records) exactly as the detectors stage does, keeping the call its
    span alone describes, the call completed by its log records, and the span's attributes as sent.
    """

    def __init__(self, daemon: Daemon) -> None:
        assert daemon.bus is not None
        self.topics = daemon.settings.bus.topics
        self.consumer: Consumer = daemon.bus.consumer(
            f"interop-{uuid.uuid4().hex[:8]}", [self.topics.spans, self.topics.logs]
        )
        self.joiner = LogJoiner(hold_s=3600.0)
        self.from_spans: dict[str, ModelCall] = {}
        self.joined: dict[str, ModelCall] = {}
        self.sent_attributes: dict[str, dict[str, Any]] = {}
        self.event_names: set[str] = set()  # GenAI content events that came as log records

    def _drain(self) -> None:
        for record in self.consumer.poll(500, 0.2):
            if record.topic == self.topics.logs:
                req = ExportLogsServiceRequest.FromString(record.value)
                self.event_names.update(event[0] for _, event in content_events(req))
                ready = self.joiner.add_logs(req)
            else:
                calls = model_calls_from_bytes(record.value)
                self._keep_attributes(record.value)
                self.from_spans.update((c.span_id, c) for c in calls)
                ready = self.joiner.add_calls(calls)
            self.joined.update((c.span_id, c) for c in ready)

    def _keep_attributes(self, value: bytes) -> None:
        req = ExportTraceServiceRequest.FromString(value)
        for resource_spans in req.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    self.sent_attributes[span.span_id.hex()] = attributes_dict(span.attributes)

    def calls(self, span_ids: list[str], timeout_s: float = 30.0) -> list[ModelCall]:
        """The calls of these spans, complete with their content (joined from logs where sent that way)."""

        def complete() -> bool:
            self._drain()
            return all(sid in self.joined for sid in span_ids)

        wait_until(complete, timeout_s, 0.0, what=f"spans {span_ids} on the bus")
        return [self.joined[sid] for sid in span_ids]

    def close(self) -> None:
        self.consumer.close()


@pytest.fixture
def tap(daemon: Daemon) -> Iterator[BusTap]:
    t = BusTap(daemon)
    try:
        yield t
    finally:
        t.close()


def integrity_incident(daemon: Daemon, app: str, changed_span_id: str) -> dict[str, Any]:
    """The one integrity incident of `app`, whose finding points at the span that carried the change."""

    def found() -> list[dict[str, Any]]:
        incidents = get_json(daemon.web_url + "/api/v1/incidents")
        return [
            i
            for i in incidents
            if i["labels"].get("detector") == "integrity" and i["labels"].get("app") == app
        ]

    (incident,) = wait_until(found, 30, 0.1, what=f"integrity incident for {app}")
    assert incident["status"] == "triggered"
    assert incident["severity"] == "critical"
    findings = get_json(f"{daemon.web_url}/api/v1/findings?incident_id={incident['id']}")
    assert [f["evidence"]["span_id"] for f in findings] == [changed_span_id]
    return incident


# --- senders ----------------------------------------------------------------------------------------------
def _run(cmd: list[str], env: dict[str, str], cwd: Path) -> list[dict[str, str]]:
    """Run a sender; its stdout is one JSON line of ids per call it exported."""
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=SENDER_TIMEOUT_S)
    assert proc.returncode == 0, f"sender failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def _sender_env(extra: dict[str, str]) -> dict[str, str]:
    """The parent's environment minus anything that would steer the sender's SDK elsewhere."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OTEL_", "TRACELOOP_", "WATCHKEEPER_", "OPENAI_", "NODE_OPTIONS"))
    }
    env.update(extra)
    return env


def run_python_app(
    instrumentation: str,
    daemon: Daemon,
    openai: FakeOpenAI,
    service: str,
    systems: list[str],
    env: dict[str, str],
    logs: bool = False,
    content_as_events: bool = False,
) -> list[str]:
    """Calls through the real openai client under `instrumentation`, one per system prompt; their span ids."""
    request = {
        "instrumentation": instrumentation,
        "endpoint": daemon.intake_url,
        "openai_base_url": openai.base_url,
        "service": service,
        "logs": logs,
        "content_as_events": content_as_events,
        "calls": [{"system": s, "prompt": QUESTIONS[i % len(QUESTIONS)]} for i, s in enumerate(systems)],
    }
    sent = _run([sys.executable, str(PYTHON_APP), json.dumps(request)], _sender_env(env), REPO_ROOT)
    assert len(sent) == len(systems), sent
    assert len(openai.requests) == len(systems)
    return [ids["span_id"] for ids in sent]


def check_openai_call(call: ModelCall, service: str, system: str, prompt: str) -> None:
    """What every instrumentation must yield for one call against the fake server."""
    assert call.service == service
    assert call.environment == "prod"
    assert call.provider == "openai"
    assert call.operation == "chat"
    assert call.request_model == "gpt-4o-mini"
    assert (call.input_tokens, call.output_tokens) == (USAGE_INPUT, USAGE_OUTPUT)
    assert call.system_instructions == system
    assert call.system_instructions_sha256 == sha256_text(system)
    assert call.input_messages == [Message("user", prompt)]
    assert call.output_text == "Your parcel left our warehouse today."


# --- 1. the official OpenTelemetry OpenAI instrumentation -------------------------------------------------
def test_official_openai_v2_latest_semconv(daemon: Daemon, fake_openai: FakeOpenAI, tap: BusTap) -> None:
    pytest.importorskip("opentelemetry.instrumentation.openai_v2")
    env = {
        "OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental",
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "SPAN_ONLY",
    }
    service = "support-bot-otel"
    span_ids = run_python_app("openai_v2", daemon, fake_openai, service, SYSTEMS, env)

    calls = tap.calls(span_ids)
    for call, system, prompt in zip(calls, SYSTEMS, QUESTIONS, strict=True):
        check_openai_call(call, service, system, prompt)
        assert call.system_fingerprint == "fp_test_42"
        # the system prompt came as a role-system entry of gen_ai.input.messages, not its own attribute
        sent = tap.sent_attributes[call.span_id]
        assert "gen_ai.system_instructions" not in sent
        assert [m["role"] for m in json.loads(sent["gen_ai.input.messages"])] == ["system", "user"]
    integrity_incident(daemon, service, span_ids[-1])


def test_official_openai_v2_content_as_log_records(
    daemon: Daemon, fake_openai: FakeOpenAI, tap: BusTap
) -> None:
    """Event mode: the content leaves as an OTLP log record (operation details), joined to its span.

    No OTEL_SEMCONV_STABILITY_OPT_IN: the instrumentation's default. With `opentelemetry-util-genai` 1.1b0
    it always takes the latest-semconv path (its legacy per-message events are unreachable), so the
    content goes out as one `gen_ai.client.inference.operation.details` record per call.
    """
    pytest.importorskip("opentelemetry.instrumentation.openai_v2")
    env = {"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "EVENT_ONLY"}
    service = "support-bot-events"
    span_ids = run_python_app("openai_v2", daemon, fake_openai, service, SYSTEMS, env, logs=True)

    calls = tap.calls(span_ids)
    for call, system, prompt in zip(calls, SYSTEMS, QUESTIONS, strict=True):
        check_openai_call(call, service, system, prompt)
    for sid in span_ids:  # the spans alone carry no content: it only reached the bus as log records
        alone = tap.from_spans[sid]
        assert (alone.system_instructions_sha256, alone.input_messages, alone.output_text) == (None, [], "")
        assert not any(key.endswith("messages") for key in tap.sent_attributes[sid])
    assert tap.event_names == {"gen_ai.client.inference.operation.details"}
    # the detectors stage joined the log records too: the change is caught on the span that carried it
    integrity_incident(daemon, service, span_ids[-1])


# --- 2. OpenLLMetry ---------------------------------------------------------------------------------------
def test_openllmetry_content_in_span_attributes(daemon: Daemon, fake_openai: FakeOpenAI, tap: BusTap) -> None:
    """OpenLLMetry's default: the content in span attributes.

    Its 0.62 line writes current semconv `gen_ai.input.messages` (system prompt as a role-system entry);
    the indexed `gen_ai.prompt.N.*` attributes of its older releases are no longer sent.
    """
    pytest.importorskip("opentelemetry.instrumentation.openai")
    service = "support-bot-traceloop"
    env = {"TRACELOOP_TRACE_CONTENT": "true"}
    span_ids = run_python_app("openllmetry", daemon, fake_openai, service, SYSTEMS, env)

    calls = tap.calls(span_ids)
    for call, system, prompt in zip(calls, SYSTEMS, QUESTIONS, strict=True):
        check_openai_call(call, service, system, prompt)
        sent = tap.sent_attributes[call.span_id]
        assert [m["role"] for m in json.loads(sent["gen_ai.input.messages"])] == ["system", "user"]
    integrity_incident(daemon, service, span_ids[-1])


def test_openllmetry_content_as_legacy_message_events(
    daemon: Daemon, fake_openai: FakeOpenAI, tap: BusTap
) -> None:
    """`use_attributes=False`: one log record per message (`gen_ai.system.message`, ..., `gen_ai.choice`)."""
    pytest.importorskip("opentelemetry.instrumentation.openai")
    service = "support-bot-traceloop-events"
    env = {"TRACELOOP_TRACE_CONTENT": "true"}
    span_ids = run_python_app(
        "openllmetry", daemon, fake_openai, service, SYSTEMS, env, logs=True, content_as_events=True
    )

    calls = tap.calls(span_ids)
    for call, system, prompt in zip(calls, SYSTEMS, QUESTIONS, strict=True):
        check_openai_call(call, service, system, prompt)
    for sid in span_ids:
        alone = tap.from_spans[sid]
        assert (alone.system_instructions_sha256, alone.input_messages, alone.output_text) == (None, [], "")
    assert tap.event_names == {"gen_ai.system.message", "gen_ai.user.message", "gen_ai.choice"}
    integrity_incident(daemon, service, span_ids[-1])


# --- 3. the OpenTelemetry JS exporter (OTLP/JSON) ---------------------------------------------------------
def _npm_ci() -> float:
    """Install the sender's node_modules from the lock file when missing; seconds spent (0 when cached)."""
    if (INTEROP_DIR / "node_modules" / ".package-lock.json").is_file():
        return 0.0
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is not installed: the Node.js interop test needs Node.js 20+ and npm")
    started = time.monotonic()
    proc = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--prefer-offline"],
        cwd=INTEROP_DIR,
        capture_output=True,
        text=True,
        timeout=600,
    )
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        output = (proc.stderr or proc.stdout).strip()
        if any(code in output for code in NETWORK_ERRORS):
            pytest.skip(f"npm registry unreachable: {_npm_error(output)}")
        pytest.fail(f"npm ci failed ({proc.returncode}):\n{output}")
    return elapsed


def _npm_error(output: str) -> str:
    """npm's error lines up to its stack trace, e.g. 'code ECONNREFUSED | ... connect ECONNREFUSED'."""
    lines: list[str] = []
    for line in output.splitlines():
        text = line.removeprefix("npm error").strip()
        if text.startswith("at ") or text == "{":
            break
        if text:
            lines.append(text)
    return " | ".join(lines) or output


@pytest.fixture(scope="session")
def node_sender() -> Callable[..., list[dict[str, str]]]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: the Node.js interop test needs Node.js 20+")
    elapsed = _npm_ci()
    print(f"\nnpm ci for tests/interop: {elapsed:.1f} s" if elapsed else "\nnpm ci: node_modules cached")

    def send(request: dict[str, Any]) -> list[dict[str, str]]:
        return _run([node, str(NODE_SENDER), json.dumps(request)], _sender_env({}), INTEROP_DIR)

    return send


def test_node_otlp_json_exporter(
    daemon: Daemon, tap: BusTap, node_sender: Callable[..., list[dict[str, str]]]
) -> None:
    service = "support-bot-node"
    sent = node_sender(
        {
            "endpoint": daemon.intake_url,
            "service": service,
            "calls": [{"system": s, "prompt": q} for s, q in zip(SYSTEMS, QUESTIONS, strict=True)],
        }
    )
    assert len(sent) == len(SYSTEMS)
    span_ids = [ids["span_id"] for ids in sent]

    calls = tap.calls(span_ids)
    for call, ids, system, prompt in zip(calls, sent, SYSTEMS, QUESTIONS, strict=True):
        assert (call.trace_id, call.span_id) == (ids["trace_id"], ids["span_id"])  # hex ids kept as sent
        assert (call.service, call.environment, call.provider) == (service, "prod", "openai")
        assert (call.request_model, call.response_model) == ("gpt-4o-mini", "gpt-4o-mini-2024-07-18")
        assert (call.input_tokens, call.output_tokens, call.finish_reasons) == (31, 9, ("stop",))
        assert call.conversation_id == "node-conv-1"
        assert call.request_params.get("temperature") == pytest.approx(0.2)
        assert call.system_instructions == system
        assert call.system_instructions_sha256 == sha256_text(system)
        assert call.input_messages == [Message("user", prompt)]
        assert call.output_text == "Happy to help."
        assert call.duration_ms >= 0
    integrity_incident(daemon, service, span_ids[-1])
