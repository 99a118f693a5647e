"""The `watchkeeper` command: thin; every command delegates to the module that owns the job.

`run`, `demo` and `score` live here; every other command (the stages', the live commands, a plug-in's) is
mounted from the `watchkeeper.commands` entry points by `watchkeeper.commands.LazyGroup`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from watchkeeper.commands import LazyGroup

if TYPE_CHECKING:
    from watchkeeper.config import Settings


def load_settings(*args: Any, **kwargs: Any) -> Settings:
    """The daemon's config loader, imported on use (it imports every stage's schema)."""
    from watchkeeper.config import load_settings as load

    return load(*args, **kwargs)


def _settings(config: Path | None) -> Settings:
    from watchkeeper.config import ConfigError
    from watchkeeper.core.plugins import PluginError

    try:
        return load_settings(config)
    except (ConfigError, PluginError) as exc:  # a plug-in that cannot load names itself and the fix
        raise click.ClickException(str(exc)) from None


@click.group(cls=LazyGroup)
@click.version_option(package_name="watchkeeper")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Watchkeeper: trace every LLM call, detect controversial output and unapproved changes, page on-call.

    Commands that read or change live state (incidents, calls, feedback, integrity, alerts silences and
    deadletters) talk to the running daemon: --url / WATCHKEEPER_URL (default http://127.0.0.1:8686) and
    --token-file / WATCHKEEPER_TOKEN.
    """
    # Stage-owned commands validate the whole file through the daemon's loader, handed down here, so they
    # never import the composition root themselves.
    ctx.ensure_object(dict)["load_settings"] = load_settings


@main.command()
@click.option(
    "-c", "--config", type=click.Path(path_type=Path), help="YAML config file (default: none, embedded mode)"
)
@click.option(
    "--stage",
    type=click.Choice(["all", "collector", "detectors", "alerts", "web"]),
    default="all",
    show_default=True,
    help="run one stage alone (against Kafka and a shared store.url) or all in one process; "
    "web serves the API and dashboard from the store alone",
)
def run(config: Path | None, stage: str) -> None:
    """Run the daemon until SIGTERM/SIGINT."""
    from watchkeeper.app import Daemon, StartupError
    from watchkeeper.logs import setup_logging

    settings = _settings(config)
    setup_logging(settings.log_level, settings.log_format)
    try:
        code = Daemon(settings, stage=stage).run()
    except StartupError as exc:
        raise click.ClickException(str(exc)) from None
    sys.exit(code)


@main.command()
@click.option("--calls", default=240, show_default=True, help="model calls to send")
@click.option(
    "--keep-running/--no-keep-running",
    default=False,
    help="leave the daemon (dashboard) running after the summary until Ctrl-C",
)
@click.option(
    "--state-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="state directory (default: a fresh ./.watchkeeper-demo)",
)
@click.option(
    "--http-port", type=click.IntRange(0, 65535), default=None, help="OTLP/HTTP port (default 4318; 0: any)"
)
@click.option(
    "--grpc-port", type=click.IntRange(0, 65535), default=None, help="OTLP/gRPC port (default 4317; 0: any)"
)
@click.option(
    "--web-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="dashboard/API port (default 8686; 0: any)",
)
def demo(
    calls: int,
    keep_running: bool,
    state_dir: Path | None,
    http_port: int | None,
    grpc_port: int | None,
    web_port: int | None,
) -> None:
    """Start the daemon, drive realistic LLM traffic through the OTLP intake, print what was detected.

    The daemon stops after the summary unless --keep-running; SIGTERM or Ctrl-C stop it cleanly.
    """
    from watchkeeper.demo import DemoPorts, run_demo

    ports = DemoPorts(http=http_port, grpc=grpc_port, web=web_port)
    sys.exit(run_demo(calls=calls, keep_running=keep_running, state_dir=state_dir, ports=ports))


@main.command()
@click.option("--detector", "name", required=True, help="content_safety, leakage, ... (text-based detectors)")
@click.option("-c", "--config", type=click.Path(path_type=Path), help="YAML config (thresholds)")
def score(name: str, config: Path | None) -> None:
    """Score JSON lines {"id", "text", "prompt"?} from stdin; write {"id", "scores", "flagged"} to stdout."""
    from watchkeeper.core.detector import DetectorContext, MemoryState
    from watchkeeper.detectors.registry import plugins

    name = name.strip().replace("-", "_")  # content-safety (as `eval` spells it) or content_safety
    settings = _settings(config)
    try:
        plugin = plugins().get(name)
        if plugin is None:
            raise KeyError(f"unknown detector {name!r}; known detectors: {', '.join(plugins())}")
        detector = plugin.create(settings.detectors.settings_for(name), DetectorContext(state=MemoryState()))
    except (KeyError, ImportError, ValueError, OSError, RuntimeError) as exc:  # unknown name, bad artifact
        raise click.ClickException(str(exc)) from None
    bad = 0
    out = sys.stdout
    for lineno, line in enumerate(sys.stdin, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            if not isinstance(item, dict) or not isinstance(item.get("text"), str):
                raise ValueError('each line must be a JSON object with a string "text"')
        except ValueError as exc:
            bad += 1
            click.echo(f"line {lineno}: skipped: {exc}", err=True)
            continue
        result = detector.score_text(item["text"], str(item.get("prompt") or ""))
        if result is None:
            raise click.ClickException(
                f"detector {name!r} does not score single texts; use content_safety or leakage"
            )
        scores, flagged = result
        out.write(
            json.dumps(
                {
                    "id": item.get("id"),
                    "scores": {k: round(float(v), 6) for k, v in scores.items()},
                    "flagged": bool(flagged),
                }
            )
            + "\n"
        )
    out.flush()
    if bad:
        sys.exit(2)


if __name__ == "__main__":
    main()
