"""How the live commands print: one line per item for people, `--json` for scripts, local times with zone."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import click

json_option = click.option("--json", "as_json", is_flag=True, help="print JSON instead of lines")


def local_time(value: str | float | None) -> str:
    """An API time (ISO 8601, or unix seconds) in this machine's zone with its offset; '-' when absent."""
    if value is None or value == "":
        return "-"
    if isinstance(value, int | float):
        moment = datetime.fromtimestamp(value).astimezone()
    else:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone()
    return moment.isoformat(timespec="seconds")


def print_items(
    items: Iterable[dict[str, Any]], as_json: bool, line: Callable[[dict[str, Any]], str]
) -> None:
    rows = list(items)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for item in rows:
        click.echo(line(item))


def print_item(item: dict[str, Any], as_json: bool, line: Callable[[dict[str, Any]], str]) -> None:
    click.echo(json.dumps(item, indent=2) if as_json else line(item))


def parse_when(value: str, option: str) -> float:
    """--since/--starts-at style values: ISO 8601 (a zone-less time is this machine's), unix seconds, or a
    duration back from now such as 30m, 2h, 1d."""
    text = value.strip()
    try:
        return float(text)
    except ValueError:
        pass
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if text[:-1].replace(".", "", 1).isdigit() and text[-1:] in units:
        return time.time() - float(text[:-1]) * units[text[-1]]
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"{value!r}: use ISO 8601 (2026-12-01T18:00:00+01:00), unix seconds, or an age like 2h",
            param_hint=option,
        ) from None
    return (moment if moment.tzinfo else moment.astimezone()).timestamp()


def iso_utc(ts: float) -> str:
    return datetime.fromtimestamp(ts).astimezone().isoformat(timespec="seconds")
