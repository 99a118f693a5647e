"""OTLP/gRPC: TraceService/Export and LogsService/Export on grpc.aio, through the same path as OTLP/HTTP.

Requests arrive as raw bytes (no generated deserializer) so a request that needs no change is published with
the client's own encoding, and a malformed one is refused by our validation with our message.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import grpc
from google.protobuf.any_pb2 import Any as AnyPb
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message
from google.rpc.error_details_pb2 import RetryInfo
from google.rpc.status_pb2 import Status

from watchkeeper.collector.intake.core import IntakeCore, count_reject
from watchkeeper.collector.intake.errors import Reason, Rejected
from watchkeeper.collector.intake.signals import LOGS, TRACES, Signal
from watchkeeper.core.auth import bearer_matches

_TRANSPORT = "grpc"
_SERVICES = {
    TRACES: "opentelemetry.proto.collector.trace.v1.TraceService",
    LOGS: "opentelemetry.proto.collector.logs.v1.LogsService",
}
_DETAILS_KEY = "grpc-status-details-bin"

Handler = Callable[[bytes, grpc.aio.ServicerContext], Awaitable[Message]]


class GrpcIntake:
    def __init__(self, core: IntakeCore) -> None:
        self.core = core
        cfg = core.cfg
        self._token = cfg.auth_token.get_secret_value().encode() if cfg.auth_token else None
        self._server: grpc.aio.Server | None = None
        self.port = 0

    async def start(self) -> int:
        cfg = self.core.cfg
        # grpc checks the size after decompression too, so this limit also guards against gzip bombs.
        self._server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", cfg.max_body_bytes),
                ("grpc.so_reuseport", 0),
                # The same bounds as the HTTP listener: a cap (sockets beyond it are closed at once), a
                # deadline for the HTTP/2 preface and settings exchange, and an idle timeout.
                ("grpc.max_allowed_incoming_connections", cfg.max_connections),
                ("grpc.server_handshake_timeout_ms", int(cfg.header_read_timeout_s * 1000)),
                ("grpc.max_connection_idle_ms", int(cfg.idle_timeout_s * 1000)),
            ]
        )
        handlers = [
            grpc.method_handlers_generic_handler(
                service,
                {
                    "Export": grpc.unary_unary_rpc_method_handler(
                        self._handler(signal), request_deserializer=None, response_serializer=_serialize
                    )
                },
            )
            for signal, service in _SERVICES.items()
        ]
        self._server.add_generic_rpc_handlers(handlers)
        host = f"[{cfg.host}]" if ":" in cfg.host else cfg.host
        try:
            self.port = self._server.add_insecure_port(f"{host}:{cfg.grpc_port}")
        except RuntimeError:  # grpc's way of saying the bind failed
            self.port = 0
        if self.port == 0:
            self._server = None
            raise OSError(f"cannot bind OTLP/gRPC on {cfg.host}:{cfg.grpc_port} (intake.grpc_port): in use?")
        await self._server.start()
        return self.port

    async def stop(self) -> None:
        """Refuse new calls, give running ones shutdown_grace_s to finish."""
        if self._server is not None:
            await self._server.stop(self.core.cfg.shutdown_grace_s)
            self._server = None

    def _handler(self, signal: Signal) -> Handler:
        async def export(request: bytes, context: grpc.aio.ServicerContext) -> Message:
            try:
                self._authorize(context)
                with self.core.admit() as slot:
                    slot.reserve(len(request))
                    message = await self.core.decode(signal, request, json=False)
                    return await self.core.export(signal, message, request, _TRANSPORT)
            except Rejected as rej:
                count_reject(_TRANSPORT, rej)
                await context.abort(rej.reason.grpc_code, rej.message, trailing_metadata=_details(rej))
                raise AssertionError("unreachable: abort raises") from None

        return export

    def _authorize(self, context: grpc.aio.ServicerContext) -> None:
        if self._token is None:
            return
        value = ""
        for key, val in context.invocation_metadata() or ():
            if key == "authorization":
                value = val if isinstance(val, str) else val.decode("latin-1")
        if not bearer_matches(value, self._token):
            raise Rejected(
                Reason.UNAUTHORIZED, "missing or wrong bearer token: send 'authorization: Bearer <token>'"
            )


def _serialize(message: Message) -> bytes:
    return message.SerializeToString()


def _details(rej: Rejected) -> tuple[tuple[str, bytes], ...]:
    """google.rpc.Status with RetryInfo: OTLP clients retry RESOURCE_EXHAUSTED only when it is there."""
    if rej.retry_after_s is None:
        return ()
    info = AnyPb()
    info.Pack(RetryInfo(retry_delay=Duration(seconds=max(1, round(rej.retry_after_s)))))
    status = Status(code=rej.reason.grpc_code.value[0], message=rej.message, details=[info])
    return ((_DETAILS_KEY, status.SerializeToString()),)
