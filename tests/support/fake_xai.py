"""A fake xAI chat service on 127.0.0.1 for tests: the real gRPC protocol, served by xai-sdk's own servicer.

The official `xai_sdk.Client` talks gRPC (`xai_api.Chat/GetCompletion` for `chat.sample()`,
`xai_api.Chat/GetCompletionChunk` for `chat.stream()`), so the fake implements those two methods on the
generated `ChatServicer` shipped inside xai-sdk: a protocol change in a new SDK release breaks the fake the
same way it would break a real app. The answer and the `system_fingerprint` are plain attributes a test may
change between calls (e.g. to simulate xAI rolling out a new serving configuration).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from xai_sdk import Client
from xai_sdk.proto import chat_pb2, chat_pb2_grpc, sample_pb2, usage_pb2

USAGE_INPUT = 23
USAGE_OUTPUT = 9
FINGERPRINT = "fp_grok_test_1"
ANSWER = "Grok here: the capital of France is Paris."

_ROLE_NAMES = {
    chat_pb2.MessageRole.ROLE_SYSTEM: "system",
    chat_pb2.MessageRole.ROLE_USER: "user",
    chat_pb2.MessageRole.ROLE_ASSISTANT: "assistant",
    chat_pb2.MessageRole.ROLE_TOOL: "tool",
    chat_pb2.MessageRole.ROLE_DEVELOPER: "developer",
}


@dataclass(frozen=True)
class ReceivedRequest:
    """One call as the server saw it: method, API key header and the conversation (role, text)."""

    method: str
    authorization: str | None
    model: str
    messages: tuple[tuple[str, str], ...]


class _ChatService(chat_pb2_grpc.ChatServicer):  # type: ignore[misc]
    def __init__(self, owner: FakeXai) -> None:
        self.owner = owner

    def GetCompletion(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.owner._record("GetCompletion", request, context)
        self.owner._maybe_fail(context)
        answer = self.owner.answer
        return chat_pb2.GetChatCompletionResponse(
            id=self.owner._next_id(),
            model=self.owner.model or request.model,
            system_fingerprint=self.owner.system_fingerprint,
            created=_now(),
            outputs=[
                chat_pb2.CompletionOutput(
                    index=0,
                    finish_reason=sample_pb2.FinishReason.REASON_STOP,
                    message=chat_pb2.CompletionMessage(
                        content=answer, role=chat_pb2.MessageRole.ROLE_ASSISTANT
                    ),
                )
            ],
            usage=_usage(USAGE_OUTPUT),
        )

    def GetCompletionChunk(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        self.owner._record("GetCompletionChunk", request, context)
        self.owner._maybe_fail(context)
        response_id = self.owner._next_id()
        model = self.owner.model or request.model
        fingerprint = self.owner.system_fingerprint
        words = self.owner.answer.split(" ")
        for i, word in enumerate(words):
            last = i == len(words) - 1
            yield chat_pb2.GetChatCompletionChunk(
                id=response_id,
                model=model,
                system_fingerprint=fingerprint,
                created=_now(),
                outputs=[
                    chat_pb2.CompletionOutputChunk(
                        index=0,
                        delta=chat_pb2.Delta(
                            content=word if i == 0 else " " + word,
                            role=chat_pb2.MessageRole.ROLE_ASSISTANT,
                        ),
                        finish_reason=sample_pb2.FinishReason.REASON_STOP
                        if last
                        else sample_pb2.FinishReason.REASON_INVALID,
                    )
                ],
                # Usage is cumulative on every chunk, as the SDK keeps the last one it saw.
                usage=_usage(USAGE_OUTPUT if last else min(i + 1, USAGE_OUTPUT)),
            )


def _now() -> Timestamp:
    stamp = Timestamp()
    stamp.GetCurrentTime()
    return stamp


def _usage(output_tokens: int) -> Any:
    return usage_pb2.SamplingUsage(
        prompt_tokens=USAGE_INPUT,
        completion_tokens=output_tokens,
        total_tokens=USAGE_INPUT + output_tokens,
        prompt_text_tokens=USAGE_INPUT,
    )


class FakeXai:
    """The server; use as a context manager. `api_host` is what `xai_sdk.Client(api_host=...)` takes."""

    def __init__(
        self,
        answer: str = ANSWER,
        system_fingerprint: str = FINGERPRINT,
        model: str | None = None,
    ) -> None:
        self.answer = answer
        self.system_fingerprint = system_fingerprint
        self.model = model  # None: answer with the requested model name
        #: When set, every call fails with this gRPC status (e.g. RESOURCE_EXHAUSTED for a rate limit).
        self.fail_with: grpc.StatusCode | None = None
        self.requests: list[ReceivedRequest] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="fake-xai"))
        chat_pb2_grpc.add_ChatServicer_to_server(_ChatService(self), self._server)
        self.port = self._server.add_insecure_port("127.0.0.1:0")

    @property
    def api_host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def client(self, api_key: str = "xai-test-key", **kwargs: Any) -> Client:
        """A real xai-sdk client pointed at this server (plaintext gRPC; the key still goes in metadata)."""
        return Client(api_key=api_key, api_host=self.api_host, use_insecure_channel=True, **kwargs)

    def _record(self, method: str, request: Any, context: grpc.ServicerContext) -> None:
        metadata = dict(context.invocation_metadata())
        messages = tuple(
            (_ROLE_NAMES.get(m.role, "unknown"), "".join(c.text for c in m.content)) for m in request.messages
        )
        with self._lock:
            self.requests.append(
                ReceivedRequest(method, metadata.get("authorization"), request.model, messages)
            )

    def _maybe_fail(self, context: grpc.ServicerContext) -> None:
        status = self.fail_with
        if status is not None:
            context.abort(status, f"forced {status.name}")

    def _next_id(self) -> str:
        with self._lock:
            return f"resp-grok-{next(self._ids)}"

    def start(self) -> FakeXai:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop(grace=None).wait(5)

    def __enter__(self) -> FakeXai:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
