"""The integrity detector: unapproved system prompts; model, parameter and serving-config changes.

`plugin` is what the `watchkeeper.detectors` entry point names: metadata and settings load at once, the
detector (and its models) only when one is built.
"""

from __future__ import annotations

from watchkeeper.core.detector import Detector, DetectorPlugin
from watchkeeper.detectors.integrity.metadata import METADATA
from watchkeeper.detectors.integrity.settings import IntegritySettings


def _detector_class() -> type[Detector]:
    from watchkeeper.detectors.integrity.detector import IntegrityDetector

    return IntegrityDetector


plugin = DetectorPlugin(metadata=METADATA, settings_class=IntegritySettings, load=_detector_class)
