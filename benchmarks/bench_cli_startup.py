"""CLI start-up: how long `watchkeeper ...` takes before it does anything, and which imports cost the time.

Each command runs in a fresh interpreter (`python -X importtime -m watchkeeper.cli ...`), several times; the
table prints the fastest and the median wall time, the fastest CPU time of the child (user + system: what the
command costs on an idle machine, stable when other work shares the cores), the interpreter's own import time
as `-X importtime` reports it (sum of the top-level imports' cumulative times), and the heaviest top-level
import. Baselines in
the same run: a bare interpreter, and one that imports click. Target: every command that does not judge text
(the ML commands are eval, train and score) starts in under 1 s.

Run: python -m benchmarks.bench_cli_startup [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

CONFIG = "alerts:\n  receivers: [{name: on-call}]\n  route: {receiver: on-call}\n"


@dataclass
class Row:
    name: str
    ml: bool
    best_s: float
    median_s: float
    cpu_s: float
    import_s: float
    heaviest: str


def _importtime(stderr: str) -> tuple[float, str]:
    """(total seconds, heaviest top-level module) from `-X importtime` output."""
    total_us, heaviest, heaviest_us = 0, "-", 0
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = (part.strip() for part in line[len("import time:") :].split("|"))
        raw = line.rsplit("|", 1)[1]
        if raw.startswith(" ") and not raw.startswith("  "):  # top level: exactly one space before the name
            us = int(cumulative)
            total_us += us
            if us > heaviest_us:
                heaviest, heaviest_us = name, us
    return total_us / 1e6, f"{heaviest} ({heaviest_us / 1e6:.2f} s)"


def measure(name: str, argv: list[str], runs: int, *, ml: bool = False, cwd: Path) -> Row:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHKEEPER_")}
    walls: list[float] = []
    cpus: list[float] = []
    import_s, heaviest = 0.0, "-"
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-X", "importtime", *argv], capture_output=True, text=True, env=env, cwd=cwd
        )
        walls.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        import_s, heaviest = _importtime(done.stderr)
    return Row(name, ml, min(walls), statistics.median(walls), min(cpus), import_s, heaviest)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    cli = ["-m", "watchkeeper.cli"]
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        config = cwd / "watchkeeper.yaml"
        config.write_text(CONFIG)
        cases: list[tuple[str, list[str], bool]] = [
            ("baseline: python -c pass", ["-c", "pass"], False),
            ("baseline: python -c 'import click'", ["-c", "import click"], False),
            ("watchkeeper --help", [*cli, "--help"], False),
            ("watchkeeper run --help", [*cli, "run", "--help"], False),
            ("watchkeeper incidents list --help", [*cli, "incidents", "list", "--help"], False),
            ("watchkeeper integrity approve --help", [*cli, "integrity", "approve", "--help"], False),
            ("watchkeeper alerts silences add --help", [*cli, "alerts", "silences", "add", "--help"], False),
            ("watchkeeper feedback export --help", [*cli, "feedback", "export", "--help"], False),
            (
                "watchkeeper incidents list --url (no daemon: the full request path)",
                [*cli, "incidents", "list", "--url", "http://127.0.0.1:9", "--timeout", "1"],
                False,
            ),
            (
                "watchkeeper alerts check-config -c FILE",
                [*cli, "alerts", "check-config", "-c", str(config)],
                False,
            ),
            ("watchkeeper score --help", [*cli, "score", "--help"], True),
            ("watchkeeper eval content-safety --help", [*cli, "eval", "content-safety", "--help"], True),
        ]
        rows = [measure(name, argv, args.runs, ml=ml, cwd=cwd) for name, argv, ml in cases]
    print(f"CLI start-up ({args.runs} runs each, fresh interpreter; wall seconds; `-X importtime` total)\n")
    print("| command | ML | best | median | CPU | imports | heaviest top-level import | < 1 s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        ok = "yes" if r.best_s < 1.0 else ("no" if not r.ml else "(ML)")
        ml = "yes" if r.ml else ""
        print(
            f"| `{r.name}` | {ml} | {r.best_s:.2f} | {r.median_s:.2f} | {r.cpu_s:.2f} | {r.import_s:.2f} | "
            f"{r.heaviest} | {ok} |"
        )


if __name__ == "__main__":
    main()
