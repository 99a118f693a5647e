"""The leakage detector: secrets and personal data in answers.

`plugin` is what the `watchkeeper.detectors` entry point names: metadata and settings load at once, the
detector (and its models) only when one is built.
"""

from __future__ import annotations

from watchkeeper.core.detector import Detector, DetectorPlugin
from watchkeeper.detectors.leakage.metadata import METADATA
from watchkeeper.detectors.leakage.settings import LeakageSettings


def _detector_class() -> type[Detector]:
    from watchkeeper.detectors.leakage.detector import LeakageDetector

    return LeakageDetector


plugin = DetectorPlugin(metadata=METADATA, settings_class=LeakageSettings, load=_detector_class)
