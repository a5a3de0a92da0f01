"""Replay (`wirewatch ingest --speed`): the publish-time schedule, and a replay through the embedded broker."""
from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agents.ingest.producer import ingest_paths
from agents.ingest.replay import replay_delays, replay_order
from streams.settings import Settings
from tests.kafka_io import read_topic_sync
from wirewatch.cli import parser

NOON = datetime(2024, 2, 26, 12, 0, tzinfo=UTC)


def test_spacing_is_kept_divided_by_the_speed() -> None:
    times = [NOON + timedelta(minutes=2), NOON, NOON + timedelta(minutes=1)]
    assert replay_delays(times, 60) == [2.0, 0.0, 1.0]
    assert replay_order(replay_delays(times, 60)) == [1, 2, 0]


def test_undated_articles_are_due_at_once_in_input_order() -> None:
    times = [NOON + timedelta(hours=1), None, NOON, None]
    delays = replay_delays(times, 3600)
    assert delays == [1.0, 0.0, 0.0, 0.0]
    assert replay_order(delays) == [1, 2, 3, 0]


@pytest.mark.parametrize("speed", [0, -1])
def test_no_speed_means_as_fast_as_possible_in_file_order(speed: float) -> None:
    times = [NOON + timedelta(hours=1), NOON]
    assert replay_delays(times, speed) == [0.0, 0.0]
    assert replay_order(replay_delays(times, speed)) == [0, 1]


@given(st.lists(st.one_of(st.none(), st.integers(0, 10**7)), max_size=30), st.floats(0.01, 10_000))
def test_replay_sends_in_publish_order_and_never_waits_past_the_last(offsets: list[int | None], speed: float) -> None:
    times = [None if s is None else NOON + timedelta(seconds=s) for s in offsets]
    delays = replay_delays(times, speed)
    order = replay_order(delays)
    sent = [times[i] for i in order]
    dated = [t for t in sent if t is not None]
    assert dated == sorted(dated)
    assert all(d >= 0 for d in delays)
    if dated:
        assert max(delays) == pytest.approx((max(dated) - min(dated)).total_seconds() / speed)


def test_the_ingest_command_takes_speed_and_progress() -> None:
    args = parser().parse_args(["ingest", "a.jsonl", "--speed", "60", "--progress"])
    assert (args.speed, args.progress) == (60.0, True)
    args = parser().parse_args(["ingest", "a.jsonl"])
    assert (args.speed, args.progress) == (0.0, None)


@pytest.mark.integration
def test_replay_at_speed_60_sends_a_minute_apart_articles_a_second_apart(pipeline_settings: Settings,
                                                                       tmp_path: Path) -> None:
    # Written out of order: the replay sends them by publish time.
    published = {"second": NOON + timedelta(seconds=60), "first": NOON, "third": NOON + timedelta(seconds=120)}
    lines = [orjson.dumps({"title": title, "text": f"The {title} article of the replay test.",
                           "published": when.isoformat()}) for title, when in published.items()]
    path = tmp_path / "three.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")

    began = time.monotonic()
    report = asyncio.run(ingest_paths([path], pipeline_settings, speed=60, progress=False))
    took = time.monotonic() - began

    assert report.sent == 3
    assert 1.5 <= took <= 6, took
    raw = read_topic_sync(pipeline_settings, "raw", 3)
    assert [r["title"] for r in raw] == ["first", "second", "third"]
    # Each is stamped when sent, so each gap is the replayed minute: about a second (generous for a busy machine).
    gaps = [later["ingested_at"] - earlier["ingested_at"] for earlier, later in pairwise(raw)]
    assert all(0.6 <= gap <= 2.0 for gap in gaps), gaps
