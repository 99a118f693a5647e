"""`watchkeeper integrity ...`: approve, revoke, list and verify system-prompt approvals.

Approvals go to the hash-chained audit log in the state directory; a running daemon notices the file change
and applies them to the next call, so approving a rollout needs no restart.
"""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import click

from watchkeeper.detectors.integrity import audit


def _state_dir(ctx: click.Context) -> Path:
    return ctx.obj["integrity_state_dir"]


def _resolve_prompt(prompt: str | None, prompt_file: IO[str] | None) -> str:
    if prompt_file is not None:
        if prompt is not None:
            raise click.UsageError("give the prompt (sha256 or text) or --file, not both")
        return prompt_file.read()
    if prompt is None:
        raise click.UsageError("give the prompt's sha256 (from the finding), its text, or --file FILE")
    return prompt


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


@click.group("integrity")
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="WATCHKEEPER_STATE_DIR",
    default=None,
    help="state directory of the daemon (default: ./.watchkeeper, or the parent command's)",
)
@click.pass_context
def integrity_cli(ctx: click.Context, state_dir: Path | None) -> None:
    """Approve or revoke system prompts; inspect and verify the approval audit log."""
    ctx.ensure_object(dict)
    parent = ctx.obj.get("state_dir")
    ctx.obj["integrity_state_dir"] = state_dir or (Path(parent) if parent else Path(".watchkeeper"))


def _change(
    ctx: click.Context,
    action: str,
    app: str,
    prompt: str | None,
    prompt_file: IO[str] | None,
    actor: str,
    comment: str,
) -> None:
    value = _resolve_prompt(prompt, prompt_file)
    func = audit.approve if action == "approve" else audit.revoke
    try:
        entry = func(_state_dir(ctx), app, value, actor, comment)
    except audit.AuditError as exc:
        raise click.ClickException(f"{exc}; see `watchkeeper integrity verify`, restore the file") from None
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{action}d {entry.sha256} for {app} (by {entry.actor}; entry {entry.entry_hash[:12]})")


def _change_options(command: Callable[..., None]) -> Callable[..., None]:
    """The arguments approve and revoke share: APP, PROMPT or --file, --actor, --comment."""
    for decorate in reversed(
        (
            click.argument("app"),
            click.argument("prompt", required=False),
            click.option(
                "--file",
                "prompt_file",
                type=click.File("r", encoding="utf-8"),
                help="read the prompt text from a file ('-' for stdin)",
            ),
            click.option(
                "--actor",
                default=getpass.getuser,
                show_default="current user",
                help="who is responsible for this decision",
            ),
            click.option("--comment", "-m", default="", help="why (ticket, release, ...)"),
            click.pass_context,
        )
    ):
        command = decorate(command)
    return command


@integrity_cli.command("approve")
@_change_options
def approve_cmd(
    ctx: click.Context, app: str, prompt: str | None, prompt_file: IO[str] | None, actor: str, comment: str
) -> None:
    """Approve PROMPT (a sha256 or the prompt text) for APP."""
    _change(ctx, "approve", app, prompt, prompt_file, actor, comment)


@integrity_cli.command("revoke")
@_change_options
def revoke_cmd(
    ctx: click.Context, app: str, prompt: str | None, prompt_file: IO[str] | None, actor: str, comment: str
) -> None:
    """Revoke the approval of PROMPT for APP: calls carrying it are flagged again."""
    _change(ctx, "revoke", app, prompt, prompt_file, actor, comment)


@integrity_cli.command("list")
@click.option("--app", default=None, help="only this app")
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of a table")
@click.pass_context
def list_cmd(ctx: click.Context, app: str | None, as_json: bool) -> None:
    """Approvals in force (from the audit log; config approvals are in the config file)."""
    try:
        entries = audit.list_approvals(_state_dir(ctx), app)
    except audit.AuditError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        for entry in entries:
            fields = ("app", "sha256", "actor", "time", "comment")
            click.echo(json.dumps({k: getattr(entry, k) for k in fields}))
        return
    if not entries:
        click.echo("no approvals in the audit log")
        return
    for entry in entries:
        click.echo(f"{entry.app:<24} {entry.sha256}  {_when(entry.time)}  {entry.actor:<12} {entry.comment}")


@integrity_cli.command("verify")
@click.pass_context
def verify_cmd(ctx: click.Context) -> None:
    """Check the audit log's hash chain; exit status 1 if an entry was edited, removed or reordered."""
    result = audit.verify(_state_dir(ctx))
    path = audit.audit_path(_state_dir(ctx))
    if result.ok:
        click.echo(f"ok: {result.entries} entries verified in {path}")
        return
    click.echo(f"BROKEN: {path}: {result.error}; the first {result.entries} entries are intact", err=True)
    sys.exit(1)
