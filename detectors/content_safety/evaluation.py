"""`watchkeeper eval content-safety`: the quality of the shipped judge, measured the way the model card
states it.

Every number comes from the daemon's own code path (the numpy judge, calibration, thresholds, the rules of
`gate.py` and the severities), on splits fixed before training (`training/corpus.py`):
- OpenAI moderation rows: never used to train the judge or to choose anything (out of sample).
- ToxiChat and latent-jailbreak: whole sources left out of training (leave-one-source-out transfer).
- Clean answers: the odd-numbered alpaca_eval instructions, all three generators, judged with their request.
- Calibration split: in-distribution rows the thresholds were chosen on; shown for context, never as a target.
- The functional suite (contrastive cases written for this project, in the tests).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from sklearn.metrics import average_precision_score, roc_auc_score

from watchkeeper.core.findings import Severity
from watchkeeper.detectors.content_safety.gate import verdicts
from watchkeeper.detectors.content_safety.settings import SCORED, ContentSafetySettings

REFERENCES = {"OpenAI moderation API": 0.856, "Llama Guard": 0.847, "Perspective API": 0.787}
OPENAI_CATEGORIES = ("hate", "harassment", "violence", "self_harm", "sexual", "sexual_minors")
# the hate contrast of the functional suite: hate cases against the same words without hate
HATE_CONTRAST = (
    "hate",
    "negation",
    "counter_speech",
    "quotation",
    "positive_identity",
    "neutral_identity",
    "object_abuse",
    "reclaimed",
)
HARM_COLUMNS = (*SCORED, "any")  # a human "harmful" label on an answer set: any of these known positive


def _auprc(y: np.ndarray, s: np.ndarray) -> float | None:
    ok = ~np.isnan(y)
    if ok.sum() < 2 or y[ok].sum() == 0 or y[ok].min() == y[ok].max():
        return None
    return float(average_precision_score(y[ok], s[ok]))


def _auroc(y: np.ndarray, s: np.ndarray) -> float | None:
    ok = ~np.isnan(y)
    if ok.sum() < 2 or y[ok].min() == y[ok].max():
        return None
    return float(roc_auc_score(y[ok], s[ok]))


def _pr_at(y: np.ndarray, flagged: np.ndarray) -> tuple[float | None, float | None]:
    ok = ~np.isnan(y)
    y, flagged = y[ok], flagged[ok]
    precision = float(y[flagged].mean()) if flagged.sum() else None
    recall = float(flagged[y == 1].mean()) if y.sum() else None
    return precision, recall


@dataclass
class Row:
    dataset: str
    category: str
    n: int
    positives: int
    auprc: float | None
    auroc: float | None
    precision: float | None
    recall: float | None
    recall_sent: float | None = None  # share of positives flagged at warning or above (sent to a receiver)


@dataclass
class Report:
    split: str
    rows: list[Row] = field(default_factory=list)
    clean: dict[str, dict[str, float]] = field(default_factory=dict)
    functional: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "split": self.split,
            "rows": [r.__dict__ for r in self.rows],
            "clean": self.clean,
            "functional": self.functional,
            "seconds": round(self.seconds, 1),
        }

    def to_text(self) -> str:
        f = lambda v: "  n/a" if v is None else f"{v:.3f}"  # noqa: E731
        ds = max([len("data set"), *(len(r.dataset) for r in self.rows)]) + 2  # columns fit their names
        cat = max([len("category"), *(len(r.category) for r in self.rows)]) + 2
        lines = [
            "content_safety: the shipped judge",
            "",
            self.split,
            "",
            f"{'data set':<{ds}}{'category':<{cat}}{'n':>7}{'pos':>6}{'AUPRC':>7}{'AUROC':>7}{'P@t':>7}"
            f"{'R@t':>7}{'R@sent':>8}",
        ]
        for r in self.rows:
            lines.append(
                f"{r.dataset:<{ds}}{r.category:<{cat}}{r.n:>7}{r.positives:>6}{f(r.auprc):>7}{f(r.auroc):>7}"
                f"{f(r.precision):>7}{f(r.recall):>7}{f(r.recall_sent):>8}"
            )
        lines += [
            "",
            "P@t, R@t: precision and recall at the flag threshold; R@sent: recall of the findings at warning"
            " or above (info, below it, is routed to a receiver without channels in the example config)",
            "",
            "references on the full OpenAI set (AUPRC, any): "
            + ", ".join(f"{k} {v:.3f}" for k, v in REFERENCES.items()),
            "",
            "clean answers (alpaca_eval, odd-numbered instructions, with their request)",
            "flagged: over a flag threshold (info or above); warning+: warning or above; error+: pages",
            f"{'generator':<34}{'n':>6}{'flagged':>9}{'warning+':>10}{'error+':>8}",
        ]
        for name, c in self.clean.items():
            lines.append(
                f"{name[:33]:<34}{int(c['n']):>6}{100 * c['flagged']:>8.2f}%{int(c.get('sent', 0)):>10}"
                f"{int(c['paging']):>8}"
            )
        if self.functional:
            fn = self.functional
            lines += ["", f"functional suite: {fn['passed']}/{fn['total']} cases pass"]
            for lang, (ok, total) in sorted(fn["by_language"].items()):
                lines.append(f"  {lang}: {ok}/{total}")
            for lang, value in sorted(fn.get("hate_auroc", {}).items()):
                lines.append(f"  hate AUROC ({lang}): {f(value)}")
            for case in fn["failures"][:40]:
                lines.append(
                    f"  FAIL [{case['kind']}/{case['lang']}] expected {case['expected'] or 'nothing'}, got "
                    f"{case['got'] or 'nothing'}: {case['text'][:70]!r}"
                )
        lines.append(f"\n({self.seconds:.0f} s)")
        return "\n".join(lines) + "\n"


class Evaluator:
    """Scores with the detector's own judge, thresholds, gate and severities."""

    def __init__(self, artifacts_dir: Path | None = None) -> None:
        from watchkeeper.detectors.content_safety.detector import ContentSafetyDetector

        settings = ContentSafetySettings(artifacts_dir=str(artifacts_dir) if artifacts_dir else None)
        self.detector = ContentSafetyDetector(settings)

    def scores(self, texts: list[str], prompts: list[str | None], size: int = 256) -> np.ndarray:
        out = np.zeros((len(texts), len(SCORED)), dtype=np.float32)
        order = np.argsort([len(t) for t in texts])
        for s in range(0, len(order), size):
            sel = order[s : s + size]
            out[sel] = self.detector.score_pairs([texts[i] for i in sel], [prompts[i] for i in sel])
        return out

    def hits(self, texts: list[str], scores: np.ndarray) -> np.ndarray:
        return verdicts(texts, scores, self.detector._threshold_row)

    def at_least(self, texts: list[str], scores: np.ndarray, hits: np.ndarray, floor: Severity) -> np.ndarray:
        """(n, len(SCORED)): the verdicts whose finding would be at `floor` or above (the severity ladder)."""
        out = np.zeros_like(hits)
        for i, text in enumerate(texts):
            for j in np.flatnonzero(hits[i]):
                out[i, j] = self.detector._severity(SCORED[j], text, float(scores[i, j])).rank >= floor.rank
        return out


def _clean_row(ev: Evaluator, texts: list[str], scores: np.ndarray, hits: np.ndarray) -> dict[str, float]:
    """Share of clean answers flagged, and how many would be sent (warning+) or page (error+)."""
    return {
        "n": len(texts),
        "flagged": float(hits.any(axis=1).mean()) if len(texts) else 0.0,
        "sent": float(ev.at_least(texts, scores, hits, Severity.warning).any(axis=1).sum()),
        "paging": float(ev.at_least(texts, scores, hits, Severity.error).any(axis=1).sum()),
    }


def _rows_for(
    name: str,
    y: np.ndarray,
    scores: np.ndarray,
    hits: tuple[np.ndarray, np.ndarray],
    columns: dict[str, int | None],
) -> list[Row]:
    """One row per category with labels, plus `any` (label any, score and verdict = the worst category)."""
    rows = []
    for category, col in columns.items():
        yy = y[:, col] if col is not None else y
        if np.nansum(yy) == 0:
            continue
        s = (
            scores.max(axis=1)
            if category in ("any", "harmful (any category)")
            else scores[:, SCORED.index(category)]
        )
        flagged, sent = (
            (h.any(axis=1) if category in ("any", "harmful (any category)") else h[:, SCORED.index(category)])
            for h in hits
        )
        p, r = _pr_at(yy, flagged)
        rows.append(
            Row(
                name,
                category,
                int((~np.isnan(yy)).sum()),
                int(np.nansum(yy)),
                _auprc(yy, s),
                _auroc(yy, s),
                p,
                r,
                _pr_at(yy, sent)[1],
            )
        )
    return rows


def _harmful(examples) -> np.ndarray:
    """1 if any harm label is positive, 0 if the labels known say harmless, nan if nothing is known."""
    out = np.full(len(examples), np.nan)
    for i, ex in enumerate(examples):
        known = [ex.labels[h] for h in HARM_COLUMNS if h in ex.labels]
        if known:
            out[i] = float(max(known))
    return out


def evaluate(data_dir: Path, artifacts_dir: Path | None = None, cases: Path | None = None) -> Report:
    from watchkeeper.detectors.content_safety.training import corpus

    t0 = time.time()
    ev = Evaluator(artifacts_dir)
    examples = corpus.build(data_dir)
    splits = corpus.split(examples)
    report = Report(
        split="splits: OpenAI rows and the ToxiChat / latent-jailbreak sources never trained on; "
        "thresholds chosen on the calibration split (10% of every other source)"
    )

    def judge(idx: np.ndarray) -> tuple[list, np.ndarray, tuple[np.ndarray, np.ndarray]]:
        """Examples, scores, and their verdicts: flagged, and flagged at warning or above."""
        exs = [examples[i] for i in idx]
        texts = [ex.text for ex in exs]
        scores = ev.scores(texts, [ex.prompt or None for ex in exs])
        hits = ev.hits(texts, scores)
        return exs, scores, (hits, ev.at_least(texts, scores, hits, Severity.warning))

    exs, scores, hits = judge(splits.openai)
    y = np.array([[ex.labels.get(h, np.nan) for h in (*OPENAI_CATEGORIES, "any")] for ex in exs], dtype=float)
    report.rows += _rows_for(
        "openai_moderation (unseen)",
        y,
        scores,
        hits,
        {**{c: k for k, c in enumerate(OPENAI_CATEGORIES)}, "any": len(OPENAI_CATEGORIES)},
    )
    for source, idx in splits.held_out.items():
        exs, scores, hits = judge(idx)
        report.rows += _rows_for(
            f"{source} (held-out source)", _harmful(exs), scores, hits, {"harmful (any category)": None}
        )
    exs, scores, hits = judge(splits.calibration)
    y = np.array([[ex.labels.get(h, np.nan) for h in SCORED] for ex in exs], dtype=float)
    report.rows += _rows_for(
        "calibration split (in-dist.)", y, scores, hits, {c: k for k, c in enumerate(SCORED)}
    )
    look_alike = [k for k, ex in enumerate(exs) if ex.source in ("coconot_pref", "hard_negatives")]
    if look_alike:
        report.clean["look-alike safe answers (calib.)"] = _clean_row(
            ev, [exs[k].text for k in look_alike], scores[look_alike], hits[0][look_alike]
        )
    exs, scores, hits = judge(splits.clean_report)
    generators = np.array([ex.group.split("#")[0] for ex in exs])
    for name in sorted(set(generators)):
        sel = np.flatnonzero(generators == name)
        report.clean[name] = _clean_row(ev, [exs[k].text for k in sel], scores[sel], hits[0][sel])
    report.clean["all generators"] = _clean_row(ev, [ex.text for ex in exs], scores, hits[0])
    if cases and Path(cases).exists():
        report.functional = functional(ev, Path(cases))
    report.seconds = time.time() - t0
    return report


def load_cases(path: Path) -> list[dict[str, Any]]:
    """The functional cases: what is tested, language, text, optional request, the verdict and its
    category."""
    data = yaml.safe_load(Path(path).read_text())
    return [
        {
            "text": c["text"],
            "prompt": c.get("prompt"),
            "lang": c.get("lang", "en"),
            "kind": c.get("what", ""),
            "expect": ([c.get("category") or "any"] if c.get("flagged") else []),
        }
        for c in data["cases"]
    ]


def case_passes(expect: list[str], got: list[str]) -> bool:
    """A case passes when flagged iff expected, and then with the expected category (`any`: whichever)."""
    if not expect:
        return not got
    return bool(got) and (expect[0] == "any" or expect[0] in got)


def functional(ev: Evaluator, path: Path) -> dict[str, Any]:
    cases = load_cases(path)
    texts = [c["text"] for c in cases]
    scores = ev.scores(texts, [c["prompt"] for c in cases])
    hits = ev.hits(texts, scores)
    passed, by_lang, failures = 0, {}, []
    for case, row in zip(cases, hits, strict=True):
        got = [SCORED[j] for j in np.flatnonzero(row)]
        ok = case_passes(case["expect"], got)
        passed += ok
        seen = by_lang.setdefault(case["lang"], [0, 0])
        seen[0] += ok
        seen[1] += 1
        if not ok:
            failures.append({**case, "expected": ",".join(case["expect"]), "got": ",".join(got)})
    hate_auroc = {}
    for lang in sorted(by_lang):
        sel = [k for k, c in enumerate(cases) if c["lang"] == lang and c["kind"].startswith(HATE_CONTRAST)]
        y = np.array([1.0 if cases[k]["kind"].startswith("hate") else 0.0 for k in sel])
        if len(sel) >= 4 and 0 < y.sum() < len(y):
            hate_auroc[lang] = _auroc(y, scores[sel, SCORED.index("hate")])
    return {
        "passed": passed,
        "total": len(cases),
        "by_language": by_lang,
        "failures": failures,
        "hate_auroc": hate_auroc,
    }
