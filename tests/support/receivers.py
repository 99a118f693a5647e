"""A loopback HTTP receiver for channel tests: records every request and answers as scripted.

Scripted answers are consumed in order (`reply`, `hang`, `reset`); when none is left it answers the default
(200 "ok"). `hang` holds the request without answering until the receiver stops (client timeouts), `reset`
closes the connection with a TCP RST after reading the request (connection-reset handling).
"""

from __future__ import annotations

import json
import socket
import struct
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from watchkeeper.alerts.model import Event, Incident, Notification, Status


@dataclass(slots=True)
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    target: str = ""  # the request target as sent (absolute form when the receiver is used as a proxy)

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(slots=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # wait this long before answering (a slow receiver)
    body: bytes = b"ok"
    action: str = "answer"  # answer | hang | reset


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        return

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        recorded = Recorded(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            target=self.path,
        )
        self.server.owner._record(recorded)
        reply = self.server.owner._next_reply()
        if reply.delay_s:
            time.sleep(reply.delay_s)
        if reply.action == "hang":
            self.server.owner._release.wait(timeout=30)
            self.close_connection = True
            return
        if reply.action == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self._was_reset = True
            self.rfile.close()
            self.wfile.close()
            self.connection.close()
            self.close_connection = True
            return
        self.server.owner._answered(recorded, reply)
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    do_POST = _handle
    do_PUT = _handle
    do_GET = _handle

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except ValueError:  # flushing the stream a scripted reset closed
            if not getattr(self, "_was_reset", False):
                raise

    def finish(self) -> None:
        if getattr(self, "_was_reset", False):
            return
        super().finish()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: Receiver

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Scripted resets, hung requests and requests cut by stop() end in errors by design: no traceback."""
        if isinstance(sys.exc_info()[1], OSError) or self.owner._release.is_set():
            return
        super().handle_error(request, client_address)


class Receiver:
    """Start with `start()`, stop with `stop()` (the `receiver` fixture does both)."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.default = Reply()
        self._script: list[Reply] = []
        self._lock = threading.Condition()
        self._release = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="test-receiver", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def reply(
        self, status: int = 200, body: bytes | str = b"ok", headers: dict[str, str] | None = None
    ) -> None:
        data = body.encode() if isinstance(body, str) else body
        with self._lock:
            self._script.append(Reply(status=status, body=data, headers=dict(headers or {})))

    def hang(self) -> None:
        with self._lock:
            self._script.append(Reply(action="hang"))

    def reset(self) -> None:
        with self._lock:
            self._script.append(Reply(action="reset"))

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Recorded]:
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.requests) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"expected {count} requests, got {len(self.requests)}")
                self._lock.wait(left)
            return list(self.requests)

    @property
    def last(self) -> Recorded:
        return self.wait_for(1)[-1]

    def _record(self, request: Recorded) -> None:
        with self._lock:
            self.requests.append(request)
            self._lock.notify_all()

    def _next_reply(self) -> Reply:
        with self._lock:
            return self._script.pop(0) if self._script else self.default

    def _answered(self, request: Recorded, reply: Reply) -> None:
        """Called just before an answer is sent (after any scripted delay); subclasses keep what they need."""


class WebhookReceiver(Receiver):
    """A webhook endpoint for alerts and daemon tests: started on construction, `url` ends in /hook, and the
    JSON bodies it accepted (2xx answers) are kept in `received`, stamped with `_received_monotonic`."""

    def __init__(self) -> None:
        super().__init__()
        self.received: list[dict[str, Any]] = []
        self.start()

    @property
    def url(self) -> str:
        return super().url + "/hook"

    @property
    def replies(self) -> list[Reply]:
        """Scripted answers, consumed in order before `default` (append `Reply(...)`, or assign a list)."""
        return self._script

    @replies.setter
    def replies(self, replies: list[Reply]) -> None:
        with self._lock:
            self._script[:] = replies

    def _answered(self, request: Recorded, reply: Reply) -> None:
        if not 200 <= reply.status < 300:
            return
        try:
            data = request.json()
        except ValueError:
            return
        data["_received_monotonic"] = time.monotonic()
        with self._lock:
            self.received.append(data)

    def take(self) -> list[dict[str, Any]]:
        """The accepted bodies since the last take."""
        with self._lock:
            out, self.received = self.received, []
        return out

    def keys(self) -> list[str]:
        with self._lock:
            return [m["key"] for m in self.received]

    def json_bodies(self) -> list[Any]:
        """Every request's JSON body, whatever the answer was."""
        return [r.json() for r in list(self.requests)]

    def close(self) -> None:
        self.stop()


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    """A started Receiver, stopped on exit (test modules wrap it in a `receiver` fixture)."""
    server = Receiver().start()
    try:
        yield server
    finally:
        server.stop()


MALICIOUS = (
    "<!channel> <!everyone> @here @channel *bold* _it_ ~s~ [click](https://evil.example/x) "
    "<https://evil.example|click me> <at>boss</at> <script>alert('x')</script> & \"quoted\" "
    "```fence``` \x1b[31mred\x1b[0m\r\n2024-01-01 CRITICAL forged log line\n# heading\n- list"
)


def make_notification(
    event: Event = Event.trigger,
    *,
    excerpt: str = "The model said something it should not have.",
    summary: str = "Controversial topic detected in 3 answers of support-bot",
    title: str = "Controversial output in support-bot",
    severity: str = "critical",
    incident_id: str = "inc-7f3a9c",
    sequence: int = 1,
) -> Notification:
    """A realistic notification; pass MALICIOUS or a 100 KB `excerpt` to test escaping and truncation."""
    status = {Event.acknowledge: Status.acknowledged, Event.resolve: Status.resolved}.get(
        event, Status.triggered
    )
    incident = Incident(
        id=incident_id,
        group_key="grp-42",
        status=status,
        severity=severity,
        title=title,
        summary=summary,
        labels={
            "app": "support-bot",
            "env": "prod",
            "model": "gpt-4o-mini",
            "provider": "openai",
            "detector": "content_safety",
            "category": "controversial",
        },
        first_seen=1_700_000_000.0,
        last_seen=1_700_000_300.0,
        finding_count=3,
        annotations={"runbook_url": "https://runbooks.example.com/llm-safety"},
        acknowledged_by="alice" if event is Event.acknowledge else None,
        resolved_at=1_700_000_600.0 if event is Event.resolve else None,
        samples=[
            {
                "detector": "content_safety",
                "summary": "flagged answer",
                "evidence": {
                    "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
                    "span_id": "00f067aa0ba902b7",
                    "excerpt": excerpt,
                },
            }
        ],
    )
    return Notification(
        id=f"{incident_id}:{event.value}:{sequence}",
        incident=incident,
        event=event,
        receiver="oncall",
        channel="test",
        dashboard_url=f"https://watchkeeper.example.com/incidents/{incident_id}",
        created_at=1_700_000_301.0,
    )
