"""`watchkeeper demo`: the daemon on its embedded default, realistic traffic through the real OTLP intake.

The traffic is three apps (support bot, travel assistant, a Grok chat) sending GenAI spans the way their
instrumentations do, with three episodes an on-call engineer must hear about: an unapproved system-prompt
change, a recurring off-topic narrative injected into unrelated answers, and an answer leaking personal data.
"""

from __future__ import annotations

import json
import random
import shutil
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from watchkeeper.core import semconv as sc
from watchkeeper.core.records import sha256_text

LEAK_ANSWER = (
    "I have updated the delivery address. For reference, the account holder is "
    "maria.lopez@northwind-mail.com, "
    "phone +49 151 23456789, and the card on file is 4539 1488 0343 6467."
)


@dataclass
class WebhookReceiver:
    """A loopback HTTP receiver standing in for the team's incident webhook."""

    received: list[dict[str, Any]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    def start(self) -> str:
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    received.append(json.loads(body or b"{}"))
                except ValueError:
                    received.append({"raw": body.decode(errors="replace")})
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/watchkeeper"

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def load_corpus() -> dict[str, Any]:
    text = resources.files("watchkeeper.demo").joinpath("corpus.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def _parts(text: str) -> list[dict[str, str]]:
    return [{"type": "text", "content": text}]


class TrafficGenerator:
    """Sends one app's calls as OTLP spans through the OpenTelemetry SDK exporter, as instrumented apps do."""

    def __init__(self, endpoint: str, corpus: dict[str, Any], seed: int = 7) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        self.corpus = corpus
        self.rng = random.Random(seed)
        self.providers: dict[str, TracerProvider] = {}
        self.tracers: dict[str, Any] = {}
        for app, spec in corpus["apps"].items():
            provider = TracerProvider(
                resource=Resource.create(
                    {
                        sc.SERVICE_NAME: app,
                        sc.DEPLOYMENT_ENVIRONMENT: spec["environment"],
                        "service.version": "1.4.2",
                    }
                )
            )
            provider.add_span_processor(
                BatchSpanProcessor(
                    OTLPSpanExporter(endpoint=endpoint + "/v1/traces"), schedule_delay_millis=200
                )
            )
            self.providers[app] = provider
            self.tracers[app] = provider.get_tracer("watchkeeper.demo")
        self.sent = 0

    def call(
        self,
        app: str,
        prompt: str,
        answer: str,
        *,
        system_prompt: str,
        fingerprint: str = "fp_a1b2c3",
        latency_s: float | None = None,
        ago_s: float = 0.0,
    ) -> None:
        """`ago_s`: the call ended that long ago (to lay recorded traffic out over time)."""
        spec = self.corpus["apps"][app]
        latency = latency_s if latency_s is not None else self.rng.lognormvariate(-0.4, 0.35)
        end_ns = time.time_ns() - int(ago_s * 1e9)
        start_ns = end_ns - int(latency * 1e9)
        tracer = self.tracers[app]
        model = spec["model"]
        span = tracer.start_span(f"chat {model}", start_time=start_ns, kind=_client_kind())
        attrs: dict[str, Any] = {
            sc.OPERATION_NAME: "chat",
            sc.REQUEST_MODEL: model,
            sc.RESPONSE_MODEL: model + ("-2025-04-14" if spec["provider"] != "x_ai" else ""),
            sc.RESPONSE_ID: f"chatcmpl-{self.rng.getrandbits(48):x}",
            sc.RESPONSE_FINISH_REASONS: ["stop"],
            sc.USAGE_INPUT_TOKENS: len((system_prompt + prompt).split()) * 4 // 3,
            sc.USAGE_OUTPUT_TOKENS: len(answer.split()) * 4 // 3,
            sc.CONVERSATION_ID: f"conv-{self.rng.getrandbits(40):x}",
            sc.REQUEST_TEMPERATURE: 0.3,
            sc.WK_SYSTEM_INSTRUCTIONS_SHA256: sha256_text(system_prompt),
        }
        if spec["provider"] == "x_ai":
            # The xAI SDK's dialect: indexed prompt/completion attributes and a serving fingerprint.
            attrs.update(
                {
                    sc.PROVIDER_NAME: "xai",
                    "gen_ai.prompt.0.role": "system",
                    "gen_ai.prompt.0.content": system_prompt,
                    "gen_ai.prompt.1.role": "user",
                    "gen_ai.prompt.1.content": prompt,
                    "gen_ai.completion.0.role": "assistant",
                    "gen_ai.completion.0.content": answer,
                    sc.RESPONSE_SYSTEM_FINGERPRINT: fingerprint,
                }
            )
        else:
            attrs.update(
                {
                    sc.PROVIDER_NAME: spec["provider"],
                    sc.SYSTEM_INSTRUCTIONS: json.dumps(_parts(system_prompt)),
                    sc.INPUT_MESSAGES: json.dumps([{"role": "user", "parts": _parts(prompt)}]),
                    sc.OUTPUT_MESSAGES: json.dumps(
                        [{"role": "assistant", "parts": _parts(answer), "finish_reason": "stop"}]
                    ),
                }
            )
        span.set_attributes(attrs)
        span.end(end_time=end_ns)
        self.sent += 1

    def flush(self) -> None:
        for provider in self.providers.values():
            provider.force_flush()

    def shutdown(self) -> None:
        for provider in self.providers.values():
            provider.shutdown()


def _client_kind() -> Any:
    from opentelemetry.trace import SpanKind

    return SpanKind.CLIENT


def drive_traffic(
    gen: TrafficGenerator,
    calls: int,
    rng: random.Random,
    stop: threading.Event | None = None,
    spread_s: float = 0.0,
) -> dict[str, int]:
    """The demo's script: normal traffic, then the three episodes, interleaved with normal traffic.

    `spread_s`: date the calls evenly over that many seconds up to now (screenshots of a busy hour)."""
    corpus = gen.corpus
    apps = list(corpus["apps"])
    injection = corpus["injection"]
    episodes = Counter()
    change_at, inject_from, leak_at = int(calls * 0.45), int(calls * 0.4), int(calls * 0.7)
    for i in range(calls):
        if stop is not None and stop.is_set():
            break
        app = apps[i % len(apps)]
        spec = corpus["apps"][app]
        pair = rng.choice(corpus["pairs"][app])
        prompt, answer, system_prompt = pair["prompt"], pair["answer"], spec["system_prompt"]
        if app == "support-bot" and i >= change_at and rng.random() < 0.5:
            system_prompt = spec["unapproved_system_prompt"]
            episodes["unapproved_system_prompt"] += 1
        if app == injection["app"] and i >= inject_from and rng.random() < 0.35:
            answer = answer + " " + rng.choice(injection["narratives"])
            episodes["injected_narrative"] += 1
        if app == "support-bot" and i == leak_at:
            answer = LEAK_ANSWER
            episodes["leaked_personal_data"] += 1
        gen.call(app, prompt, answer, system_prompt=system_prompt, ago_s=spread_s * (1 - i / calls))
        if i % 20 == 19:
            time.sleep(0.05)  # apps do not send everything in one burst
    return dict(episodes)


@dataclass(frozen=True)
class DemoPorts:
    """Where the demo daemon listens; None keeps the configured default, 0 asks the OS for a free port."""

    http: int | None = None
    grpc: int | None = None
    web: int | None = None


def run_demo(
    calls: int = 240,
    keep_running: bool = False,
    state_dir: Path | None = None,
    ports: DemoPorts | None = None,
) -> int:
    from watchkeeper.app import Daemon, StartupError
    from watchkeeper.config import ConfigError
    from watchkeeper.logs import setup_logging

    setup_logging("warning")
    state = Path(state_dir or ".watchkeeper-demo")
    if state.exists() and state_dir is None:
        shutil.rmtree(state)  # the demo always starts from a clean slate
    stop = _stop_on_signals()
    receiver = WebhookReceiver()
    hook_url = receiver.start()
    try:
        settings = demo_settings(state, hook_url, ports or DemoPorts())
    except ConfigError as exc:
        receiver.stop()
        print(exc)
        return 2
    daemon = Daemon(settings)
    t0 = time.monotonic()
    try:
        daemon.start()
    except StartupError as exc:
        receiver.stop()
        print(f"cannot start the daemon: {exc}")
        print(
            "other ports: watchkeeper demo --http-port 14318 --grpc-port 14317 --web-port 18686 "
            "(0 = any free)"
        )
        return 1
    print(f"Watchkeeper demo: daemon running (embedded bus, state in {state}/)")
    print(f"  OTLP/HTTP intake : {daemon.intake_url}/v1/traces")
    print(f"  dashboard + API  : {daemon.web_url}/   ({daemon.web_url}/api/v1/incidents)")
    corpus = load_corpus()
    gen = TrafficGenerator(daemon.intake_url, corpus)
    try:
        episodes = drive_traffic(gen, calls, random.Random(11), stop=stop)
        gen.flush()
        print(
            f"sent {gen.sent} model calls from {len(corpus['apps'])} apps through the OTLP intake; "
            f"episodes: {', '.join(f'{k}={v}' for k, v in episodes.items())}"
        )
        if not stop.is_set():
            _wait_for(lambda: daemon.detectors.calls_processed >= gen.sent, 30, stop)
            _wait_for(lambda: _notified(daemon, receiver), 20, stop)
            stop.wait(1.0)
            print(summary(daemon, receiver, hook_url, time.monotonic() - t0))
        if keep_running and not stop.is_set():
            print(
                f"\nThe daemon keeps running: open {daemon.web_url}/ , or try the CLI on it: "
                f"watchkeeper incidents list --url {daemon.web_url}\n"
                "Press Ctrl-C (or send SIGTERM) to stop it."
            )
            stop.wait()
    finally:
        gen.shutdown()
        if keep_running or stop.is_set():
            print("stopping the demo daemon", flush=True)
        else:
            print(
                "\nThe demo stops the daemon now, and its dashboard with it. To explore the dashboard and "
                "the CLI, run `watchkeeper demo --keep-running` (it keeps the daemon up until Ctrl-C), or "
                "run the daemon "
                "yourself with `watchkeeper run`.",
                flush=True,
            )
        daemon.stop()
        receiver.stop()
    return 0


def _stop_on_signals() -> threading.Event:
    """SIGTERM and SIGINT end the demo cleanly (daemon stopped, exit status 0) instead of killing it."""
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    return stop


def _wait_for(predicate: Any, timeout_s: float, stop: threading.Event) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not stop.is_set():
        if predicate():
            return True
        stop.wait(0.2)
    return False


def _notified(daemon: Any, receiver: WebhookReceiver) -> bool:
    _, total = daemon.alerts.store.list_incidents(limit=100)
    return total > 0 and len(receiver.received) >= total


def demo_settings(state: Path, hook_url: str, ports: DemoPorts | None = None) -> Any:
    from watchkeeper.config import load_settings

    ports = ports or DemoPorts()
    intake = {k: v for k, v in (("http_port", ports.http), ("grpc_port", ports.grpc)) if v is not None}
    web = {"port": ports.web} if ports.web is not None else {}
    return load_settings(
        None, state_dir=str(state), alerts=demo_alerts_config(hook_url), intake=intake, web=web
    )


def demo_alerts_config(hook_url: str) -> dict[str, Any]:
    """Short timers so the demo shows notifications within seconds; a console and a webhook receiver."""
    return {
        "route": {"receiver": "on-call", "group_wait": "1s", "group_interval": "5s", "repeat_interval": "4h"},
        "receivers": [
            {
                "name": "on-call",
                "console": True,
                "webhook_configs": [{"url": hook_url, "allow_insecure": True}],
            }
        ],
    }


def summary(daemon: Any, receiver: WebhookReceiver, hook_url: str, elapsed_s: float) -> str:
    store = daemon.alerts.store
    findings, nfind = store.list_findings(limit=500, offset=0)
    incidents, ninc = store.list_incidents(limit=100)
    by_detector = Counter(f"{f['detector']}/{f['category']}" for f in findings)
    lines = ["", f"== Watchkeeper demo summary ({elapsed_s:.1f} s) =="]
    lines.append(f"model calls traced and analyzed : {daemon.detectors.calls_processed}")
    lines.append(f"findings                        : {nfind}")
    for key, n in sorted(by_detector.items(), key=lambda kv: -kv[1]):
        lines.append(f"   {n:4d}  {key}")
    lines.append(f"incidents                       : {ninc}")
    for inc in incidents:
        theme = inc["labels"].get("narrative") or inc["labels"].get("theme")
        lines.append(
            f"   [{inc['severity']:>8}] {inc['title']}{f' [{theme}]' if theme else ''}  "
            f"(findings={inc['finding_count']}, status={inc['status']})"
        )
        lines.append(f"              {daemon.web_url}/incidents/{inc['id']}")
    lines.append("notifications                   :")
    lines.append("   console : logged by the daemon (receiver 'on-call')")
    lines.append(f"   webhook : {len(receiver.received)} POSTs received at {hook_url}")
    lines.append(f"dashboard                       : {daemon.web_url}/")
    lines.append(f"incidents API                   : {daemon.web_url}/api/v1/incidents")
    return "\n".join(lines)
