"""The content_safety detector: harmful content in answers (and optionally prompts), per category.

`plugin` is what the `watchkeeper.detectors` entry point names: metadata and settings load at once, the
detector (and its models) only when one is built; its commands (`watchkeeper.commands`) load when run.
"""

from __future__ import annotations

from watchkeeper.core.detector import Detector, DetectorPlugin
from watchkeeper.core.plugins import CommandPlugin
from watchkeeper.detectors.content_safety.metadata import METADATA
from watchkeeper.detectors.content_safety.settings import ContentSafetySettings


def _detector_class() -> type[Detector]:
    from watchkeeper.detectors.content_safety.detector import ContentSafetyDetector

    return ContentSafetyDetector


plugin = DetectorPlugin(metadata=METADATA, settings_class=ContentSafetySettings, load=_detector_class)


def _train_command() -> object:
    from watchkeeper.detectors.content_safety.commands import train_cmd

    return train_cmd


train_command = CommandPlugin("Content safety.", _train_command)


def _eval_command() -> object:
    from watchkeeper.detectors.content_safety.commands import eval_cmd

    return eval_cmd


eval_command = CommandPlugin("Content safety.", _eval_command)
