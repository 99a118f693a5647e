"""Grok through OpenAI-compatible endpoints: xAI's own (api.x.ai/v1) and Azure AI Foundry's, with the `openai`
client traced by collector.instrument().

The provider is derived from the endpoint's host name, so the client must see the real host names: requests to
`http://api.x.ai/v1` and `http://<resource>.services.ai.azure.com/...` are sent through an HTTP proxy that is
the local stand-in server (an absolute-URI request, no DNS, nothing leaves 127.0.0.1). The host mapping
alone is also checked with the https URLs users configure.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import openai
import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.support.fake_openai import FINGERPRINT, USAGE_INPUT, USAGE_OUTPUT, FakeOpenAI
from watchkeeper import collector
from watchkeeper.collector.sdk.providers import (
    AZURE_INFERENCE,
    AZURE_OPENAI,
    OPENAI_COMPATIBLE,
    X_AI,
    endpoint_from_url,
)
from watchkeeper.collector.translate.otlp_model import model_calls_from_bytes
from watchkeeper.core import semconv as sc
from watchkeeper.core.records import ModelCall, sha256_text

MODEL = "grok-3"
SYSTEM = "You are Grok, the concierge of Northwind Hotels. Be brief."
MESSAGES = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Is breakfast included?"}]
FOUNDRY_HOST = "northwind-ai.services.ai.azure.com"
FOUNDRY_API_VERSION = "2024-05-01-preview"
FOUNDRY_KEY = "foundry-test-key"
FOUNDRY_ANSWER = "Yes, breakfast is included from 7 to 10."


# --- the host mapping, with the URLs users really configure -------------------------------------------------
@pytest.mark.parametrize(
    ("url", "azure_client", "provider", "address", "port"),
    [
        ("https://api.x.ai/v1", False, X_AI, "api.x.ai", 443),
        ("https://API.X.AI/v1", False, X_AI, "api.x.ai", 443),
        (f"https://{FOUNDRY_HOST}/models", False, AZURE_INFERENCE, FOUNDRY_HOST, 443),
        (f"https://{FOUNDRY_HOST}/openai/v1/", False, AZURE_INFERENCE, FOUNDRY_HOST, 443),
        (f"https://{FOUNDRY_HOST}", True, AZURE_INFERENCE, FOUNDRY_HOST, 443),
        ("https://grok-3-nw.eastus2.models.ai.azure.com", False, AZURE_INFERENCE, None, 443),
        ("https://northwind.openai.azure.com", True, AZURE_OPENAI, "northwind.openai.azure.com", 443),
        ("http://127.0.0.1:8080/v1", False, OPENAI_COMPATIBLE, "127.0.0.1", 8080),
    ],
)
def test_endpoint_mapping(
    url: str, azure_client: bool, provider: str, address: str | None, port: int
) -> None:
    endpoint = endpoint_from_url(url, azure_client=azure_client)
    assert endpoint.provider == provider
    assert endpoint.address == (address or urlsplit(url).hostname)
    assert endpoint.port == port


# --- a stand-in for Foundry's model-inference route (`/models/chat/completions?api-version=...`) ------------
@dataclass
class FoundryRequest:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: dict[str, Any]


class FakeFoundry:
    """Answers POST /models/chat/completions like Azure AI Foundry: needs the api-key header, api-version."""

    def __init__(self) -> None:
        self.requests: list[FoundryRequest] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                parts = urlsplit(self.path)  # absolute-form when reached as a proxy
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                request = FoundryRequest(
                    parts.path, parse_qs(parts.query), dict(self.headers.items()), json.loads(raw or b"{}")
                )
                owner.requests.append(request)
                if parts.path != "/models/chat/completions":
                    return self._send(404, {"error": {"code": "404", "message": "Resource not found"}})
                if _header(request.headers, "api-key") != FOUNDRY_KEY:
                    return self._send(401, {"error": {"code": "401", "message": "Access denied"}})
                if not request.query.get("api-version"):
                    return self._send(400, {"error": {"code": "BadRequest", "message": "api-version?"}})
                return self._send(200, _foundry_completion(str(request.body.get("model") or "")))

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="fake-foundry", daemon=True)
        self.thread.start()
        self.proxy = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def _foundry_completion(model: str) -> dict[str, Any]:
    return {
        "id": "foundry-resp-1",
        "object": "chat.completion",
        "created": 1_760_000_000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": FOUNDRY_ANSWER},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 31, "completion_tokens": 12, "total_tokens": 43},
    }


# --- fixtures -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture(scope="module")
def foundry() -> Iterator[FakeFoundry]:
    server = FakeFoundry()
    yield server
    server.close()


@pytest.fixture
def memory() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource.create({sc.SERVICE_NAME: "grok-concierge", sc.DEPLOYMENT_ENVIRONMENT: "test"})
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    collector.instrument(tracer_provider=provider, exporters=(), capture_content=True)
    try:
        yield exporter
    finally:
        collector.uninstrument()
        provider.shutdown()


def _via(proxy: str) -> httpx.Client:
    return httpx.Client(proxy=proxy, timeout=10)


def _header(headers: dict[str, str], name: str) -> str | None:
    return {k.lower(): v for k, v in headers.items()}.get(name.lower())


def _only(memory: InMemorySpanExporter) -> tuple[ReadableSpan, ModelCall]:
    """The one span, and the ModelCall the daemon would make of it (encoded as OTLP, parsed back)."""
    spans = memory.get_finished_spans()
    assert len(spans) == 1, [s.name for s in spans]
    (call,) = model_calls_from_bytes(encode_spans(spans).SerializeToString())
    return spans[0], call


# --- xAI's OpenAI-compatible endpoint -----------------------------------------------------------------------
@pytest.mark.parametrize("stream", [False, True], ids=["sample", "stream"])
def test_xai_openai_endpoint(fake_openai: FakeOpenAI, memory: InMemorySpanExporter, stream: bool) -> None:
    proxy = f"http://127.0.0.1:{fake_openai.port}"
    with openai.OpenAI(
        base_url="http://api.x.ai/v1", api_key="xai-key", max_retries=0, http_client=_via(proxy)
    ) as client:
        if stream:
            chunks = client.chat.completions.create(
                model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
            )
            answer = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        else:
            answer = client.chat.completions.create(model=MODEL, messages=MESSAGES).choices[0].message.content
    assert answer == "Echo: Is breakfast included?"
    request = fake_openai.requests[-1]
    assert request.path == "/v1/chat/completions"
    assert _header(request.headers, "Host") == "api.x.ai"
    assert _header(request.headers, "Authorization") == "Bearer xai-key"

    span, call = _only(memory)
    attrs = span.attributes or {}
    assert attrs[sc.PROVIDER_NAME] == "x_ai"
    assert attrs[sc.SERVER_ADDRESS] == "api.x.ai"
    assert attrs[sc.SERVER_PORT] == 80  # plain http through the stand-in; 443 for the real https URL
    assert attrs[sc.REQUEST_MODEL] == MODEL
    assert call.provider == "x_ai"
    assert call.request_model == call.response_model == MODEL
    assert call.system_instructions_sha256 == sha256_text(SYSTEM)
    assert call.output_text == answer
    assert (call.input_tokens, call.output_tokens) == (USAGE_INPUT, USAGE_OUTPUT)
    assert call.system_fingerprint == FINGERPRINT
    assert call.finish_reasons == ("stop",)
    assert call.server_address == "api.x.ai"


# --- Azure AI Foundry ---------------------------------------------------------------------------------------
def test_foundry_models_endpoint_with_openai_client(
    foundry: FakeFoundry, memory: InMemorySpanExporter
) -> None:
    """OpenAI client on Foundry's model-inference route: base URL .../models, api-version query, api-key."""
    with openai.OpenAI(
        base_url=f"http://{FOUNDRY_HOST}/models",
        api_key="unused",
        default_headers={"api-key": FOUNDRY_KEY},
        default_query={"api-version": FOUNDRY_API_VERSION},
        max_retries=0,
        http_client=_via(foundry.proxy),
    ) as client:
        completion = client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert completion.choices[0].message.content == FOUNDRY_ANSWER
    request = foundry.requests[-1]
    assert request.path == "/models/chat/completions"
    assert request.query["api-version"] == [FOUNDRY_API_VERSION]
    assert _header(request.headers, "Host") == FOUNDRY_HOST
    assert request.body["model"] == MODEL

    span, call = _only(memory)
    attrs = span.attributes or {}
    assert attrs[sc.PROVIDER_NAME] == "azure.ai.inference"
    assert attrs[sc.SERVER_ADDRESS] == FOUNDRY_HOST
    assert attrs[sc.REQUEST_MODEL] == MODEL
    assert call.provider == "azure.ai.inference"
    assert call.request_model == call.response_model == MODEL
    assert (call.input_tokens, call.output_tokens) == (31, 12)
    assert call.output_text == FOUNDRY_ANSWER
    assert call.system_instructions_sha256 == sha256_text(SYSTEM)
    assert call.system_fingerprint is None  # Foundry sends none: the fingerprint watch stays quiet


def test_foundry_with_azure_openai_client(fake_openai: FakeOpenAI, memory: InMemorySpanExporter) -> None:
    """AzureOpenAI on a Foundry resource: the host means Foundry, not Azure OpenAI, despite the class."""
    proxy = f"http://127.0.0.1:{fake_openai.port}"
    with openai.AzureOpenAI(
        azure_endpoint=f"http://{FOUNDRY_HOST}",
        api_key=FOUNDRY_KEY,
        api_version=FOUNDRY_API_VERSION,
        max_retries=0,
        http_client=_via(proxy),
    ) as client:
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
    request = fake_openai.requests[-1]
    assert request.path == f"/openai/deployments/{MODEL}/chat/completions"
    assert request.query["api-version"] == [FOUNDRY_API_VERSION]
    assert _header(request.headers, "api-key") == FOUNDRY_KEY

    span, call = _only(memory)
    attrs = span.attributes or {}
    assert attrs[sc.PROVIDER_NAME] == "azure.ai.inference"
    assert attrs[sc.SERVER_ADDRESS] == FOUNDRY_HOST
    assert call.provider == "azure.ai.inference"
    assert call.request_model == MODEL
