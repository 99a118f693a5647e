"""Operational-anomaly evaluation: synthetic traffic of several shapes, with and without incidents.

Normal traffic comes in five shapes, each a test the detector must pass without a finding:
- `lognormal`: heavy-tailed latency and token counts, independent of each other;
- `length_driven`: latency = time to first chunk + tokens x time per token, token counts from a few to ~1,100
  (a claude-2-like spread), a slow first chunk on one call in five (cold starts);
- `bimodal_latency`: two latency modes, cache hits (~150 ms) and misses (~2.5 s);
- `mix_bursts`: `length_driven` with a change of traffic mix every 400 calls (90 calls of short answers);
- `rare_giants`: `length_driven` with one answer in 200 of 4,000 tokens taking ten times as long.
Every shape has small background rates of errors, truncations, content filtering and refusals.

Incidents (from call `start` for `length` calls) come in four kinds at two strengths (strong: latency x4,
30-35% of calls failing, truncated or refused; mild: latency x1.8, 12%). The table gives the calls from the
onset to the first finding of a matching category, the first and the worst severity, and the findings outside
the incident; the precision table counts every finding by category and severity. Thresholds were chosen on
seeds 100-104; the command reports seeds 0.. (`--seeds`).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field

import click
import numpy as np

from watchkeeper.core.records import Message, ModelCall
from watchkeeper.detectors.operational.detector import OperationalDetector, OperationalSettings

APP, MODEL = "sim-support-bot", "gpt-sim"
PROFILES = ("lognormal", "length_driven", "bimodal_latency", "mix_bursts", "rare_giants")
STRENGTHS = ("strong", "mild")

# scenario -> finding categories that count as detecting it
SCENARIOS = {
    "latency_spike": ("operational.latency", "operational.time_to_first_chunk", "operational.combined"),
    "error_burst": ("operational.error_rate", "operational.combined"),
    "truncation_burst": ("operational.truncation_rate", "operational.output_tokens", "operational.combined"),
    "refusal_burst": ("operational.refusal_rate", "operational.output_tokens", "operational.combined"),
}
_EFFECT = {
    "strong": {"latency": 4.0, "ttfc": 3.0, "error": 0.3, "truncation": 0.35, "refusal": 0.3},
    "mild": {"latency": 1.8, "ttfc": 1.5, "error": 0.12, "truncation": 0.12, "refusal": 0.12},
}
_RANK = {"info": 0, "warning": 1, "error": 2, "critical": 3}


@dataclass(slots=True)
class OpResult:
    scenario: str
    seed: int
    start: int
    detected_after: int | None  # calls from the incident's start to the first matching finding
    severity: str | None  # of that first finding
    false_positives: int  # findings outside the incident (plus one window of grace)
    profile: str = "lognormal"
    strength: str = "strong"
    worst: str | None = None  # highest severity of a matching finding during the incident
    true_findings: Counter[tuple[str, str]] = field(default_factory=Counter)  # (category, severity) -> n
    false_findings: Counter[tuple[str, str]] = field(default_factory=Counter)


def _normal_call(rng: np.random.Generator, profile: str, i: int) -> tuple[float, float, int, int, float]:
    """(latency ms, time to first chunk ms, input tokens, output tokens, ms per output token; 0: latency is
    independent of the length) of one normal call."""
    tokens_in = int(rng.lognormal(np.log(300), 0.5))
    if profile == "lognormal":
        tokens_out = int(rng.lognormal(np.log(250), 0.4))
        ttfc = float(rng.lognormal(np.log(220), 0.3))
        return float(rng.lognormal(np.log(800), 0.35)), ttfc, tokens_in, tokens_out, 0.0
    u = rng.random()
    if u < 0.15:
        tokens_out = int(rng.integers(1, 30))
    elif u > 0.85:
        tokens_out = int(rng.integers(700, 1100))
    else:
        tokens_out = int(rng.lognormal(np.log(300), 0.7))
    if profile == "mix_bursts" and i % 400 >= 310:
        tokens_out = max(1, tokens_out // 4)
    ttfc = float(rng.lognormal(np.log(250), 0.25)) * (5.0 if rng.random() < 0.2 else 1.0)
    per_token = 22.0 * float(rng.lognormal(0.0, 0.15))
    if profile == "bimodal_latency":
        if rng.random() < 0.65:
            ttfc, latency = float(rng.lognormal(np.log(60), 0.3)), float(rng.lognormal(np.log(150), 0.3))
        else:
            latency = float(rng.lognormal(np.log(2500), 0.3))
            ttfc = min(ttfc, latency)
        return latency, ttfc, tokens_in, tokens_out, 0.0
    if profile == "rare_giants" and rng.random() < 0.005:
        tokens_out, per_token = 4000, per_token * 2.5
    return ttfc + tokens_out * per_token, ttfc, tokens_in, tokens_out, per_token


def generate_stream(
    n: int,
    seed: int,
    scenario: str | None = None,
    start: int = 0,
    length: int = 0,
    rate_per_s: float = 2.0,
    *,
    profile: str = "lognormal",
    strength: str = "strong",
) -> list[ModelCall]:
    """`n` calls of one app+model; calls in [start, start+length) are affected by `scenario`."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose from {', '.join(PROFILES)}")
    rng = np.random.default_rng(seed if profile == "lognormal" else [seed, PROFILES.index(profile)])
    effect = _EFFECT[strength]
    calls = []
    t0 = 1_750_000_000 * 10**9
    for i in range(n):
        hit = scenario is not None and start <= i < start + length
        latency, ttfc, tokens_in, tokens_out, per_token = _normal_call(rng, profile, i)
        error = rng.random() < 0.01
        finish = "length" if rng.random() < 0.02 else "content_filter" if rng.random() < 0.002 else "stop"
        refusal = rng.random() < 0.01
        if hit and scenario == "error_burst":
            error = error or rng.random() < effect["error"]
        if hit and scenario == "truncation_burst" and rng.random() < effect["truncation"]:
            finish, tokens_out = "length", 1024
        if hit and scenario == "refusal_burst":
            refusal = refusal or rng.random() < effect["refusal"]
        text = "I'm sorry, but I can't help with that." if refusal else "Here is what you asked for."
        if refusal:
            tokens_out = int(rng.integers(8, 20))
        if per_token:  # the time follows the final length: a refusal is short and quick, a cut-off long
            latency = ttfc + tokens_out * per_token
        if hit and scenario == "latency_spike":
            latency *= effect["latency"]
            ttfc *= effect["ttfc"]
        key = f"op|{seed}|{i}" if profile == "lognormal" else f"op|{profile}|{seed}|{i}"
        digest = hashlib.sha256(key.encode()).hexdigest()
        calls.append(
            ModelCall(
                trace_id=digest[:32],
                span_id=digest[32:48],
                start_time_ns=t0 + int(i / rate_per_s * 1e9),
                duration_ms=latency,
                service=APP,
                provider="openai",
                request_model=MODEL,
                response_model=MODEL,
                input_tokens=tokens_in,
                output_tokens=None if error else tokens_out,
                finish_reasons=() if error else (finish,),
                error_type="RateLimitError" if error else None,
                input_messages=[Message("user", "help me")],
                output_text="" if error else text,
                time_to_first_chunk_ms=None if error else ttfc,
            )
        )
    return calls


def evaluate(
    scenario: str | None,
    seed: int,
    *,
    n: int = 4000,
    start: int = 2500,
    length: int = 300,
    settings: OperationalSettings | None = None,
    profile: str = "lognormal",
    strength: str = "strong",
) -> OpResult:
    """Replay one stream; scenario None is a clean stream (every finding is a false positive)."""
    settings = settings or OperationalSettings()
    detector = OperationalDetector(settings)
    calls = generate_stream(n, seed, scenario, start, length, profile=profile, strength=strength)
    index = {c.span_id: i for i, c in enumerate(calls)}
    wanted = SCENARIOS.get(scenario or "", ())
    grace = start + length + settings.window_calls
    result = OpResult(scenario or "clean", seed, start, None, None, 0, profile, strength)
    for batch_start in range(0, n, 100):
        for finding in detector.observe_batch(calls[batch_start : batch_start + 100]):
            i = index[finding.evidence["span_id"]]
            key = (finding.category, finding.severity.value)
            if scenario is not None and start <= i < grace and finding.category in wanted:
                result.true_findings[key] += 1
                if result.detected_after is None:
                    result.detected_after, result.severity = i - start + 1, finding.severity.value
                if result.worst is None or _RANK[finding.severity.value] > _RANK[result.worst]:
                    result.worst = finding.severity.value
            else:
                result.false_positives += 1
                result.false_findings[key] += 1
    return result


def run_table(
    seeds: int = 5, profiles: tuple[str, ...] = PROFILES, strengths: tuple[str, ...] = STRENGTHS
) -> list[OpResult]:
    results = []
    for profile in profiles:
        for scenario in [None, *SCENARIOS]:
            for strength in strengths if scenario else ("strong",):
                for seed in range(seeds):
                    results.append(evaluate(scenario, seed, profile=profile, strength=strength))
    return results


def _cell(rows: list[OpResult], attr: str) -> str:
    return ",".join(str(getattr(r, attr) or "-") for r in rows)


def format_table(results: list[OpResult]) -> str:
    head = (
        f"{'profile':<16} {'scenario':<17} {'strength':<8} {'detected':>8} {'delay (calls)':<22} "
        f"{'first severity':<24} {'worst severity':<24} {'false positives':>15}"
    )
    lines = [head, "-" * len(head)]
    groups: dict[tuple[str, str, str], list[OpResult]] = {}
    for r in results:
        groups.setdefault((r.profile, r.scenario, r.strength if r.scenario != "clean" else "-"), []).append(r)
    for (profile, scenario, strength), rows in groups.items():
        detected = (
            "-" if scenario == "clean" else f"{sum(r.detected_after is not None for r in rows)}/{len(rows)}"
        )
        delays = "-" if scenario == "clean" else _cell(rows, "detected_after")
        first = "-" if scenario == "clean" else _cell(rows, "severity")
        worst = "-" if scenario == "clean" else _cell(rows, "worst")
        fp = sum(r.false_positives for r in rows)
        lines.append(
            f"{profile:<16} {scenario:<17} {strength:<8} {detected:>8} {delays:<22} {first:<24} {worst:<24} "
            f"{fp:>15}"
        )
    lines.append("-" * len(head))
    lines.append(format_precision(results))
    return "\n".join(lines)


def precision_by_category(results: list[OpResult]) -> dict[tuple[str, str], tuple[int, int]]:
    """(category, severity) -> (findings during an incident of a matching kind, all other findings)."""
    true: Counter[tuple[str, str]] = Counter()
    false: Counter[tuple[str, str]] = Counter()
    for r in results:
        true.update(r.true_findings)
        false.update(r.false_findings)
    return {key: (true[key], false[key]) for key in sorted(set(true) | set(false))}


def format_precision(results: list[OpResult]) -> str:
    lines = [f"{'category':<34} {'severity':<9} {'true':>6} {'false':>6} {'precision':>9}"]
    for (category, severity), (tp, fp) in precision_by_category(results).items():
        lines.append(f"{category:<34} {severity:<9} {tp:>6} {fp:>6} {tp / (tp + fp):>9.3f}")
    clean = [r for r in results if r.scenario == "clean"]
    lines.append(f"clean streams: {sum(r.false_positives for r in clean)} findings over {len(clean)} streams")
    return "\n".join(lines)


@click.command("operational")
@click.option("--seeds", default=5, show_default=True, help="streams per profile, scenario and strength")
@click.option(
    "--profile",
    "profiles",
    multiple=True,
    type=click.Choice(PROFILES),
    help="traffic shapes to run (default: all)",
)
def operational_eval_cmd(seeds: int, profiles: tuple[str, ...]) -> None:
    """Synthetic traffic shapes with latency, error, truncation and refusal incidents: delay, severity,
    false positives and precision by category."""
    click.echo(format_table(run_table(seeds, tuple(profiles) or PROFILES)))
