"""CLI start-up: the CPU a `watchkeeper ...` command costs before it does anything, and which imports cost it.

Each command runs in a fresh interpreter, once to warm up and then `--runs` times; the table prints the
median and the lowest CPU time of the child (user + system: stable when other work shares the cores, unlike
wall time, also shown), the interpreter's import time from one more run under `-X importtime` (sum of the
top-level imports' cumulative times) and the heaviest top-level import. Bytecode is cached in a temporary
directory (PYTHONPYCACHEPREFIX), as an installed package has it; the repository is not written to.
Baselines in the same run: a bare interpreter, one that imports click (what `--help` needs) and one that
imports yaml and pydantic (what reading a config needs). `alerts check-config` reads the shipped
watchkeeper.example.yaml, with its secrets in the environment. Target: every command that does not judge
text (the ML commands are eval, train and score) costs under 1 s of CPU.

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

from tests.support.example_config import EXAMPLE, EXAMPLE_ENV

Done = subprocess.CompletedProcess[str]


@dataclass
class Row:
    name: str
    kind: str  # "baseline", "ML" or ""
    cpu_median_s: float
    cpu_best_s: float
    wall_median_s: float
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


def _child(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, Done]:
    """(CPU seconds, wall seconds, result) of one fresh interpreter."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, *argv], capture_output=True, text=True, env=env, cwd=cwd)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, wall, done


def measure(name: str, argv: list[str], runs: int, *, kind: str, env: dict[str, str], cwd: Path) -> Row:
    _, _, warm = _child(argv, env, cwd)  # compiles the bytecode cache
    if "check-config" in argv and warm.returncode != 0:  # an invalid file would time the error path only
        raise SystemExit(f"{name} failed ({warm.returncode}):\n{warm.stderr}")
    cpus, walls = [], []
    for _ in range(runs):
        cpu, wall, _ = _child(argv, env, cwd)
        cpus.append(cpu)
        walls.append(wall)
    _, _, timed = _child(["-X", "importtime", *argv], env, cwd)
    import_s, heaviest = _importtime(timed.stderr)
    return Row(name, kind, statistics.median(cpus), min(cpus), statistics.median(walls), import_s, heaviest)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    cli = ["-m", "watchkeeper.cli"]
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHKEEPER_")}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env.update(EXAMPLE_ENV, PYTHONPYCACHEPREFIX=str(cwd / "pycache"))
        cases: list[tuple[str, list[str], str]] = [
            ("python -c pass", ["-c", "pass"], "baseline"),
            ("python -c 'import click'", ["-c", "import click"], "baseline"),
            ("python -c 'import yaml, pydantic'", ["-c", "import yaml, pydantic"], "baseline"),
            ("watchkeeper --help", [*cli, "--help"], ""),
            ("watchkeeper run --help", [*cli, "run", "--help"], ""),
            (
                "watchkeeper alerts check-config -c watchkeeper.example.yaml",
                [*cli, "alerts", "check-config", "-c", str(EXAMPLE)],
                "",
            ),
            ("watchkeeper incidents list --help", [*cli, "incidents", "list", "--help"], ""),
            ("watchkeeper integrity approve --help", [*cli, "integrity", "approve", "--help"], ""),
            ("watchkeeper alerts silences add --help", [*cli, "alerts", "silences", "add", "--help"], ""),
            ("watchkeeper feedback export --help", [*cli, "feedback", "export", "--help"], ""),
            (
                "watchkeeper incidents list --url (no daemon: the full request path)",
                [*cli, "incidents", "list", "--url", "http://127.0.0.1:9", "--timeout", "1"],
                "",
            ),
            ("watchkeeper score --help", [*cli, "score", "--help"], "ML"),
            ("watchkeeper eval content-safety --help", [*cli, "eval", "content-safety", "--help"], "ML"),
        ]
        rows = [measure(name, argv, args.runs, kind=kind, env=env, cwd=cwd) for name, argv, kind in cases]
    print(
        f"CLI start-up (CPU = user + system seconds of the child, median and lowest of {args.runs} runs "
        "after a warm-up; bytecode cached; imports from one `-X importtime` run)\n"
    )
    print(
        "| command | kind | CPU median | CPU lowest | wall median | imports | heaviest top-level import "
        "| < 1 s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        ok = {"baseline": "", "ML": "(ML)"}.get(r.kind, "yes" if r.cpu_median_s < 1.0 else "**no**")
        print(
            f"| `{r.name}` | {r.kind} | {r.cpu_median_s:.2f} | {r.cpu_best_s:.2f} | {r.wall_median_s:.2f} | "
            f"{r.import_s:.2f} | {r.heaviest} | {ok} |"
        )


if __name__ == "__main__":
    main()
