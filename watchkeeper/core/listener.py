"""HTTP listeners that stay up under connection floods: a connection cap and a header-read deadline.

aiohttp alone has neither: its only timer on a new connection is the keep-alive timeout, and every socket the
kernel hands over is accepted, until the process runs out of file descriptors and cannot even answer its
health check. So the daemon opens the listening socket itself, with aiohttp's low-level `Server` (a protocol
factory) behind a guard that

- answers `503` + `Retry-After` and closes a connection beyond `max_connections` (the fd is free at once);
- closes a connection that has not sent a complete request head `header_read_timeout_s` after connecting
  (half-sent heads, idle sockets that never send anything), and likewise for every later request on a
  keep-alive connection: the deadline starts with the request's first byte (it follows the requests by their
  `Content-Length`; a chunked body ends the tracking, leaving that connection to aiohttp's timeouts);
- leaves idle keep-alive connections to aiohttp's keep-alive timeout (`idle_timeout_s`).
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

_HEAD_END = b"\r\n\r\n"
_MAX_HEAD = 64 * 1024  # aiohttp refuses far smaller heads; past this the framing is not followed
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)[ \t]*(?=\r\n|$)", re.IGNORECASE)
_CHUNKED = re.compile(rb"\r\ntransfer-encoding:[^\r\n]*chunked", re.IGNORECASE)


@dataclass(frozen=True)
class ListenerLimits:
    max_connections: int
    header_read_timeout_s: float
    idle_timeout_s: float
    retry_after_s: int = 1
    config_prefix: str = ""  # e.g. "web." or "intake.": named in the 503 so an operator knows what to raise


class ConnectionGuard:
    """The protocol factory asyncio calls per accepted socket; counts what is open and what was refused."""

    def __init__(self, server: web.Server, limits: ListenerLimits) -> None:
        self.server = server
        self.limits = limits
        self.open = 0
        self.refused = 0
        self.expired = 0
        key = f"{limits.config_prefix}max_connections"
        body = f"too many connections ({limits.max_connections}, {key}); retry later\n".encode()
        self._busy = (
            b"HTTP/1.1 503 Service Unavailable\r\n"
            + f"Retry-After: {limits.retry_after_s}\r\n".encode()
            + b"Connection: close\r\nContent-Type: text/plain; charset=utf-8\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )

    def __call__(self) -> asyncio.Protocol:
        # Counted here, not in connection_made: asyncio calls the factory for every accepted socket before
        # any of their connection_made callbacks run, so a burst would all pass a count kept there.
        if self.open >= self.limits.max_connections:
            self.refused += 1
            return _Refusal(self._busy)
        self.open += 1
        return _Guarded(self.server(), self)


class _Refusal(asyncio.Protocol):
    def __init__(self, answer: bytes) -> None:
        self._answer = answer

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(self._answer)
        transport.close()


class _Guarded(asyncio.Protocol):
    """Forwards everything to aiohttp's handler; follows the request framing only to time request heads."""

    def __init__(self, inner: Any, guard: ConnectionGuard) -> None:
        self._inner = inner
        self._guard = guard
        self._head = b""  # the request head read so far
        self._phase = "head"  # head | body | idle (between requests) | untracked
        self._body_left = 0
        self._timer: asyncio.TimerHandle | None = None
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._arm()
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self._follow(data)
        self._inner.data_received(data)

    def _follow(self, data: bytes) -> None:
        """Advance the framing over `data`: a request head (deadline running), its body, the next request."""
        view = memoryview(data)
        while view and self._phase != "untracked":
            if self._phase == "idle":  # the first byte of the next request
                self._phase, self._head = "head", b""
                self._arm()
            if self._phase == "head":
                probe = self._head + bytes(view[: _MAX_HEAD + 4])
                end = probe.find(_HEAD_END)
                if end < 0:
                    self._head = probe
                    if len(probe) > _MAX_HEAD:
                        self._phase = "untracked"  # aiohttp answers 431/400 itself
                    return
                consumed = end + len(_HEAD_END) - len(self._head)
                head, self._head = probe[:end], b""
                self._cancel()
                view = view[consumed:]
                if _CHUNKED.search(head):
                    self._phase = "untracked"
                    return
                found = _CONTENT_LENGTH.search(head)
                self._body_left = int(found.group(1)) if found else 0
                self._phase = "body"
            if self._phase == "body":
                take = min(self._body_left, len(view))
                self._body_left -= take
                view = view[take:]
                if self._body_left == 0:
                    self._phase = "idle"

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._guard.open -= 1
        self._cancel()
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def _arm(self) -> None:
        self._cancel()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._guard.limits.header_read_timeout_s, self._expire)

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self) -> None:
        self._timer = None
        if self._transport is not None and not self._transport.is_closing():
            self._guard.expired += 1
            self._transport.close()


class GuardedSite:
    """Binds `host:port` for an AppRunner (after `runner.setup()`) behind a ConnectionGuard."""

    def __init__(self, runner: web.AppRunner, host: str, port: int, limits: ListenerLimits) -> None:
        self.runner = runner
        self.host = host
        self.port = port
        self.limits = limits
        self.guard: ConnectionGuard | None = None
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        """Listen; returns the bound port (the one the OS chose when `port` is 0)."""
        server = self.runner.server
        if server is None:
            raise RuntimeError("call runner.setup() first")
        self.guard = ConnectionGuard(server, self.limits)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self.guard, self.host, self.port, reuse_address=True, backlog=1024
        )
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stop accepting; connections still open are closed by `runner.cleanup()`."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None


def runner_options(limits: ListenerLimits) -> dict[str, Any]:
    """AppRunner keyword arguments that go with the guard: the idle timeout and a quiet client-error log."""
    return {"keepalive_timeout": limits.idle_timeout_s, "logger": ClientErrorLogger()}


class ClientErrorLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """aiohttp logs a client's malformed request ("Error handling request", a 4xx it answers itself) with a
    traceback at ERROR: one DEBUG line is enough for what is the client's fault; server errors stay ERROR."""

    def __init__(self) -> None:
        super().__init__(logging.getLogger("aiohttp.server"), {})

    def exception(self, msg: object, *args: object, exc_info: Any = True, **kwargs: Any) -> None:
        exc = exc_info if isinstance(exc_info, BaseException) else None
        status = getattr(exc, "status", None) or getattr(exc, "code", None)
        if isinstance(status, int) and 400 <= status < 500:
            self.logger.debug("%s: %s", msg % args if args else msg, exc)
            return
        self.logger.error(msg, *args, exc_info=exc_info, **kwargs)
