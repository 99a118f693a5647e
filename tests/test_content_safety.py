"""Content-safety detector: shipped artifacts, verdicts on obvious texts, findings, errors, training."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from watchkeeper.core.findings import Severity
from watchkeeper.core.records import Message, ModelCall
from watchkeeper.detectors.content_safety.detector import (
    ARTIFACTS_DIR,
    FAST_FILE,
    HEADS,
    THRESHOLDS_FILE,
    ContentSafetyDetector,
    ContentSafetySettings,
    load_model,
)
from watchkeeper.detectors.content_safety.text_features import ArtifactError, split_sentences

DATA_DIR = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"

# Our own short examples, phrased differently from the seed files used in training.
OBVIOUS = {
    "hate": "Those filthy immigrants are subhuman vermin and every one of them should be thrown out "
    "of our country. I hate their disgusting race.",
    "harassment": "You are a pathetic, worthless idiot. Everyone laughs at you behind your back, "
    "you ugly loser.",
    "violence": "I am going to murder my neighbour with an axe and watch him bleed to death on his lawn.",
    "self_harm": "I want to kill myself tonight. I have been cutting myself for weeks and suicide feels "
    "like the only way out.",
    "sexual": "She slowly took off her clothes and we had hot, explicit sex all night, her naked body "
    "pressed against mine.",
    "extremism": "Patriots, the hour has come: arm yourselves, storm their offices and wipe out the "
    "corrupt elites who are replacing our people.",
}
CLEAN = [
    "To bake sourdough bread, mix flour, water and starter, let it rise overnight, then bake at 230 C for 40 "
    "minutes until the crust is deep brown.",
    "Python lists are mutable sequences. Use append() to add an item and sort() to order them in place.",
    "The French Revolution began in 1789 and transformed European politics, ending the absolute monarchy.",
    "Here are three tips for a job interview: research the company, prepare examples of your achievements, "
    "and ask thoughtful questions at the end.",
    "Photosynthesis converts light energy into chemical energy: plants take in carbon dioxide and water and "
    "release oxygen.",
    "To kill a stuck process on Linux, find its id with ps and send it a signal with kill.",
]


@pytest.fixture(scope="module")
def detector() -> ContentSafetyDetector:
    return ContentSafetyDetector()


def make_call(output: str, user: str = "Tell me something.", span: str = "00f067aa0ba902b7") -> ModelCall:
    return ModelCall(
        trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
        span_id=span,
        start_time_ns=1_700_000_000_000_000_000,
        duration_ms=120.0,
        service="support-bot",
        environment="prod",
        provider="openai",
        request_model="gpt-4o",
        input_messages=[Message("user", user)],
        output_text=output,
    )


def test_shipped_artifacts_load() -> None:
    model = load_model("fast")
    assert set(model.thresholds) == set(HEADS)
    assert all(0.0 < t < 1.0 for t in model.thresholds.values())
    assert model.fast.weights.shape[1] == len(HEADS)
    card = (ARTIFACTS_DIR / "model_card.md").read_text()
    assert "sha256" in card and "AUPRC" in card
    metrics = json.loads((ARTIFACTS_DIR / "metrics.json").read_text())
    assert metrics["evaluation"]["fast"]["auprc_cv5"]["any"] > 0.7


def test_score_text_keys_and_ranges(detector: ContentSafetyDetector) -> None:
    scores, flagged = detector.score_text("Hello, how can I help you today?")
    assert list(scores) == list(HEADS)
    assert all(isinstance(v, float) and 0.0 <= v <= 1.0 for v in scores.values())
    assert flagged is False
    empty_scores, _ = detector.score_text("")
    assert set(empty_scores) == set(HEADS)


@pytest.mark.parametrize("category", sorted(OBVIOUS))
def test_obvious_texts_flagged_in_their_category(detector: ContentSafetyDetector, category: str) -> None:
    scores, flagged = detector.score_text(OBVIOUS[category])
    assert flagged
    assert scores[category] >= detector.thresholds[category], scores


@pytest.mark.xfail(
    reason="known miss of the fast tier: one long sentence mixing a threat with neutral words scores "
    "just under the violence threshold (only 62 violence examples in the public set)",
    strict=False,
)
def test_long_graphic_threat(detector: ContentSafetyDetector) -> None:
    text = (
        "Tomorrow I will walk into his office with my gun and blow his brains all over the wall, "
        "then I will slit the throat of anyone who tries to run."
    )
    assert detector.score_text(text)[1]


@pytest.mark.parametrize("text", CLEAN)
def test_clean_everyday_answers_not_flagged(detector: ContentSafetyDetector, text: str) -> None:
    scores, flagged = detector.score_text(text)
    assert not flagged, scores
    assert detector.observe(make_call(text)) == []


def test_observe_finding_has_category_severity_and_offending_excerpt(detector: ContentSafetyDetector) -> None:
    hateful = OBVIOUS["hate"].split(". ")[0] + "."
    output = f"Sure, here is the summary you asked for. {hateful} Let me know if you need anything else."
    findings = detector.observe(make_call(output))
    by_category = {f.category: f for f in findings}
    assert "hate" in by_category
    finding = by_category["hate"]
    assert finding.severity == Severity.error
    assert finding.detector == "content_safety"
    assert finding.labels["category"] == "hate" and finding.labels["app"] == "support-bot"
    assert "vermin" in finding.evidence["excerpt"]
    assert "Let me know" not in finding.evidence["excerpt"]
    assert finding.evidence["source"] == "output"
    assert finding.score >= detector.thresholds["hate"]
    # a replay gives the same ids (at-least-once delivery stays idempotent)
    assert [f.id for f in detector.observe(make_call(output))] == [f.id for f in findings]


def test_critical_categories_and_severity_override(detector: ContentSafetyDetector) -> None:
    findings = detector.observe(make_call(OBVIOUS["extremism"]))
    assert any(f.category == "extremism" and f.severity == Severity.critical for f in findings)
    softer = ContentSafetyDetector(ContentSafetySettings(severities={"extremism": Severity.warning}))
    findings = softer.observe(make_call(OBVIOUS["extremism"]))
    assert any(f.category == "extremism" and f.severity == Severity.warning for f in findings)


def test_observe_batch_matches_observe(detector: ContentSafetyDetector) -> None:
    texts = [*CLEAN[:3], OBVIOUS["violence"], OBVIOUS["self_harm"], ""]
    calls = [make_call(t, span=f"{i:016x}") for i, t in enumerate(texts)]
    one_by_one = [f for call in calls for f in detector.observe(call)]
    batched = detector.observe_batch(calls)
    assert [(f.id, f.category) for f in batched] == [(f.id, f.category) for f in one_by_one]
    assert {f.category for f in batched} >= {"violence", "self_harm"}


def test_check_inputs_scores_user_messages() -> None:
    call = make_call("I'm sorry you feel that way. How can I help?", user=OBVIOUS["harassment"])
    assert ContentSafetyDetector().observe(call) == []
    findings = ContentSafetyDetector(ContentSafetySettings(check_inputs=True)).observe(call)
    assert findings and all(f.evidence["source"] == "input" for f in findings)
    assert "harassment" in {f.category for f in findings}


def test_apps_filter_and_threshold_overrides() -> None:
    strict_off = ContentSafetyDetector(ContentSafetySettings(thresholds=dict.fromkeys(HEADS, 1.0)))
    assert strict_off.observe(make_call(OBVIOUS["hate"])) == []
    other_app = ContentSafetyDetector(ContentSafetySettings(apps=["billing-*"]))
    assert other_app.observe_batch([make_call(OBVIOUS["hate"])]) == []


def test_settings_reject_unknown_category_keys() -> None:
    with pytest.raises(ValueError, match="unknown content-safety thresholds key"):
        ContentSafetySettings(thresholds={"spam": 0.5})
    with pytest.raises(ValueError, match="within"):
        ContentSafetySettings(thresholds={"hate": 1.5})


def copy_artifacts(tmp_path: Path) -> Path:
    target = tmp_path / "content_safety"
    shutil.copytree(ARTIFACTS_DIR, target)
    return target


def test_corrupted_weights_give_clear_error(tmp_path: Path) -> None:
    root = copy_artifacts(tmp_path)
    (root / FAST_FILE).write_bytes(b"this is not a zip archive")
    with pytest.raises(ArtifactError) as info:
        ContentSafetyDetector(ContentSafetySettings(artifacts_dir=str(root)))
    assert FAST_FILE in str(info.value) and "watchkeeper train content-safety" in str(info.value)


def test_missing_artifacts_give_clear_error(tmp_path: Path) -> None:
    root = copy_artifacts(tmp_path)
    (root / THRESHOLDS_FILE).unlink()
    with pytest.raises(ArtifactError, match=r"thresholds\.json is missing.*watchkeeper train content-safety"):
        load_model("fast", root)
    (root / FAST_FILE).unlink()
    with pytest.raises(ArtifactError, match=r"fast_heads\.npz is missing.*watchkeeper train content-safety"):
        load_model("fast", root)


def test_malformed_thresholds_give_clear_error(tmp_path: Path) -> None:
    root = copy_artifacts(tmp_path)
    (root / THRESHOLDS_FILE).write_text('{"fast": {"hate": 0.5}}')
    with pytest.raises(ArtifactError, match=r"thresholds\.json.*watchkeeper train content-safety"):
        load_model("fast", root)


def test_split_sentences_keeps_lines_and_punctuation() -> None:
    assert split_sentences("One. Two!\nThree? four") == ["One.", "Two!", "Three?", "four"]


def write_tiny_data(root: Path) -> None:
    """A minimal data folder in the real layout: enough rows for 5-fold CV of every head."""
    rows = []
    for i in range(30):
        flagged = i % 2 == 0
        text = (
            f"I will hurt you badly and you deserve to suffer, victim number {i}."
            if flagged
            else f"The weather today is mild and the museum opens at {i % 12} o'clock."
        )
        labels = dict.fromkeys(("S", "H", "HR", "SH", "S3", "H2", "V2"), 0)
        rows.append({"prompt": text, "V": int(flagged), **labels, "id": f"oai-{i:04d}"})
    (root / "openai_moderation").mkdir(parents=True)
    (root / "openai_moderation" / "dev.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    (root / "alpaca_eval_outputs").mkdir()
    for gen in ("gpt4", "llama-2-70b-chat-hf", "Mixtral-8x7B-Instruct-v0.1"):
        outputs = [
            {
                "instruction": f"q{i}",
                "output": f"A helpful answer about gardening number {i}.",
                "generator": gen,
            }
            for i in range(20)
        ]
        (root / "alpaca_eval_outputs" / f"{gen}.model_outputs.json").write_text(json.dumps(outputs))


def test_train_and_evaluate_on_a_tiny_data_folder(tmp_path: Path) -> None:
    from watchkeeper.detectors.content_safety.commands import evaluate_content_safety, train_content_safety

    data, out = tmp_path / "data", tmp_path / "artifacts"
    write_tiny_data(data)
    metrics = train_content_safety(data, out, embedding=False)
    assert {p.name for p in out.iterdir()} >= {FAST_FILE, THRESHOLDS_FILE, "metrics.json", "model_card.md"}
    assert len(metrics["input_sha256"]["openai_moderation/dev.jsonl"]) == 64
    assert metrics["evaluation"]["fast"]["auprc_cv5"]["violence"] > 0.9
    detector = ContentSafetyDetector(ContentSafetySettings(artifacts_dir=str(out)))
    assert detector.score_text("I will hurt you badly and you deserve to suffer.")[1]
    table = evaluate_content_safety(data, "fast", out)
    assert "AUPRC" in table and "violence" in table


def test_click_commands_run(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from watchkeeper.detectors.content_safety.commands import eval_cmd, train_cmd

    data, out = tmp_path / "data", tmp_path / "artifacts"
    write_tiny_data(data)
    result = CliRunner().invoke(train_cmd, ["--data", str(data), "--out", str(out), "--no-embedding"])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(eval_cmd, ["--data", str(data), "--artifacts", str(out)])
    assert result.exit_code == 0, result.output
    assert "AUPRC" in result.output
    missing = CliRunner().invoke(train_cmd, ["--data", str(tmp_path / "nowhere"), "--out", str(out)])
    assert missing.exit_code != 0 and "--data" in str(missing.exception)


@pytest.mark.slow
@pytest.mark.skipif(not (DATA_DIR / "openai_moderation" / "dev.jsonl").is_file(), reason="data folder absent")
def test_training_on_the_real_data_meets_the_false_positive_budget(tmp_path: Path) -> None:
    from watchkeeper.detectors.content_safety.commands import train_content_safety

    metrics = train_content_safety(DATA_DIR, tmp_path, embedding=False)
    fast = metrics["evaluation"]["fast"]
    assert fast["alpaca_heldout_fp_rate"]["all generators"] <= 0.01
    assert fast["auprc_cv5"]["any"] >= 0.75


def _embedding_installed() -> bool:
    from watchkeeper.detectors.content_safety.training import embedding_available

    return embedding_available() and (ARTIFACTS_DIR / "embedding_heads.npz").is_file()


@pytest.mark.slow
@pytest.mark.skipif(not _embedding_installed(), reason="optional embedding extra not installed")
def test_embedding_tier_scores_obvious_and_clean_texts() -> None:
    detector = ContentSafetyDetector(ContentSafetySettings(tier="embedding"))
    scores, flagged = detector.score_text(OBVIOUS["self_harm"])
    assert flagged and scores["self_harm"] >= detector.thresholds["self_harm"]
    assert not detector.score_text(CLEAN[0])[1]
    assert detector.observe_batch([make_call(CLEAN[1]), make_call(OBVIOUS["hate"], span="1" * 16)])


def test_a_minor_mentioned_in_a_non_sexual_answer_does_not_page() -> None:
    """sexual_minors is a subset of sexual: mentioning a teenager is not sexual content about a minor."""
    detector = ContentSafetyDetector()
    text = "Kylian Mbappé became the second teenager after Pelé to score in a World Cup final."
    hits = detector.hits(detector.score_texts([text]))[0]
    assert not hits[HEADS.index("sexual_minors")]
