"""Mounts the command groups each stage owns onto the `watchkeeper` CLI.

Imports are lazy (inside the group callbacks' modules) only where a stage pulls heavy dependencies.
"""

from __future__ import annotations

import importlib

import click

#: (parent group or None for top level, module, attribute, name) of every stage-owned command.
COMMANDS: list[tuple[str | None, str, str, str]] = [
    (None, "watchkeeper.detectors.integrity.commands", "integrity_cli", "integrity"),
    (None, "watchkeeper.alerts.commands", "alerts_cli", "alerts"),
    ("train", "watchkeeper.detectors.content_safety.commands", "train_cmd", "content-safety"),
    ("eval", "watchkeeper.detectors.content_safety.commands", "eval_cmd", "content-safety"),
    (
        "eval",
        "watchkeeper.detectors.topic_injection.evaluation",
        "topic_injection_eval_cmd",
        "topic-injection",
    ),
    ("eval", "watchkeeper.detectors.operational.evaluation", "operational_eval_cmd", "operational"),
]


def register(main: click.Group) -> None:
    @main.group()
    def train() -> None:
        """Rebuild shipped detector artifacts from a data folder."""

    @main.group(name="eval")
    def evaluate() -> None:
        """Print detector quality tables (reproducible evaluations)."""

    groups: dict[str | None, click.Group] = {None: main, "train": train, "eval": evaluate}
    for parent, module_name, attr, name in COMMANDS:
        module = importlib.import_module(module_name)
        groups[parent].add_command(getattr(module, attr), name=name)
