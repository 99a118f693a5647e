"""The `watchkeeper` command tree, from the `watchkeeper.commands` entry points, loaded lazily.

Every command outside `run`, `demo` and `score` is an entry point, the built-ins exactly like a plug-in's:
the entry-point name is the command's path with dots (`eval.operational` is `watchkeeper eval operational`),
the value a click command or a `CommandPlugin` (its help, and how to load it). `watchkeeper --help` and every
command that does not judge text must start in well under a second, so listing the tree imports only light
modules: commands whose module pulls scikit-learn, scipy or torch are registered as a `CommandPlugin` from
their package's light `__init__`. Command names accept both spellings of a detector name (`content-safety`
and `content_safety`).

This module is the composition root's own: it also holds the `CommandPlugin`s of the live commands.
"""

from __future__ import annotations

from collections.abc import Sequence

import click

from watchkeeper.core import plugins
from watchkeeper.core.plugins import CommandPlugin

#: Groups without a module of their own: (path, help).
GROUPS = {
    ("train",): "Rebuild shipped detector artifacts from a data folder.",
    ("eval",): "Print detector quality tables (reproducible evaluations).",
}


def _remote(module: str, attr: str) -> click.Command:
    import importlib

    return getattr(importlib.import_module(f"watchkeeper.remote.{module}"), attr)


# The live commands (they talk to the running daemon's API), named by entry points in pyproject.toml.
incidents = CommandPlugin("List, show, acknowledge, resolve.", lambda: _remote("incidents", "incidents_cli"))
calls = CommandPlugin("The recent model calls the daemon recorded.", lambda: _remote("calls", "calls_cli"))
feedback = CommandPlugin("Not a problem / confirmed; export.", lambda: _remote("feedback", "feedback_cli"))
integrity = CommandPlugin("Approve or revoke system prompts.", lambda: _remote("integrity", "integrity_cli"))
silences = CommandPlugin("Mute notifications matching labels.", lambda: _remote("silences", "silences_cli"))
deadletters = CommandPlugin("Undelivered notifications.", lambda: _remote("silences", "deadletters_cli"))


def spelling(name: str) -> str:
    """The command spelling of a name: detector names are written with `_` in config, `-` in commands."""
    return name.replace("_", "-")


def _entries() -> dict[tuple[str, ...], str]:
    """Command path -> entry-point name, for every `watchkeeper.commands` entry point (nothing imported)."""
    names = plugins.names(plugins.COMMANDS)
    return {tuple(spelling(part) for part in name.split(".")): name for name in names}


def _help(entry: str) -> str:
    loaded = plugins.load_one(plugins.COMMANDS, entry)
    if isinstance(loaded, CommandPlugin):
        return loaded.help
    return loaded.get_short_help_str(limit=80) if isinstance(loaded, click.Command) else ""


def _load(entry: str) -> click.Command:
    loaded = plugins.load_one(plugins.COMMANDS, entry)
    command = loaded.load() if isinstance(loaded, CommandPlugin) else loaded
    if not isinstance(command, click.Command):
        raise click.ClickException(
            f"the {plugins.COMMANDS} entry point {entry!r} names {command!r}, not a click command"
        )
    return command


class LazyGroup(click.Group):
    """A group whose subcommands (and their own subcommands) are imported on first use."""

    def __init__(self, *args: object, lazy_path: Sequence[str] = (), **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.lazy_path = tuple(lazy_path)

    def _children(self) -> dict[str, str | None]:
        """name -> entry-point name (None for a group that only nests entry points) below this group."""
        depth = len(self.lazy_path)
        out: dict[str, str | None] = {}
        for path, entry in _entries().items():
            if len(path) > depth and path[:depth] == self.lazy_path:
                if len(path) == depth + 1:
                    out[path[depth]] = entry
                else:
                    out.setdefault(path[depth], None)
        for path in GROUPS:
            if len(path) == depth + 1 and path[:depth] == self.lazy_path:
                out.setdefault(path[depth], None)
        return out

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self._children()))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        name = spelling(cmd_name)
        found = super().get_command(ctx, name) or super().get_command(ctx, cmd_name)
        if found is not None:
            return found
        children = self._children()
        if name not in children:
            return None
        path = (*self.lazy_path, name)
        entry = children[name]
        if entry is None:
            help_text = GROUPS.get(path, f"Commands of the {name} plug-ins.")
            command: click.Command = LazyGroup(name=name, help=help_text, lazy_path=path)
        else:
            command = _with_lazy_children(_load(entry), path)
        self.add_command(command, name=name)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from the entry points' help, importing only light modules."""
        rows = []
        children = self._children()
        for name in self.list_commands(ctx):
            if name in children and name not in self.commands:
                entry = children[name]
                path = (*self.lazy_path, name)
                group_help = GROUPS.get(path, f"Commands of the {name} plug-ins.")
                rows.append((name, _help(entry) if entry else group_help))
                continue
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=formatter.width - 6 - len(name))))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _with_lazy_children(command: click.Command, path: tuple[str, ...]) -> click.Command:
    """A loaded group gains the entry points below it (e.g. `alerts silences` under `alerts`)."""
    if not isinstance(command, click.Group):
        return command
    for sub, entry in _entries().items():
        if len(sub) == len(path) + 1 and sub[: len(path)] == path and sub[-1] not in command.commands:
            command.add_command(_load(entry), name=sub[-1])
    return command
