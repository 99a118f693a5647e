"""Configuration of the detectors section: the stage's own keys plus one sub-section per installed detector.

The built-in detectors' sections are typed fields (`settings.detectors.integrity.mode` is known to a type
checker). A third-party detector's section is validated by its plug-in's settings class; a key that names no
installed detector is refused like any unknown key.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator
from pydantic_core import InitErrorDetails

from watchkeeper.core.detector import DetectorSettings, detector_plugins
from watchkeeper.detectors.content_safety.settings import ContentSafetySettings
from watchkeeper.detectors.drift.settings import DriftSettings
from watchkeeper.detectors.integrity.settings import IntegritySettings
from watchkeeper.detectors.leakage.settings import LeakageSettings
from watchkeeper.detectors.operational.settings import OperationalSettings
from watchkeeper.detectors.topic_injection.settings import TopicInjectionSettings


class DetectorsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    batch_size: int = Field(500, ge=1, le=10_000, description="spans consumed per batch")
    log_hold_s: float = Field(2.0, ge=0, description="how long a call waits for content sent as log events")
    checkpoint_interval_s: float = Field(
        1.0,
        gt=0,
        le=300,
        description="how often detector state and the input position are checkpointed in the store (the "
        "bus is committed then); a crash replays at most this much input",
    )
    max_app_labels: int = Field(
        1000,
        ge=1,
        description="distinct app label values in metrics and dashboard aggregates; more apps count as "
        "__other__",
    )
    max_hot_apps: int = Field(
        1000,
        ge=10,
        description="apps whose detector state stays in memory, per detector (least recently used apps are "
        "checkpointed and reloaded from the store on their next call)",
    )
    evaluation_events_endpoint: str | None = Field(
        None,
        description="OTLP/HTTP logs URL (e.g. http://otel-collector:4318/v1/logs): findings are also written "
        "back there as gen_ai.evaluation.result events on the judged span",
    )
    content_safety: ContentSafetySettings = Field(default_factory=ContentSafetySettings)
    topic_injection: TopicInjectionSettings = Field(default_factory=TopicInjectionSettings)
    integrity: IntegritySettings = Field(default_factory=IntegritySettings)
    operational: OperationalSettings = Field(default_factory=OperationalSettings)
    drift: DriftSettings = Field(default_factory=DriftSettings)
    leakage: LeakageSettings = Field(default_factory=LeakageSettings)

    _plugin_settings: dict[str, DetectorSettings] = PrivateAttr(default_factory=dict)

    @model_validator(mode="wrap")
    @classmethod
    def _plugin_sections(cls, data: Any, handler: Any) -> Any:
        """Sections of installed third-party detectors go to their own settings class; the rest is checked
        as usual, so an unknown key is reported where it is (`detectors.<key>: unknown key`)."""
        if not isinstance(data, dict):
            return handler(data)
        plugins = detector_plugins()
        sections = {k: v for k, v in data.items() if k not in cls.model_fields and k in plugins}
        errors: list[InitErrorDetails] = []
        model = None
        try:
            model = handler({k: v for k, v in data.items() if k not in sections})
        except ValidationError as exc:
            errors += [_details(e, ()) for e in exc.errors()]
        validated: dict[str, DetectorSettings] = {}
        for key, value in sections.items():
            try:
                validated[key] = plugins[key].settings_class.model_validate(value or {})
            except ValidationError as exc:
                errors += [_details(e, (key,)) for e in exc.errors()]
        if errors:
            raise ValidationError.from_exception_data(cls.__name__, errors)
        model._plugin_settings = validated
        return model

    def settings_for(self, name: str) -> DetectorSettings:
        """The settings of an installed detector (its defaults when the file has no section for it)."""
        if name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, DetectorSettings):
                return value
        if name in self._plugin_settings:
            return self._plugin_settings[name]
        plugin = detector_plugins().get(name)
        if plugin is None:
            raise KeyError(f"unknown detector {name!r}; known detectors: {', '.join(detector_plugins())}")
        return plugin.settings_class()

    def detector_settings(self) -> dict[str, DetectorSettings]:
        return {name: self.settings_for(name) for name in detector_plugins()}


def _details(error: Any, prefix: tuple[str, ...]) -> InitErrorDetails:
    details = InitErrorDetails(type=error["type"], loc=(*prefix, *error["loc"]), input=error.get("input"))
    if "ctx" in error:
        details["ctx"] = error["ctx"]
    return details
