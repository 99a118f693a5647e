"""Operational-anomaly evaluation: synthetic streams with incidents; detection delay, false positives.

The normal stream has heavy-tailed latency and token counts (log-normal) and small background rates of errors,
truncations, content filtering and refusals, so a detector that alarms on single slow calls fails here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import click
import numpy as np

from watchkeeper.core.records import Message, ModelCall
from watchkeeper.detectors.operational.detector import OperationalDetector, OperationalSettings

APP, MODEL = "sim-support-bot", "gpt-sim"

# scenario -> (finding categories that count as detecting it, how the incident changes a call)
SCENARIOS = {
    "latency_spike": ("operational.latency", "operational.time_to_first_chunk", "operational.combined"),
    "error_burst": ("operational.error_rate", "operational.combined"),
    "truncation_burst": ("operational.truncation_rate", "operational.output_tokens", "operational.combined"),
    "refusal_burst": ("operational.refusal_rate", "operational.output_tokens", "operational.combined"),
}


@dataclass(slots=True)
class OpResult:
    scenario: str
    seed: int
    start: int
    detected_after: int | None  # calls from the incident's start to the first matching finding
    severity: str | None
    false_positives: int  # findings outside the incident (plus one window of grace)


def generate_stream(
    n: int, seed: int, scenario: str | None = None, start: int = 0, length: int = 0, rate_per_s: float = 2.0
) -> list[ModelCall]:
    """`n` calls of one app+model; calls in [start, start+length) are affected by `scenario`."""
    rng = np.random.default_rng(seed)
    calls = []
    t0 = 1_750_000_000 * 10**9
    for i in range(n):
        hit = scenario is not None and start <= i < start + length
        latency = float(rng.lognormal(np.log(800), 0.35))
        ttfc = float(rng.lognormal(np.log(220), 0.3))
        tokens_in = int(rng.lognormal(np.log(300), 0.5))
        tokens_out = int(rng.lognormal(np.log(250), 0.4))
        error = rng.random() < 0.01
        finish = "length" if rng.random() < 0.02 else "content_filter" if rng.random() < 0.002 else "stop"
        refusal = rng.random() < 0.01
        if hit and scenario == "latency_spike":
            latency *= 4.0
            ttfc *= 3.0
        if hit and scenario == "error_burst":
            error = error or rng.random() < 0.3
        if hit and scenario == "truncation_burst" and rng.random() < 0.35:
            finish, tokens_out = "length", 1024
        if hit and scenario == "refusal_burst":
            refusal = refusal or rng.random() < 0.3
        text = "I'm sorry, but I can't help with that." if refusal else "Here is what you asked for."
        if refusal:
            tokens_out = int(rng.integers(8, 20))
        digest = hashlib.sha256(f"op|{seed}|{i}".encode()).hexdigest()
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
) -> OpResult:
    """Replay one stream; scenario None is a clean stream (every finding is a false positive)."""
    settings = settings or OperationalSettings()
    detector = OperationalDetector(settings)
    calls = generate_stream(n, seed, scenario, start, length)
    index = {c.span_id: i for i, c in enumerate(calls)}
    wanted = SCENARIOS.get(scenario or "", ())
    grace = start + length + settings.window_calls
    delay: int | None = None
    severity: str | None = None
    false_positives = 0
    for batch_start in range(0, n, 100):
        for finding in detector.observe_batch(calls[batch_start : batch_start + 100]):
            i = index[finding.evidence["span_id"]]
            if scenario is not None and start <= i < grace and finding.category in wanted:
                if delay is None:
                    delay, severity = i - start + 1, finding.severity.value
            else:
                false_positives += 1
    return OpResult(scenario or "clean", seed, start, delay, severity, false_positives)


def run_table(seeds: int = 5) -> list[OpResult]:
    results = []
    for scenario in [None, *SCENARIOS]:
        for seed in range(seeds):
            results.append(evaluate(scenario, seed))
    return results


def format_table(results: list[OpResult]) -> str:
    head = (
        f"{'scenario':<18} {'seed':>4} {'detected after (calls)':>22} {'severity':>9} {'false positives':>15}"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        delay = (
            "-"
            if r.scenario == "clean"
            else ("missed" if r.detected_after is None else str(r.detected_after))
        )
        lines.append(
            f"{r.scenario:<18} {r.seed:>4} {delay:>22} {r.severity or '-':>9} {r.false_positives:>15}"
        )
    lines.append("-" * len(head))
    for scenario in ["clean", *SCENARIOS]:
        rows = [r for r in results if r.scenario == scenario]
        delays = [r.detected_after for r in rows if r.detected_after is not None]
        fp = sum(r.false_positives for r in rows)
        if scenario == "clean":
            lines.append(f"{scenario:<18} false positives {fp} over {len(rows)} streams")
        else:
            lines.append(
                f"{scenario:<18} detected {len(delays)}/{len(rows)}, median delay "
                f"{np.median(delays) if delays else float('nan'):.0f} calls, false positives {fp}"
            )
    return "\n".join(lines)


@click.command("operational")
@click.option("--seeds", default=5, show_default=True, help="streams per scenario")
def operational_eval_cmd(seeds: int) -> None:
    """Synthetic streams with a latency spike, error, truncation, refusal burst: delay, false positives."""
    click.echo(format_table(run_table(seeds)))
