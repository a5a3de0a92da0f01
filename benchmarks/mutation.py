"""Mutation score of the pure cores (clean, dedup, alert) under their fast unit tests, with mutmut.

    .venv/bin/python -m benchmarks.mutation [--core clean|dedup|alert ...] [--survivors] [--max-children N] [--report]

mutmut changes one thing at a time in a core (`<` for `<=`, a constant, a dropped call…) and runs the unit tests that
reach the changed function; a mutant no test notices (survived) is behaviour nothing checks. The modules and the
tests are set in `[tool.mutmut]` of pyproject.toml (no integration test: those start Kafka). It takes about 20
minutes on two cores, so CI does not run it; docs/testing.md keeps the last scores.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CORES = {
    "clean": ["agents.clean.core"],
    "dedup": ["agents.dedup.decide", "agents.dedup.signatures"],
    "alert": ["agents.rules.conditions", "agents.alert.facts"],
}
KILLED = {"killed", "timeout", "caught by type check"}
NOT_RUN = {"skipped", "not checked", "check was interrupted by user"}
_RESULT = re.compile(r"^\s+(?P<name>[\w.]+): (?P<status>.+)$")


def mutmut(*args: str) -> subprocess.CompletedProcess[str]:
    """Run mutmut from the repository root; PYTHONPATH is dropped so the tests import the mutated copy (mutants/)."""
    environ = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([sys.executable, "-m", "mutmut", *args], cwd=REPO, env=environ, text=True,
                          capture_output=True)


def results() -> dict[str, str]:
    """mutant name → status, for every mutant mutmut has a result of."""
    listed = mutmut("results", "--all", "true")
    return {m["name"]: m["status"] for line in listed.stdout.splitlines() if (m := _RESULT.match(line))}


def core_of(mutant: str) -> str | None:
    module = mutant.rsplit(".", 1)[0]
    return next((core for core, modules in CORES.items() if module in modules), None)


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--core", action="append", choices=sorted(CORES), help="only these cores (default: all)")
    options.add_argument("--survivors", action="store_true", help="print the diff of every surviving mutant")
    options.add_argument("--max-children", type=int, default=os.cpu_count() or 2)
    options.add_argument("--report", action="store_true",
                         help="only the scores of the results mutmut has (after `python -m mutmut run NAME…`)")
    args = options.parse_args()
    cores = args.core or list(CORES)

    if not args.report:
        patterns = [f"{module}.*" for core in cores for module in CORES[core]]
        run = mutmut("run", "--max-children", str(args.max_children), *patterns)
        if run.returncode != 0:
            sys.exit(f"mutmut run failed ({run.returncode}):\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}")

    statuses = results()
    print(f"{'core':8}{'mutants':>9}{'killed':>8}{'survived':>10}{'no tests':>10}{'score':>8}")
    survivors = []
    for core in cores:
        counts = Counter(status for name, status in statuses.items() if core_of(name) == core)
        considered = sum(counts.values()) - sum(counts[s] for s in NOT_RUN)
        killed = sum(counts[s] for s in KILLED)
        score = killed / considered if considered else 0.0
        print(f"{core:8}{considered:>9}{killed:>8}{counts['survived']:>10}{counts['no tests']:>10}{score:>8.1%}")
        survivors += sorted(name for name, status in statuses.items()
                            if core_of(name) == core and status not in KILLED | NOT_RUN)
    if args.survivors:
        for name in survivors:
            print(mutmut("show", name).stdout)


if __name__ == "__main__":
    main()
