"""`watchkeeper alerts ...`: check the routing config and dry-run a route, offline (no daemon needed).

The live commands below `alerts` (silences, dead letters) talk to the running daemon through its API; the
command line mounts them beside these.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from watchkeeper.alerts.config import AlertsConfig


def _load(config: str, *, alertmanager_file: bool = False) -> AlertsConfig:
    """The alerts section of a config file, validated. Run as `watchkeeper alerts ...`, the command line hands
    down the daemon's loader (`load_settings` in the context object), which validates the whole file and its
    environment overrides; run alone (embedded, tests), the alerts section is validated by itself. With
    `alertmanager_file`, a whole Alertmanager file (route/receivers at the top) is read as the alerts section.

    Imported here, not at the top: listing the commands must not load every channel's configuration."""
    from pydantic import ValidationError

    from watchkeeper.alerts.amdialect import looks_like_alertmanager_file
    from watchkeeper.alerts.config import AlertsConfig
    from watchkeeper.core.configfile import ConfigError, format_validation_error, read_config_file

    root = click.get_current_context().find_root().obj
    load_settings = root.get("load_settings") if isinstance(root, dict) else None
    try:
        data = read_config_file(config) if (alertmanager_file or load_settings is None) else None
        if data is not None and alertmanager_file and looks_like_alertmanager_file(data):
            click.echo(
                f"{config}: an Alertmanager file, read as the alerts: section of watchkeeper.yaml", err=True
            )
            section = data
        elif load_settings is not None:
            return load_settings(config).alerts
        else:
            section = (data or {}).get("alerts") or {}
        try:
            return AlertsConfig.model_validate(section)
        except ValidationError as exc:
            raise ConfigError(format_validation_error(exc, config, prefix=("alerts",))) from None
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _produced_labels() -> dict[str, tuple[str, ...]]:
    """Detector name -> the labels its findings carry, from the installed detectors' metadata."""
    from watchkeeper.core import plugins

    return {name: tuple(p.metadata.labels) for name, p in plugins.load("watchkeeper.detectors").items()}


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
    """Routing (offline: check-config, test-route), silences and dead letters (on the running daemon)."""


@alerts_cli.command("check-config")
@click.option(
    "-c", "--config", "config", required=True, type=click.Path(dir_okay=False), help="watchkeeper.yaml"
)
def check_config(config: str) -> None:
    """Validate the whole configuration file and print the routing tree.

    Alertmanager's dialect is accepted in the alerts section, and a whole Alertmanager file (alertmanager.yml)
    is read as that section. Keys Watchkeeper does not implement are listed as "not supported: <key>: <why>":
    as warnings when ignoring them changes only how messages look, as errors (exit status 1) when it would
    change whether or where a notification goes.
    """
    alerts = _load(config, alertmanager_file=True)
    from watchkeeper.alerts.amdialect import label_warnings
    from watchkeeper.alerts.routing import Router

    notes = alerts.unsupported
    warnings = label_warnings(alerts.route, alerts.inhibit_rules, _produced_labels())
    click.echo(f"{config}: configuration is valid" + (f" ({len(notes)} keys not supported)" if notes else ""))
    for note in notes:
        click.echo(f"  warning: {note}")
    for warning in warnings:
        click.echo(f"  warning: {warning}")
    click.echo("routing tree:")
    click.echo(Router(alerts.route).describe())
    click.echo("receivers: " + ", ".join(r.name for r in alerts.receivers))
    for i, rule in enumerate(alerts.inhibit_rules):
        click.echo(
            f"inhibit_rules[{i}]: {rule.source_matchers} mutes {rule.target_matchers} equal={rule.equal}"
        )
    for interval in alerts.time_intervals:
        click.echo(f"time interval {interval.name}: {len(interval.specs)} spec(s)")


@alerts_cli.command("test-route")
@click.option(
    "-c", "--config", "config", required=True, type=click.Path(dir_okay=False), help="watchkeeper.yaml"
)
@click.option("--labels", required=True, help="labels of a finding, e.g. app=chatbot,detector=content_safety")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def test_route(config: str, labels: str, as_json: bool) -> None:
    """Dry run: which receivers would get a finding with these labels, through which routes (a whole
    Alertmanager file is read as the alerts section, as check-config does)."""
    alerts = _load(config, alertmanager_file=True)
    parsed = _parse_labels(labels)
    parsed.setdefault("severity", "warning")
    from watchkeeper.alerts.routing import Router

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
