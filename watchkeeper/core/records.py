"""ModelCall: the normalized record of one model call that every detector sees.

Built from an OTLP span (see `collector.otlp_model`); independent of how the sender spelled its attributes.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(slots=True)
class Message:
    role: str
    content: str

    def to_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(slots=True)
class ModelCall:
    trace_id: str  # 32 hex chars
    span_id: str  # 16 hex chars
    start_time_ns: int
    duration_ms: float
    service: str = "unknown"  # the app (resource service.name)
    environment: str = "default"
    provider: str = "unknown"  # normalized, see semconv.normalize_provider
    operation: str = "chat"
    request_model: str = ""
    response_model: str = ""
    response_id: str = ""
    input_tokens: int | None = None
    output_tokens: int | None = None
    finish_reasons: tuple[str, ...] = ()
    error_type: str | None = None
    conversation_id: str | None = None
    system_instructions: str | None = None  # text, when the sender captured content
    system_instructions_sha256: str | None = None  # always when the call had system instructions
    input_messages: list[Message] = field(default_factory=list)  # without the system message(s)
    output_text: str = ""
    request_params: dict[str, Any] = field(default_factory=dict)  # temperature, top_p, max_tokens, ...
    time_to_first_chunk_ms: float | None = None
    system_fingerprint: str | None = None
    server_address: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)  # remaining span attributes, for evidence

    @property
    def app(self) -> str:
        return self.service

    @property
    def model(self) -> str:
        return self.response_model or self.request_model

    @property
    def prompt_text(self) -> str:
        """The last user message: what the answer should be about."""
        for message in reversed(self.input_messages):
            if message.role == "user":
                return message.content
        return self.input_messages[-1].content if self.input_messages else ""

    @property
    def start_time_s(self) -> float:
        return self.start_time_ns / 1e9

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["finish_reasons"] = list(self.finish_reasons)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelCall:
        data = dict(data)
        data["input_messages"] = [Message(**m) for m in data.get("input_messages", [])]
        data["finish_reasons"] = tuple(data.get("finish_reasons", ()))
        return cls(**data)
