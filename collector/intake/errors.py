"""Why the intake refused a request, mapped once to HTTP status, gRPC code and metric label.

Both transports raise `Rejected` from the same validation path, so a client sees the same decision whichever
protocol it speaks.
"""

from __future__ import annotations

import enum

import grpc


class Reason(enum.Enum):
    # value: (http status, grpc status code, metric label)
    MALFORMED = (400, grpc.StatusCode.INVALID_ARGUMENT, "malformed")
    BAD_JSON = (400, grpc.StatusCode.INVALID_ARGUMENT, "bad_json")
    EMPTY = (400, grpc.StatusCode.INVALID_ARGUMENT, "empty")
    BAD_GZIP = (400, grpc.StatusCode.INVALID_ARGUMENT, "bad_gzip")
    BAD_HOST = (400, grpc.StatusCode.PERMISSION_DENIED, "bad_host")
    UNAUTHORIZED = (401, grpc.StatusCode.UNAUTHENTICATED, "unauthorized")
    NOT_FOUND = (404, grpc.StatusCode.UNIMPLEMENTED, "not_found")
    METHOD = (405, grpc.StatusCode.UNIMPLEMENTED, "method")
    TIMEOUT = (408, grpc.StatusCode.DEADLINE_EXCEEDED, "timeout")
    TOO_LARGE = (413, grpc.StatusCode.RESOURCE_EXHAUSTED, "too_large")
    CONTENT_TYPE = (415, grpc.StatusCode.INVALID_ARGUMENT, "content_type")
    CONTENT_ENCODING = (415, grpc.StatusCode.UNIMPLEMENTED, "content_encoding")
    RATE_LIMITED = (429, grpc.StatusCode.RESOURCE_EXHAUSTED, "rate_limited")
    BUSY = (503, grpc.StatusCode.RESOURCE_EXHAUSTED, "busy")
    BACKPRESSURE = (503, grpc.StatusCode.RESOURCE_EXHAUSTED, "backpressure")
    BUS_UNAVAILABLE = (503, grpc.StatusCode.UNAVAILABLE, "bus_unavailable")

    @property
    def http_status(self) -> int:
        return self.value[0]

    @property
    def grpc_code(self) -> grpc.StatusCode:
        return self.value[1]

    @property
    def label(self) -> str:
        return self.value[2]


class Rejected(Exception):
    """A refused request: `message` goes to the client, `retry_after_s` is set when retrying helps."""

    def __init__(self, reason: Reason, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.retry_after_s = retry_after_s
