"""The detector interface: what a detector declares (metadata), is given (settings, context) and implements.

A detector sees ModelCalls one at a time, keeps what it learns per app in containers of the `StateStore` it
is given (checkpointed by the detectors stage), and returns Findings. Findings must be deterministic for a
given call so that a replay after a crash (at-least-once delivery) yields the same finding ids and has no
second effect.

Detectors are plug-ins: the `watchkeeper.detectors` entry-point group names a `DetectorPlugin` (metadata,
settings class, and how to load the detector class), so the daemon, the alerts stage and the dashboard know
every installed detector, built-in or third-party, without a list to keep.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from watchkeeper.core import plugins
from watchkeeper.core.detector_state import DetectorState
from watchkeeper.core.evidence import EvidenceSchema
from watchkeeper.core.findings import CALL_LABELS, Finding, Severity
from watchkeeper.core.records import ModelCall
from watchkeeper.core.store import Database

#: A detector's durable state: per-app containers (`state.apps(new=, load=, dump=)`, checkpointed by the
#: detectors stage, bounded in memory, following the app's partition) and the rare detector-wide entries
#: (`get/put/items`). Without a stage (tests, `watchkeeper score`, evaluations) it lives in memory.
StateStore = DetectorState


def MemoryState() -> DetectorState:
    """In-memory state, for tests, `watchkeeper score` and evaluations (`checkpoint()` keeps a copy that a
    detector built again on the same state resumes from)."""
    return DetectorState("memory")


class DetectorSettings(BaseModel):
    """Settings every detector has; a detector subclasses this for its own keys (thresholds, windows, ...)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    apps: list[str] = []  # glob patterns of app names; empty = every app
    severity: Severity | None = None  # overrides the detector's own choice of severity


@dataclass(frozen=True, slots=True)
class DetectorMetadata:
    """What people and the other stages know about a detector without running it.

    - `description` completes the sentence "Watchkeeper saw ... in app X" (dashboard, API);
    - `titles`: (category prefix, pager title) pairs, first match wins; `{kind}` is the last dotted part of
      the category with underscores as spaces ("leakage.secret.api_key" -> "api key");
    - `default_severity` and `severity_reason`: what a finding is worth unless the detector says otherwise
      for a category (`category_severities`: (category prefix, severity, reason)) or the operator overrides
      it (`detectors.<name>.severity`);
    - `evidence`: the fields of `Finding.evidence` and how the dashboard shows them;
    - `labels`: the label names its findings may carry (routing adds `severity`), so a route grouping by a
      label nobody sets can be flagged.
    """

    name: str
    description: str
    default_severity: Severity
    severity_reason: str
    titles: tuple[tuple[str, str], ...] = ()
    category_severities: tuple[tuple[str, Severity, str], ...] = ()
    evidence: EvidenceSchema = field(default_factory=EvidenceSchema)
    labels: tuple[str, ...] = CALL_LABELS

    def title(self, category: str) -> str | None:
        """The pager title of a category, or None when no prefix matches."""
        kind = category.rsplit(".", 1)[-1].replace("_", " ")
        for prefix, template in self.titles:
            if category.startswith(prefix):
                return template.format(kind=kind)
        return None

    def severity_of(self, category: str) -> tuple[Severity, str]:
        """(severity, reason) a finding of `category` gets by default."""
        for prefix, severity, reason in self.category_severities:
            if category.startswith(prefix):
                return severity, reason
        return self.default_severity, self.severity_reason

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "default_severity": self.default_severity.value,
            "severity_reason": self.severity_reason,
            "titles": [{"category_prefix": p, "title": t} for p, t in self.titles],
            "category_severities": [
                {"category_prefix": p, "severity": sev.value, "reason": why}
                for p, sev, why in self.category_severities
            ],
            "evidence_schema": self.evidence.to_json(),
            "labels": list(self.labels),
        }


@dataclass(frozen=True, slots=True)
class DetectorContext:
    """What the daemon hands a detector when it builds one: the one construction contract.

    `state` is the detector's own durable namespace; `state_dir` is the daemon's state directory and `store`
    its shared store, for detectors that read more than their own state (the integrity approvals).
    `watchkeeper score` and the
    evaluations build detectors with in-memory state and no state directory.
    """

    state: StateStore
    state_dir: Path | None = None
    store: Database | None = None  # the shared store: shared records such as approvals


class Detector(ABC):
    """One detector. Subclasses set `name`, `settings_class` and `metadata`, and implement `observe`."""

    name: ClassVar[str]
    settings_class: ClassVar[type[DetectorSettings]] = DetectorSettings
    metadata: ClassVar[DetectorMetadata]

    def __init__(self, settings: DetectorSettings | None = None, *, state: StateStore | None = None) -> None:
        self.settings = settings if settings is not None else self.settings_class()
        self.state: StateStore = (
            state if state is not None else DetectorState(getattr(self, "name", "detector"))
        )
        self.apps = list(self.settings.apps)

    @classmethod
    def create(cls, settings: DetectorSettings, context: DetectorContext) -> Detector:
        """How the daemon builds every detector; override when a detector needs more than its state."""
        return cls(settings, state=context.state)

    def severity(self, default: Severity) -> Severity:
        return self.settings.severity or default

    def score_text(self, text: str, prompt: str = "") -> tuple[dict[str, float], bool] | None:
        """Per-category scores and the verdict for one text (`watchkeeper score`); None if not text-based."""
        return None

    def applies_to(self, call: ModelCall) -> bool:
        return not self.apps or any(fnmatchcase(call.service, pattern) for pattern in self.apps)

    @abstractmethod
    def observe(self, call: ModelCall) -> list[Finding]:
        """Look at one call; return the findings it raises (often none)."""

    def observe_batch(self, calls: list[ModelCall]) -> list[Finding]:
        """Override when a detector is faster on a batch (vectorized models)."""
        out: list[Finding] = []
        for call in calls:
            if self.applies_to(call):
                out.extend(self.observe(call))
        return out

    def close(self) -> None:  # noqa: B027 - optional hook
        """Flush state; called on shutdown."""


@dataclass(frozen=True, slots=True)
class DetectorPlugin:
    """What a `watchkeeper.detectors` entry point names.

    The metadata and settings class are light (read by the config loader, the alerts stage and the
    dashboard); `load` imports the detector class only when a detector is built, so a process that only
    routes alerts never loads a model.
    """

    metadata: DetectorMetadata
    settings_class: type[DetectorSettings]
    load: Callable[[], type[Detector]]

    @property
    def name(self) -> str:
        return self.metadata.name

    def detector_class(self) -> type[Detector]:
        cls = self.load()
        is_detector = isinstance(cls, type) and issubclass(cls, Detector)
        if not is_detector or getattr(cls, "name", None) != self.name:
            raise plugins.PluginError(
                f"detector plug-in {self.name!r} loads {cls!r}, which is not a Detector named {self.name!r}"
            )
        return cls

    def create(self, settings: DetectorSettings, context: DetectorContext) -> Detector:
        return self.detector_class().create(settings, context)

    @classmethod
    def of(cls, name: str, obj: object) -> DetectorPlugin:
        """The plug-in an entry point named `name` loaded: a DetectorPlugin, or a Detector subclass that
        carries its `metadata` and `settings_class` (simpler, but loads the detector module at once)."""
        if isinstance(obj, DetectorPlugin):
            plugin = obj
        elif (
            isinstance(obj, type)
            and issubclass(obj, Detector)
            and isinstance(getattr(obj, "metadata", None), DetectorMetadata)
        ):
            plugin = cls(metadata=obj.metadata, settings_class=obj.settings_class, load=lambda: obj)
        else:
            raise plugins.PluginError(
                f"the {plugins.DETECTORS} entry point {name!r} names {obj!r}: point it at a DetectorPlugin "
                "or at a Detector subclass with `metadata` and `settings_class`"
            )
        if plugin.name != name:
            raise plugins.PluginError(
                f"the {plugins.DETECTORS} entry point {name!r} names the detector {plugin.name!r}: "
                "the entry-point name must be the detector's name (its config key and finding label)"
            )
        return plugin


_described: tuple[object, dict[str, DetectorPlugin]] | None = None  # (loaded entry points, their plug-ins)


def detector_plugins() -> dict[str, DetectorPlugin]:
    """Every installed detector (entry-point group `watchkeeper.detectors`), by name. Built once per loaded
    set of entry points (the alerts stage asks for a detector's metadata with every new incident)."""
    global _described
    loaded = plugins.load(plugins.DETECTORS)
    if not loaded:
        raise plugins.PluginError(
            f"no detector is registered (entry-point group {plugins.DETECTORS} is empty): the installed "
            "package metadata is missing or stale; reinstall Watchkeeper (pip install -e . or make)"
        )
    described = _described
    if described is None or described[0] is not loaded:
        described = (loaded, {name: DetectorPlugin.of(name, obj) for name, obj in loaded.items()})
        _described = described
    return dict(described[1])


def detector_metadata(name: str) -> DetectorMetadata | None:
    """The metadata of an installed detector, or None (a finding of a detector that is not installed here)."""
    plugin = detector_plugins().get(name)
    return plugin.metadata if plugin is not None else None
