"""`wirewatch status` without a broker: its throughput arithmetic, its table, and its one-line error."""
from __future__ import annotations

import subprocess
import sys

from streams.lag import PartitionOffsets, TotalLag
from tests.conftest import REPO
from wirewatch.status import COLUMNS, StageStatus, done_since, render


def test_done_counts_committed_records_stamped_within_the_window() -> None:
    assert done_since(PartitionOffsets("t", 0, 0, 100, 90), 70) == 20
    assert done_since(PartitionOffsets("t", 0, 0, 100, 60), 70) == 0      # still behind the window's records
    assert done_since(PartitionOffsets("t", 0, 0, 100, 100), None) == 0   # nothing stamped within the window
    assert done_since(PartitionOffsets("t", 0, 80, 100, None), 70) == 0   # never committed


def test_render_aligns_one_row_per_stage() -> None:
    rows = [StageStatus("clean", "Stable", 2, 4, TotalLag(0, 0.0), 1.5, 3),
            StageStatus("entities", "Empty", 0, 8, TotalLag(12345, 61.25), 0.0, 0)]
    lines = render(rows).splitlines()
    assert len({len(line) for line in lines}) == 1
    assert lines[0].split("  ")[0].strip() == COLUMNS[0]
    assert lines[1].split() == ["clean", "Stable", "2", "4", "0", "0.0", "1.50", "3"]
    assert lines[2].split() == ["entities", "Empty", "0", "8", "12345", "61.2", "0.00", "0"]


def test_status_says_in_one_line_when_the_broker_is_unreachable() -> None:
    done = subprocess.run([sys.executable, "-m", "wirewatch.cli", "status", "--broker", "kafka://127.0.0.1:1"],
                          cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0 and done.stdout == ""
    assert done.stderr.strip().splitlines() == ["wirewatch: cannot reach the broker at kafka://127.0.0.1:1"]
