"""Content-safety detector: judges every exchange (request + answer) for harmful content, in several
languages.

The semantic judge (`judge.py`) reads every answer and, when it is known, the request it answers, and scores
hate, harassment, violence, self harm, sexual content, sexual content involving minors, extremism and
harmful compliance (the answer helps with a harmful request); `any` is the worst of them. Scores are
calibrated
probabilities; a verdict needs the score over its threshold and an answer with something to read (`gate.py`).
Severities per category come from the precision measured at the shipped threshold (`calibration.json`, model
card): only a category measured precise enough pages; the others open warnings.

Under overload the judge keeps to a CPU budget (`semantic_cpu_share`): above it, the calls the cheap lexical
signal finds most suspicious, and an even sample of the rest, are still read by the judge; the remainder is
judged by the lexical signal alone and counted in the coverage gauge, so nothing is dropped or delayed without
bound and the loss of coverage is visible. More detectors workers restore full coverage.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from watchkeeper.core import metrics
from watchkeeper.core.detector import Detector, DetectorSettings
from watchkeeper.core.findings import Finding, Severity, call_labels, make_finding
from watchkeeper.core.records import ModelCall
from watchkeeper.detectors.content_safety.gate import MIN_WORDS_TO_PAGE, can_page, level_for, verdicts
from watchkeeper.detectors.content_safety.judge import CALIBRATION_FILE, Judge
from watchkeeper.detectors.content_safety.lexical import LexicalSignal
from watchkeeper.detectors.content_safety.metadata import METADATA
from watchkeeper.detectors.content_safety.settings import (
    ARTIFACTS_DIR,
    HEADS,
    SCORED,
    ContentSafetySettings,
)

_SENTENCE_RE = re.compile(r"[^.!?\n]+(?:[.!?]+|\n|$)")
#: Used when calibration.json carries no measured severity for a category: a ticket, not a page.
FALLBACK_SEVERITY = Severity.warning


def split_sentences(text: str) -> list[str]:
    """Sentences (or lines) of a text, stripped, for picking the excerpt that explains a finding."""
    return [s.strip() for s in _SENTENCE_RE.findall(text) if s.strip()]


Earned = tuple[Severity, str]  # the severity a score earns on the ladder, and why (its measured precision)


def severity_ladders(root: Path) -> dict[str, list[tuple[float, Earned]]]:
    """Per category, the severity a calibrated score earns and why, as chosen at training from measured
    precision (`calibration.json`, shown in the model card); artifacts without a ladder earn one severity."""
    try:
        data = json.loads((root / CALIBRATION_FILE).read_text())
    except (OSError, ValueError):
        data = {}
    ladders: dict[str, list[tuple[float, Earned]]] = {}
    for head in HEADS:
        try:
            if head in data.get("levels", {}):
                reasons = list(data.get("level_reasons", {}).get(head, []))
                reasons += [""] * (len(data["levels"][head]) - len(reasons))
                ladders[head] = [
                    (float(t), (Severity(v), reason))
                    for (t, v), reason in zip(data["levels"][head], reasons, strict=False)
                ]
            elif head in data.get("severity", {}):
                reason = str(data.get("severity_reason", {}).get(head, ""))
                ladders[head] = [(0.0, (Severity(data["severity"][head]), reason))]
        except (TypeError, ValueError):
            continue
    for category, severity, reason in METADATA.category_severities:
        ladders.setdefault(category, [(0.0, (severity, reason))])
    return ladders


def _artifact_stamp(root: Path) -> tuple[tuple[str, int, int], ...]:
    """What identifies the artifacts on disk: each file's name, size and modification time."""
    try:
        return tuple(
            sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in root.iterdir() if p.is_file())
        )
    except OSError:
        return ()


_MODELS: dict[tuple[str, tuple[tuple[str, int, int], ...]], tuple[Judge, LexicalSignal]] = {}
_MODELS_LOCK = threading.Lock()


def shared_models(root: Path) -> tuple[Judge, LexicalSignal]:
    """The judge and lexical signal of an artifacts folder, loaded once per process (they are read-only, and
    ~460 MB): detectors built again (a config reload, several suites, the scorer and the daemon in one
    process) share them. Changed files on disk load afresh; at most two versions are kept."""
    key = (str(root.resolve()), _artifact_stamp(root))
    with _MODELS_LOCK:
        models = _MODELS.get(key)
        if models is None:
            models = (Judge(root), LexicalSignal(root))
            while len(_MODELS) >= 2:
                _MODELS.pop(next(iter(_MODELS)))
            _MODELS[key] = models
        return models


class SemanticBudget:
    """A bucket of CPU seconds the judge may spend: refilled at `share` seconds per second, `burst_s` deep."""

    def __init__(
        self, share: float, burst_s: float = 10.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.share = share
        self.capacity = max(burst_s * share, 0.5)
        self.level = self.capacity
        self.clock = clock
        self.last = clock()
        self.seconds_per_char = 2e-6  # refined by every batch the judge reads

    def allowance_chars(self) -> float:
        now = self.clock()
        self.level = min(self.capacity, self.level + (now - self.last) * self.share)
        self.last = now
        return max(self.level, 0.0) / self.seconds_per_char

    def spend(self, seconds: float, chars: int) -> None:
        self.level -= seconds
        if chars > 2000:
            observed = seconds / chars
            self.seconds_per_char = 0.8 * self.seconds_per_char + 0.2 * observed


def _spread(call: ModelCall) -> int:
    """A stable pseudo-random rank per call, so the sample judged under overload is even across apps."""
    return int(hashlib.blake2b(f"{call.trace_id}:{call.span_id}".encode(), digest_size=8).hexdigest(), 16)


class ContentSafetyDetector(Detector):
    """Scores each answer with its request (and optionally the user's input) and raises one finding per
    category."""

    name: ClassVar[str] = "content_safety"
    metadata = METADATA
    settings_class: ClassVar[type[DetectorSettings]] = ContentSafetySettings
    settings: ContentSafetySettings

    def __init__(self, settings: ContentSafetySettings | None = None, **kwargs: Any) -> None:
        super().__init__(settings, **kwargs)
        root = Path(self.settings.artifacts_dir) if self.settings.artifacts_dir else ARTIFACTS_DIR
        self.judge, self.lexical = shared_models(root)
        self.thresholds = {**self.judge.calibration.thresholds, **self.settings.thresholds}
        self._threshold_row = np.array([self.thresholds[h] for h in SCORED])
        self.ladders = severity_ladders(root)
        self.budget = SemanticBudget(self.settings.semantic_cpu_share)

    # -- scoring
    # ------------------------------------------------------------------------------------------------
    def score_pairs(self, texts: list[str], prompts: list[str | None]) -> np.ndarray:
        """(n, len(SCORED)) calibrated probabilities of the semantic judge."""
        return self.judge.scores(texts, prompts)

    def score_text(self, text: str, prompt: str = "") -> tuple[dict[str, float], bool]:
        row = self.score_pairs([text], [prompt or None])[0]
        scores = {h: float(v) for h, v in zip(SCORED, row, strict=True)}
        scores["any"] = max(scores.values())
        return scores, bool(verdicts([text], row[None, :], self._threshold_row).any())

    # -- the detector
    # -------------------------------------------------------------------------------------------
    def observe(self, call: ModelCall) -> list[Finding]:
        return self.observe_batch([call])

    def observe_batch(self, calls: list[ModelCall]) -> list[Finding]:
        jobs: list[tuple[ModelCall, str, str, str | None]] = []
        for call in calls:
            if not self.applies_to(call):
                continue
            request = call.prompt_text or None
            if call.output_text.strip():
                jobs.append((call, "output", call.output_text, request))
            if self.settings.check_inputs and request and request.strip():
                jobs.append((call, "input", request, None))
        if not jobs:
            return []
        texts = [t for _, _, t, _ in jobs]
        prompts = [p for _, _, _, p in jobs]
        semantic = self._select(jobs)
        scores = np.zeros((len(jobs), len(SCORED)), dtype=np.float32)
        judged_by = np.array(["lexical"] * len(jobs), dtype=object)
        if semantic.any():
            idx = np.flatnonzero(semantic)
            started = time.process_time()
            scores[idx] = self.score_pairs([texts[i] for i in idx], [prompts[i] for i in idx])
            self.budget.spend(time.process_time() - started, sum(len(texts[i]) for i in idx))
            judged_by[idx] = "semantic"
        rest = np.flatnonzero(~semantic)
        if len(rest):
            scores[rest] = self.lexical.scores([texts[i] for i in rest])
        self._count(jobs, semantic)
        hits = verdicts(texts, scores, self._threshold_row)
        findings: list[Finding] = []
        for (call, source, text, _), row, hit, judge in zip(jobs, scores, hits, judged_by, strict=True):
            if hit.any():
                findings.extend(self._findings(call, source, text, row, hit, str(judge)))
        return findings

    def _select(self, jobs: list[tuple[ModelCall, str, str, str | None]]) -> np.ndarray:
        """Which jobs the semantic judge reads within its CPU budget: all of them unless overloaded."""
        chars = np.array([len(t) + len(p or "") for _, _, t, p in jobs], dtype=np.float64)
        allowance = self.budget.allowance_chars()
        chosen = np.zeros(len(jobs), dtype=bool)
        if chars.sum() <= allowance:
            chosen[:] = True
            return chosen
        # Overloaded: half the allowance to the calls the lexical signal finds most suspicious, the other half
        # to an even sample of the rest (stable per call, so a replay reads the same ones at the same load).
        suspicion = self.lexical.scores([t for _, _, t, _ in jobs]).max(axis=1)
        spent = 0.0
        for order, share in (
            (np.argsort(-suspicion, kind="stable"), 0.5),
            (np.argsort([_spread(j[0]) for j in jobs], kind="stable"), 1.0),
        ):
            for i in order:
                if chosen[i]:
                    continue
                if spent + chars[i] > allowance * share:
                    break
                chosen[i] = True
                spent += chars[i]
        return chosen

    def _count(self, jobs: list[tuple[ModelCall, str, str, str | None]], semantic: np.ndarray) -> None:
        per_app: dict[str, list[int]] = {}
        for (call, *_), read in zip(jobs, semantic, strict=True):
            # bounded label sets: beyond detectors.max_app_labels apps, new apps count as __other__
            seen = per_app.setdefault(metrics.app_label(call.service), [0, 0])
            seen[0] += 1
            seen[1] += int(read)
        for app, (total, read) in per_app.items():
            metrics.CONTENT_SAFETY_CALLS.labels(app, "semantic").inc(read)
            if total > read:
                metrics.CONTENT_SAFETY_CALLS.labels(app, "lexical").inc(total - read)
            metrics.CONTENT_SAFETY_COVERAGE.labels(app).set(read / total)

    def _severity(self, category: str, text: str, score: float) -> Severity:
        return self.severity_and_reason(category, text, score)[0]

    def severity_and_reason(self, category: str, text: str, score: float) -> Earned:
        """The operator's severity for the category if set; else what this score earns on the measured ladder
        (info just over the threshold, warning or a page where precision is high); short answers never page.
        The reason goes into the finding, so the on-call engineer sees why it woke them (or did not)."""
        configured = self.settings.severities.get(category) or self.settings.severity
        if configured is not None:
            severity, reason = configured, "set in detectors.content_safety"
        else:
            earned = level_for(self.ladders.get(category, []), score)
            severity, reason = earned if earned is not None else (FALLBACK_SEVERITY, "")
            if reason:
                reason = f"score {score:.2f}: {reason}"
        if not can_page(text) and severity.rank > Severity.warning.rank:
            return Severity.warning, f"fewer than {MIN_WORDS_TO_PAGE} words: a warning at most"
        return severity, reason

    def _findings(
        self, call: ModelCall, source: str, text: str, row: np.ndarray, hit: np.ndarray, judge: str
    ) -> list[Finding]:
        categories = [h for h, is_hit in zip(SCORED, hit, strict=True) if is_hit]
        excerpts = self._excerpts(text, [SCORED.index(c) for c in categories], judge)
        all_scores = {h: round(float(v), 4) for h, v in zip(SCORED, row, strict=True)}
        all_scores["any"] = round(float(row.max()), 4)
        out = []
        for category in categories:
            col = SCORED.index(category)
            severity, why = self.severity_and_reason(category, text, float(row[col]))
            where = "model output" if source == "output" else "user input"
            what = (
                "an answer that helps with a harmful request"
                if category == "harmful_compliance"
                else (f"{category.replace('_', ' ')} content in {where}")
            )
            out.append(
                make_finding(
                    call,
                    detector=self.name,
                    category=category,
                    severity=severity,
                    score=float(row[col]),
                    summary=f"{what} (probability {row[col]:.2f} >= {self.thresholds[category]:.2f})",
                    excerpt=excerpts[category],
                    labels=call_labels(call, self.name, category, source=source),
                    evidence={
                        "source": source,
                        "judge": judge,
                        "scores": all_scores,
                        "severity_reason": why,
                    },
                    id_salt=source,
                )
            )
        return out

    def _excerpts(self, text: str, cols: list[int], judge: str) -> dict[str, str]:
        """Sentences over the threshold (at most `excerpt_sentences`; else the worst one), in text order."""
        sentences = split_sentences(text)[:200]
        if len(sentences) <= 1:
            return {SCORED[c]: text.strip()[:2000] for c in cols}
        scores = (
            self.score_pairs(sentences, [None] * len(sentences))
            if judge == "semantic"
            else self.lexical.scores(sentences)
        )
        keep = max(1, self.settings.excerpt_sentences)
        out = {}
        for col in cols:
            ranked = np.argsort(-scores[:, col])
            over = [i for i in ranked[:keep] if scores[i, col] >= self._threshold_row[col]]
            out[SCORED[col]] = " ".join(sentences[i] for i in sorted(over or ranked[:1]))
        return out
