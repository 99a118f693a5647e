"""Configuration of the alerts section: routing tree, receivers, inhibition, timing, outbox.

The shape follows Alertmanager's `route:` / `receivers:` / `inhibit_rules:` so an SRE can carry a config over;
durations accept Alertmanager spellings ("30s", "5m", "4h", "1h30m") or plain seconds. Validation walks the
tree once and names the exact key that is wrong (e.g. `alerts.route.routes[1].matchers[0]`).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from watchkeeper.alerts.amdialect import ERROR, Note, translate
from watchkeeper.alerts.durations import Duration
from watchkeeper.alerts.matchers import MatcherError, parse_matcher
from watchkeeper.alerts.timeintervals import TimeIntervalError, TimeIntervals, TimeSpec, parse_spec

try:
    from watchkeeper.alerts.channels.config import ReceiverConfig
except ImportError:  # pragma: no cover - the channels package ships its own ReceiverConfig

    class ReceiverConfig(BaseModel):  # type: ignore[no-redef]
        """Stand-in used only while the channels package is absent: a receiver with a name."""

        model_config = ConfigDict(extra="allow")
        name: str


DEFAULT_GROUP_BY = ["app", "detector", "category", "theme"]
GROUP_BY_ALL = "..."


class RouteConfig(BaseModel):
    """One node of the routing tree; unset keys are inherited from the parent (as in Alertmanager)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    receiver: str | None = None
    group_by: list[str] | None = None
    matchers: list[str] = []
    continue_: bool = Field(False, alias="continue")
    group_wait: Duration | None = None
    group_interval: Duration | None = None
    repeat_interval: Duration | None = None
    send_resolved: bool | None = None
    annotations: dict[str, str] = {}  # e.g. runbook_url, added to incidents routed here
    # Names of alerts.time_intervals; not inherited by child routes (as in Alertmanager).
    mute_time_intervals: list[str] = []  # send nothing while any of these holds
    active_time_intervals: list[str] = []  # send only while one of these holds
    routes: list[RouteConfig] = []


class InhibitRuleConfig(BaseModel):
    """Mute incidents matching `target_matchers` while one matching `source_matchers` is open."""

    model_config = ConfigDict(extra="forbid")

    source_matchers: list[str] = []
    target_matchers: list[str] = []
    equal: list[str] = []


class TimeIntervalConfig(BaseModel):
    """A named time interval (Alertmanager's `time_intervals` entry): routes mute or activate by name."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    time_intervals: list[dict[str, Any]] = []
    _specs: tuple[TimeSpec, ...] = PrivateAttr(default=())

    @model_validator(mode="after")
    def _parse(self) -> TimeIntervalConfig:
        try:
            self._specs = tuple(
                parse_spec(spec, f"time_intervals[{i}]") for i, spec in enumerate(self.time_intervals)
            )
        except TimeIntervalError as exc:
            raise ValueError(f"time interval {self.name!r}: {exc}") from None
        return self

    @property
    def specs(self) -> tuple[TimeSpec, ...]:
        return self._specs


DEFAULT_MAX_ELAPSED_TIME = 6 * 3600.0


class OutboxConfig(BaseModel):
    """How long and how often a notification is retried before it becomes a dead letter.

    The budget is time, not a number of attempts: a receiver down for an hour (503s, 429s with Retry-After,
    resets) must still get every page once it is back, whatever it answered meanwhile.
    """

    model_config = ConfigDict(extra="forbid")

    backoff_base_s: float = Field(1.0, gt=0, description="first backoff cap; doubles per attempt")
    backoff_max_s: float = Field(300.0, gt=0, description="largest wait between two attempts")
    max_elapsed_time: Duration = Field(
        DEFAULT_MAX_ELAPSED_TIME,
        gt=0,
        description="retry a notification this long (e.g. 6h) before it is a dead letter; per receiver: "
        "receivers[].max_elapsed_time",
    )
    max_attempts: int | None = Field(
        None, ge=1, description="optional cap on attempts as well (default: bounded by max_elapsed_time only)"
    )
    retry_after_max_s: float = Field(3600.0, gt=0, description="cap on a receiver's Retry-After")
    send_timeout_s: float = Field(10.0, gt=0)
    workers: int = Field(4, ge=1, le=64)
    poll_interval_s: float = Field(0.2, gt=0)
    lease_s: float | None = Field(
        None,
        gt=0,
        description="how long a worker's claim on a notification lasts before another worker may take it "
        "over (default: 2 x send_timeout_s + 5 s; renewed while the send is in flight)",
    )


def _default_route() -> RouteConfig:
    return RouteConfig(
        receiver="default",
        group_by=list(DEFAULT_GROUP_BY),
        group_wait=10.0,
        group_interval=60.0,
        repeat_interval=4 * 3600.0,
    )


def _default_receivers() -> list[ReceiverConfig]:
    data: dict[str, Any] = {"name": "default"}
    if "console" in getattr(ReceiverConfig, "model_fields", {}):
        data["console"] = True
    return [ReceiverConfig.model_validate(data)]


class FeedbackConfig(BaseModel):
    """What a "not a problem" verdict does besides resolving its incident."""

    model_config = ConfigDict(extra="forbid")

    suppress_for: Duration = Field(
        7 * 86400.0,
        description="mute near-duplicates of a false positive for this long (same app, detector, category "
        "and normalized passage); 0 turns suppression off",
    )


class AlertsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    resolve_timeout: Duration = 1800.0  # an incident with no new finding for this long resolves itself
    max_samples: int = Field(50, ge=1, le=1000)  # findings with full evidence shown per incident
    findings_retention_hours: float = Field(168.0, gt=0)
    consumer_group: str = "watchkeeper-alerts"
    route: RouteConfig = Field(default_factory=_default_route)
    receivers: list[ReceiverConfig] = Field(default_factory=_default_receivers)
    inhibit_rules: list[InhibitRuleConfig] = []
    time_intervals: list[TimeIntervalConfig] = []
    outbox: OutboxConfig = OutboxConfig()
    feedback: FeedbackConfig = FeedbackConfig()

    _notes: list[Note] = PrivateAttr(default_factory=list)

    @property
    def unsupported(self) -> list[Note]:
        """Alertmanager keys that were accepted but have no effect (warnings; errors fail validation)."""
        return list(self._notes)

    def compiled_time_intervals(self) -> TimeIntervals:
        return TimeIntervals({ti.name: ti.specs for ti in self.time_intervals})

    @model_validator(mode="after")
    def _validate_tree(self) -> AlertsConfig:
        errors: list[str] = []
        names = [r.name for r in self.receivers]
        known = set(names)
        for name in sorted({n for n in names if names.count(n) > 1}):
            errors.append(f"alerts.receivers: receiver name {name!r} is defined more than once")
        if not self.route.receiver:
            errors.append("alerts.route.receiver: the root route needs a receiver (the default destination)")
        if self.route.matchers:
            errors.append("alerts.route.matchers: the root route matches everything; move matchers to routes")
        for side in ("mute_time_intervals", "active_time_intervals"):
            if getattr(self.route, side):
                errors.append(f"alerts.route.{side}: the root route cannot be muted; set it on a child route")
        interval_names = [ti.name for ti in self.time_intervals]
        for name in sorted({n for n in interval_names if interval_names.count(n) > 1}):
            errors.append(
                f"alerts.time_intervals: time interval {name!r} is defined more than once "
                "(mute_time_intervals and time_intervals share one set of names)"
            )
        _check_route(self.route, "alerts.route", known, errors, set(interval_names))
        for i, rule in enumerate(self.inhibit_rules):
            for side in ("source_matchers", "target_matchers"):
                for j, text in enumerate(getattr(rule, side)):
                    _check_matcher(text, f"alerts.inhibit_rules[{i}].{side}[{j}]", errors)
            if not rule.source_matchers or not rule.target_matchers:
                errors.append(
                    f"alerts.inhibit_rules[{i}]: needs both source_matchers and target_matchers "
                    "(an empty side would match every incident)"
                )
        if errors:
            raise ValueError("; ".join(errors))
        return self

    # Defined last, so it wraps the checks above: with dialect errors, theirs are listed too.
    @model_validator(mode="wrap")
    @classmethod
    def _alertmanager_dialect(cls, data: Any, handler: Any) -> Any:
        """Alertmanager's spellings are rewritten first; keys Watchkeeper lacks become notes (amdialect)."""
        if not isinstance(data, dict):
            return handler(data)
        translated, notes = translate(data)
        errors = [str(n) for n in notes if n.level == ERROR]
        if errors:
            errors += [f"{n} (warning)" for n in notes if n.level != ERROR]
            try:
                handler(translated)
            except ValidationError as exc:  # report the rest too, in one go
                errors += [_error_line(e) for e in exc.errors()]
            raise ValueError(
                "\n    ".join(["the configuration uses what Watchkeeper does not implement:", *errors])
            )
        model = handler(translated)
        model._notes = notes
        return model


def _check_matcher(text: str, key: str, errors: list[str]) -> None:
    try:
        parse_matcher(text)
    except MatcherError as exc:
        errors.append(f"{key}: {exc}")


def _error_line(error: Any) -> str:
    message = str(error["msg"]).removeprefix("Value error, ")
    if not error["loc"]:
        return message
    return "alerts." + ".".join(str(p) for p in error["loc"]) + f": {message}"


def _check_route(
    route: RouteConfig, key: str, known: set[str], errors: list[str], intervals: set[str]
) -> None:
    if route.receiver is not None and route.receiver not in known:
        hint = ", ".join(sorted(known)) or "none defined"
        errors.append(
            f"{key}.receiver: unknown receiver {route.receiver!r}: define it under alerts.receivers "
            f"(known: {hint})"
        )
    for j, text in enumerate(route.matchers):
        _check_matcher(text, f"{key}.matchers[{j}]", errors)
    if route.group_by is not None and GROUP_BY_ALL in route.group_by and len(route.group_by) > 1:
        errors.append(f"{key}.group_by: '...' (group by all labels) cannot be combined with other labels")
    if route.group_by is not None:
        for name in sorted({n for n in route.group_by if route.group_by.count(n) > 1}):
            errors.append(f"{key}.group_by: label {name!r} is listed twice")
    for side in ("mute_time_intervals", "active_time_intervals"):
        for name in getattr(route, side):
            if name not in intervals:
                hint = ", ".join(sorted(intervals)) or "none defined"
                errors.append(
                    f"{key}.{side}: unknown time interval {name!r}: define it under alerts.time_intervals "
                    f"(known: {hint})"
                )
    for i, child in enumerate(route.routes):
        _check_route(child, f"{key}.routes[{i}]", known, errors, intervals)
