"""An OpenAI-compatible HTTP server on 127.0.0.1 for tests and benchmarks: real sockets, real SSE.

Answers `POST /v1/chat/completions` and the Azure path `/openai/deployments/{d}/chat/completions`. The model
name steers the behaviour, so parallel tests need no shared switches:

- ``fail-500`` / ``fail-429`` / ``fail-400``: that HTTP error with an OpenAI-shaped error body;
- ``slow-<seconds>`` (e.g. ``slow-2``): answer after a delay (for client timeouts);
- ``break-stream``: a streamed answer that turns into an error event after the first chunk;
- anything else: an answer ``reply_text`` (default: "Echo: " + the last user message).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

USAGE_INPUT = 11
USAGE_OUTPUT = 7
FINGERPRINT = "fp_test_42"


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: dict[str, Any] = field(default_factory=dict)


def _last_user_text(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    def do_POST(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {}
        owner = self.server.owner
        owner.record(
            RecordedRequest("POST", parts.path, parse_qs(parts.query), dict(self.headers.items()), body)
        )
        path = parts.path.rstrip("/")
        if not (
            path == "/v1/chat/completions"
            or (path.startswith("/openai/deployments/") and path.endswith("/chat/completions"))
        ):
            self._json(404, {"error": {"message": f"no route {parts.path}", "type": "invalid_request_error"}})
            return
        model = str(body.get("model") or "")
        if path.startswith("/openai/deployments/") and not model:
            model = path.split("/")[3]
        if model.startswith("fail-"):
            status = int(model.split("-", 1)[1])
            self._json(status, {"error": {"message": f"forced {status}", "type": "test_error", "code": None}})
            return
        if model.startswith("slow-"):
            owner.stopping.wait(float(model.split("-", 1)[1]))
        text = owner.reply_text if owner.reply_text is not None else "Echo: " + _last_user_text(body)
        if body.get("stream"):
            self._stream(body, model, text)
        else:
            self._json(200, owner.completion(model, text))

    def _json(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-request-id", "req_test")
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, body: dict[str, Any], model: str, text: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        owner = self.server.owner
        base = {
            "id": owner.response_id,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": FINGERPRINT,
        }

        def send(chunk: dict[str, Any]) -> None:
            self.wfile.write(b"data: " + json.dumps({**base, **chunk}).encode() + b"\n\n")
            self.wfile.flush()

        send(
            {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}
        )
        words = text.split(" ")
        for i, word in enumerate(words):
            piece = word if i == 0 else " " + word
            send({"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]})
            if model == "break-stream":
                send({"error": {"message": "upstream overloaded mid-stream", "type": "server_error"}})
                return
        send({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        if (body.get("stream_options") or {}).get("include_usage"):
            send({"choices": [], "usage": owner.usage()})
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    owner: FakeOpenAI

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (timeout tests, early-closed streams) is expected, not an error."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeOpenAI:
    """The server; use as a context manager. `base_url` is the OpenAI base, `azure_endpoint` the Azure one."""

    def __init__(self, reply_text: str | None = None) -> None:
        self.reply_text = reply_text
        self.response_id = "chatcmpl-test-1"
        self.requests: list[RecordedRequest] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-openai", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def azure_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def usage(self) -> dict[str, int]:
        return {
            "prompt_tokens": USAGE_INPUT,
            "completion_tokens": USAGE_OUTPUT,
            "total_tokens": USAGE_INPUT + USAGE_OUTPUT,
        }

    def completion(self, model: str, text: str) -> dict[str, Any]:
        return {
            "id": self.response_id,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": FINGERPRINT,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": self.usage(),
        }

    def start(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
