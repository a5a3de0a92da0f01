"""Alerts follow dedup's verdicts (issue 17): a duplicate never alerts, offline or streaming.

The defect: a re-ingested copy of a story's second version (a copy of `seeds/000_…txt` under another name) was a
`duplicate` and still raised a `new_development` alert.
"""
from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from agents.ingest.producer import ingest_paths
from streams.settings import Settings
from tests.conftest import REPO, SpawnedWorker, metric_value, wait_for
from tests.kafka_io import read_topic_sync
from tests.sink_fixtures import SEED_ALERTS


def seeds_and_a_copy(seed_paths: list[Path], folder: Path) -> Path:
    """The seeds, then a copy of the Bloomberg file (both its versions) under another name, sorted after them."""
    folder.mkdir()
    for path in seed_paths:
        shutil.copy(path, folder / path.name)
    copy = folder / "002_copy_of_000.txt"
    shutil.copy(seed_paths[0], copy)
    return copy


def test_a_reingested_copy_raises_no_alert_offline(seed_paths: list[Path], tmp_path: Path) -> None:
    seeds_and_a_copy(seed_paths, tmp_path / "in")
    out = tmp_path / "processed.jsonl"
    subprocess.run([sys.executable, "-m", "wirewatch.cli", "process", str(tmp_path / "in"), "--out", str(out)],
                   cwd=REPO, check=True, timeout=180)
    lines = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert [line["verdict"] for line in lines] == ["new", "update", "same_story", "duplicate", "duplicate"]
    assert [(a["trigger"]) for line in lines for a in line["alerts"]] == ["new_story", "new_development"]
    assert all(line["alerts"] == [] for line in lines if line["verdict"] == "duplicate")


@pytest.mark.integration
def test_a_reingested_copy_raises_no_alert_streaming(spawn_worker: Callable[..., SpawnedWorker],
                                                     pipeline_settings: Settings, seed_paths: list[Path],
                                                     tmp_path: Path) -> None:
    workers = {stage: spawn_worker(stage, pipeline_settings) for stage in ("clean", "dedup", "tag", "alert")}
    asyncio.run(ingest_paths(seed_paths, pipeline_settings))
    read_topic_sync(pipeline_settings, "tagged", 3, timeout=90)
    copy = seeds_and_a_copy(seed_paths, tmp_path / "in")
    asyncio.run(ingest_paths([copy], pipeline_settings))  # another ingest: both versions again, under another name

    tagged = read_topic_sync(pipeline_settings, "tagged", 5, timeout=60)
    assert [t["verdict"]["kind"] for t in tagged] == ["new", "update", "same_story", "duplicate", "duplicate"]
    alert_port = workers["alert"].web_port
    wait_for(lambda: metric_value(alert_port, 'wirewatch_articles_total{outcome="in",stage="alert"}') >= 5, 60,
             "the alert stage read all five tagged articles")
    alerts = read_topic_sync(pipeline_settings, "alerts", SEED_ALERTS + 2, timeout=10)
    assert sorted((a["trigger"], a["verdict"]) for a in alerts) == [("new_development", "update"),
                                                                    ("new_story", "new")]
