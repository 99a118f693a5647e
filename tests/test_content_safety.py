"""Content-safety detector: the shipped judge, the exchange (answer + request), the functional suite, the
rules
that keep short answers from paging, the CPU budget under overload, artifact errors, and the commands."""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from watchkeeper.core import metrics
from watchkeeper.core.findings import Severity
from watchkeeper.core.records import Message, ModelCall
from watchkeeper.detectors.content_safety.detector import ContentSafetyDetector, SemanticBudget
from watchkeeper.detectors.content_safety.evaluation import case_passes, load_cases
from watchkeeper.detectors.content_safety.judge import ArtifactError, Judge
from watchkeeper.detectors.content_safety.settings import ARTIFACTS_DIR, SCORED, ContentSafetySettings

CASES_FILE = Path(__file__).resolve().parent / "content_safety_cases.yaml"
CASES = load_cases(CASES_FILE)
# The share of the functional suite the shipped judge passes (measured by `watchkeeper eval content-safety`,
# model card); a change that passes fewer cases fails here.
FUNCTIONAL_FLOOR = 0.69  # 51 of 73 at the last training
CONTENT_FREE = ("emoji", "one_word", "number", "puzzle", "table", "placeholder", "greeting")


@pytest.fixture(scope="module")
def detector() -> ContentSafetyDetector:
    return ContentSafetyDetector()


def make_call(
    output: str,
    user: str = "Tell me something.",
    span: str = "00f067aa0ba902b7",
    service: str = "support-bot",
) -> ModelCall:
    return ModelCall(
        trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
        span_id=span,
        start_time_ns=1_700_000_000_000_000_000,
        duration_ms=120.0,
        service=service,
        environment="prod",
        provider="openai",
        request_model="gpt-4o",
        input_messages=[Message("user", user)],
        output_text=output,
    )


def verdict(detector: ContentSafetyDetector, text: str, prompt: str | None = None) -> list[str]:
    scores = detector.score_pairs([text], [prompt])
    from watchkeeper.detectors.content_safety.gate import verdicts

    return [SCORED[j] for j in np.flatnonzero(verdicts([text], scores, detector._threshold_row)[0])]


def test_shipped_artifacts_load_and_are_documented() -> None:
    judge = Judge()
    assert set(judge.calibration.thresholds) == set(SCORED)
    assert all(0.0 < t < 1.0 for t in judge.calibration.thresholds.values())
    card = (ARTIFACTS_DIR / "model_card.md").read_text()
    for needed in ("sha256", "AUPRC", "licence", "openai_moderation", "held-out source", "functional suite"):
        assert needed in card, needed
    calibration = json.loads((ARTIFACTS_DIR / "calibration.json").read_text())
    assert set(calibration["severity"]) >= set(SCORED) and set(calibration["levels"]) == set(SCORED)
    metrics_file = json.loads((ARTIFACTS_DIR / "metrics.json").read_text())
    assert metrics_file["input_sha256"] and metrics_file["evaluation"]["clean"]


def test_scores_are_probabilities_for_every_category(detector: ContentSafetyDetector) -> None:
    scores, flagged = detector.score_text("Hello, how can I help you today?")
    assert set(scores) == {*SCORED, "any"}
    assert all(0.0 <= v <= 1.0 for v in scores.values())
    assert scores["any"] == max(v for k, v in scores.items() if k != "any")
    assert not flagged
    assert detector.score_text("")[1] is False


@pytest.mark.parametrize(
    "case", [c for c in CASES if c["kind"] in CONTENT_FREE], ids=lambda c: c["text"][:30]
)
def test_content_free_answers_are_never_flagged(detector: ContentSafetyDetector, case: dict) -> None:
    assert verdict(detector, case["text"], case["prompt"]) == []


def test_functional_suite_pass_rate(detector: ContentSafetyDetector) -> None:
    results = [(case, verdict(detector, case["text"], case["prompt"])) for case in CASES]
    failed = [
        (c["kind"], c["lang"], c["text"][:60], got) for c, got in results if not case_passes(c["expect"], got)
    ]
    rate = 1 - len(failed) / len(CASES)
    assert rate >= FUNCTIONAL_FLOOR, f"{len(failed)}/{len(CASES)} functional cases fail: {failed}"


def test_suite_covers_every_language_and_the_contrasts() -> None:
    langs = {c["lang"] for c in CASES}
    assert {"en", "fr", "de", "es", "it", "pt", "nl"} <= langs
    kinds = {c["kind"] for c in CASES}
    for kind in (
        "negation",
        "quotation",
        "counter_speech",
        "reclaimed",
        "refusal",
        "homonym",
        "emoji",
        "one_word",
        "code",
        "table",
        "puzzle",
        "harmful_compliance",
    ):
        assert kind in kinds, kind


def test_short_answers_never_page(detector: ContentSafetyDetector) -> None:
    settings = ContentSafetySettings(
        thresholds={h: 0.0 for h in SCORED}
    )  # flag everything that may be flagged
    eager = ContentSafetyDetector(settings)
    assert eager.observe(make_call("😊👍")) == []
    assert eager.observe(make_call("42")) == []
    findings = eager.observe(make_call("Kill them all.", span="00f067aa0ba902b8"))
    assert findings and all(f.severity.rank <= Severity.warning.rank for f in findings)


def test_severity_follows_how_sure_the_judge_is(detector: ContentSafetyDetector) -> None:
    """Just over a flag threshold a finding is info; where the measured precision is high it warns or pages;
    an operator's severity for the category wins; a short answer never pages."""
    calibration = json.loads((ARTIFACTS_DIR / "calibration.json").read_text())
    text = "This is a long enough answer to page someone about it at night."
    for category in SCORED:
        ladder = calibration["levels"][category]
        assert [t for t, _ in ladder] == sorted(t for t, _ in ladder)
        assert ladder[0] == [calibration["thresholds"][category], "info"]
        if len(ladder) > 1 and ladder[1][0] > ladder[0][0]:  # between the flag and the next level: info
            assert detector._severity(category, text, (ladder[0][0] + ladder[1][0]) / 2) is Severity.info
        top_threshold, top = ladder[-1]
        assert detector._severity(category, text, max(top_threshold, ladder[0][0]) + 1e-6) is Severity(top)
    paging = [c for c in SCORED if Severity(calibration["levels"][c][-1][1]).rank >= Severity.error.rank]
    assert paging, "no category can page: the ladder lost its top"
    assert detector._severity(paging[0], "Kill them all.", 0.999) is Severity.warning
    operator = ContentSafetyDetector(ContentSafetySettings(severities={paging[0]: "critical"}))
    assert operator._severity(paging[0], text, calibration["thresholds"][paging[0]]) is Severity.critical


def test_severity_levels_need_sure_precision_and_stay_above_clean_answers() -> None:
    from watchkeeper.detectors.content_safety.training.calibrate import severity_levels

    rng = np.random.default_rng(0)
    p = np.concatenate([rng.uniform(0.0, 0.6, 2000), rng.uniform(0.6, 1.0, 400)])
    y = np.concatenate([rng.random(2000) < 0.05, rng.random(400) < 0.97]).astype(float)
    levels = severity_levels("hate", p, y, clean=np.array([0.1, 0.2]), flag_threshold=0.3)
    assert [lv.severity for lv in levels] == ["info", "warning", "error"]
    assert all(a.threshold <= b.threshold for a, b in itertools.pairwise(levels))
    # a clean training answer at 0.95 lifts both higher levels above it: it would stay info
    lifted = severity_levels("hate", p, y, clean=np.array([0.95]), flag_threshold=0.3)
    assert all(lv.threshold > 0.95 for lv in lifted[1:])
    # a head that cannot reach the precision a warning needs is only ever info
    noisy = severity_levels("hate", p, (rng.random(len(p)) < 0.3).astype(float), np.array([0.1]), 0.3)
    assert [lv.severity for lv in noisy] == ["info"]
    # too few labelled positives to measure precision: a ticket at most, never a page
    few = severity_levels("self_harm", p, np.zeros(len(p)), np.array([0.1]), 0.3)
    assert [lv.severity for lv in few] == ["info", "warning"]


def test_findings_carry_scores_judge_and_excerpt(detector: ContentSafetyDetector) -> None:
    case = next(
        c
        for c in CASES
        if c["kind"] == "hate_derogation"
        and c["lang"] == "en"
        and case_passes(c["expect"], verdict(detector, c["text"]))
    )
    text = "Thanks for asking. " + case["text"] + " Anything else?"
    findings = detector.observe(make_call(text))
    assert findings, "a harmful answer must raise a finding"
    f = findings[0]
    assert f.detector == "content_safety" and f.category in SCORED
    assert f.evidence["source"] == "output" and f.evidence["judge"] == "semantic"
    assert set(f.evidence["scores"]) == {*SCORED, "any"}
    assert case["text"][:20] in f.evidence["excerpt"]
    # why it has its severity: the score and the measured precision behind that step of the ladder
    assert f.evidence["severity_reason"].startswith(f"score {f.score:.2f}: ")
    assert "flag threshold" in f.evidence["severity_reason"] or "precision" in f.evidence["severity_reason"]


@pytest.mark.xfail(
    reason="known gap of the shipped judge: its compliance head barely reads the request "
    "(model card, functional suite failures)",
    strict=False,
)
def test_the_request_raises_harmful_compliance(detector: ContentSafetyDetector) -> None:
    """The same answer scores higher for harmful compliance after the harmful request it answers."""
    cases = [c for c in CASES if c["kind"] == "harmful_compliance" and c["prompt"]]
    assert cases
    col = SCORED.index("harmful_compliance")
    texts = [c["text"] for c in cases]
    with_request = detector.score_pairs(texts, [c["prompt"] for c in cases])[:, col]
    alone = detector.score_pairs(texts, [None] * len(cases))[:, col]
    assert with_request.mean() > alone.mean()


def test_over_budget_every_call_is_still_judged_and_coverage_says_so() -> None:
    detector = ContentSafetyDetector(ContentSafetySettings(semantic_cpu_share=0.001))
    detector.budget = SemanticBudget(0.001)
    detector.budget.capacity = detector.budget.level = 0.01  # CPU seconds: a few answers' worth
    calls = [
        make_call(
            f"Answer number {i}: " + "a calm and ordinary sentence. " * 30,
            span=f"{i:016x}",
            service="budget-app",
        )
        for i in range(40)
    ]
    detector.observe_batch(calls)
    read = metrics.CONTENT_SAFETY_CALLS.labels("budget-app", "semantic")._value.get()
    cheap = metrics.CONTENT_SAFETY_CALLS.labels("budget-app", "lexical")._value.get()
    assert read + cheap == 40 and cheap > 0
    assert metrics.CONTENT_SAFETY_COVERAGE.labels("budget-app")._value.get() == pytest.approx(read / 40)


def test_a_flood_of_apps_keeps_the_coverage_label_sets_bounded(detector: ContentSafetyDetector) -> None:
    """Beyond `detectors.max_app_labels` distinct apps, new apps count as `__other__`: the per-app coverage
    series cannot grow without bound under a flood of service names."""
    limit_before = metrics.MAX_APP_LABELS
    metrics.set_app_label_limit(len(metrics._app_labels) + 2)
    try:
        calls = [
            make_call("An ordinary answer about the weather.", span=f"{i:016x}", service=f"flood-{i}")
            for i in range(6)
        ]
        detector.observe_batch(calls)
    finally:
        metrics.set_app_label_limit(limit_before)
    apps = {s.labels["app"] for s in metrics.CONTENT_SAFETY_COVERAGE.collect()[0].samples}
    assert {a for a in apps if a.startswith("flood-")} == {"flood-0", "flood-1"}
    assert metrics.OTHER_APP in apps
    other = metrics.CONTENT_SAFETY_CALLS.labels(metrics.OTHER_APP, "semantic")._value.get()
    assert other >= 4


def test_detectors_built_again_share_the_loaded_model(tmp_path: Path) -> None:
    """A config reload or a second suite in one process does not load the ~460 MB judge again; changed
    artifacts on disk are loaded afresh."""
    first, second = ContentSafetyDetector(), ContentSafetyDetector()
    assert first.judge is second.judge and first.lexical is second.lexical
    copy = tmp_path / "artifacts"
    shutil.copytree(ARTIFACTS_DIR, copy)
    moved = ContentSafetyDetector(ContentSafetySettings(artifacts_dir=str(copy)))
    again = ContentSafetyDetector(ContentSafetySettings(artifacts_dir=str(copy)))
    assert moved.judge is again.judge and moved.judge is not first.judge
    calibration = json.loads((copy / "calibration.json").read_text())
    calibration["thresholds"]["hate"] = 0.42
    (copy / "calibration.json").write_text(json.dumps(calibration))
    reloaded = ContentSafetyDetector(ContentSafetySettings(artifacts_dir=str(copy)))
    assert reloaded.judge is not moved.judge and reloaded.judge.calibration.thresholds["hate"] == 0.42


def test_missing_or_corrupt_artifacts_name_the_file_and_the_fix(tmp_path: Path) -> None:
    broken = tmp_path / "artifacts"
    shutil.copytree(ARTIFACTS_DIR, broken, ignore=shutil.ignore_patterns(".train"))
    (broken / "judge.npz").unlink()
    with pytest.raises(ArtifactError, match=r"judge\.npz is missing.*watchkeeper train content-safety"):
        ContentSafetyDetector(ContentSafetySettings(artifacts_dir=str(broken)))
    (broken / "judge.npz").write_bytes(b"not a zip file")
    with pytest.raises(ArtifactError, match=r"judge\.npz is unreadable"):
        Judge(broken)
    shutil.copyfile(ARTIFACTS_DIR / "judge.npz", broken / "judge.npz")
    (broken / "calibration.json").write_text("{}")
    with pytest.raises(ArtifactError, match=r"calibration\.json is not a valid calibration file"):
        Judge(broken)
    shutil.copyfile(ARTIFACTS_DIR / "calibration.json", broken / "calibration.json")
    (broken / "tokenizer.model").unlink()
    with pytest.raises(ArtifactError, match=r"tokenizer\.model is missing.*watchkeeper train content-safety"):
        Judge(broken)
    (broken / "tokenizer.model").write_bytes(b"\x0a\xffnot a piece model")
    with pytest.raises(ArtifactError, match=r"tokenizer\.model is unreadable"):
        Judge(broken)


def test_the_tokenizer_reads_every_text_it_can_be_given() -> None:
    """Unknown scripts become the unknown piece, lone surrogates (valid JSON escapes) do not crash, and the
    pieces match the token table row for row."""
    judge = Judge()
    pieces = judge.tokenizer
    assert len(pieces) == judge.emb_q.shape[0]
    assert pieces.pieces("Bonjour, ça va ?")[:2] == ["\u2581Bonjour", ","]
    assert pieces.unknown_id in pieces.ids(["\u65e5\u672c\u8a9e"])[0]
    assert pieces.ids(["", "x\ud800y"])[0] == [] and pieces.ids(["x\ud800y"])[0]


def test_settings_errors_are_clear() -> None:
    with pytest.raises(ValueError, match="unknown content-safety thresholds key"):
        ContentSafetySettings(thresholds={"hateful": 0.5})
    with pytest.raises(ValueError, match="semantic_cpu_share"):
        ContentSafetySettings(semantic_cpu_share=0)


def test_feedback_export_lines_become_training_rows(tmp_path: Path) -> None:
    from watchkeeper.detectors.content_safety.training.pipeline import feedback_examples

    path = tmp_path / "feedback.jsonl"
    path.write_text(
        json.dumps(
            {
                "detector": "content_safety",
                "category": "hate",
                "label": 0,
                "labels": {"hate": 0},
                "text": "The census counts religions.",
                "prompt": "What does the census count?",
            }
        )
        + "\n"
        + json.dumps({"detector": "leakage", "category": "email", "label": 1, "text": "x"})
        + "\n"
    )
    rows = feedback_examples(path)
    assert len(rows) == 1 and rows[0].labels == {"hate": 0} and rows[0].prompt
    path.write_text("{not json\n")
    with pytest.raises(ValueError, match=r"feedback\.jsonl:1: not a feedback export line"):
        feedback_examples(path)


def test_commands_refuse_a_missing_data_folder(tmp_path: Path) -> None:
    from watchkeeper.detectors.content_safety.commands import eval_cmd, train_cmd

    for command in (eval_cmd, train_cmd):
        result = CliRunner().invoke(command, ["--data", str(tmp_path / "nowhere")])
        assert result.exit_code != 0 and "pass the data folder with --data PATH" in result.output


DATA_DIR = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


@pytest.mark.slow
@pytest.mark.skipif(
    not (DATA_DIR / "extra").is_dir(), reason="the public data folder ../shared/data is absent"
)
def test_eval_reports_every_table_on_the_fixed_splits() -> None:
    from watchkeeper.detectors.content_safety.evaluation import evaluate

    report = evaluate(DATA_DIR, None, CASES_FILE)
    datasets = {r.dataset for r in report.rows}
    assert {
        "openai_moderation (unseen)",
        "toxichat (held-out source)",
        "latent_jailbreak (held-out source)",
    } <= datasets
    clean = report.clean["all generators"]
    assert clean["n"] > 1000 and clean["paging"] == 0, "a clean answer would page"
    assert report.functional["total"] == len(CASES)
    text = report.to_text()
    assert "AUPRC" in text and "functional suite" in text
    assert "latent_jailbreak (held-out source)  harmful" in text  # columns never run into each other
