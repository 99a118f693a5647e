"""The drift detector: recent answers that differ from the reference window (length, refusal rate, topic mix).

`plugin` is what the `watchkeeper.detectors` entry point names: metadata and settings load at once, the
detector (and its models) only when one is built.
"""

from __future__ import annotations

from watchkeeper.core.detector import Detector, DetectorPlugin
from watchkeeper.detectors.drift.metadata import METADATA
from watchkeeper.detectors.drift.settings import DriftSettings


def _detector_class() -> type[Detector]:
    from watchkeeper.detectors.drift.detector import DriftDetector

    return DriftDetector


plugin = DetectorPlugin(metadata=METADATA, settings_class=DriftSettings, load=_detector_class)
