"""Configuration of the alerts section: routing tree, receivers, inhibition, timing."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class AlertsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
