"""The training corpus: every mapped set plus our own contrast and hard-negative sets, deduplicated,
tokenized,
with the splits the numbers we report are measured on.

Splits (all deterministic, none chosen by looking at results):
- `held_out`: whole sources never used to train the shipped judge (leave-one-source-out): ToxiChat and
  latent-jailbreak, both human-labelled LLM or chatbot answers. They measure transfer to a source the judge
  never saw.
- `openai`: the OpenAI moderation rows. The shipped judge is trained without them, so its AUPRC on them is
  measured on data it never saw (stricter than 5-fold cross-validation, which would train on 80% of them).
- `clean_report`: odd-numbered alpaca_eval instructions (every generator's answer): the clean-answer flag
rate.
- `calibration`: 10% of every other source (by a hash of the text): Platt scaling, thresholds, the measured
  precision behind each severity.
- `train`: the rest (including the even-numbered alpaca_eval answers as clean examples).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from watchkeeper.detectors.content_safety.training import contrast, datasets, hard_negatives
from watchkeeper.detectors.content_safety.training.datasets import CATEGORIES, Example

HELD_OUT_SOURCES = ("toxichat", "latent_jailbreak")
OPENAI_SOURCE = "openai_moderation"
CLEAN_SOURCE = "alpaca_eval"
CALIBRATION_SHARE = 0.1
# the columns the judge learns: the categories but harmful_compliance, then the request head, then compliance
CAT_HEADS: tuple[str, ...] = (*(c for c in CATEGORIES if c != "harmful_compliance"), "any")
HEAD_COLS: tuple[str, ...] = (*CAT_HEADS, "harmful_request", "harmful_compliance")
MAX_ANSWER = 384  # tokens of an answer seen in training (the daemon reads longer ones whole)
MAX_PROMPT = 128

# licence and origin of each source (the model card lists them with the files' sha256)
SOURCE_INFO: dict[str, tuple[str, str]] = {
    "openai_moderation": ("MIT", "openai/moderation-api-release @ f4ab51b5"),
    "davidson": ("MIT", "t-davidson/hate-speech-and-offensive-language @ cb50f7e9"),
    "toxigen": ("MIT + CDLA-Permissive-2.0", "microsoft/TOXIGEN @ 01517e81"),
    "alpaca_eval": ("CC BY-NC 4.0 (data)", "tatsu-lab/alpaca_eval @ cd543a14"),
    "gptfuzz": ("MIT", "sherdencooper/GPTFuzz @ 1eddeb56"),
    "toxichat": ("CC-BY-SA-4.0", "abaheti95/ToxiChat @ c1ffebd7"),
    "sbf": ("CC-BY-4.0", "abaheti95/ToxiChat @ c1ffebd7 (SBF)"),
    "diasafety": ("Apache-2.0", "thu-coai/DiaSafety @ 5106a041"),
    "latent_jailbreak": ("MIT", "qiuhuachuan/latent-jailbreak @ e659ed78"),
    "rtp_lx": ("MIT", "microsoft/RTP-LX @ 206c3ec5"),
    "edos": ("CC0", "rewire-online/edos @ b1f1fbcc"),
    "toxic_spans": ("CC0", "ipavlopoulos/toxic_spans @ beaf1705"),
    "convabuse": ("CC-BY-4.0", "amandacurry/convabuse @ c0a9469f"),
    "implicit_hate": ("CC-BY-4.0", "liuchaoqun/hate-speech-datasets @ 98f3ee81"),
    "stormfront": ("CC-BY-SA-3.0", "Vicomtech/hate-speech-dataset @ b802137e"),
    "mlma": ("MIT", "HKUST-KnowComp/MLMA_hate_speech @ 47983698"),
    "conspiracy": (
        "Apache-2.0 / MIT",
        "DataLab12/fakenews @ 8673d56d; AminHasibul/ConspiracyAgaintstCovidVaccines @ 6a4674d2",
    ),
    "coconot_pref": ("MIT", "allenai/noncompliance @ 25bf77cc"),
    "coconot_request": ("MIT", "allenai/noncompliance @ 25bf77cc"),
    "jailbreakbench": ("MIT", "JailbreakBench/artifacts @ 909e68c0"),
    "contrast": ("Apache-2.0 (this project)", "written for this project: training/contrast.py"),
    "hard_negatives": ("Apache-2.0 (this project)", "written for this project: training/hard_negatives.py"),
}


def build(data_dir: Path) -> list[Example]:
    """Every example, deduplicated across sets (labels merged, contradictions dropped)."""
    examples: list[Example] = []
    for loader in datasets.LOADERS.values():
        examples.extend(loader(Path(data_dir)))
    examples.extend(contrast.examples())
    examples.extend(hard_negatives.examples())
    return datasets.deduplicate(examples)


def file_hashes(data_dir: Path) -> dict[str, str]:
    """sha256 of every data file the loaders opened, by path relative to the data folder."""
    root = Path(data_dir)
    files: set[Path] = set()
    for path in datasets.USED_PATHS:
        files.update(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else files.add(path)
    out = {}
    for path in sorted(files):
        out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _share(text: str) -> float:
    return int(hashlib.sha1(text.encode()).hexdigest()[:8], 16) / 2**32


@dataclass
class Splits:
    train: np.ndarray
    calibration: np.ndarray
    openai: np.ndarray
    clean_report: np.ndarray
    held_out: dict[str, np.ndarray]
    sources: np.ndarray


def split(examples: list[Example]) -> Splits:
    sources = np.array([ex.source for ex in examples])
    idx = np.arange(len(examples))
    held = {s: idx[sources == s] for s in HELD_OUT_SOURCES}
    openai = idx[sources == OPENAI_SOURCE]
    clean_odd = np.array(
        [i for i in idx if sources[i] == CLEAN_SOURCE and int(examples[i].group.split("#")[1]) % 2 == 1],
        dtype=np.int64,
    )
    taken = set(openai) | set(clean_odd) | {int(i) for v in held.values() for i in v}
    calibration = np.array(
        [
            i
            for i in idx
            if i not in taken and sources[i] != CLEAN_SOURCE and _share(examples[i].text) < CALIBRATION_SHARE
        ],
        dtype=np.int64,
    )
    taken |= set(calibration.tolist())
    train = np.array([i for i in idx if i not in taken], dtype=np.int64)
    return Splits(train, calibration, openai, clean_odd, held, sources)


def _clip(ids: list[int], cap: int) -> list[int]:
    if len(ids) <= cap:
        return ids
    head = cap * 2 // 3
    return ids[:head] + ids[-(cap - head) :]


class Encoded:
    """Token ids of every example's answer and request, and its label matrix (nan = not labelled)."""

    def __init__(self, examples: list[Example], tokenizer) -> None:
        """`tokenizer` is the judge's `Pieces`, so training reads text exactly as serving does."""
        self.examples = examples
        answers = [ex.text if ex.kind != "request" else "" for ex in examples]
        prompts = [ex.prompt if ex.kind != "request" else ex.text for ex in examples]
        self.a = [np.asarray(_clip(ids, MAX_ANSWER), dtype=np.int32) for ids in tokenizer.ids(answers)]
        self.p = [
            np.asarray(_clip(ids, MAX_PROMPT), dtype=np.int32) if prompts[i] else np.zeros(0, np.int32)
            for i, ids in enumerate(tokenizer.ids([p or "" for p in prompts]))
        ]
        self.y = np.full((len(examples), len(HEAD_COLS)), np.nan, dtype=np.float32)
        for i, ex in enumerate(examples):
            for j, head in enumerate(HEAD_COLS):
                value = ex.labels.get(head)
                if value is not None:
                    self.y[i, j] = value
        self.is_request = np.array([ex.kind == "request" for ex in examples])

    def __len__(self) -> int:
        return len(self.examples)
