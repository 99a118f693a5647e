"""Repeated log lines are summarized: one line per kind per interval, the next one says how many were held."""

from __future__ import annotations

import logging

from watchkeeper.logs import RepeatFilter


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def records(logger: str, n: int, msg: str = "bus publish failed: %s", level: int = logging.ERROR) -> list:
    return [logging.LogRecord(logger, level, __file__, 1, msg, (f"attempt {i}",), None) for i in range(n)]


def test_a_flood_of_one_kind_is_one_line_per_interval_with_a_count() -> None:
    clock = Clock()
    f = RepeatFilter(interval_s=60, clock=clock)
    passed = [r for r in records("watchkeeper.intake", 10_000) if f.filter(r)]
    assert len(passed) == 1
    clock.t = 61
    (later,) = records("watchkeeper.intake", 1)
    assert f.filter(later)
    assert "9999 more like this in the last 60 s" in later.getMessage()


def test_kinds_are_counted_apart_and_info_is_never_held() -> None:
    f = RepeatFilter(interval_s=60, clock=Clock())
    a = [r for r in records("a", 5) if f.filter(r)]
    b = [r for r in records("b", 5) if f.filter(r)]
    other = [r for r in records("a", 5, msg="another problem %s") if f.filter(r)]
    info = [r for r in records("a", 5, level=logging.INFO) if f.filter(r)]
    assert (len(a), len(b), len(other), len(info)) == (1, 1, 1, 5)


def test_the_asyncio_accept_error_is_one_kind_whatever_the_socket() -> None:
    f = RepeatFilter(interval_s=60, clock=Clock())
    lines = [
        logging.LogRecord(
            "asyncio",
            logging.ERROR,
            __file__,
            1,
            f"socket.accept() out of system resource\nsocket: <socket fd={fd}, laddr=('127.0.0.1', {port})>",
            None,
            None,
        )
        for fd, port in ((27, 4318), (35, 8686), (40, 4318))
    ]
    assert [f.filter(r) for r in lines] == [True, False, False]
