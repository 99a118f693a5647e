"""Time intervals as Alertmanager defines them: when a route is muted or active.

A named interval is a list of specs; it contains an instant when any spec does. A spec contains an instant
when every field it sets matches (an unset field matches everything), evaluated in its `location` (an IANA
zone, `Local` for the host's zone, UTC by default):

- `times`: `start_time`-`end_time` pairs, "HH:MM" (end may be 24:00), start inclusive, end exclusive;
- `weekdays`: names or inclusive ranges (`monday:friday`), Sunday first, so a range never wraps;
- `days_of_month`: 1..31 or -31..-1 counted from the month's end (-1 = last day), inclusive ranges clamped
  to the month; a start beyond the month's length matches nothing in that month;
- `months`: names or 1..12, inclusive ranges; `years`: inclusive ranges.

Names and ranges are case-insensitive. Pure and deterministic: callers pass the instant.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
MONTHS = (
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
)  # fmt: skip
_TIME = re.compile(r"^(?:([01][0-9]|2[0-3]):([0-5][0-9])|(24):(00))$")
_SPEC_KEYS = ("times", "weekdays", "days_of_month", "months", "years", "location")


class TimeIntervalError(ValueError):
    """A time interval is malformed; the message names the key and the expected form."""


Range = tuple[int, int]


@dataclass(frozen=True, slots=True)
class TimeSpec:
    """One entry of a named interval's `time_intervals` list; None = the field is not set."""

    times: tuple[Range, ...] | None = None  # minutes since midnight, [start, end)
    weekdays: tuple[Range, ...] | None = None  # 0 = Sunday
    days_of_month: tuple[Range, ...] | None = None
    months: tuple[Range, ...] | None = None
    years: tuple[Range, ...] | None = None
    zone: tzinfo = UTC
    location: str = "UTC"

    def contains(self, when: datetime) -> bool:
        """Whether the aware datetime `when` falls inside this spec."""
        t = when.astimezone(self.zone)
        if self.times is not None:
            minute = t.hour * 60 + t.minute
            if not any(start <= minute < end for start, end in self.times):
                return False
        if self.days_of_month is not None and not _day_matches(t, self.days_of_month):
            return False
        if self.months is not None and not any(a <= t.month <= b for a, b in self.months):
            return False
        if self.weekdays is not None:
            weekday = (t.weekday() + 1) % 7  # Python: Monday = 0; here: Sunday = 0
            if not any(a <= weekday <= b for a, b in self.weekdays):
                return False
        return self.years is None or any(a <= t.year <= b for a, b in self.years)


def _day_matches(t: datetime, ranges: Iterable[Range]) -> bool:
    length = calendar.monthrange(t.year, t.month)[1]
    for begin, end in ranges:
        first = length + begin + 1 if begin < 0 else begin
        last = length + end + 1 if end < 0 else end
        if first > length:
            continue  # e.g. day 31 in April: nothing to clamp to
        first, last = max(first, 1), min(last, length)
        if first <= t.day <= last:
            return True
    return False


def _split(value: Any, key: str) -> tuple[str, str]:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise TimeIntervalError(f"{key}: expected a value or a range like 'a:b', got {value!r}")
    text = str(value).strip().lower()
    parts = text.split(":")
    if len(parts) == 1:
        return parts[0], parts[0]
    if len(parts) != 2:
        raise TimeIntervalError(f"{key}: {value!r} is not a range; write start:end")
    return parts[0], parts[1]


def _number(text: str, key: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise TimeIntervalError(f"{key}: {text!r} is not a valid {what}") from None


def _weekday(text: str, key: str) -> int:
    if text not in WEEKDAYS:
        raise TimeIntervalError(f"{key}: {text!r} is not a valid weekday; use {', '.join(WEEKDAYS)}")
    return WEEKDAYS.index(text)


def _month(text: str, key: str) -> int:
    if text in MONTHS:
        return MONTHS.index(text) + 1
    number = _number(text, key, "month (january..december or 1..12)")
    if not 1 <= number <= 12:
        raise TimeIntervalError(f"{key}: month {number} is out of range; use 1..12 or a month name")
    return number


def _ranges(values: Any, key: str, parse: Any, check: Any) -> tuple[Range, ...]:
    if not isinstance(values, list):
        raise TimeIntervalError(f"{key}: expected a list, e.g. ['monday:friday']")
    out = []
    for i, value in enumerate(values):
        item_key = f"{key}[{i}]"
        a, b = _split(value, item_key)
        begin, end = parse(a, item_key), parse(b, item_key)
        check(begin, end, item_key)
        out.append((begin, end))
    return tuple(out)


def _check_order(what: str) -> Any:
    def check(begin: int, end: int, key: str) -> None:
        if begin > end:
            raise TimeIntervalError(f"{key}: the end {what} comes before the start {what}")

    return check


def _check_days(begin: int, end: int, key: str) -> None:
    for day in (begin, end):
        if day == 0 or not -31 <= day <= 31:
            raise TimeIntervalError(f"{key}: {day} is not a day of the month; use 1..31 or -31..-1")
    if begin < 0 < end:
        raise TimeIntervalError(f"{key}: a range starting from the month's end (negative) must end negative")
    # Negative days depend on the month's length; refuse ranges that are empty even in a 28-day month.
    if (28 + begin if begin < 0 else begin) > (28 + end if end < 0 else end):
        raise TimeIntervalError(f"{key}: the end day {end} always comes before the start day {begin}")


def _minute(value: Any, key: str) -> int:
    m = _TIME.match(value.strip()) if isinstance(value, str) else None
    if m is None:
        hint = " (YAML read it as a number: quote it)" if isinstance(value, int | float) else ""
        raise TimeIntervalError(f"{key}: {value!r} is not a time; write HH:MM between 00:00 and 24:00{hint}")
    hours, minutes = (m.group(1), m.group(2)) if m.group(1) is not None else (m.group(3), m.group(4))
    return int(hours) * 60 + int(minutes)


def _times(values: Any, key: str) -> tuple[Range, ...]:
    if not isinstance(values, list):
        raise TimeIntervalError(f"{key}: expected a list of {{start_time, end_time}}")
    out = []
    for i, item in enumerate(values):
        item_key = f"{key}[{i}]"
        if not isinstance(item, Mapping):
            raise TimeIntervalError(f"{item_key}: expected {{start_time: 'HH:MM', end_time: 'HH:MM'}}")
        unknown = sorted(set(item) - {"start_time", "end_time"})
        if unknown:
            raise TimeIntervalError(f"{item_key}: unknown key {unknown[0]!r}; use start_time and end_time")
        if not item.get("start_time") or not item.get("end_time"):
            raise TimeIntervalError(f"{item_key}: both start_time and end_time must be given")
        start = _minute(item["start_time"], f"{item_key}.start_time")
        end = _minute(item["end_time"], f"{item_key}.end_time")
        if start >= end:
            raise TimeIntervalError(
                f"{item_key}: start_time must come before end_time (a range past midnight is two ranges: "
                "22:00-24:00 and 00:00-06:00)"
            )
        out.append((start, end))
    return tuple(out)


def load_zone(name: str, key: str = "location") -> tzinfo:
    """The zone named as Go's time.LoadLocation names it: "" and "UTC" are UTC, "Local" the host's."""
    if name in ("", "UTC"):
        return UTC
    if name == "Local":
        local = datetime.now().astimezone().tzinfo
        return local if local is not None else UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise TimeIntervalError(
            f"{key}: unknown time zone {name!r}; use an IANA name like Europe/Paris"
        ) from None


def parse_spec(data: Any, key: str) -> TimeSpec:
    """One spec from its YAML mapping; errors name `key` and the field."""
    if not isinstance(data, Mapping):
        raise TimeIntervalError(f"{key}: expected a mapping with times, weekdays, days_of_month, months, ...")
    unknown = sorted(set(data) - set(_SPEC_KEYS))
    if unknown:
        raise TimeIntervalError(f"{key}: unknown key {unknown[0]!r}; use {', '.join(_SPEC_KEYS)}")
    fields: dict[str, Any] = {}
    if data.get("times") is not None:
        fields["times"] = _times(data["times"], f"{key}.times")
    if data.get("weekdays") is not None:
        fields["weekdays"] = _ranges(data["weekdays"], f"{key}.weekdays", _weekday, _check_order("day"))
    if data.get("days_of_month") is not None:
        fields["days_of_month"] = _ranges(
            data["days_of_month"],
            f"{key}.days_of_month",
            lambda t, k: _number(t, k, "day of the month"),
            _check_days,
        )
    if data.get("months") is not None:
        fields["months"] = _ranges(data["months"], f"{key}.months", _month, _check_order("month"))
    if data.get("years") is not None:
        fields["years"] = _ranges(
            data["years"], f"{key}.years", lambda t, k: _number(t, k, "year"), _check_order("year")
        )
    location = data.get("location")
    if location is not None:
        if not isinstance(location, str):
            raise TimeIntervalError(f"{key}.location: expected a time zone name like Europe/Paris")
        fields["zone"] = load_zone(location, f"{key}.location")
        fields["location"] = location
    return TimeSpec(**fields)


class TimeIntervals:
    """Named intervals; `contains(names, when)` says whether `when` is inside any of them."""

    def __init__(self, named: Mapping[str, Sequence[TimeSpec]] | None = None) -> None:
        self.named = {name: tuple(specs) for name, specs in (named or {}).items()}

    def contains(self, names: Iterable[str], when: datetime) -> list[str]:
        """The names among `names` whose interval holds `when` (unknown names never hold it)."""
        return [n for n in names if any(spec.contains(when) for spec in self.named.get(n, ()))]

    def muted(self, mute: Sequence[str], active: Sequence[str], when: datetime) -> str | None:
        """Why a route with these mute/active interval names sends nothing at `when`, or None."""
        inside = self.contains(mute, when)
        if inside:
            return f"muted by time interval {inside[0]!r}"
        if active and not self.contains(active, when):
            return f"outside its active time intervals ({', '.join(active)})"
        return None


def at(seconds: float) -> datetime:
    """An aware UTC datetime from unix seconds (the alerts clock's unit)."""
    return datetime.fromtimestamp(seconds, UTC)
