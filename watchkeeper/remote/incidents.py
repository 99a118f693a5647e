"""`watchkeeper incidents ...`: list, show, acknowledge and resolve incidents of the running daemon."""

from __future__ import annotations

from typing import Any

import click

from watchkeeper.remote.client import DaemonClient, live, whoami
from watchkeeper.remote.output import json_option, local_time, print_item, print_items

STATUSES = ["open", "triggered", "acknowledged", "resolved", "all"]


def incident_line(i: dict[str, Any]) -> str:
    labels = i.get("labels") or {}
    return (
        f"{i['id']}  {i['severity']:<8} {i['status']:<12} {local_time(i.get('last_seen'))}  "
        f"{labels.get('app', '-')}/{labels.get('detector', '-')}  {i['title']}  "
        f"(findings={i['finding_count']})"
    )


@click.group("incidents")
def incidents_cli() -> None:
    """Incidents of the running daemon (through its API)."""


@incidents_cli.command("list")
@click.option("--status", type=click.Choice(STATUSES), default="open", show_default=True)
@click.option("--severity", default=None, help="critical, error, warning or info (comma-separated)")
@click.option("--app", default=None)
@click.option("--detector", default=None)
@click.option("-q", "--query", "q", default=None, help="text in the title, summary or labels")
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True)
@click.option("--sort", type=click.Choice(["severity", "time"]), default="severity", show_default=True)
@json_option
@live
def list_cmd(client: DaemonClient, status: str, limit: int, as_json: bool, **filters: Any) -> None:
    """Incidents, most severe first (open before resolved), then the latest."""
    params = {**filters, "status": None if status == "all" else status}
    items = list(client.pages("/api/v1/incidents", limit=limit, **params))
    if not items and not as_json:
        click.echo(f"no {'' if status == 'all' else status + ' '}incidents")
        return
    print_items(items, as_json, incident_line)


@incidents_cli.command("show")
@click.argument("incident_id")
@json_option
@live
def show_cmd(client: DaemonClient, incident_id: str, as_json: bool) -> None:
    """One incident with its activity log."""
    inc = client.get(f"/api/v1/incidents/{incident_id}")
    activity = client.get(f"/api/v1/incidents/{incident_id}/activity")
    if as_json:
        print_item({**inc, "activity": activity}, True, str)
        return
    click.echo(incident_line(inc))
    click.echo(f"  {inc['summary']}")
    click.echo("activity:")
    for a in activity:
        who = a["actor"] + ("" if a.get("verified") else " (unverified)")
        detail = a.get("comment") or ""
        data = a.get("data") or {}
        if a["kind"] == "notification":
            detail = (
                f"{data.get('event')} to {data.get('receiver')}/{data.get('channel')}: {data.get('status')}"
            )
        click.echo(f"  {local_time(a.get('time'))}  {a['kind']:<13} {who:<24} {detail}")


def _transition(client: DaemonClient, incident_id: str, action: str, comment: str, by: str) -> None:
    inc = client.post(f"/api/v1/incidents/{incident_id}/{action}", {"comment": comment, "by": by})
    click.echo(f"{inc['id']} {inc['status']}")


_comment = click.option("--comment", "-m", default="", help="why (shown in the activity log)")
_by = click.option(
    "--by", default=whoami, show_default="current user", help="who (when the daemon has no auth)"
)


@incidents_cli.command("ack")
@click.argument("incident_id")
@_comment
@_by
@live
def ack_cmd(client: DaemonClient, incident_id: str, comment: str, by: str) -> None:
    """Acknowledge an incident: the channels that were paged are told."""
    _transition(client, incident_id, "ack", comment, by)


@incidents_cli.command("resolve")
@click.argument("incident_id")
@_comment
@_by
@live
def resolve_cmd(client: DaemonClient, incident_id: str, comment: str, by: str) -> None:
    """Resolve an incident (a new finding afterwards starts a new incident)."""
    _transition(client, incident_id, "resolve", comment, by)
