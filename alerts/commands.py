"""`watchkeeper alerts ...`: check the routing config, dry-run a route, manage silences and dead letters.

The silence and dead-letter commands work on the state directory directly (SQLite, WAL), so they also work
while the daemon runs: it sees a new silence within a second and sends a replayed dead letter at once.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from watchkeeper.alerts.config import AlertsConfig
from watchkeeper.alerts.durations import parse_duration
from watchkeeper.alerts.matchers import split_matchers
from watchkeeper.alerts.routing import Router
from watchkeeper.alerts.store import IncidentStore, StoreError
from watchkeeper.core.configfile import ConfigError, format_validation_error, read_config_file

_STATE_DIR_HELP = "state directory of the daemon (default: $WATCHKEEPER_STATE_DIR or .watchkeeper)"


@contextmanager
def _store(state_dir: str | None) -> Iterator[IncidentStore]:
    """The incident store of a state dir, closed afterwards; store errors become CLI errors."""
    store = IncidentStore(_state_dir(state_dir))
    try:
        yield store
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()


def _state_dir(value: str | None) -> Path:
    return Path(value or os.environ.get("WATCHKEEPER_STATE_DIR") or ".watchkeeper")


def _load(config: str) -> AlertsConfig:
    """The alerts section of a config file, validated. Run as `watchkeeper alerts ...`, the command line hands
    down the daemon's loader (`load_settings` in the context object), which validates the whole file and its
    environment overrides; run alone (embedded, tests), the alerts section is validated by itself."""
    root = click.get_current_context().find_root().obj
    load_settings = root.get("load_settings") if isinstance(root, dict) else None
    try:
        if load_settings is not None:
            return load_settings(config).alerts
        section = read_config_file(config).get("alerts") or {}
        try:
            return AlertsConfig.model_validate(section)
        except ValidationError as exc:
            raise ConfigError(format_validation_error(exc, config, prefix=("alerts",))) from None
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _fmt_time(ts: float | None) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts).astimezone().isoformat(timespec="seconds")


def _parse_time(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        raise click.BadParameter(
            f"{value!r}: use ISO 8601 (2025-01-31T18:00:00+01:00) or unix seconds"
        ) from None


def _parse_labels(text: str) -> dict[str, str]:
    labels: dict[str, str] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, sep, value = part.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(
                f"{part!r}: use name=value pairs separated by commas", param_hint="--labels"
            )
        labels[name.strip()] = value.strip().strip('"')
    return labels


@click.group("alerts")
def alerts_cli() -> None:
    """Routing, silences and dead letters of the alerts stage."""


@alerts_cli.command("check-config")
@click.option(
    "-c", "--config", "config", required=True, type=click.Path(dir_okay=False), help="watchkeeper.yaml"
)
def check_config(config: str) -> None:
    """Validate the whole configuration file and print the routing tree."""
    alerts = _load(config)
    click.echo(f"{config}: configuration is valid")
    click.echo("routing tree:")
    click.echo(Router(alerts.route).describe())
    click.echo("receivers: " + ", ".join(r.name for r in alerts.receivers))
    for i, rule in enumerate(alerts.inhibit_rules):
        click.echo(
            f"inhibit_rules[{i}]: {rule.source_matchers} mutes {rule.target_matchers} equal={rule.equal}"
        )


@alerts_cli.command("test-route")
@click.option(
    "-c", "--config", "config", required=True, type=click.Path(dir_okay=False), help="watchkeeper.yaml"
)
@click.option("--labels", required=True, help="labels of a finding, e.g. app=chatbot,detector=content_safety")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def test_route(config: str, labels: str, as_json: bool) -> None:
    """Dry run: which receivers would get a finding with these labels, through which routes."""
    alerts = _load(config)
    parsed = _parse_labels(labels)
    parsed.setdefault("severity", "warning")
    router = Router(alerts.route)
    routes = router.match_uncached(parsed)
    out = [
        {
            "receiver": r.receiver,
            "route": r.path,
            "group_by": ["..."] if r.group_by_all else list(r.group_by),
            "group_labels": r.group_labels(parsed),
            "group_wait": r.group_wait,
            "group_interval": r.group_interval,
            "repeat_interval": r.repeat_interval,
        }
        for r in routes
    ]
    _print_items(
        out,
        as_json,
        lambda item: (
            f"{item['receiver']}  (route {item['route']}; group {item['group_labels']}; "
            f"group_wait {item['group_wait']:g}s)"
        ),
    )


def _print_items(items: list[dict[str, Any]], as_json: bool, line: Callable[[dict[str, Any]], str]) -> None:
    """A list command's output: indented JSON with --json, else one human line per item."""
    if as_json:
        click.echo(json.dumps(items, indent=2))
        return
    for item in items:
        click.echo(line(item))


@alerts_cli.group("silences")
def silences() -> None:
    """Mute notifications matching labels for a while."""


@silences.command("add")
@click.option(
    "-m",
    "--matcher",
    "matchers",
    multiple=True,
    required=True,
    help='a matcher like app="chatbot" (repeatable, or comma-separated)',
)
@click.option("--duration", default=None, help="how long, e.g. 2h (default 1h)")
@click.option("--starts-at", default=None, help="ISO 8601 or unix seconds (default now)")
@click.option("--ends-at", default=None, help="ISO 8601 or unix seconds (instead of --duration)")
@click.option("--created-by", default=lambda: os.environ.get("USER", "cli"), show_default="$USER")
@click.option("--comment", default="", help="why")
@click.option("--state-dir", default=None, help=_STATE_DIR_HELP)
def silences_add(
    matchers: tuple[str, ...],
    duration: str | None,
    starts_at: str | None,
    ends_at: str | None,
    created_by: str,
    comment: str,
    state_dir: str | None,
) -> None:
    """Create a silence; prints its id."""
    if duration and ends_at:
        raise click.UsageError("give --duration or --ends-at, not both")
    start = _parse_time(starts_at) if starts_at else time.time()
    try:
        end = _parse_time(ends_at) if ends_at else start + parse_duration(duration or "1h")
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--duration") from None
    items = [m for text in matchers for m in split_matchers(text)]
    with _store(state_dir) as store:
        silence = store.create_silence(items, start, end, created_by, comment)
    click.echo(silence["id"])


@silences.command("list")
@click.option("--state", type=click.Choice(["pending", "active", "expired"]), default=None)
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@click.option("--state-dir", default=None, help=_STATE_DIR_HELP)
def silences_list(state: str | None, as_json: bool, state_dir: str | None) -> None:
    """List silences."""
    with _store(state_dir) as store:
        items = store.list_silences(state)
    _print_items(
        items,
        as_json,
        lambda s: (
            f"{s['id']}  {s['state']:8}  {','.join(s['matchers_text'])}  "
            f"until {_fmt_time(s['ends_at'])}  by {s['created_by']}: {s['comment']}"
        ),
    )


@silences.command("expire")
@click.argument("silence_id")
@click.option("--state-dir", default=None, help=_STATE_DIR_HELP)
def silences_expire(silence_id: str, state_dir: str | None) -> None:
    """End a silence now."""
    with _store(state_dir) as store:
        silence = store.expire_silence(silence_id)
    click.echo(f"{silence['id']} {silence['state']}")


@alerts_cli.group("deadletters")
def deadletters() -> None:
    """Notifications that could not be delivered."""


@deadletters.command("list")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@click.option("--state-dir", default=None, help=_STATE_DIR_HELP)
def deadletters_list(as_json: bool, state_dir: str | None) -> None:
    """List dead letters, newest first."""
    with _store(state_dir) as store:
        items = store.list_dead_letters(limit=1000)
    _print_items(
        items,
        as_json,
        lambda d: (
            f"{d['id']}  {d['receiver']}/{d['channel']}  {d['event']}  attempts={d['attempts']}  "
            f"{d['reason']}: {d['last_error']}"
        ),
    )


@deadletters.command("replay")
@click.argument("notification_id")
@click.option("--state-dir", default=None, help=_STATE_DIR_HELP)
def deadletters_replay(notification_id: str, state_dir: str | None) -> None:
    """Queue a dead letter again (refused if a later notification for its incident was delivered)."""
    with _store(state_dir) as store:
        item = store.replay_dead_letter(notification_id)
    click.echo(f"{item['id']} {item['status']}" + (f": {item['reason']}" if item["reason"] else ""))
