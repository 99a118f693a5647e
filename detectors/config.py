"""Configuration of the detectors section: one sub-section per detector, validated by its settings class.

Built from the registry so that adding a detector module adds its config section, with no second list to keep.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from watchkeeper.core.detector import DetectorSettings
from watchkeeper.detectors.registry import available


class _DetectorsBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    batch_size: int = Field(500, ge=1, le=10_000, description="spans consumed per batch")
    log_hold_s: float = Field(2.0, ge=0, description="how long a call waits for content sent as log events")
    evaluation_events_endpoint: str | None = Field(
        None,
        description="OTLP/HTTP logs URL (e.g. http://otel-collector:4318/v1/logs): findings are also written "
        "back there as gen_ai.evaluation.result events on the judged span",
    )

    def detector_settings(self) -> dict[str, DetectorSettings]:
        return {name: getattr(self, name) for name in available()}


def _build() -> type[_DetectorsBase]:
    fields: dict[str, Any] = {
        name: (cls.settings_class, Field(default_factory=cls.settings_class))
        for name, cls in available().items()
    }
    return create_model("DetectorsConfig", __base__=_DetectorsBase, **fields)


DetectorsConfig = _build()
