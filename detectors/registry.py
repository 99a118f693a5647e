"""Detector names -> classes, and building the configured suite.

The names are public (config keys, CLI `--detector`, the `detector` label of findings).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from pathlib import Path

from watchkeeper.core.detector import Detector, DetectorSettings, StateStore

#: name -> module that defines the Detector subclass with that `name`.
MODULES: dict[str, str] = {
    "content_safety": "watchkeeper.detectors.content_safety.detector",
    "topic_injection": "watchkeeper.detectors.topic_injection.detector",
    "integrity": "watchkeeper.detectors.integrity.detector",
    "operational": "watchkeeper.detectors.operational.detector",
    "drift": "watchkeeper.detectors.drift.detector",
    "leakage": "watchkeeper.detectors.leakage.detector",
}


def detector_class(name: str) -> type[Detector]:
    if name not in MODULES:
        raise KeyError(f"unknown detector {name!r}; known detectors: {', '.join(MODULES)}")
    module = importlib.import_module(MODULES[name])
    for value in vars(module).values():
        if isinstance(value, type) and issubclass(value, Detector) and getattr(value, "name", None) == name:
            return value
    raise ImportError(f"module {MODULES[name]} defines no Detector named {name!r}")


def available() -> dict[str, type[Detector]]:
    return {name: detector_class(name) for name in MODULES}


def build_suite(
    settings: dict[str, DetectorSettings],
    state_for: Callable[[str], StateStore],
    state_dir: Path | None = None,
) -> list[Detector]:
    """Instantiate every enabled detector with its settings, its own state namespace and, for detectors that
    keep files beside the state (the integrity audit log), the daemon's state directory."""
    suite: list[Detector] = []
    for name, cls in available().items():
        detector_settings = settings.get(name) or cls.settings_class()
        if not detector_settings.enabled:
            continue
        kwargs: dict[str, object] = {"state": state_for(name)}
        if state_dir is not None and "state_dir" in inspect.signature(cls.__init__).parameters:
            kwargs["state_dir"] = state_dir
        suite.append(cls(detector_settings, **kwargs))
    return suite
