"""Configuration of the detectors section: one sub-section per detector."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class DetectorsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
