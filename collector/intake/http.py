"""OTLP/HTTP: POST /v1/traces and /v1/logs, protobuf or JSON, gzip or identity, chunked or not.

Bodies are read by hand (aiohttp's auto-decompression is off) so the size limit holds on the wire and again
after gunzip, which is what stops a small gzip bomb from becoming gigabytes in memory.
"""

from __future__ import annotations

import asyncio
import logging
import zlib

from aiohttp import web
from google.protobuf.message import Message
from google.rpc.status_pb2 import Status

from watchkeeper.collector.intake.core import SIGNALS, IntakeCore, count_reject
from watchkeeper.collector.intake.errors import Reason, Rejected
from watchkeeper.collector.intake.limits import Slot
from watchkeeper.collector.translate.otlp_json import message_to_json
from watchkeeper.core.auth import bearer_matches, host_allowed
from watchkeeper.core.listener import GuardedSite, ListenerLimits, runner_options

log = logging.getLogger(__name__)

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_PROTOBUF_TYPES = {PROTOBUF, "application/protobuf"}
_TRANSPORT = "http"
_OFFLOAD_GZIP_BYTES = 64 * 1024
_GUNZIP_SLICE = 64 * 1024


class HttpIntake:
    def __init__(self, core: IntakeCore) -> None:
        self.core = core
        cfg = core.cfg
        self._token = cfg.auth_token.get_secret_value().encode() if cfg.auth_token else None
        self._runner: web.AppRunner | None = None
        self._site: GuardedSite | None = None
        self.port = 0

    async def start(self) -> int:
        app = web.Application()
        for name in SIGNALS:
            app.router.add_route("*", f"/v1/{name}", self._handle)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        cfg = self.core.cfg
        limits = ListenerLimits(
            max_connections=cfg.max_connections,
            header_read_timeout_s=cfg.header_read_timeout_s,
            idle_timeout_s=cfg.idle_timeout_s,
            retry_after_s=cfg.retry_after_s,
            config_prefix="intake.",
        )
        self._runner = web.AppRunner(
            app,
            auto_decompress=False,
            access_log=None,
            handle_signals=False,
            shutdown_timeout=cfg.shutdown_grace_s,
            **runner_options(limits),
        )
        await self._runner.setup()
        self._site = GuardedSite(self._runner, cfg.host, cfg.http_port, limits)
        self.port = await self._site.start()  # the bound port, when the config said 0
        return self.port

    async def stop(self) -> None:
        """Close the listener, then wait (up to shutdown_grace_s) for requests already being handled."""
        if self._site is not None:
            await self._site.stop()
            self._site = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _not_found(self, request: web.Request) -> web.Response:
        rej = Rejected(Reason.NOT_FOUND, f"no endpoint {request.path!r}: use POST /v1/traces or /v1/logs")
        return self._error(rej, _wants_json(request))

    async def _handle(self, request: web.Request) -> web.Response:
        as_json = _wants_json(request)
        try:
            self._check_host(request)
            if request.method != "POST":
                raise Rejected(Reason.METHOD, f"{request.method} not allowed on {request.path}: use POST")
            self._authorize(request)
            as_json = _content_kind(request)
            signal = SIGNALS[request.path.rsplit("/", 1)[1]]
            with self.core.admit() as slot:
                body = await self._read_body(request, slot)
                message = await self.core.decode(signal, body, as_json)
                response = await self.core.export(signal, message, None if as_json else body, _TRANSPORT)
            return _reply(200, response, as_json)
        except Rejected as rej:
            return self._error(rej, as_json)

    def _check_host(self, request: web.Request) -> None:
        """Without a token, a loopback intake is reachable by any page the user's browser opens through DNS
        rebinding (a hostile name resolving to 127.0.0.1): such requests name that host and are refused."""
        cfg = self.core.cfg
        host = request.headers.get("Host")
        if cfg.checks_host and host is not None and not host_allowed(host, cfg.allowed_hosts):
            raise Rejected(
                Reason.BAD_HOST,
                f"Host {host[:100]!r} is not served here: send to localhost or an IP address, or add the "
                "name to intake.allowed_hosts",
            )

    def _authorize(self, request: web.Request) -> None:
        if self._token is None:
            return
        if not bearer_matches(request.headers.get("Authorization", ""), self._token):
            raise Rejected(
                Reason.UNAUTHORIZED, "missing or wrong bearer token: send 'Authorization: Bearer <token>'"
            )

    async def _read_body(self, request: web.Request, slot: Slot) -> bytes:
        limit = self.core.cfg.max_body_bytes
        encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding not in ("identity", "gzip", ""):
            raise Rejected(
                Reason.CONTENT_ENCODING, f"Content-Encoding {encoding!r} not supported: use gzip or none"
            )
        declared = request.content_length
        if declared is not None and declared > limit:
            raise Rejected(Reason.TOO_LARGE, f"body of {declared} bytes exceeds the limit of {limit} bytes")
        slot.reserve(declared or 0)
        try:
            async with asyncio.timeout(self.core.cfg.read_timeout_s):
                body = await _read_limited(request, limit)
        except TimeoutError:
            raise Rejected(Reason.TIMEOUT, "request body not received in time") from None
        slot.reserve(len(body))
        if encoding == "gzip":
            members = self.core.cfg.max_gzip_members
            if len(body) > _OFFLOAD_GZIP_BYTES:  # zlib drops the GIL: big bodies inflate beside the loop
                body = await self.core.offload(gunzip, body, limit, members)
            else:
                body = gunzip(body, limit, members)
            slot.reserve(len(body))
        return body

    def _error(self, rej: Rejected, as_json: bool) -> web.Response:
        count_reject(_TRANSPORT, rej)
        status = Status(code=rej.reason.grpc_code.value[0], message=rej.message)
        resp = _reply(rej.reason.http_status, status, as_json)
        if rej.retry_after_s is not None:
            resp.headers["Retry-After"] = str(max(1, round(rej.retry_after_s)))
        if rej.reason is Reason.UNAUTHORIZED:
            resp.headers["WWW-Authenticate"] = 'Bearer realm="watchkeeper"'
        if rej.reason is Reason.METHOD:
            resp.headers["Allow"] = "POST"
        return resp


async def _read_limited(request: web.Request, limit: int) -> bytes:
    chunks: list[bytes] = []
    total = 0
    try:
        async for chunk in request.content.iter_any():
            total += len(chunk)
            if total > limit:
                raise Rejected(Reason.TOO_LARGE, f"body exceeds the limit of {limit} bytes")
            chunks.append(chunk)
    except (ConnectionError, web.HTTPException) as exc:  # client went away or sent a broken chunked body
        raise Rejected(Reason.MALFORMED, f"body could not be read: {exc}") from None
    return b"".join(chunks)


def gunzip(body: bytes, limit: int, max_members: int = 64) -> bytes:
    """Decompress gzip, refusing output beyond `limit` bytes and more than `max_members` members.

    Concatenated members are valid gzip, but no exporter sends more than one; thousands of empty members are
    a way to make each request cost seconds. The body is fed in slices so a member boundary never copies the
    rest of the body (zlib's `unused_data` would), which kept even a capped loop linear."""
    out: list[bytes] = []
    total = pos = members = 0
    view = memoryview(body)
    try:
        while pos < len(body):
            members += 1
            if members > max_members:
                raise Rejected(
                    Reason.BAD_GZIP,
                    f"gzip body has more than {max_members} members (intake.max_gzip_members): "
                    "send one gzip stream",
                )
            d = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
            while not d.eof:
                if pos >= len(body):
                    raise Rejected(Reason.BAD_GZIP, "gzip body is truncated")
                piece = view[pos : pos + _GUNZIP_SLICE]
                chunk = d.decompress(piece, limit - total + 1)
                total += len(chunk)
                if total > limit or d.unconsumed_tail:
                    raise Rejected(Reason.TOO_LARGE, f"body exceeds the limit of {limit} bytes after gunzip")
                out.append(chunk)
                pos += len(piece) - len(d.unused_data)
    except zlib.error as exc:
        raise Rejected(Reason.BAD_GZIP, f"body is not valid gzip: {exc}") from None
    return b"".join(out)


def _media_type(request: web.Request) -> str:
    return request.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()


def _wants_json(request: web.Request) -> bool:
    return _media_type(request) not in _PROTOBUF_TYPES


def _content_kind(request: web.Request) -> bool:
    """True for JSON, False for protobuf; anything else is refused."""
    media = _media_type(request)
    if media == JSON:
        return True
    if media in _PROTOBUF_TYPES:
        return False
    raise Rejected(
        Reason.CONTENT_TYPE, f"Content-Type {media or '(none)'!r} not supported: use {PROTOBUF} or {JSON}"
    )


def _reply(status: int, message: Message, as_json: bool) -> web.Response:
    if as_json:
        return web.Response(status=status, body=message_to_json(message), content_type=JSON)
    return web.Response(status=status, body=message.SerializeToString(), content_type=PROTOBUF)
