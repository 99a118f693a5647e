"""The one plug-in mechanism: Python entry points. Built-ins register exactly as a third party's package does.

A distribution declares, in its pyproject.toml:

    [project.entry-points."watchkeeper.detectors"]
    my_detector = "my_package:plugin"          # a DetectorPlugin (or a Detector subclass)

and after `pip install` the daemon finds it: no table to edit, no module string to keep in sync. Groups:

- `watchkeeper.detectors`: detectors (`watchkeeper.core.detector.DetectorPlugin`);
- `watchkeeper.channels`: notification channels (`watchkeeper.alerts.channels.base.ChannelPlugin`);
- `watchkeeper.exporters`: the SDK's span exporters (`watchkeeper.collector.sdk.exporters.ExporterPlugin`);
- `watchkeeper.commands`: `watchkeeper` CLI commands (a click command, or a `CommandPlugin` when its module is
  heavy; `parent.name` mounts it under the group `parent`).

This module uses only the standard library: the SDK, which runs inside users' apps, loads its exporters here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

DETECTORS = "watchkeeper.detectors"
CHANNELS = "watchkeeper.channels"
EXPORTERS = "watchkeeper.exporters"
COMMANDS = "watchkeeper.commands"

_cache: dict[str, dict[str, Any]] = {}
_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class CommandPlugin:
    """A CLI command that loads on use: `help` is listed by `watchkeeper --help` without importing it."""

    help: str
    load: Callable[[], Any]  # -> the click command


class PluginError(RuntimeError):
    """A plug-in cannot be loaded; the message names the entry point, its distribution and the fix."""


def _dist_name(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return getattr(dist, "name", None) or "an unknown distribution"


Found = tuple[tuple[EntryPoint, str], ...]  # (entry point, its distribution's name), in load order
_scanned: dict[str, Found] | None = None


def _entry_points(group: str) -> Found:
    """The entry points of `group` with their distributions' names, in load order; read once per process.

    Installed distributions are scanned once for every group (a scan reads each one's entry_points.txt),
    and a distribution's name, which parses its whole METADATA file (long description included), is read
    once per distribution: the command line looks entry points up a dozen times to print `--help`.
    """
    global _scanned
    scanned = _scanned
    if scanned is None:
        everything = entry_points()
        dist_names: dict[int, str] = {}  # entry points of one distribution share its object
        scanned = {}
        for name in everything.groups:
            if not name.startswith("watchkeeper."):  # every group this module serves; others cost names
                continue
            pairs = []
            for ep in everything.select(group=name):
                key = id(getattr(ep, "dist", None))
                if key not in dist_names:
                    dist_names[key] = _dist_name(ep)
                pairs.append((ep, dist_names[key]))
            scanned[name] = tuple(sorted(pairs, key=lambda p: (p[1] != "watchkeeper", p[1], p[0].name)))
        _scanned = scanned  # published whole: a concurrent reader never sees a partial scan
    return scanned.get(group, ())


def _origin(ep: EntryPoint, dist: str) -> str:
    return f"entry point {ep.name!r} = {ep.value!r} of {dist} (group {ep.group})"


def load(group: str) -> dict[str, Any]:
    """name -> loaded object of every entry point of `group`; cached per process.

    Order is deterministic: Watchkeeper's own entry points first, then each other distribution's (by
    distribution name), each by entry-point name. (Detectors run in this order; each sees every call, so the
    order changes nothing they find.)

    Raises PluginError when an entry point cannot be imported or two distributions claim the same name.
    """
    with _lock:
        cached = _cache.get(group)
        if cached is not None:
            return cached
        found: dict[str, Any] = {}
        origins: dict[str, str] = {}
        values: dict[str, str] = {}
        for ep, dist in _entry_points(group):
            if ep.name in found:
                # one distribution seen twice on sys.path, or the same object registered by two (the daemon
                # and the SDK distribution installed together): one plug-in, the first wins
                if origins[ep.name] == dist or values[ep.name] == ep.value:
                    continue
                raise PluginError(
                    f"two plug-ins are named {ep.name!r}: one of {origins[ep.name]} and {_origin(ep, dist)}; "
                    "uninstall one of them"
                )
            try:
                found[ep.name] = ep.load()
            except Exception as exc:
                raise PluginError(
                    f"cannot load {_origin(ep, dist)}: {type(exc).__name__}: {exc}; reinstall that package "
                    "or uninstall it"
                ) from exc
            origins[ep.name] = dist
            values[ep.name] = ep.value
        _cache[group] = found
        return found


def names(group: str) -> tuple[str, ...]:
    """The entry-point names of `group`, in `load` order, without importing anything."""
    return tuple(dict.fromkeys(ep.name for ep, _ in _entry_points(group)))


def load_one(group: str, name: str) -> Any:
    """One entry point of `group`, imported alone (the SDK loads only the exporters an app asks for)."""
    with _lock:
        cached = _cache.get(group)
        if cached is not None and name in cached:
            return cached[name]
    matches = [(ep, dist) for ep, dist in _entry_points(group) if ep.name == name]
    if not matches:
        raise PluginError(f"no plug-in named {name!r} in group {group}; installed: {', '.join(names(group))}")
    if len({dist for _, dist in matches}) > 1 and len({ep.value for ep, _ in matches}) > 1:
        raise PluginError(
            f"two plug-ins are named {name!r}: "
            f"{' and '.join(_origin(ep, dist) for ep, dist in matches)}; uninstall one of them"
        )
    ep, dist = matches[0]
    try:
        return ep.load()
    except Exception as exc:
        raise PluginError(
            f"cannot load {_origin(ep, dist)}: {type(exc).__name__}: {exc}; reinstall that package or "
            "uninstall it"
        ) from exc


def reset() -> None:
    """Forget what was found and loaded (after installing a plug-in into the running interpreter, e.g. in
    tests)."""
    global _scanned
    with _lock:
        _cache.clear()
        _scanned = None
