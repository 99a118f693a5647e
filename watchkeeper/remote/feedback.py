"""`watchkeeper feedback ...`: say "not a problem" (or "confirmed") about an incident or a finding, list the
verdicts, and export them as labelled JSON lines for `watchkeeper train` (one object per line: id, detector,
category, verdict, label, labels, text, prompt, app, env, model, time, ...; see the README)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from watchkeeper.remote.client import DaemonClient, live, whoami
from watchkeeper.remote.output import iso_utc, json_option, local_time, parse_when, print_items

VERDICTS = {"false-positive": "false_positive", "false_positive": "false_positive", "confirmed": "confirmed"}


@click.group("feedback")
def feedback_cli() -> None:
    """Verdicts on findings and incidents: they resolve false pages, mute their near-duplicates, train."""


@feedback_cli.command("add")
@click.argument("target", type=click.Choice(["incident", "finding"]))
@click.argument("target_id")
@click.argument("verdict", type=click.Choice(sorted(VERDICTS)))
@click.option("--comment", "-m", default="", help="why (shown in the incident's activity)")
@click.option("--by", default=whoami, show_default="current user", help="who (when the daemon has no auth)")
@live
def add_cmd(client: DaemonClient, target: str, target_id: str, verdict: str, comment: str, by: str) -> None:
    """Give a verdict: `feedback add incident ID false-positive -m "sample data"`.

    A false positive resolves the incident and mutes near-duplicates of its findings for the app
    (alerts.feedback.suppress_for); a confirmed verdict is exported as a positive example."""
    body = {"verdict": VERDICTS[verdict], "comment": comment, "by": by}
    result = client.post(f"/api/v1/{target}s/{target_id}/feedback", body)
    muted = (
        f"; near-duplicates muted until {local_time(result['suppress_until'])}"
        if result.get("suppress_until")
        else ""
    )
    click.echo(
        f"{result['id']}: {result['verdict']} on {target} {target_id} by {result['by']}; "
        f"incident {result['incident_id'] or '-'} is {result.get('incident_status') or '-'}{muted}"
    )


@feedback_cli.command("list")
@click.option("--since", default=None, help="ISO 8601, unix seconds, or an age like 7d")
@click.option("--detector", default=None)
@click.option("--verdict", type=click.Choice(sorted(VERDICTS)), default=None)
@click.option("--limit", type=click.IntRange(1), default=100, show_default=True)
@json_option
@live
def list_cmd(
    client: DaemonClient,
    since: str | None,
    detector: str | None,
    verdict: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """Verdicts, newest first."""
    params = {
        "since": iso_utc(parse_when(since, "--since")) if since else None,
        "detector": detector,
        "verdict": VERDICTS[verdict] if verdict else None,
    }
    print_items(
        list(client.pages("/api/v1/feedback", limit=limit, **params)),
        as_json,
        lambda f: (
            f"{f['id']}  {local_time(f['time'])}  {f['verdict']:<14} {f['detector']}/{f['category']}  "
            f"{f['app']}  by {f['by']}: {f['comment']}"
        ),
    )


@feedback_cli.command("export")
@click.option(
    "--since", default=None, help="verdicts given since (ISO 8601, unix seconds, or an age like 30d)"
)
@click.option("--detector", default=None, help="only this detector (e.g. content_safety)")
@click.option("--verdict", type=click.Choice(sorted(VERDICTS)), default=None)
@click.option("--history", is_flag=True, help="every verdict, not only the latest per finding")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="file (default stdout)",
)
@live
def export_cmd(
    client: DaemonClient,
    since: str | None,
    detector: str | None,
    verdict: str | None,
    history: bool,
    output: Path | None,
) -> None:
    """Labelled rows as JSON lines, one per judged finding, for `watchkeeper train ... --extra FILE`."""
    params: dict[str, Any] = {
        "since": iso_utc(parse_when(since, "--since")) if since else None,
        "detector": detector.replace("-", "_") if detector else None,
        "verdict": VERDICTS[verdict] if verdict else None,
        "history": "true" if history else None,
    }
    text = client.request("GET", "/api/v1/feedback/export", params=params).text
    if output is None:
        sys.stdout.write(text)
        return
    output.write_text(text, encoding="utf-8")
    click.echo(f"wrote {text.count(chr(10))} rows to {output}", err=True)
