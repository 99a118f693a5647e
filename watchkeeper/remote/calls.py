"""`watchkeeper calls ...`: the recent model calls the daemon recorded (what an app answered, and when)."""

from __future__ import annotations

from typing import Any

import click

from watchkeeper.remote.client import DaemonClient, live
from watchkeeper.remote.output import iso_utc, json_option, local_time, parse_when, print_item, print_items


def call_line(c: dict[str, Any]) -> str:
    flags = f" findings={c['finding_count']}({','.join(c['detectors'])})" if c["finding_count"] else ""
    answer = (c.get("output_text") or "").replace("\n", " ")[:60]
    return (
        f"{c['id']}  {local_time(c['time'])}  {c['app']:<16} {c['model']:<20} {c['duration_ms']:>8.0f} ms  "
        f"{(c.get('system_sha256') or '-')[:12]}{flags}  {answer}"
    )


@click.group("calls")
def calls_cli() -> None:
    """Recent model calls recorded by the daemon (kept for calls.max_age)."""


@calls_cli.command("list")
@click.option("--app", default=None)
@click.option("--model", default=None)
@click.option("--since", default=None, help="ISO 8601, unix seconds, or an age like 30m")
@click.option("--until", default=None, help="ISO 8601, unix seconds, or an age like 5m")
@click.option("--system-sha256", default=None, help="system-prompt hash or prefix")
@click.option("--finish-reason", default=None, help="stop, length, content_filter, ...")
@click.option("--has-finding/--no-finding", default=None)
@click.option("-q", "--query", "q", default=None, help="text in the prompt or answer, or an id")
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True)
@json_option
@live
def list_cmd(
    client: DaemonClient,
    since: str | None,
    until: str | None,
    has_finding: bool | None,
    limit: int,
    as_json: bool,
    **filters: Any,
) -> None:
    """Calls, newest first."""
    params = {
        **filters,
        "since": iso_utc(parse_when(since, "--since")) if since else None,
        "until": iso_utc(parse_when(until, "--until")) if until else None,
        "has_finding": None if has_finding is None else str(has_finding).lower(),
    }
    print_items(list(client.pages("/api/v1/calls", limit=limit, **params)), as_json, call_line)


@calls_cli.command("show")
@click.argument("call_id", metavar="TRACE_ID:SPAN_ID")
@json_option
@live
def show_cmd(client: DaemonClient, call_id: str, as_json: bool) -> None:
    """One call: prompt, answer, system prompt, tokens, latency, findings and incident."""
    c = client.get(f"/api/v1/calls/{call_id}")
    if as_json:
        print_item(c, True, str)
        return
    click.echo(call_line(c))
    tokens = f"in {c.get('input_tokens', '-')} / out {c.get('output_tokens', '-')}"
    click.echo(
        f"  tokens {tokens}; finish {','.join(c['finish_reasons']) or '-'}; "
        f"error {c.get('error_type') or '-'}"
    )
    if c.get("trace_url"):
        click.echo(f"  trace: {c['trace_url']}")
    for title, key in (
        ("system prompt", "system_instructions"),
        ("prompt", "prompt"),
        ("answer", "output_text"),
    ):
        if c.get(key):
            click.echo(f"--- {title}\n{c[key]}")
    for f in c.get("findings", []):
        click.echo(f"finding {f['id']}  {f['severity']}  {f['detector']}/{f['category']}: {f['summary']}")
    for i in c.get("incidents", []):
        click.echo(f"incident {i['id']}  {i['status']}  {i['title']}")
