"""The operational detector: latency, tokens, error and refusal rates against each app's baseline.

`plugin` is what the `watchkeeper.detectors` entry point names: metadata and settings load at once, the
detector (and its models) only when one is built; its commands (`watchkeeper.commands`) load when run.
"""

from __future__ import annotations

from watchkeeper.core.detector import Detector, DetectorPlugin
from watchkeeper.core.plugins import CommandPlugin
from watchkeeper.detectors.operational.metadata import METADATA
from watchkeeper.detectors.operational.settings import OperationalSettings


def _detector_class() -> type[Detector]:
    from watchkeeper.detectors.operational.detector import OperationalDetector

    return OperationalDetector


plugin = DetectorPlugin(metadata=METADATA, settings_class=OperationalSettings, load=_detector_class)


def _eval_command() -> object:
    from watchkeeper.detectors.operational.evaluation import operational_eval_cmd

    return operational_eval_cmd


eval_command = CommandPlugin("Operational anomaly simulation.", _eval_command)
