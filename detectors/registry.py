"""The installed detectors and building the configured suite.

Detectors are found through the `watchkeeper.detectors` entry points (the built-ins are registered in
pyproject.toml exactly like a third party's), so there is no list to keep here. The names are public:
config keys, the CLI's `--detector`, the `detector` label of findings.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from watchkeeper.core.detector import (
    Detector,
    DetectorContext,
    DetectorPlugin,
    DetectorSettings,
    StateStore,
    detector_plugins,
)


def plugins() -> dict[str, DetectorPlugin]:
    return detector_plugins()


def detector_class(name: str) -> type[Detector]:
    known = detector_plugins()
    if name not in known:
        raise KeyError(f"unknown detector {name!r}; known detectors: {', '.join(known)}")
    return known[name].detector_class()


def build_suite(
    settings: dict[str, DetectorSettings],
    state_for: Callable[[str], StateStore],
    state_dir: Path | None = None,
    *,
    store: Any = None,
) -> list[Detector]:
    """Every enabled detector, built through its plug-in with its settings and its context: its own state
    namespace and, for detectors that keep files beside the state (the integrity audit log), the state dir."""
    suite: list[Detector] = []
    for name, plugin in detector_plugins().items():
        detector_settings = settings.get(name) or plugin.settings_class()
        if not detector_settings.enabled:
            continue
        context = DetectorContext(state=state_for(name), state_dir=state_dir, store=store)
        suite.append(plugin.create(detector_settings, context))
    return suite
