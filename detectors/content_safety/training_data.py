"""Loading and label mapping of the public datasets the content-safety heads learn from.

Label mapping (OpenAI moderation -> ours): hate = H or H2; harassment = HR; violence = V or V2; self_harm =
SH; sexual = S or S3 (sexual content involving minors is sexual too); sexual_minors = S3; any = any of the
eight is 1. A missing label means "not annotated" and the row is left out of that head, never counted as
negative. Extremism has no public labels here: our own seed phrasings are positives, our own neutral texts
about extremism plus clean rows are negatives. Toxigen/Davidson feed only the hate head (different domain:
opt-in).
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from watchkeeper.detectors.content_safety.detector import ARTIFACTS_DIR, HEADS

OPENAI_FILE = "openai_moderation/dev.jsonl"
OPENAI_MAP: dict[str, tuple[str, ...]] = {
    "hate": ("H", "H2"),
    "harassment": ("HR",),
    "violence": ("V", "V2"),
    "self_harm": ("SH",),
    "sexual": ("S", "S3"),
    "sexual_minors": ("S3",),
}
OPENAI_KEYS = ("S", "H", "V", "HR", "SH", "S3", "H2", "V2")
SEED_FILE = ARTIFACTS_DIR / "extremism_seed.txt"
CONTRAST_FILE = ARTIFACTS_DIR / "extremism_contrast.txt"
VIOLENCE_SEED_FILE = ARTIFACTS_DIR / "violence_seed.txt"


@dataclass
class LabelledTexts:
    """Texts with one label column per head (nan = not labelled for that head) and a source tag per row."""

    texts: list[str] = field(default_factory=list)
    labels: np.ndarray = field(default_factory=lambda: np.zeros((0, len(HEADS))))
    sources: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, idx: np.ndarray) -> LabelledTexts:
        return LabelledTexts([self.texts[i] for i in idx], self.labels[idx], [self.sources[i] for i in idx])

    def __add__(self, other: LabelledTexts) -> LabelledTexts:
        return LabelledTexts(
            self.texts + other.texts, np.vstack([self.labels, other.labels]), self.sources + other.sources
        )


def _rows(texts: list[str], source: str, **labels: float) -> LabelledTexts:
    """Rows with the given head labels; heads not named are nan (unknown)."""
    matrix = np.full((len(texts), len(HEADS)), np.nan)
    for head, value in labels.items():
        matrix[:, HEADS.index(head)] = value
    return LabelledTexts(list(texts), matrix, [source] * len(texts))


def require(data_dir: Path, relative: str) -> Path:
    path = Path(data_dir) / relative
    if not path.is_file():
        raise FileNotFoundError(f"training data file {path} not found; pass the data folder with --data PATH")
    return path


def load_openai(data_dir: Path) -> LabelledTexts:
    """The in-domain labelled set (1,176 rows)."""
    rows = [
        json.loads(line) for line in require(data_dir, OPENAI_FILE).read_text().splitlines() if line.strip()
    ]
    labels = np.full((len(rows), len(HEADS)), np.nan)
    for i, row in enumerate(rows):
        for head, keys in OPENAI_MAP.items():
            values = [row.get(k) for k in keys]
            if any(v == 1 for v in values):
                labels[i, HEADS.index(head)] = 1.0
            elif all(v == 0 for v in values):
                labels[i, HEADS.index(head)] = 0.0
        is_any = any(row.get(k) == 1 for k in OPENAI_KEYS)
        labels[i, HEADS.index("any")] = float(is_any)
        # not annotated for extremism: flagged rows are unknown, clean rows negative
        labels[i, HEADS.index("extremism")] = np.nan if is_any else 0.0
    return LabelledTexts([r["prompt"] for r in rows], labels, ["openai_moderation"] * len(rows))


@dataclass
class AlpacaOutputs:
    texts: list[str]
    instruction_ids: np.ndarray  # index of the instruction (0..804), same for all generators
    generators: list[str]


def load_alpaca_outputs(data_dir: Path) -> AlpacaOutputs:
    folder = Path(data_dir) / "alpaca_eval_outputs"
    files = sorted(folder.glob("*.json"))
    if not files:
        raise FileNotFoundError(
            f"no alpaca_eval_outputs/*.json under {data_dir}; pass the data folder with --data"
        )
    texts, ids, gens = [], [], []
    for path in files:
        for i, item in enumerate(json.loads(path.read_text())):
            texts.append(item["output"])
            ids.append(i)
            gens.append(item.get("generator", path.stem))
    return AlpacaOutputs(texts, np.array(ids), gens)


def alpaca_split(outputs: AlpacaOutputs) -> tuple[np.ndarray, np.ndarray]:
    """(calibration rows, held-out rows): even instructions calibrate, odd ones are only ever used to report.

    Split by instruction so the three generators' answers to one instruction never straddle the split.
    """
    even = outputs.instruction_ids % 2 == 0
    return np.flatnonzero(even), np.flatnonzero(~even)


def clean_rows(texts: list[str], source: str) -> LabelledTexts:
    return _rows(texts, source, **dict.fromkeys(HEADS, 0.0))


def read_lines(path: Path) -> list[str]:
    return [ln.strip() for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]


def load_extremism_seed() -> LabelledTexts:
    """Own-written phrasings: seeds are extremism (and any) positives, contrast texts are clean."""
    seeds = _rows(read_lines(SEED_FILE), "extremism_seed", extremism=1.0, any=1.0)
    return seeds + clean_rows(read_lines(CONTRAST_FILE), "extremism_contrast")


def load_violence_seed() -> LabelledTexts:
    """Own-written threats and graphic violence: violence (and any) positives, other heads unknown."""
    return _rows(read_lines(VIOLENCE_SEED_FILE), "violence_seed", violence=1.0, any=1.0)


def load_toxigen(data_dir: Path) -> LabelledTexts:
    path = require(data_dir, "toxigen_prompts/derived_unique_sentences.csv")
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    out = LabelledTexts()
    for label in ("0", "1"):
        texts = [r["text"] for r in rows if r["y"] == label]
        out = out + _rows(texts, "toxigen", hate=float(label))
    return out


def load_davidson(data_dir: Path, per_class: int = 1000, seed: int = 0) -> LabelledTexts:
    """Hate (class 0) vs neither (class 2) tweets; 'offensive' is skipped: it is not hate and not clean."""
    path = require(data_dir, "davidson/labeled_data.csv")
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    rng = np.random.default_rng(seed)
    out = LabelledTexts()
    for cls, label in (("0", 1.0), ("2", 0.0)):
        texts = [r["tweet"] for r in rows if r["class"] == cls]
        pick = rng.permutation(len(texts))[:per_class]
        out = out + _rows([texts[i] for i in sorted(pick)], "davidson", hate=label)
    return out


def file_hashes(data_dir: Path, relatives: list[str]) -> dict[str, str]:
    """sha256 of each input file: from SHA256SUMS when listed there, computed otherwise."""
    listed: dict[str, str] = {}
    sums = Path(data_dir) / "SHA256SUMS"
    if sums.is_file():
        for line in sums.read_text().splitlines():
            parts = line.split()
            if len(parts) == 2:
                listed[parts[1].lstrip("*")] = parts[0]
    out = {}
    for rel in relatives:
        out[rel] = listed.get(rel) or hashlib.sha256((Path(data_dir) / rel).read_bytes()).hexdigest()
    return out
