"""The routing tree: which receivers get an incident, with which grouping and timing.

Semantics follow Alertmanager's dispatch/route.go: the root matches everything; children are tried in order,
depth first; the first matching child wins unless it sets `continue: true`, in which case later siblings are
tried too; a node with no matching child is itself the match. Unset settings are inherited from the parent.
For speed with hundreds of routes, children that share an equality matcher on one label are indexed by that
label's value, and results are cached per label set.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field

from watchkeeper.alerts.config import DEFAULT_GROUP_BY, GROUP_BY_ALL, RouteConfig
from watchkeeper.alerts.matchers import Matcher, parse_matcher

DEFAULT_GROUP_WAIT = 10.0
DEFAULT_GROUP_INTERVAL = 60.0
DEFAULT_REPEAT_INTERVAL = 4 * 3600.0
_INDEX_MIN_CHILDREN = 8
_CACHE_SIZE = 50_000


@dataclass(slots=True, eq=False)
class Route:
    """A compiled route node with every inherited setting resolved."""

    path: str  # "route", "route.routes[2]", ...: stable id in the store and in messages
    matchers: list[Matcher]
    receiver: str
    group_by: tuple[str, ...]
    group_by_all: bool
    continue_: bool
    group_wait: float
    group_interval: float
    repeat_interval: float
    send_resolved: bool
    annotations: dict[str, str]
    mute_time_intervals: tuple[str, ...] = ()
    active_time_intervals: tuple[str, ...] = ()
    children: list[Route] = field(default_factory=list)
    _index_label: str | None = None
    _index: dict[str, list[int]] = field(default_factory=dict)
    _unindexed: list[int] = field(default_factory=list)
    _group_keys: dict[tuple[tuple[str, str], ...], str] = field(default_factory=dict)

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(m.matches(labels) for m in self.matchers)

    def group_labels(self, labels: Mapping[str, str]) -> dict[str, str]:
        """The labels that identify this route's group for `labels` (missing group_by labels are left out)."""
        if self.group_by_all:
            return dict(labels)
        return {name: labels[name] for name in self.group_by if name in labels}

    def group_key(self, labels: Mapping[str, str]) -> str:
        """A stable id of the group `labels` fall in, on this route; cached (every finding asks)."""
        items = tuple(sorted(self.group_labels(labels).items()))
        key = self._group_keys.get(items)
        if key is None:
            payload = json.dumps([self.path, items], separators=(",", ":"))
            key = hashlib.sha256(payload.encode()).hexdigest()[:20]
            if len(self._group_keys) >= _CACHE_SIZE:
                self._group_keys.clear()
            self._group_keys[items] = key
        return key

    def _candidates(self, labels: Mapping[str, str]) -> list[int] | range:
        if self._index_label is None:
            return range(len(self.children))
        hits = self._index.get(labels.get(self._index_label, ""), [])
        if not hits:
            return self._unindexed
        if not self._unindexed:
            return hits
        return sorted((*hits, *self._unindexed))

    def walk(self, labels: Mapping[str, str], out: list[Route]) -> None:
        matched_child = False
        for i in self._candidates(labels):
            child = self.children[i]
            if not child.matches(labels):
                continue
            child.walk(labels, out)
            matched_child = True
            if not child.continue_:
                break
        if not matched_child:
            out.append(self)

    def build_index(self) -> None:
        """Index children by the label most of them pin with `=`; why: 500 routes per finding is too slow."""
        if len(self.children) < _INDEX_MIN_CHILDREN:
            return
        counts: dict[str, int] = {}
        for child in self.children:
            for name in {m.name for m in child.matchers if m.op == "="}:
                counts[name] = counts.get(name, 0) + 1
        if not counts:
            return
        label = max(counts, key=lambda n: counts[n])
        if counts[label] < _INDEX_MIN_CHILDREN // 2:
            return
        self._index_label = label
        for i, child in enumerate(self.children):
            pinned = [m.value for m in child.matchers if m.op == "=" and m.name == label]
            if pinned:
                self._index.setdefault(pinned[0], []).append(i)
            else:
                self._unindexed.append(i)

    def iter(self) -> list[Route]:
        out = [self]
        for child in self.children:
            out.extend(child.iter())
        return out


def compile_route(cfg: RouteConfig, parent: Route | None = None, path: str = "route") -> Route:
    def pick(value: object, inherited: object, default: object) -> object:
        if value is not None:
            return value
        return inherited if parent is not None else default

    group_by_list = (
        cfg.group_by if cfg.group_by is not None else (None if parent is not None else list(DEFAULT_GROUP_BY))
    )
    if group_by_list is None and parent is not None:
        group_by: tuple[str, ...] = parent.group_by
        group_by_all = parent.group_by_all
    else:
        assert group_by_list is not None
        group_by_all = GROUP_BY_ALL in group_by_list
        group_by = tuple(dict.fromkeys(n for n in group_by_list if n != GROUP_BY_ALL))
    route = Route(
        path=path,
        matchers=[parse_matcher(m) for m in cfg.matchers],
        receiver=str(pick(cfg.receiver, parent.receiver if parent else None, "default")),
        group_by=group_by,
        group_by_all=group_by_all,
        continue_=cfg.continue_,
        group_wait=float(pick(cfg.group_wait, parent.group_wait if parent else None, DEFAULT_GROUP_WAIT)),
        group_interval=float(
            pick(cfg.group_interval, parent.group_interval if parent else None, DEFAULT_GROUP_INTERVAL)
        ),
        repeat_interval=float(
            pick(cfg.repeat_interval, parent.repeat_interval if parent else None, DEFAULT_REPEAT_INTERVAL)
        ),
        send_resolved=bool(pick(cfg.send_resolved, parent.send_resolved if parent else None, True)),
        annotations={**(parent.annotations if parent else {}), **cfg.annotations},
        mute_time_intervals=tuple(cfg.mute_time_intervals),  # not inherited (Alertmanager's rule)
        active_time_intervals=tuple(cfg.active_time_intervals),
    )
    route.children = [
        compile_route(child, route, f"{path}.routes[{i}]") for i, child in enumerate(cfg.routes)
    ]
    route.build_index()
    return route


class Router:
    """Matches label sets against the compiled tree; cached, since the label sets of a stream repeat."""

    def __init__(self, root_cfg: RouteConfig) -> None:
        self.root = compile_route(root_cfg)
        self._cache: OrderedDict[tuple[tuple[str, str], ...], list[Route]] = OrderedDict()
        self.by_path = {r.path: r for r in self.root.iter()}

    def match(self, labels: Mapping[str, str]) -> list[Route]:
        """The matched routes in tree order; never empty (the root catches everything)."""
        key = tuple(sorted(labels.items()))
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        out: list[Route] = []
        self.root.walk(labels, out)
        self._cache[key] = out
        if len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return out

    def match_uncached(self, labels: Mapping[str, str]) -> list[Route]:
        out: list[Route] = []
        self.root.walk(labels, out)
        return out

    def describe(self) -> str:
        """The tree as indented text, for `alerts check-config`."""
        lines: list[str] = []

        def visit(route: Route, depth: int) -> None:
            matchers = ", ".join(str(m) for m in route.matchers) or "(everything)"
            group = "..." if route.group_by_all else ",".join(route.group_by)
            flags = " continue" if route.continue_ else ""
            if route.mute_time_intervals:
                flags += f" mute_time_intervals=[{','.join(route.mute_time_intervals)}]"
            if route.active_time_intervals:
                flags += f" active_time_intervals=[{','.join(route.active_time_intervals)}]"
            lines.append(
                f"{'  ' * depth}- {route.path}: match {matchers} -> receiver={route.receiver} "
                f"group_by=[{group}] "
                f"group_wait={route.group_wait:g}s group_interval={route.group_interval:g}s "
                f"repeat_interval={route.repeat_interval:g}s{flags}"
            )
            for child in route.children:
                visit(child, depth + 1)

        visit(self.root, 0)
        return "\n".join(lines)
