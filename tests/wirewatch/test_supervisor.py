"""`run`'s supervisor without processes: what it counts (its restarts, and the crashes: test_crashes.py)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import REGISTRY

from wirewatch.supervisor import Supervisor


@dataclass
class RunningChild:
    """A child that started and keeps running."""

    name: str
    log_path: Path = Path("/dev/null")
    starts: list[None] = field(default_factory=list)

    def start(self) -> None:
        self.starts.append(None)

    def exit_code(self) -> int | None:
        return None


def test_a_watched_stage_exports_its_restarts_at_zero_before_any() -> None:
    # The restart-loop alert takes increase() of the counter, which cannot see a series' first appearance.
    child = RunningChild("supervised-stage")
    assert REGISTRY.get_sample_value("wirewatch_worker_restarts_total", {"stage": child.name}) is None
    supervisor = Supervisor(max_restarts=1)
    supervisor.watch(child)
    supervisor.check()  # it runs: nothing to restart
    assert REGISTRY.get_sample_value("wirewatch_worker_restarts_total", {"stage": child.name}) == 0
    assert len(child.starts) == 1
