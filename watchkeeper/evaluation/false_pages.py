"""The false-page budget: the incidents the default configuration opens on traffic nobody should be paged for.

Clean traffic is the real answers of the three `alpaca_eval_outputs` generators (gpt4, llama-2-70b-chat,
Mixtral-8x7B-Instruct) to 805 everyday instructions, sent as model calls of a chat app with an unchanging
system prompt. Every detector of the default configuration judges them, in batches as the detectors stage
does, and every finding goes into the real incident store (grouping by the default route, resolve_timeout,
one incident per group until it resolves) on a clock that follows the calls' times. The table counts the
incidents it would open, by detector and severity, in four scenarios: the three generators behind one app and
one app per generator (so per-app baselines see each model's own style), each in a seeded random order and
in the data set's own order (which groups its sources, so the traffic mix changes along the way).

The budget: no incident at error or critical in any scenario, and at most one warning in each shuffled one.
In the data set's order the mix of requests really changes (a block of short self-instruct answers): a drift
warning there reports a true change, so those warnings are printed, not budgeted.

The data has no timings or token counts, so they are simulated (documented in `make_calls`): output tokens
~ characters / 4, a log-normal time to the first token with a slow path on 15% of calls, a per-token time per
generator; calls of an app arrive with exponential gaps (`interval_s` on average).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import numpy as np

from watchkeeper.alerts.clock import FakeClock
from watchkeeper.alerts.service import IncidentStore
from watchkeeper.config import load_settings
from watchkeeper.core.detector import MemoryState
from watchkeeper.core.findings import Finding
from watchkeeper.core.records import Message, ModelCall, sha256_text
from watchkeeper.detectors.registry import build_suite

DEFAULT_DATA = "../shared/data"
SYSTEM_PROMPT = "You are a helpful assistant. Answer the user's request accurately and helpfully."
SEVERITIES = ("critical", "error", "warning", "info")
#: milliseconds per output token, by generator (typical hosted speeds); other generators get the default
MS_PER_TOKEN = {"gpt4": 30.0, "llama-2-70b-chat-hf": 25.0, "Mixtral-8x7B-Instruct-v0.1": 15.0}
DEFAULT_MS_PER_TOKEN = 25.0
BATCH = 50  # calls per detector batch (the stage's batches are about this size at moderate traffic)
START = 1_750_000_000.0


@dataclass(frozen=True, slots=True)
class Answer:
    generator: str
    dataset: str
    instruction: str
    output: str


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    apps: str  # "one" (one app, all generators) or "per-generator"
    order: str  # "shuffled" or "dataset"

    @property
    def stationary(self) -> bool:
        """Shuffled traffic keeps one mix of requests from start to end: any warning there is a false one."""
        return self.order == "shuffled"


SCENARIOS = (
    Scenario("one app, shuffled", "one", "shuffled"),
    Scenario("one app per generator, shuffled", "per-generator", "shuffled"),
    Scenario("one app, data-set order", "one", "dataset"),
    Scenario("one app per generator, data-set order", "per-generator", "dataset"),
)


@dataclass(slots=True)
class Replay:
    scenario: Scenario
    calls: int
    findings: Counter[str] = field(default_factory=Counter)  # detector -> findings
    incidents: list[dict[str, Any]] = field(default_factory=list)

    def count(self, detector: str, severity: str) -> int:
        return sum(1 for i in self.incidents if i["detector"] == detector and i["severity"] == severity)

    def pages(self) -> dict[str, int]:
        """Incidents by severity."""
        return dict(Counter(i["severity"] for i in self.incidents))


def load_answers(data_dir: str | Path) -> list[Answer]:
    """Every answer of every `alpaca_eval_outputs` file, in the files' own order (sorted by file name)."""
    folder = Path(data_dir) / "alpaca_eval_outputs"
    files = sorted(folder.glob("*.json"))
    if not files:
        raise FileNotFoundError(f"no alpaca_eval outputs under {folder}")
    out = []
    for path in files:
        for row in json.loads(path.read_text(encoding="utf-8")):
            if row.get("instruction") and row.get("output"):
                generator = str(row.get("generator") or path.name.split(".model_outputs")[0])
                out.append(Answer(generator, str(row.get("dataset", "")), row["instruction"], row["output"]))
    return out


def make_calls(
    answers: list[Answer], scenario: Scenario, *, seed: int = 0, interval_s: float = 6.0
) -> list[ModelCall]:
    """The answers as model calls of one app (or one per generator), in time order.

    Output tokens ~ len(answer) / 4 (the usual English average; the data has no usage counts); input tokens
    from the system prompt and the instruction the same way. Time to first token: log-normal around 450 ms
    (sigma 0.3), 2.5x on a slow path for 15% of calls; latency = that + tokens x the generator's time per
    token (log-normal noise, sigma 0.15). An app's calls arrive with exponential gaps of mean `interval_s`.
    """
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(answers)) if scenario.order == "shuffled" else np.arange(len(answers))
    clocks: dict[str, float] = {}
    calls = []
    for n, k in enumerate(order):
        a = answers[int(k)]
        app = "assistant" if scenario.apps == "one" else f"assistant-{a.generator.lower()}"
        clocks[app] = clocks.get(app, START) + float(rng.exponential(interval_s))
        tokens_out = max(1, round(len(a.output) / 4))
        tokens_in = max(1, round((len(SYSTEM_PROMPT) + len(a.instruction)) / 4))
        ttfc = float(rng.lognormal(np.log(450.0), 0.3)) * (2.5 if rng.random() < 0.15 else 1.0)
        per_token = MS_PER_TOKEN.get(a.generator, DEFAULT_MS_PER_TOKEN) * float(rng.lognormal(0.0, 0.15))
        digest = hashlib.sha256(f"false-pages|{scenario.name}|{seed}|{n}".encode()).hexdigest()
        calls.append(
            ModelCall(
                trace_id=digest[:32],
                span_id=digest[32:48],
                start_time_ns=int(clocks[app] * 1e9),
                duration_ms=ttfc + tokens_out * per_token,
                service=app,
                environment="production",
                provider="openai",
                request_model=a.generator,
                response_model=a.generator,
                input_tokens=tokens_in,
                output_tokens=tokens_out,
                finish_reasons=("stop",),
                conversation_id=f"conversation-{digest[:12]}",
                system_instructions=SYSTEM_PROMPT,
                system_instructions_sha256=sha256_text(SYSTEM_PROMPT),
                input_messages=[Message("user", a.instruction)],
                output_text=a.output,
                time_to_first_chunk_ms=ttfc,
            )
        )
    calls.sort(key=lambda c: c.start_time_ns)
    return calls


def replay(calls: list[ModelCall], scenario: Scenario, config_file: str | None = None) -> Replay:
    """Every detector of the configuration over the calls, every finding into a real incident store."""
    settings = load_settings(config_file)
    result = Replay(scenario, len(calls))
    with tempfile.TemporaryDirectory(prefix="watchkeeper-false-pages-") as tmp:
        suite = build_suite(settings.detectors.detector_settings(), lambda _name: MemoryState(), Path(tmp))
        clock = FakeClock(START)
        store = IncidentStore(Path(tmp) / "alerts", settings.alerts, clock=clock)
        try:
            for start in range(0, len(calls), BATCH):
                batch = calls[start : start + BATCH]
                clock.set(max(clock.now(), batch[-1].start_time_s))
                findings: list[Finding] = []
                for detector in suite:
                    findings.extend(detector.observe_batch(batch))
                result.findings.update(f.detector for f in findings)
                store.ingest(findings)
                store.run_due()  # resolve_timeout and group flushes, on the replay's clock
            incidents, _ = store.list_incidents(limit=100_000)
        finally:
            for detector in suite:
                detector.close()
            store.close()
    for inc in incidents:
        labels = inc.get("labels", {})
        result.incidents.append(
            {
                "detector": labels.get("detector", "?"),
                "category": labels.get("category", "?"),
                "app": labels.get("app", "?"),
                "severity": inc["severity"],
                "findings": inc.get("finding_count", 0),
                "title": inc.get("title", ""),
                "summary": inc.get("summary", ""),
            }
        )
    result.incidents.sort(key=lambda i: (SEVERITIES.index(i["severity"]), i["detector"], i["app"]))
    return result


def run(
    data_dir: str | Path,
    *,
    seed: int = 0,
    interval_s: float = 6.0,
    scenarios: tuple[Scenario, ...] = SCENARIOS,
    config_file: str | None = None,
) -> list[Replay]:
    answers = load_answers(data_dir)
    return [
        replay(make_calls(answers, s, seed=seed, interval_s=interval_s), s, config_file) for s in scenarios
    ]


DETECTORS = ("content_safety", "topic_injection", "integrity", "operational", "drift", "leakage")


def format_table(results: list[Replay], *, details: bool = True) -> str:
    cols = [r.scenario.name for r in results]
    width = max(len(c) for c in cols) + 2
    lines = [f"{'detector':<17} {'severity':<9}" + "".join(f"{c:>{width}}" for c in cols)]
    lines.append("-" * len(lines[0]))
    for detector in DETECTORS:
        for severity in SEVERITIES:
            counts = [r.count(detector, severity) for r in results]
            lines.append(f"{detector:<17} {severity:<9}" + "".join(f"{n:>{width}}" for n in counts))
    lines.append("-" * len(lines[0]))
    for severity in SEVERITIES:
        counts = [r.pages().get(severity, 0) for r in results]
        lines.append(f"{'all':<17} {severity:<9}" + "".join(f"{n:>{width}}" for n in counts))
    lines.append(f"{'calls':<27}" + "".join(f"{r.calls:>{width}}" for r in results))
    lines.append(
        "target: 0 incidents at error or critical, at most 1 warning in each shuffled replay (in the data "
        "set's order the request mix changes: its warnings are reported, not budgeted); info, the lowest "
        "severity, is not budgeted."
    )
    if details:
        for r in results:
            if not r.incidents:
                continue
            lines.append("")
            lines.append(f"{r.scenario.name}:")
            for i in r.incidents:
                lines.append(
                    f"  [{i['severity']:>8}] {i['detector']}/{i['category']} in {i['app']} "
                    f"({i['findings']} finding(s)): {i['summary'][:150]}"
                )
    return "\n".join(lines)


def budget_violations(results: list[Replay], exclude: tuple[str, ...] = ()) -> list[str]:
    """Why the replay misses its target (empty: met), leaving out the detectors in `exclude`."""
    problems = []
    for r in results:
        counted = [i for i in r.incidents if i["detector"] not in exclude]
        pages = [i for i in counted if i["severity"] in ("critical", "error")]
        warnings = [i for i in counted if i["severity"] == "warning"]
        if pages:
            problems.append(f"{r.scenario.name}: {len(pages)} incident(s) at error or critical: {pages}")
        if r.scenario.stationary and len(warnings) > 1:
            problems.append(f"{r.scenario.name}: {len(warnings)} warnings (at most 1): {warnings}")
    return problems


@click.command("false-pages")
@click.option(
    "--data", "data_dir", default=DEFAULT_DATA, show_default=True, help="folder with alpaca_eval_outputs/"
)
@click.option("--seed", default=0, show_default=True, help="order of the shuffled replays and the timings")
@click.option(
    "--interval",
    "interval_s",
    default=6.0,
    show_default=True,
    help="mean seconds between two calls of one app",
)
@click.option("-c", "--config", "config_file", default=None, help="judge with this watchkeeper.yaml instead")
@click.option("--json", "as_json", is_flag=True, help="print the incidents as JSON instead of a table")
@click.option(
    "--fail-on-budget",
    is_flag=True,
    help="exit 1 when the target (0 error/critical; <= 1 warning when shuffled) is missed, content safety "
    "left out",
)
def false_pages_eval_cmd(
    data_dir: str, seed: int, interval_s: float, config_file: str | None, as_json: bool, fail_on_budget: bool
) -> None:
    """Replay clean answers of three LLMs through every detector: the incidents they would open."""
    try:
        results = run(data_dir, seed=seed, interval_s=interval_s, config_file=config_file)
    except FileNotFoundError as exc:
        raise click.ClickException(f"{exc}; pass --data pointing at the data folder") from exc
    if as_json:
        for r in results:
            click.echo(json.dumps({"scenario": r.scenario.name, "calls": r.calls, "incidents": r.incidents}))
    else:
        click.echo(format_table(results))
    if fail_on_budget:
        problems = budget_violations(results)
        if problems:
            raise click.ClickException("false-page budget missed:\n" + "\n".join(problems))
