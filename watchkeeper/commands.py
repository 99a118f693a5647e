"""The `watchkeeper` command tree, loaded lazily: a command's module is imported only when it runs.

`watchkeeper --help` and every command that does not judge text must start in well under a second, so no
command module (some pull scikit-learn, scipy or torch) is imported to list the commands: each entry names
its module, attribute and one-line help. Command names accept both spellings of a detector name
(`content-safety` and `content_safety`).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass

import click


@dataclass(frozen=True)
class Entry:
    path: tuple[str, ...]  # ("eval", "content-safety")
    target: str  # "module:attribute"
    help: str

    def load(self) -> click.Command:
        module, _, attr = self.target.partition(":")
        return getattr(importlib.import_module(module), attr)


def _e(path: str, target: str, help: str) -> Entry:
    return Entry(tuple(path.split()), target, help)


#: Groups without a module of their own: (path, help).
GROUPS = {
    ("train",): "Rebuild shipped detector artifacts from a data folder.",
    ("eval",): "Print detector quality tables (reproducible evaluations).",
}

COMMANDS: list[Entry] = [
    _e("incidents", "watchkeeper.remote.incidents:incidents_cli", "List, show, acknowledge, resolve."),
    _e("calls", "watchkeeper.remote.calls:calls_cli", "The recent model calls the daemon recorded."),
    _e("feedback", "watchkeeper.remote.feedback:feedback_cli", "Not a problem / confirmed; export."),
    _e("integrity", "watchkeeper.remote.integrity:integrity_cli", "Approve or revoke system prompts."),
    _e("alerts", "watchkeeper.alerts.commands:alerts_cli", "Routing config, silences, dead letters."),
    _e("alerts silences", "watchkeeper.remote.silences:silences_cli", "Mute notifications matching labels."),
    _e("alerts deadletters", "watchkeeper.remote.silences:deadletters_cli", "Undelivered notifications."),
    _e("train content-safety", "watchkeeper.detectors.content_safety.commands:train_cmd", "Content safety."),
    _e("eval content-safety", "watchkeeper.detectors.content_safety.commands:eval_cmd", "Content safety."),
    _e(
        "eval topic-injection",
        "watchkeeper.detectors.topic_injection.evaluation:topic_injection_eval_cmd",
        "Topic-injection simulation.",
    ),
    _e(
        "eval operational",
        "watchkeeper.detectors.operational.evaluation:operational_eval_cmd",
        "Operational anomaly simulation.",
    ),
]


def spelling(name: str) -> str:
    """The command spelling of a name: detector names are written with `_` in config, `-` in commands."""
    return name.replace("_", "-")


class LazyGroup(click.Group):
    """A group whose subcommands (and their own subcommands) are imported on first use."""

    def __init__(self, *args: object, lazy_path: Sequence[str] = (), **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.lazy_path = tuple(lazy_path)

    def _children(self) -> dict[str, str]:
        """name -> one-line help of the lazy subcommands directly below this group."""
        depth = len(self.lazy_path)
        out = {p[depth]: h for p, h in GROUPS.items() if len(p) == depth + 1 and p[:depth] == self.lazy_path}
        for entry in COMMANDS:
            if len(entry.path) == depth + 1 and entry.path[:depth] == self.lazy_path:
                out[entry.path[depth]] = entry.help
        return out

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self._children()))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        name = spelling(cmd_name)
        found = super().get_command(ctx, name) or super().get_command(ctx, cmd_name)
        if found is not None:
            return found
        path = (*self.lazy_path, name)
        if path in GROUPS:
            command: click.Command = LazyGroup(name=name, help=GROUPS[path], lazy_path=path)
        else:
            entry = next((e for e in COMMANDS if e.path == path), None)
            if entry is None:
                return None
            command = entry.load()
            command = _with_lazy_children(command, path)
        self.add_command(command, name=name)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from the table's help strings, without importing any command module."""
        rows = []
        children = self._children()
        for name in self.list_commands(ctx):
            if name in children and name not in self.commands:
                rows.append((name, children[name]))
                continue
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=formatter.width - 6 - len(name))))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _with_lazy_children(command: click.Command, path: tuple[str, ...]) -> click.Command:
    """A loaded group gains the table's commands below it (e.g. `alerts silences`)."""
    below = [e for e in COMMANDS if len(e.path) == len(path) + 1 and e.path[: len(path)] == path]
    if below and isinstance(command, click.Group):
        for entry in below:
            if entry.path[-1] not in command.commands:
                command.add_command(entry.load(), name=entry.path[-1])
    return command
