"""The topic_injection detector: one off-topic passage recurring across unrelated conversations.

`plugin` is what the `watchkeeper.detectors` entry point names: metadata and settings load at once, the
detector (and its models) only when one is built; its commands (`watchkeeper.commands`) load when run.
"""

from __future__ import annotations

from watchkeeper.core.detector import Detector, DetectorPlugin
from watchkeeper.core.plugins import CommandPlugin
from watchkeeper.detectors.topic_injection.metadata import METADATA
from watchkeeper.detectors.topic_injection.settings import TopicInjectionSettings


def _detector_class() -> type[Detector]:
    from watchkeeper.detectors.topic_injection.detector import TopicInjectionDetector

    return TopicInjectionDetector


plugin = DetectorPlugin(metadata=METADATA, settings_class=TopicInjectionSettings, load=_detector_class)


def _eval_command() -> object:
    from watchkeeper.detectors.topic_injection.evaluation import topic_injection_eval_cmd

    return topic_injection_eval_cmd


eval_command = CommandPlugin("Topic-injection simulation.", _eval_command)
