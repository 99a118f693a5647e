"""The semantic judge that reads every call: a convolutional reader over multilingual token vectors, in numpy.

Why this shape: a transformer encoder costs 2-3 GFLOP per 128-token window, so even a small one judges only a
handful of 1 KB answers per second on a CPU core. The judge instead looks each token up in a table of static
multilingual vectors (distilled from multilingual-e5-small, so the same table serves French, German, Spanish,
Italian, Portuguese, Dutch and English), then runs three dilated convolutions (they see about 15 tokens around
each position: enough for "not", "never", quotation marks and who is targeted) and pools the whole text with
max and mean. The worst passage of a long answer survives the max pool, so long answers are read whole (up to
`MAX_TOKENS`) at a cost linear in their length. The reader was trained against a fine-tuned transformer
teacher
and the labelled sets (see `training/` and the model card).

The request is read by the same reader; a small head combines answer and request into `harmful_compliance`
(the answer helps with a harmful request), so a refusal that names a topic and a compliant answer in polite
words
are told apart. Everything is numpy: a batch is one long token sequence with zero gaps between texts, so each
convolution is a single matrix product. Arrays load from an .npz with pickle disabled.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from watchkeeper.detectors.content_safety.pieces import PIECES_FILE, PieceFileError, Pieces
from watchkeeper.detectors.content_safety.settings import ARTIFACTS_DIR, SCORED

JUDGE_FILE = "judge.npz"
CALIBRATION_FILE = "calibration.json"
MAX_TOKENS = 4096  # per text (~16 KB of English): longer texts are read at their first 3,072 and last 1,024
CHUNK_TOKENS = 16384  # tokens read at once (~50 MB of activations): bounds memory for any batch
MAX_PROMPT_TOKENS = (
    256  # of the request, its end (where the actual ask usually is) weighted by keeping the tail
)


class ArtifactError(RuntimeError):
    """A model artifact is missing or unreadable; the message names the file and how to rebuild it."""


def artifact_error(path: Path, problem: str) -> ArtifactError:
    return ArtifactError(
        f"content-safety artifact {path} {problem}; reinstall the package, or rebuild it with "
        f"`watchkeeper train content-safety --data ../shared/data --out {path.parent}`"
    )


def load_npz(path: Path) -> dict[str, np.ndarray]:
    """Arrays of an .npz with pickle disabled; errors name the file and the rebuild command."""
    if not path.is_file():
        raise artifact_error(path, "is missing")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except Exception as exc:  # zipfile/ValueError/OSError: all mean a corrupt file to the operator
        raise artifact_error(path, f"is unreadable ({type(exc).__name__}: {exc})") from exc


def _clip(ids: list[int], cap: int, head_share: float) -> list[int]:
    if len(ids) <= cap:
        return ids
    head = int(cap * head_share)
    return ids[:head] + ids[len(ids) - (cap - head) :]


@dataclass
class Calibration:
    """Per scored head: Platt scaling of the raw score (a, b) and the threshold of a verdict."""

    a: np.ndarray
    b: np.ndarray
    thresholds: dict[str, float]

    def apply(self, raw: np.ndarray) -> np.ndarray:
        logit = np.log(np.clip(raw, 1e-6, 1 - 1e-6) / np.clip(1 - raw, 1e-6, 1))
        return 1.0 / (1.0 + np.exp(-(self.a[None, :] * logit + self.b[None, :])))

    @classmethod
    def load(cls, path: Path) -> Calibration:
        try:
            data = json.loads(path.read_text())
            a = np.array([float(data["platt"][h][0]) for h in SCORED])
            b = np.array([float(data["platt"][h][1]) for h in SCORED])
            thresholds = {h: float(data["thresholds"][h]) for h in SCORED}
        except FileNotFoundError as exc:
            raise artifact_error(path, "is missing") from exc
        except (ValueError, KeyError, TypeError) as exc:
            raise artifact_error(path, f"is not a valid calibration file ({exc!r})") from exc
        return cls(a, b, thresholds)


class Judge:
    """Scores (answer, request) pairs: raw probabilities per head in `SCORED` order (before calibration)."""

    def __init__(self, artifacts_dir: Path | None = None) -> None:
        root = Path(artifacts_dir) if artifacts_dir else ARTIFACTS_DIR
        arrays = load_npz(root / JUDGE_FILE)
        self._check(arrays, root / JUDGE_FILE)
        self.emb_q = arrays["emb_q"]  # (V, d) int8
        self.emb_scale = arrays["emb_scale"].astype(np.float32)  # (V,)
        self.dilations = [int(d) for d in arrays["dilations"]]
        self.convs = [
            (arrays[f"conv{i}_w"].astype(np.float32), arrays[f"conv{i}_b"].astype(np.float32))
            for i in range(len(self.dilations))
        ]
        self.out_w, self.out_b = arrays["out_w"].astype(np.float32), arrays["out_b"].astype(np.float32)
        self.cat_w, self.cat_b = arrays["cat_w"].astype(np.float32), arrays["cat_b"].astype(np.float32)
        self.req_w, self.req_b = arrays["req_w"].astype(np.float32), arrays["req_b"].astype(np.float32)
        self.hc = [
            (arrays[f"hc{i}_w"].astype(np.float32), arrays[f"hc{i}_b"].astype(np.float32)) for i in (0, 1)
        ]
        self.head_names = [str(h) for h in arrays["cat_heads"]]
        self.gap = max(self.dilations)
        self.tokenizer = _load_tokenizer(root / PIECES_FILE)
        if len(self.tokenizer) != self.emb_q.shape[0]:
            raise artifact_error(
                root / PIECES_FILE,
                f"has {len(self.tokenizer)} pieces but {JUDGE_FILE} has {self.emb_q.shape[0]} token vectors",
            )
        self.calibration = Calibration.load(root / CALIBRATION_FILE)

    @staticmethod
    def _check(arrays: dict[str, np.ndarray], path: Path) -> None:
        needed = [
            "emb_q",
            "emb_scale",
            "dilations",
            "out_w",
            "out_b",
            "cat_w",
            "cat_b",
            "req_w",
            "req_b",
            "hc0_w",
            "hc0_b",
            "hc1_w",
            "hc1_b",
            "cat_heads",
        ]
        needed += [f"conv{i}_{k}" for i in range(len(arrays.get("dilations", []))) for k in ("w", "b")]
        missing = [k for k in needed if k not in arrays]
        if missing:
            raise artifact_error(path, f"lacks arrays {missing}")
        vocab, dim = arrays["emb_q"].shape
        if arrays["emb_scale"].shape != (vocab,) or arrays["conv0_w"].shape[0] != 3 * dim:
            raise artifact_error(path, "has inconsistent array shapes")

    # -- tokens
    # ---------------------------------------------------------------------------------------------------
    def token_ids(self, texts: list[str], cap: int, head_share: float) -> list[np.ndarray]:
        return [np.asarray(_clip(ids, cap, head_share), dtype=np.int64) for ids in self.tokenizer.ids(texts)]

    # -- the reader
    # -------------------------------------------------------------------------------------------
    def read(self, seqs: list[np.ndarray]) -> np.ndarray:
        """(n, hidden) text vectors; an empty sequence reads as one padding token."""
        seqs = [s if len(s) else np.zeros(1, dtype=np.int64) for s in seqs]
        lengths = np.array([len(s) for s in seqs])
        starts = np.concatenate(([0], np.cumsum(lengths + self.gap)[:-1])) + self.gap
        total = int(starts[-1] + lengths[-1] + self.gap)
        ids = np.zeros(total, dtype=np.int64)
        mask = np.zeros(total, dtype=np.float32)
        for s, seq in zip(starts, seqs, strict=True):
            ids[s : s + len(seq)] = seq
            mask[s : s + len(seq)] = 1.0
        x = self.emb_q[ids].astype(np.float32) * (self.emb_scale[ids] * mask)[:, None]
        for i, ((w, b), d) in enumerate(zip(self.convs, self.dilations, strict=True)):
            padded = np.zeros((total + 2 * d, x.shape[1]), dtype=np.float32)
            padded[d : d + total] = x
            cols = np.concatenate([padded[:total], padded[d : d + total], padded[2 * d :]], axis=1)
            y = np.maximum(cols @ w + b, 0.0) * mask[:, None]
            x = y + x if i and y.shape == x.shape else y
        out = np.empty((len(seqs), 2 * x.shape[1]), dtype=np.float32)
        for r, (s, n) in enumerate(zip(starts, lengths, strict=True)):
            block = x[s : s + n]
            out[r, : x.shape[1]] = block.max(axis=0)
            out[r, x.shape[1] :] = block.mean(axis=0)
        return np.tanh(out @ self.out_w + self.out_b)

    def read_all(self, seqs: list[np.ndarray]) -> np.ndarray:
        """`read` in chunks of at most CHUNK_TOKENS tokens, so memory stays bounded for any batch."""
        out, start = [], 0
        while start < len(seqs):
            end, tokens = start, 0
            while end < len(seqs) and (end == start or tokens + len(seqs[end]) <= CHUNK_TOKENS):
                tokens += len(seqs[end])
                end += 1
            out.append(self.read(seqs[start:end]))
            start = end
        return np.concatenate(out) if out else np.zeros((0, self.out_w.shape[1]), dtype=np.float32)

    def raw_scores(self, answers: list[str], prompts: list[str | None]) -> np.ndarray:
        """(n, len(SCORED)) uncalibrated probabilities."""
        if not answers:
            return np.zeros((0, len(SCORED)), dtype=np.float32)
        a = self.read_all(self.token_ids(answers, MAX_TOKENS, 0.75))
        has = np.array([1.0 if p and p.strip() else 0.0 for p in prompts], dtype=np.float32)
        p = np.zeros_like(a)
        with_prompt = np.flatnonzero(has)
        if len(with_prompt):
            p[with_prompt] = self.read_all(
                self.token_ids([prompts[i] or "" for i in with_prompt], MAX_PROMPT_TOKENS, 0.25)
            )
        cat = a @ self.cat_w + self.cat_b
        req = (p @ self.req_w + self.req_b)[:, 0]
        req_p = 1.0 / (1.0 + np.exp(-req))
        z = np.concatenate([a, p, a * p, np.abs(a - p), (req_p * has)[:, None], has[:, None]], axis=1)
        h = np.maximum(z @ self.hc[0][0] + self.hc[0][1], 0.0)
        hc = (h @ self.hc[1][0] + self.hc[1][1])[:, 0]
        logits = {name: cat[:, j] for j, name in enumerate(self.head_names)}
        logits["harmful_compliance"] = hc
        cols = np.stack([logits[h] for h in SCORED], axis=1)
        return 1.0 / (1.0 + np.exp(-cols))

    def scores(self, answers: list[str], prompts: list[str | None]) -> np.ndarray:
        """(n, len(SCORED)) calibrated probabilities."""
        return self.calibration.apply(self.raw_scores(answers, prompts))


def _load_tokenizer(path: Path) -> Pieces:
    """The multilingual sentence-piece tokenizer, from the artifacts (never downloaded)."""
    try:
        return Pieces(path)
    except PieceFileError as exc:
        raise artifact_error(path, str(exc)) from exc
