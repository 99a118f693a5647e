"""The false-page budget: clean answers of three LLMs, replayed with the default configuration, open no page.

The replay (`watchkeeper eval false-pages`) runs every detector over the real answers of the
`alpaca_eval_outputs` generators and folds their findings into a real incident store. A change of a default
(a threshold, a severity, a new detector) that opens an error or critical incident on ordinary traffic, or
more than one warning where the traffic is stationary, fails here. Content safety is in the budget like every
other detector: its flags on clean answers are info (below the severity its measured precision earns).
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from watchkeeper.evaluation.false_pages import (
    DETECTORS,
    SCENARIOS,
    SEVERITIES,
    Replay,
    budget_violations,
    false_pages_eval_cmd,
    format_table,
    load_answers,
    make_calls,
    run,
)

DATA = Path(
    os.environ.get("WATCHKEEPER_TEST_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data"
)
HAVE_DATA = (DATA / "alpaca_eval_outputs").is_dir()
needs_data = pytest.mark.skipif(not HAVE_DATA, reason=f"alpaca_eval outputs not present under {DATA}")
#: The replay (4 x 2,414 calls through every detector) needs about a minute of CPU; the first
#: test that uses it pays for it, so its limit is generous for a loaded machine.
replay_timeout = pytest.mark.timeout(1800)


@pytest.fixture(scope="module")
def replays() -> list[Replay]:
    return run(DATA)


@pytest.mark.slow
@needs_data
@replay_timeout
def test_clean_traffic_opens_no_error_or_critical_and_at_most_one_warning(replays: list[Replay]) -> None:
    """No error or critical incident in any scenario; at most one warning where the request mix is stable."""
    assert [r.scenario for r in replays] == list(SCENARIOS)
    assert all(r.calls == len(load_answers(DATA)) for r in replays)
    problems = budget_violations(replays)
    assert problems == [], "\n".join(problems)


@pytest.mark.slow
@needs_data
@replay_timeout
def test_the_table_counts_every_incident_by_detector_and_severity(replays: list[Replay]) -> None:
    table = format_table(replays)
    header, *rows = table.splitlines()
    assert all(s.name in header for s in SCENARIOS)
    for detector in DETECTORS:
        assert any(line.startswith(detector) for line in rows), detector
    totals = {line.split()[1]: [int(n) for n in line.split()[2:]] for line in rows if line.startswith("all ")}
    for column, r in enumerate(replays):
        assert sum(totals[severity][column] for severity in SEVERITIES) == len(r.incidents)
    for r in replays:
        for incident in r.incidents:  # one line per incident, under its scenario
            assert f"{incident['detector']}/{incident['category']} in {incident['app']}" in table


@needs_data
def test_the_replay_is_reproducible_and_per_generator_apps_see_one_model_each() -> None:
    answers = load_answers(DATA)
    per_generator = next(s for s in SCENARIOS if s.apps == "per-generator")
    a = make_calls(answers, per_generator, seed=3)
    b = make_calls(answers, per_generator, seed=3)
    assert [(c.trace_id, c.duration_ms, c.output_text) for c in a] == [
        (c.trace_id, c.duration_ms, c.output_text) for c in b
    ]
    models_of = {}
    for c in a:
        models_of.setdefault(c.service, set()).add(c.request_model)
    assert len(models_of) == len({x.generator for x in answers}) >= 3
    assert all(len(models) == 1 for models in models_of.values())
    assert all(c.start_time_ns <= d.start_time_ns for c, d in itertools.pairwise(a))


def test_the_command_names_a_missing_data_folder(tmp_path: Path) -> None:
    result = CliRunner().invoke(false_pages_eval_cmd, ["--data", str(tmp_path)])
    assert result.exit_code != 0
    assert "alpaca_eval" in result.output and "--data" in result.output
