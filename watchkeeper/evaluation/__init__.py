"""Evaluations of the whole pipeline (detectors and incidents together), as opposed to one detector's.

`false_pages_command` and `leakage_command` are what the `eval.false-pages` and `eval.leakage` entry points
name: their help loads at once, the replay (numpy, every detector) only when it runs.
"""

from __future__ import annotations

from watchkeeper.core.plugins import CommandPlugin


def _false_pages() -> object:
    from watchkeeper.evaluation.false_pages import false_pages_eval_cmd

    return false_pages_eval_cmd


false_pages_command = CommandPlugin("Clean-traffic replay: the incidents it would open.", _false_pages)


def _leakage() -> object:
    from watchkeeper.evaluation.leakage import leakage_eval_cmd

    return leakage_eval_cmd


leakage_command = CommandPlugin("Leakage precision and recall on a simulation over real answers.", _leakage)
