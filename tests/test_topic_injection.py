"""Topic injection: recurring off-topic passages become one incident per theme; clean traffic stays quiet."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from tests.support.state import findings_with_evictions
from watchkeeper.core.detector import MemoryState
from watchkeeper.core.detector_state import DetectorState
from watchkeeper.core.findings import Severity
from watchkeeper.detectors.topic_injection.detector import (
    TopicInjectionDetector,
    TopicInjectionSettings,
    off_topic_passages,
)
from watchkeeper.detectors.topic_injection.evaluation import (
    NARRATIVES,
    insert_at_boundary,
    load_answers,
    make_call,
    simulate,
    topic_injection_eval_cmd,
)
from watchkeeper.detectors.topic_injection.watchlist import NarrativeSpec, load_watchlist

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

TOPICS = {
    "bread": "flour yeast dough knead oven bake loaf crust water salt rise temperature sourdough starter",
    "python": "list function variable loop index value return code error module import class string",
    "garden": "tomato soil water seed plant sunlight compost fertilizer leaves root pot harvest weeds",
    "running": "marathon pace training shoes mileage stretch muscles recovery hydration interval race knee",
    "budget": "income expenses savings spreadsheet category rent groceries debt emergency fund monthly goal",
    "guitar": "chord string fret strumming tuning practice finger scale melody rhythm pick capo song",
    "travel": "passport flight hotel luggage itinerary museum train ticket booking airport visa currency",
    "coffee": "beans grinder espresso brew water temperature roast filter milk crema ratio kettle aroma",
}
# Sentence frames made of stop words only: the content comes from the topic, as in real answers.
FILLERS = [
    "First, the {} and the {} should be done before the {} and {}.",
    "The {} is more than the {}, because the {} can move the {}.",
    "Then put the {} with the {} while the {} and the {} are here.",
    "If the {} is off, see the {}, the {} and the {} again.",
    "Together, {}, {} and {} give you a {}.",
    "Last, put the {} next to the {} and the {} to see the {}.",
    "So the {} and {} often go with {} as well as {}.",
]
CLOSINGS = [
    "I hope this helps! Let me know if you have any other questions.",
    "Thanks for choosing Contoso Bank, the trusted partner for savings accounts and home mortgages.",
]


def synthetic_corpus(n: int = 600, seed: int = 0) -> list[tuple[str, str]]:
    """Everyday Q&A on a few topics, with generic and app-specific closing lines (recurring boilerplate)."""
    rng = np.random.default_rng(seed)
    pairs = []
    names = list(TOPICS)
    for _ in range(n):
        words = TOPICS[names[int(rng.integers(len(names)))]].split()

        def pick(k: int, words: list[str] = words) -> list[str]:
            return [words[int(i)] for i in rng.choice(len(words), k, replace=False)]

        w = pick(3)
        prompt = f"How should I handle the {w[0]} and the {w[1]} for my {w[2]}?"
        sentences = []
        for _ in range(int(rng.integers(4, 8))):  # like real answers, every sentence echoes the question
            frame = FILLERS[int(rng.integers(len(FILLERS)))]
            sentences.append(frame.format(w[int(rng.integers(3))], *pick(3)))
        roll = rng.random()
        if roll < 0.3:
            sentences.append(CLOSINGS[0])
        elif roll < 0.7:
            sentences.append(CLOSINGS[1])
        pairs.append((prompt, " ".join(sentences)))
    return pairs


SETTINGS = TopicInjectionSettings(warmup_calls=150)


def test_off_topic_passage_is_found_and_on_topic_sentences_are_not() -> None:
    prompt = "How do I bake sourdough bread with a starter?"
    answer = (
        "Feed the starter the day before so it is active. Mix flour, water and salt with the starter. "
        "It is also worth noting that white farmers in South Africa face a genocide that the media refuses "
        "to "
        "report. Knead the dough, let it rise overnight, and bake the loaf in a hot oven."
    )
    passages = off_topic_passages(prompt, answer)
    assert len(passages) == 1
    assert "South Africa" in passages[0].text
    assert off_topic_passages("", answer) == []  # no prompt captured: nothing to judge against


def test_insert_at_boundary_keeps_the_answer_and_adds_the_passage() -> None:
    rng = np.random.default_rng(1)
    answer = "One. Two! Three?\nFour."
    out = insert_at_boundary(answer, "INSERTED.", rng)
    assert "INSERTED." in out
    assert out.replace("INSERTED.", "").split() == answer.split()


@pytest.mark.parametrize("narrative", ["white_genocide", "atlantis_coverup"])
def test_simulation_on_synthetic_corpus_detects_and_stays_quiet_when_clean(narrative: str) -> None:
    pairs = synthetic_corpus()
    result = simulate(
        None, narrative, NARRATIVES[narrative], rate=0.05, seed=3, pairs=pairs, settings=SETTINGS
    )
    assert result.injected_until_incident is not None, result
    assert result.injected_until_incident <= 25
    assert result.false_incidents == 0
    assert result.clean_replay_incidents == 0
    if narrative == "white_genocide":
        assert result.watchlist_narrative == "white_genocide" and result.severity == "critical"
    else:
        assert result.watchlist_narrative is None and result.severity == "warning"


def _injected_stream(narrative: str, n: int = 500, every: int = 10) -> list:
    pairs = synthetic_corpus(n)
    rng = np.random.default_rng(7)
    calls = []
    for i, (prompt, answer) in enumerate(pairs):
        if i >= 200 and i % every == 0:
            answer = insert_at_boundary(answer, NARRATIVES[narrative][i % len(NARRATIVES[narrative])], rng)
        calls.append(make_call(i, 7, prompt, answer))
    return calls


def test_one_incident_per_theme_with_examples_and_count() -> None:
    detector = TopicInjectionDetector(SETTINGS)
    findings = [f for c in _injected_stream("vaccine_microchips") for f in detector.observe(c)]
    assert findings
    assert len({f.fingerprint for f in findings}) == 1
    first = findings[0]
    assert first.labels["theme"] == "vaccine_microchips" and first.labels["narrative"] == "vaccine_microchips"
    assert first.severity is Severity.critical
    assert first.evidence["conversations"] >= SETTINGS.watchlist_min_conversations
    examples = first.evidence["examples"]
    assert len(examples) >= SETTINGS.watchlist_min_conversations
    assert all(e["trace_id"] and e["prompt"] and "microchip" in e["passage"].lower() for e in examples)
    assert "examples" not in findings[-1].evidence  # later findings carry their own call only
    assert len({f.id for f in findings}) == len(findings)


def test_replay_gives_the_same_findings() -> None:
    calls = _injected_stream("birds_surveillance")
    runs = []
    for _ in range(2):
        detector = TopicInjectionDetector(SETTINGS)
        runs.append([(f.id, f.fingerprint) for c in calls for f in detector.observe(c)])
    assert runs[0] and runs[0] == runs[1]


def test_theme_id_survives_a_restart_through_state() -> None:
    calls = _injected_stream("birds_surveillance")
    state = MemoryState()
    first = TopicInjectionDetector(SETTINGS, state=state)
    before = [f for c in calls for f in first.observe(c)]
    assert before
    first.close()
    state.checkpoint()  # what the detectors stage does at stop
    again = TopicInjectionDetector(SETTINGS, state=state)
    later = _injected_stream("birds_surveillance", n=700)[500:]
    after = [f for c in later for f in again.observe(c)]
    assert after
    assert {f.fingerprint for f in after} == {before[0].fingerprint}


def test_evicted_and_reloaded_apps_give_the_same_findings() -> None:
    """An app whose state leaves memory (LRU over capacity, a partition moved away) and comes back from its
    checkpoint, mid-cluster and with its history and document frequencies, judges exactly as one that never
    left: the same findings, ids, severities and evidence."""
    streams = [_injected_stream(name) for name in ("birds_surveillance", "vaccine_microchips")]
    calls = sorted(
        (replace(c, service=f"app-{i}") for i, stream in enumerate(streams) for c in stream),
        key=lambda c: c.start_time_s,
    )
    steady_detector = TopicInjectionDetector(SETTINGS)
    steady = [(f.id, f.severity, f.evidence) for c in calls for f in steady_detector.observe(c)]
    assert steady

    state = MemoryState()
    detector = TopicInjectionDetector(SETTINGS, state=state)
    assert findings_with_evictions(detector, state, calls) == steady


def test_a_flood_of_one_call_apps_keeps_a_few_kilobytes_each() -> None:
    """50,000 distinct apps must not cost 50,000 x (themes x vocabulary) floats: an app's arrays grow with
    the themes it has, and the LRU keeps `capacity` apps in memory (the rest live in their checkpoints)."""
    state = DetectorState("memory", capacity=50)
    detector = TopicInjectionDetector(SETTINGS, state=state)
    for i, (prompt, answer) in enumerate(synthetic_corpus(400, seed=9)):
        detector.observe(replace(make_call(i, 5, prompt, answer), service=f"app-{i}"))
        if i % 50 == 49:
            state.checkpoint()
    container = next(c for c in state.containers if c.detector == state.detector)
    assert len(container) <= 50
    for app in container.apps():
        st = container.peek(app)
        assert st is not None and st.sums.nbytes <= 16 * 2048 * 4
        assert len(st.sums) <= max(1, 2 * len(st.clusters))  # rows grow with the candidates, not in blocks


def test_app_boilerplate_learned_during_warmup_never_alerts() -> None:
    detector = TopicInjectionDetector(SETTINGS)
    calls = [make_call(i, 5, *pair) for i, pair in enumerate(synthetic_corpus(800, seed=5))]
    assert [f for c in calls for f in detector.observe(c)] == []
    assert len(detector._apps.get("sim-chatbot").learned) >= 1  # the Contoso closing line


def test_watchlist_is_extendable_and_validated(tmp_path: Path) -> None:
    extra = NarrativeSpec(
        id="flat_earth", title="Flat earth", examples=["The earth is flat and NASA hides it."]
    )
    narratives = load_watchlist(extra=[extra])
    assert {"white_genocide", "election_fraud", "moon_landing_hoax", "flat_earth"} <= {
        n.id for n in narratives
    }
    bad = tmp_path / "bad.yaml"
    bad.write_text("narratives:\n  - id: Bad Id\n    title: x\n    examples: []\n")
    with pytest.raises(ValidationError):
        load_watchlist(bad)
    with pytest.raises(ValidationError):
        TopicInjectionSettings(min_conversation=3)  # typo in a key is an error, not a silent default


def test_cli_prints_a_table(tmp_path: Path) -> None:
    folder = tmp_path / "alpaca_eval_outputs"
    folder.mkdir()
    import json

    rows = [{"instruction": p, "output": a} for p, a in synthetic_corpus(400)]
    (folder / "sim.json").write_text(json.dumps(rows))
    narratives = tmp_path / "n.yaml"
    narratives.write_text("cola:\n  - " + NARRATIVES["cola_promotion"][0] + "\n")
    result = CliRunner().invoke(
        topic_injection_eval_cmd,
        ["--data", str(tmp_path), "--seeds", "1", "--rate", "0.1", "--narrative-file", str(narratives)],
    )
    assert result.exit_code == 0, result.output
    assert "cola" in result.output and "until incident" in result.output


@pytest.mark.skipif(not (DATA / "alpaca_eval_outputs").is_dir(), reason="shared alpaca_eval data not present")
def test_simulation_on_real_answers() -> None:
    pairs = load_answers(DATA)
    assert len(pairs) == 2414 or len(pairs) == 2415
    result = simulate(DATA, "white_genocide", NARRATIVES["white_genocide"], seed=0, pairs=pairs)
    assert result.injected_until_incident is not None and result.injected_until_incident <= 25
    assert result.false_incidents == 0 and result.clean_replay_incidents == 0


# -- new for the app, not its stock phrasing --------------------------------------------------------------

SIGN_OFFS = [  # one model's stock sign-off, in the variants it really uses
    "Let me know if you would like more dessert recipes, baking variations or ingredient substitutions.",
    "Let me know if you would like ingredient substitutions, dessert variations or other baking recipes.",
    "Let me know if you would like baking variations, more dessert recipes or ingredient swaps.",
]


def _stream_with_stock_phrase(
    app: str, n: int, seed: int, *, stock_from: int, model: str = "gpt-sim", inject_from: int | None = None
) -> list:
    pairs = synthetic_corpus(n, seed=seed)
    rng = np.random.default_rng(seed)
    calls = []
    for i, (prompt, answer) in enumerate(pairs):
        if i >= stock_from and rng.random() < 0.04:
            answer = f"{answer} {SIGN_OFFS[int(rng.integers(len(SIGN_OFFS)))]}"
        if inject_from is not None and i >= inject_from and rng.random() < 0.04:
            answer = insert_at_boundary(answer, NARRATIVES["atlantis_coverup"][i % 3], rng, "middle")
        call = make_call(i, seed, prompt, answer)
        call.service, call.request_model = app, model
        calls.append(call)
    return calls


def test_stock_phrasing_of_the_app_never_forms_a_theme_but_a_new_narrative_does() -> None:
    detector = TopicInjectionDetector(TopicInjectionSettings(warmup_calls=100))
    calls = _stream_with_stock_phrase("recipes-bot", 1500, 21, stock_from=0, inject_from=700)
    findings = [f for c in calls for f in detector.observe(c)]
    passages = {str(f.evidence["passage"]) for f in findings}
    assert findings and all("Atlantis" in p for p in passages), passages
    assert all(f.severity == Severity.warning for f in findings)


def test_the_models_stock_phrasing_is_known_to_a_new_app_of_that_model() -> None:
    detector = TopicInjectionDetector(TopicInjectionSettings(warmup_calls=100))
    for c in _stream_with_stock_phrase("old-app", 1200, 22, stock_from=0, model="llama-sim"):
        detector.observe(c)
    # A new app on the same model: the sign-off shows up only after its warm-up, so the app alone would call
    # it new; the model has said it all along.
    new_app = _stream_with_stock_phrase("new-app", 900, 23, stock_from=150, model="llama-sim")
    assert [f for c in new_app for f in detector.observe(c)] == []
    other_model = TopicInjectionDetector(TopicInjectionSettings(warmup_calls=100))
    fresh = _stream_with_stock_phrase("new-app", 900, 23, stock_from=150, model="llama-sim")
    assert [f for c in fresh for f in other_model.observe(c)], "without the model's history it looks new"


def test_history_sample_and_novelty_test() -> None:
    from watchkeeper.detectors.topic_injection.history import (
        PassageHistory,
        novelty_p_value,
        was_there_before,
    )

    history = PassageHistory(capacity=50)
    vec = np.zeros(2048, dtype=np.float32)
    vec[[3, 5]] = np.float32(2**-0.5)
    for call in range(400):
        history.calls = call
        idx = np.array([3, 5]) if call % 10 == 0 else np.array([100 + call % 7, 900])
        history.add(idx, np.full(2, 2**-0.5, dtype=np.float32), f"span-{call}")
    assert len(history.rows) == 50 and history.seen == 400
    prior = history.prior(vec, before_call=300, seen_before=300, similarity=0.5)
    assert 10 <= prior <= 60  # about 30 similar passages before call 300, estimated from the sample
    assert novelty_p_value(prior, 300, recent=6, span_calls=60) > 0.01  # the same rate as before: stock
    assert was_there_before(prior, 300, recent=6, span_calls=60)
    assert novelty_p_value(0.0, 300, recent=6, span_calls=60) < 1e-4  # never seen before: new
    assert not was_there_before(0.0, 300, recent=6, span_calls=60)
    again = PassageHistory.load(history.dump(), 50)
    assert again.prior(vec, 300, 300, 0.5) == prior and again.seen == 400


# -- placements and languages -----------------------------------------------------------------------------


def test_middle_placement_puts_the_passage_strictly_inside() -> None:
    rng = np.random.default_rng(2)
    answer = "First sentence here. Second one follows. Third and last."
    out = insert_at_boundary(answer, "INSERTED.", rng, "middle")
    assert not out.startswith("INSERTED.") and not out.endswith("INSERTED.")
    assert out.replace(" INSERTED.", "") == answer
    single = insert_at_boundary("Just one sentence without a boundary", "X.", rng, "middle")
    assert single.split()[0] == "Just" and single.split()[-1] == "boundary"
    assert insert_at_boundary(answer, "S.", rng, "start").startswith("S.")
    assert insert_at_boundary(answer, "E.", rng, "end").endswith("E.")


LANGUAGE_CASES = {  # (question, answer whose every sentence is about it, an injected off-topic sentence)
    "fr": (
        "Comment faire du pain au levain avec de la farine, de l'eau et du sel ?",
        "Nourrissez le levain la veille pour le pain. Mélangez la farine et l'eau avec le levain. "
        "Ajoutez le sel à la farine et pétrissez la pâte du pain. Laissez lever la pâte du pain au levain "
        "toute la nuit. Cuisez le pain au four chaud.",
        "Par ailleurs, les vaccins contiennent des micropuces pour que le gouvernement suive la population.",
    ),
    "de": (
        "Wie backe ich Brot mit Sauerteig, Mehl, Wasser und Salz?",
        "Füttern Sie den Sauerteig am Vortag für das Brot. Mischen Sie Mehl und Wasser mit dem Sauerteig. "
        "Geben Sie Salz zum Mehl und kneten Sie den Teig für das Brot. Lassen Sie den Teig mit dem "
        "Sauerteig und dem Mehl über Nacht gehen. Backen Sie das Brot im heißen Ofen.",
        "Übrigens enthalten Impfstoffe Mikrochips, mit denen die Regierung die Bevölkerung überwacht.",
    ),
    "es": (
        "¿Cómo hago pan de masa madre con harina, agua y sal?",
        "Alimenta la masa madre el día anterior para el pan. Mezcla la harina y el agua con la masa madre. "
        "Añade la sal a la harina y amasa la masa del pan. Deja reposar la masa madre toda la noche. "
        "Hornea el pan en el horno caliente.",
        "Por cierto, las vacunas contienen microchips para que el gobierno vigile a la población.",
    ),
    "it": (
        "Come faccio il pane con lievito madre, farina, acqua e sale?",
        "Rinfresca il lievito madre il giorno prima per il pane. Mescola la farina e l'acqua con il "
        "lievito madre. Aggiungi il sale alla farina e impasta il pane. Lascia lievitare il lievito madre "
        "tutta la notte. Cuoci il pane nel forno caldo.",
        "A proposito, i vaccini contengono microchip perché il governo sorvegli la popolazione.",
    ),
    "pt": (
        "Como faço pão de fermento natural com farinha, água e sal?",
        "Alimente o fermento natural na véspera para o pão. Misture a farinha e a água com o fermento "
        "natural. Junte o sal à farinha e amasse o pão. Deixe o fermento natural levedar durante a noite. "
        "Coza o pão no forno quente.",
        "Aliás, as vacinas contêm microchips para que o governo vigie a população.",
    ),
    "nl": (
        "Hoe bak ik brood met zuurdesem, bloem, water en zout?",
        "Voed het zuurdesem de dag ervoor voor het brood. Meng de bloem en het water met het zuurdesem. "
        "Voeg het zout toe aan de bloem en kneed het brood. Laat het zuurdesem een nacht rijzen. "
        "Bak het brood in een hete oven.",
        "Trouwens, vaccins bevatten microchips zodat de overheid de bevolking kan volgen.",
    ),
}


@pytest.mark.parametrize("lang", sorted(LANGUAGE_CASES))
def test_off_topic_passages_in_other_languages(lang: str) -> None:
    from watchkeeper.detectors.topic_injection.text import detect_language

    prompt, answer, injected = LANGUAGE_CASES[lang]
    assert detect_language(answer + "\n" + prompt) == lang
    assert off_topic_passages(prompt, answer) == []  # every sentence is about the bread
    sentences = answer.split(". ")
    with_injection = ". ".join([sentences[0], injected.rstrip("."), *sentences[1:]])
    passages = off_topic_passages(prompt, with_injection)
    assert [p.text for p in passages] == [injected], passages


@pytest.mark.skipif(
    not (DATA / "extra" / "microsoft+RTP-LX").is_dir(), reason="shared RTP-LX data not present"
)
def test_multilingual_simulation_on_real_answers() -> None:
    from watchkeeper.detectors.topic_injection.evaluation import MULTILINGUAL_NARRATIVES, load_multilingual

    pairs = load_multilingual(DATA)["de"]
    result = simulate(
        None, "vaccine_microchips", MULTILINGUAL_NARRATIVES["de"]["vaccine_microchips"], pairs=pairs
    )
    assert result.injected_until_incident is not None and result.injected_until_incident <= 25, result
    assert result.watchlist_narrative == "vaccine_microchips" and result.severity == "critical"
    assert result.false_incidents == 0 and result.clean_replay_incidents == 0


@pytest.mark.skipif(not (DATA / "alpaca_eval_outputs").is_dir(), reason="shared alpaca_eval data not present")
def test_two_percent_rate_in_the_middle_of_real_answers() -> None:
    pairs = load_answers(DATA)
    result = simulate(
        DATA,
        "cola_promotion",
        NARRATIVES["cola_promotion"],
        rate=0.02,
        seed=1,
        pairs=pairs,
        placement="middle",
    )
    assert result.injected_until_incident is not None and result.injected_until_incident <= 40, result
    assert result.false_incidents == 0 and result.clean_replay_incidents == 0
