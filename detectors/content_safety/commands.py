"""`watchkeeper train content-safety` and `watchkeeper eval content-safety` (mounted by the CLI).

Training rebuilds every artifact from the public data folder and writes a model card that cites the exact
input files (sha256), the measured quality and the thresholds, so a reviewer can reproduce the shipped
weights.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import jinja2

from watchkeeper.detectors.content_safety import training_data as ds
from watchkeeper.detectors.content_safety.detector import ARTIFACTS_DIR, DEFAULT_SEVERITY
from watchkeeper.detectors.content_safety.evaluation import REFERENCES, SafetyReport
from watchkeeper.detectors.content_safety.evaluation import evaluate_content_safety as run_evaluation
from watchkeeper.detectors.content_safety.settings import CATEGORIES
from watchkeeper.detectors.content_safety.training import TrainOptions, train_artifacts

DEFAULT_DATA = Path("../shared/data")
INPUT_FILES = [
    ds.OPENAI_FILE,
    "alpaca_eval_outputs/gpt4.model_outputs.json",
    "alpaca_eval_outputs/llama-2-70b-chat-hf.model_outputs.json",
    "alpaca_eval_outputs/Mixtral-8x7B-Instruct-v0.1.model_outputs.json",
]


def train_content_safety(
    data_dir: Path, out_dir: Path = ARTIFACTS_DIR, *, embedding: bool | None = None
) -> dict[str, Any]:
    """Rebuild weights, thresholds, metrics.json and model_card.md; return the metrics."""
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    opts = TrainOptions()
    metrics = train_artifacts(data_dir, out_dir, opts, embedding=embedding)
    metrics["input_sha256"] = ds.file_hashes(data_dir, INPUT_FILES)
    metrics["evaluation"] = {}
    for tier in metrics["tiers"]:
        report = run_evaluation(data_dir, tier, out_dir, opts)
        metrics["evaluation"][tier] = report.to_dict()
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str) + "\n")
    (out_dir / "model_card.md").write_text(model_card(metrics))
    return metrics


def evaluate_content_safety(data_dir: Path, tier: str = "fast", artifacts_dir: Path | None = None) -> str:
    """The printed quality tables of one tier."""
    report: SafetyReport = run_evaluation(Path(data_dir), tier, artifacts_dir)
    return report.to_text()


def model_card(metrics: dict[str, Any]) -> str:
    """The model card, rendered from a template beside the training code (jinja2: the text stays readable)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    return env.get_template("model_card.md.j2").render(
        m=metrics,
        tiers=list(metrics["evaluation"]),
        categories=CATEGORIES,
        severities={k: v.value for k, v in DEFAULT_SEVERITY.items()},
        uses={ds.OPENAI_FILE: "labels of every category but extremism (training + cross-validation)"},
        references=REFERENCES,
        best_any=max(ev["auprc_cv5"]["any"] for ev in metrics["evaluation"].values()),
        fmt=lambda v: "n/a" if v is None else f"{v:.3f}",
    )


@click.command("content-safety")
@click.option("--data", "data_dir", type=click.Path(path_type=Path), default=DEFAULT_DATA, show_default=True)
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=ARTIFACTS_DIR, show_default=True)
@click.option(
    "--embedding/--no-embedding", default=None, help="Also train the embedding tier (default: if installed)."
)
def train_cmd(data_dir: Path, out_dir: Path, embedding: bool | None) -> None:
    """Rebuild the content-safety weights, thresholds and model card from the public data folder."""
    metrics = train_content_safety(data_dir, out_dir, embedding=embedding)
    for tier, ev in metrics["evaluation"].items():
        click.echo(
            f"{tier}: AUPRC any {ev['auprc_cv5']['any']}, held-out clean answers flagged "
            f"{100 * ev['alpaca_heldout_fp_rate']['all generators']:.2f}%"
        )
    click.echo(f"wrote {out_dir}")


@click.command("content-safety")
@click.option("--data", "data_dir", type=click.Path(path_type=Path), default=DEFAULT_DATA, show_default=True)
@click.option("--tier", type=click.Choice(["fast", "embedding"]), default="fast", show_default=True)
@click.option("--artifacts", "artifacts_dir", type=click.Path(path_type=Path), default=None)
def eval_cmd(data_dir: Path, tier: str, artifacts_dir: Path | None) -> None:
    """Print cross-validated AUPRC and the false-positive rate of the shipped thresholds."""
    click.echo(evaluate_content_safety(data_dir, tier, artifacts_dir), nl=False)
