"""`watchkeeper integrity ...`: approve, revoke, list and verify the system-prompt approvals of the daemon.

PROMPT is the sha256 the finding shows, or a unique prefix of at least 8 hex characters of a hash the daemon
has seen for the app (as the dashboard shows it); prompt text is taken only with --text or --file. The daemon
records each decision in its hash-chained audit log with the authenticated actor.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO, Any

import click

from watchkeeper.remote.client import DaemonClient, DaemonError, live, whoami
from watchkeeper.remote.output import json_option, local_time, print_items


@click.group("integrity")
def integrity_cli() -> None:
    """Approve or revoke system prompts; list approvals and the hashes an app sent; verify the audit log."""


def _body(app: str, prompt: str | None, text: str | None, prompt_file: IO[str] | None) -> dict[str, Any]:
    given = [name for name, value in (("PROMPT", prompt), ("--text", text), ("--file", prompt_file)) if value]
    if len(given) != 1:
        raise click.UsageError(
            "give the prompt's sha256 (or a unique prefix of >= 8 hex characters) as PROMPT, or its text "
            f"with --text or --file ({'none' if not given else ' and '.join(given)} given)"
        )
    if prompt is not None:
        return {"app": app, "sha256": prompt}
    return {"app": app, "text": text if text is not None else prompt_file.read()}  # type: ignore[union-attr]


def _change(
    client: DaemonClient,
    action: str,
    app: str,
    prompt: str | None,
    text: str | None,
    prompt_file: IO[str] | None,
    actor: str,
    comment: str,
    incident: str | None,
) -> None:
    body = {
        **_body(app, prompt, text, prompt_file),
        "action": action,
        "comment": comment,
        "by": actor,
        "incident_id": incident,
    }
    try:
        entry = client.post("/api/v1/approvals", body)
    except DaemonError as exc:
        raise DaemonError(exc.message + _candidates_hint(client, app, prompt)) from None
    click.echo(
        f"{action}d {entry['sha256']} for {app} (by {entry['actor']}; audit entry {entry['entry_hash'][:12]})"
    )


def _candidates_hint(client: DaemonClient, app: str, prompt: str | None) -> str:
    """For an unknown or ambiguous prefix: the hashes the daemon saw for the app, to copy from."""
    if prompt is None:
        return ""
    try:
        seen = client.get("/api/v1/prompts", app=app)
    except DaemonError:
        return ""
    if not seen:
        return ""
    lines = [
        f"  {p['sha256']}  {p['state']:<11} last seen {local_time(p.get('last_seen'))}" for p in seen[:10]
    ]
    return "\nhashes seen for " + app + ":\n" + "\n".join(lines)


def _change_options(command: Any) -> Any:
    for decorate in reversed(
        (
            click.argument("app"),
            click.argument("prompt", required=False),
            click.option("--text", default=None, help="the prompt text itself (instead of PROMPT)"),
            click.option(
                "--file",
                "prompt_file",
                type=click.File("r", encoding="utf-8"),
                help="read the prompt text from a file ('-' for stdin)",
            ),
            click.option(
                "--actor",
                default=whoami,
                show_default="current user",
                help="who decides (a personal API token's actor takes precedence)",
            ),
            click.option("--comment", "-m", default="", help="why (ticket, release, ...)"),
            click.option("--incident", default=None, help="the incident this answers (its activity log)"),
            live,
        )
    ):
        command = decorate(command)
    return command


@integrity_cli.command("approve")
@_change_options
def approve_cmd(client: DaemonClient, **kw: Any) -> None:
    """Approve PROMPT (sha256 or unique prefix) for APP; the running detector honours it on the next call."""
    _change(client, "approve", **kw)


@integrity_cli.command("revoke")
@_change_options
def revoke_cmd(client: DaemonClient, **kw: Any) -> None:
    """Revoke the approval of PROMPT for APP: calls carrying it are flagged again."""
    _change(client, "revoke", **kw)


@integrity_cli.command("list")
@click.option("--app", default=None, help="only this app")
@json_option
@live
def list_cmd(client: DaemonClient, app: str | None, as_json: bool) -> None:
    """Approvals in force (audit log and configuration)."""
    items = client.get("/api/v1/approvals", app=app)
    if not items and not as_json:
        click.echo("no approvals")
        return
    print_items(
        items,
        as_json,
        lambda e: (
            f"{e['app']:<24} {e['sha256']}  {local_time(e.get('time'))}  {e['actor']:<16} "
            f"{e.get('comment', '')}"
        ),
    )


@integrity_cli.command("prompts")
@click.argument("app")
@json_option
@live
def prompts_cmd(client: DaemonClient, app: str, as_json: bool) -> None:
    """The system-prompt hashes the daemon saw for APP, and whether each is approved."""
    print_items(
        client.get("/api/v1/prompts", app=app),
        as_json,
        lambda p: (
            f"{p['sha256']}  {p['state']:<11} calls={p.get('calls', '-')}  "
            f"last seen {local_time(p.get('last_seen'))}"
            f"  ({', '.join(p['sources'])})"
        ),
    )


@integrity_cli.command("verify")
@click.option(
    "--file",
    "audit_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="verify a copy of the audit log offline instead of asking the daemon",
)
@live
def verify_cmd(client: DaemonClient, audit_file: Path | None) -> None:
    """Check the audit log's hash chain; exit status 1 if an entry was edited, removed or reordered."""
    if audit_file is not None:
        from watchkeeper.detectors.integrity.audit import AuditLog

        result = AuditLog(audit_file).verify()
        ok, count, error, where = result.ok, result.entries, result.error, str(audit_file)
    else:
        body = client.get("/api/v1/approvals/audit")
        ok, count, error, where = (
            body["ok"],
            body["verified_entries"],
            body["error"],
            f"{client.url} ({body['path']})",
        )
    if ok:
        click.echo(f"ok: {count} entries verified in {where}")
        return
    click.echo(f"BROKEN: {where}: {error}; the first {count} entries are intact", err=True)
    sys.exit(1)
