"""Time intervals with Alertmanager's semantics (times, weekdays, days_of_month, months, years, location),
evaluated at fixed instants: each case states the instant in UTC and the expected answer."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from watchkeeper.alerts.timeintervals import TimeIntervalError, TimeIntervals, parse_spec


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def inside(spec: dict, when: datetime) -> bool:
    return parse_spec(spec, "t").contains(when)


BUSINESS_PARIS = {
    "times": [{"start_time": "08:30", "end_time": "17:00"}],
    "weekdays": ["monday:friday"],
    "location": "Europe/Paris",
}


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (utc(2026, 3, 2, 7, 29), False),  # Monday 08:29 in Paris (CET, UTC+1)
        (utc(2026, 3, 2, 7, 30), True),  # 08:30: the start is inclusive
        (utc(2026, 3, 2, 15, 59), True),
        (utc(2026, 3, 2, 16, 0), False),  # 17:00: the end is exclusive
        (utc(2026, 7, 1, 6, 30), True),  # Wednesday 08:30 in summer time (CEST, UTC+2)
        (utc(2026, 7, 1, 15, 0), False),  # 17:00 CEST
        (utc(2026, 3, 7, 10, 0), False),  # Saturday
        (utc(2026, 3, 6, 23, 30), False),  # Friday in UTC, already Saturday 00:30 in Paris
    ],
)
def test_business_hours_in_a_time_zone(when: datetime, expected: bool) -> None:
    assert inside(BUSINESS_PARIS, when) is expected


def test_times_up_to_midnight_and_several_ranges() -> None:
    night = {
        "times": [{"start_time": "22:00", "end_time": "24:00"}, {"start_time": "00:00", "end_time": "06:00"}]
    }
    assert inside(night, utc(2026, 5, 4, 23, 59))
    assert inside(night, utc(2026, 5, 4, 0, 0))
    assert inside(night, utc(2026, 5, 4, 5, 59))
    assert not inside(night, utc(2026, 5, 4, 6, 0))
    assert not inside(night, utc(2026, 5, 4, 21, 59))


@pytest.mark.parametrize(
    ("weekdays", "when", "expected"),
    [
        (["saturday", "sunday"], utc(2026, 5, 3, 12), True),  # a Sunday
        (["saturday", "sunday"], utc(2026, 5, 4, 12), False),  # a Monday
        (["sunday:saturday"], utc(2026, 5, 6, 12), True),  # Sunday is the first day: every day
        (["Monday:Wednesday"], utc(2026, 5, 6, 12), True),  # names are case-insensitive
        (["monday:wednesday"], utc(2026, 5, 7, 12), False),  # Thursday
    ],
)
def test_weekdays(weekdays: list[str], when: datetime, expected: bool) -> None:
    assert inside({"weekdays": weekdays}, when) is expected


@pytest.mark.parametrize(
    ("days", "when", "expected"),
    [
        (["-1"], utc(2026, 2, 28, 12), True),  # last day of a 28-day February
        (["-1"], utc(2026, 2, 27, 12), False),
        (["-1"], utc(2024, 2, 29, 12), True),  # leap year
        (["-1"], utc(2024, 2, 28, 12), False),
        (["-3:-1"], utc(2026, 4, 28, 12), True),  # April: 28, 29, 30
        (["-3:-1"], utc(2026, 4, 27, 12), False),
        (["1:31"], utc(2026, 2, 28, 12), True),  # clamped to the month's length
        (["31"], utc(2026, 4, 30, 12), False),  # April has no 31st: nothing matches
        (["27:-1"], utc(2026, 2, 26, 12), False),  # the 27th to the month's last day
        (["27:-1"], utc(2026, 2, 28, 12), True),
        (["27:-1"], utc(2026, 3, 31, 12), True),
        (["24:26"], utc(2026, 12, 25, 12), True),
        ([1, 15], utc(2026, 6, 15, 12), True),  # numbers (unquoted YAML) work too
    ],
)
def test_days_of_month(days: list, when: datetime, expected: bool) -> None:
    assert inside({"days_of_month": days}, when) is expected


def test_months_years_and_every_field_together() -> None:
    assert inside({"months": ["may:august"]}, utc(2026, 8, 31, 23))
    assert not inside({"months": ["may:august"]}, utc(2026, 9, 1, 0))
    assert inside({"months": ["1:3", "december"]}, utc(2026, 12, 1))
    assert inside({"years": ["2026:2030"]}, utc(2030, 12, 31, 23, 59))
    assert not inside({"years": ["2026:2030"]}, utc(2031, 1, 1))
    new_year = {"months": ["january"], "days_of_month": ["1"], "years": ["2027"]}
    assert inside(new_year, utc(2027, 1, 1, 9))
    assert not inside(new_year, utc(2028, 1, 1, 9))
    assert not inside(new_year, utc(2027, 1, 2, 9))
    assert inside({}, utc(2026, 1, 1))  # no field set: always


def test_location_moves_the_day_and_month() -> None:
    # 2026-12-31 23:30 UTC is already 2027-01-01 in Tokyo.
    spec = {"months": ["january"], "days_of_month": ["1"], "location": "Asia/Tokyo"}
    assert inside(spec, utc(2026, 12, 31, 23, 30))
    assert not inside({"months": ["january"]}, utc(2026, 12, 31, 23, 30))
    assert parse_spec({"location": "Local"}, "t").location == "Local"
    assert parse_spec({"location": "UTC"}, "t").zone is UTC


def test_named_intervals_any_spec_and_mute_or_active() -> None:
    specs = [parse_spec({"weekdays": ["saturday", "sunday"]}, "a"), parse_spec({"months": ["december"]}, "b")]
    named = TimeIntervals({"off": specs, "nights": [parse_spec(BUSINESS_PARIS, "c")]})
    saturday, monday_dec, monday_may = utc(2026, 5, 2, 12), utc(2026, 12, 7, 12), utc(2026, 5, 4, 12)
    assert named.contains(["off"], saturday) == ["off"]
    assert named.contains(["off"], monday_dec) == ["off"]
    assert named.contains(["off", "unknown"], monday_may) == []
    assert named.muted(["off"], [], saturday) == "muted by time interval 'off'"
    assert named.muted(["off"], [], monday_may) is None
    assert named.muted([], ["nights"], utc(2026, 5, 4, 20)) == "outside its active time intervals (nights)"
    assert named.muted([], ["nights"], utc(2026, 5, 4, 9)) is None
    assert named.muted([], [], saturday) is None


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"times": [{"start_time": "25:00", "end_time": "26:00"}]}, "not a time"),
        ({"times": [{"start_time": "9:00", "end_time": "17:00"}]}, "not a time"),  # HH:MM, as Alertmanager
        ({"times": [{"start_time": "17:00", "end_time": "08:00"}]}, "start_time must come before"),
        ({"times": [{"start_time": "08:00"}]}, "both start_time and end_time"),
        ({"weekdays": ["friday:monday"]}, "comes before"),
        ({"weekdays": ["funday"]}, "not a valid weekday"),
        ({"days_of_month": ["0"]}, "not a day of the month"),
        ({"days_of_month": ["32"]}, "not a day of the month"),
        ({"days_of_month": ["-1:5"]}, "must end negative"),
        ({"days_of_month": ["10:-25"]}, "always comes before"),
        (
            {"days_of_month": ["30:-1"]},
            "always comes before",
        ),  # empty in February (as Alertmanager)
        ({"months": ["13"]}, "out of range"),
        ({"months": ["march:january"]}, "comes before"),
        ({"years": ["2030:2026"]}, "comes before"),
        ({"years": ["1:2:3"]}, "not a range"),
        ({"location": "Mars/Olympus"}, "unknown time zone"),
        ({"hours": ["1"]}, "unknown key 'hours'"),
    ],
)
def test_malformed_intervals_name_the_key(spec: dict, message: str) -> None:
    with pytest.raises(TimeIntervalError, match=message) as err:
        parse_spec(spec, "alerts.time_intervals[0]")
    assert str(err.value).startswith("alerts.time_intervals[0].") or "unknown key" in str(err.value)
