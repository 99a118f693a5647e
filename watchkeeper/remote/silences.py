"""`watchkeeper alerts silences ...` and `alerts deadletters ...` on the running daemon (through its API)."""

from __future__ import annotations

import time
from typing import Any

import click

from watchkeeper.alerts.matchers import split_matchers
from watchkeeper.remote.client import DaemonClient, live, whoami
from watchkeeper.remote.output import iso_utc, json_option, local_time, parse_when, print_item, print_items


def silence_line(s: dict[str, Any]) -> str:
    return (
        f"{s['id']}  {s['state']:8}  {','.join(s['matchers_text'])}  until {local_time(s['ends_at'])}  "
        f"by {s['created_by']}: {s['comment']}"
    )


def _matchers(values: tuple[str, ...]) -> list[str]:
    return [m for text in values for m in split_matchers(text)]


_matcher_option = click.option(
    "-m",
    "--matcher",
    "matchers",
    multiple=True,
    required=True,
    help='a matcher like app="chatbot" (repeatable, or comma-separated)',
)


@click.group("silences")
def silences_cli() -> None:
    """Mute notifications matching labels for a while."""


@silences_cli.command("add")
@_matcher_option
@click.option("--duration", default=None, help="how long, e.g. 2h (default 1h)")
@click.option("--starts-at", default=None, help="ISO 8601 or unix seconds (default now)")
@click.option("--ends-at", default=None, help="ISO 8601 or unix seconds (instead of --duration)")
@click.option("--created-by", default=whoami, show_default="current user")
@click.option("--comment", required=True, help="why (required, like amtool's require-comment)")
@click.option(
    "--preview/--no-preview", default=True, show_default=True, help="print the open incidents it mutes"
)
@live
def add_cmd(
    client: DaemonClient,
    matchers: tuple[str, ...],
    duration: str | None,
    starts_at: str | None,
    ends_at: str | None,
    created_by: str,
    comment: str,
    preview: bool,
) -> None:
    """Create a silence on the daemon; prints its id (and, on stderr, the open incidents it mutes)."""
    if duration and ends_at:
        raise click.UsageError("give --duration or --ends-at, not both")
    from watchkeeper.alerts.durations import parse_duration  # Alertmanager's syntax (2h, 1h30m)

    start = parse_when(starts_at, "--starts-at") if starts_at else time.time()
    try:
        end = parse_when(ends_at, "--ends-at") if ends_at else start + parse_duration(duration or "1h")
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--duration") from None
    items = _matchers(matchers)
    body = {"matchers": items, "starts_at": iso_utc(start), "ends_at": iso_utc(end)}
    silence = client.post("/api/v1/silences", {**body, "created_by": created_by, "comment": comment})
    click.echo(silence["id"])
    if preview:
        muted = client.post("/api/v1/silences/preview", {"matchers": items})
        click.echo(f"mutes {muted['count']} open incident(s)", err=True)
        for inc in muted["incidents"]:
            click.echo(f"  {inc['id']}  {inc['severity']:<8} {inc['title']}", err=True)


@silences_cli.command("preview")
@_matcher_option
@json_option
@live
def preview_cmd(client: DaemonClient, matchers: tuple[str, ...], as_json: bool) -> None:
    """The open incidents a silence with these matchers would mute (nothing is created)."""
    muted = client.post("/api/v1/silences/preview", {"matchers": _matchers(matchers)})
    if as_json:
        print_item(muted, True, str)
        return
    click.echo(f"{','.join(muted['matchers'])} would mute {muted['count']} open incident(s)")
    for inc in muted["incidents"]:
        click.echo(f"  {inc['id']}  {inc['severity']:<8} {inc['status']:<12} {inc['title']}")


@silences_cli.command("list")
@click.option("--state", type=click.Choice(["pending", "active", "expired"]), default=None)
@json_option
@live
def list_cmd(client: DaemonClient, state: str | None, as_json: bool) -> None:
    """Silences of the daemon."""
    print_items(client.get("/api/v1/silences", state=state), as_json, silence_line)


@silences_cli.command("expire")
@click.argument("silence_id")
@live
def expire_cmd(client: DaemonClient, silence_id: str) -> None:
    """End a silence now."""
    silence = client.delete(f"/api/v1/silences/{silence_id}")
    click.echo(f"{silence['id']} {silence['state']}")


@click.group("deadletters")
def deadletters_cli() -> None:
    """Notifications that could not be delivered."""


@deadletters_cli.command("list")
@json_option
@live
def deadletters_list(client: DaemonClient, as_json: bool) -> None:
    """Dead letters, newest first."""
    print_items(
        client.get("/api/v1/deadletters"),
        as_json,
        lambda d: (
            f"{d['id']}  {d['receiver']}/{d['channel']}  {d['event']}  attempts={d['attempts']}  "
            f"{d['reason']}: {d['last_error']}"
        ),
    )


@deadletters_cli.command("replay")
@click.argument("notification_id")
@live
def deadletters_replay(client: DaemonClient, notification_id: str) -> None:
    """Queue a dead letter again (refused if a later notification for its incident was delivered)."""
    item = client.post(f"/api/v1/deadletters/{notification_id}/replay")
    status = item.get("status", "queued")
    click.echo(
        f"{item.get('id', notification_id)} {status}" + (f": {item['reason']}" if item.get("reason") else "")
    )
