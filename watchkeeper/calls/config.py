"""The `calls:` section: how long and how much of the recent traffic the daemon keeps for people to read."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from watchkeeper.alerts.durations import Duration


class CallsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="record analyzed calls for the calls explorer")
    max_age: Duration = Field(24 * 3600.0, gt=0, description="keep calls this long (e.g. 24h, 7d)")
    max_mb: float = Field(256.0, gt=0, description="at most this much stored content (MB); oldest go first")
    max_calls: int = Field(200_000, ge=100, description="at most this many calls; oldest go first")
    store_content: bool = Field(
        True, description="keep prompts and answers when the app captured them (false: metadata only)"
    )
    redact: bool = Field(
        True, description="mask emails, phone and card numbers, keys and tokens in stored content"
    )
