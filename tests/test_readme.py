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


def test_every_metric_is_documented() -> None:
    names = {m.name for m in REGISTRY.collect() if m.name.startswith("wirewatch_")}
    assert names, "no wirewatch metric is registered"
    missing = [n for n in names if n not in README and f"{n}_total" not in README]
    assert missing == []


def test_every_topic_is_documented() -> None:
    assert [spec.suffix for spec in TOPIC_SPECS.values() if f"`{spec.suffix}`" not in README] == []


def test_ci_runs_exactly_the_readme_test_command() -> None:
    commands = re.findall(r"^    (bash deploy/setup\.sh.*)$", README, flags=re.MULTILINE)
    assert len(commands) == 2, "the README has exactly two set-up commands: run and test"
    test_command = next(c for c in commands if "pytest" in c)
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()
    assert ci[-1] == test_command
