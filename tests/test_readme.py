"""The README documents what the code has: every setting, metric and topic, and CI runs its test command."""
from __future__ import annotations

import re
from pathlib import Path

from prometheus_client import REGISTRY

from streams import metrics  # noqa: F401  (declares the metrics)
from streams.settings import documented_settings
from streams.topics import TOPIC_SPECS

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_documented() -> None:
    missing = [name for name, _, _ in documented_settings() if f"`{name}`" not in README]
    assert missing == []


def test_the_metrics_table_matches_the_registered_metrics() -> None:
    registered = {}
    for family in REGISTRY.collect():
        if family.name.startswith("wirewatch_"):
            name = f"{family.name}_total" if family.type == "counter" else family.name
            registered[name] = set(metric_labels(family.name))
    rows = re.findall(r"^\| `(wirewatch_\w+)`[^|]*\| ([^|]*)\|", README, flags=re.MULTILINE)
    # label names are in backticks; their values, in parentheses after them, are not names
    documented = {name: set(re.findall(r"`(\w+)`", re.sub(r"\([^)]*\)", "", labels))) for name, labels in rows}
    assert documented == registered


def metric_labels(name: str) -> tuple[str, ...]:
    """The label names a wirewatch metric was declared with."""
    collector = next(c for c in vars(metrics).values() if getattr(c, "_name", None) == name)
    return tuple(collector._labelnames)


def test_every_topic_is_documented() -> None:
    assert [spec.suffix for spec in TOPIC_SPECS.values() if f"`{spec.suffix}`" not in README] == []


def test_ci_runs_exactly_the_readme_test_command() -> None:
    commands = re.findall(r"^    (bash deploy/setup\.sh.*)$", README, flags=re.MULTILINE)
    assert len(commands) == 2, "the README has exactly two set-up commands: run and test"
    test_command = next(c for c in commands if "pytest" in c)
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()
    assert ci[-1] == test_command
