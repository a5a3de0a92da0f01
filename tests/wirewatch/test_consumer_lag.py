"""Consumer lag on the embedded broker: the worker's lag series follow its partitions, grow while the stage is
behind and clear when it catches up; `wirewatch status` reports a running and a stopped stage truly."""
from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import urllib.request

import orjson
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.group import MemberAssignment
from prometheus_client.parser import text_string_to_metric_families

from streams.records import CleanArticle, DedupedArticle, DedupVerdict
from streams.settings import Settings
from streams.topics import topic_name
from tests.conftest import REPO, SpawnedWorker, wait_for
from tests.kafka_io import produce, wait_consumed
from wirewatch.stages import STAGE_MODULES
from wirewatch.status import StageStatus, stage_statuses

pytestmark = pytest.mark.integration
FAST_LAG = {"WIREWATCH_LAG_INTERVAL": "0.2"}


def lag_series(worker: SpawnedWorker) -> dict[str, dict[tuple[str, int], float]]:
    """A worker's lag series from its /metrics page: metric name → (topic, partition) → value."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}/metrics", timeout=5).read().decode()
    series: dict[str, dict[tuple[str, int], float]] = {"records": {}, "seconds": {}}
    for family in text_string_to_metric_families(text):
        if family.name.startswith("wirewatch_consumer_lag_"):
            for sample in family.samples:
                key = (sample.labels["topic"], int(sample.labels["partition"]))
                series[family.name.removeprefix("wirewatch_consumer_lag_")][key] = sample.value
    return series


def reported(worker: SpawnedWorker, topic: str) -> frozenset[int]:
    """The partitions of `topic` a worker exports lag for (the same in records and in seconds, or the test fails)."""
    series = lag_series(worker)
    assert series["records"].keys() == series["seconds"].keys(), series
    return frozenset(partition for name, partition in series["records"] if name == topic)


async def assignments(settings: Settings, stage: str, topic: str) -> set[frozenset[int]]:
    """The partitions of `topic` each member of the stage's group has, by the group coordinator; empty while it
    rebalances."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        [response] = await admin.describe_consumer_groups([f"{settings.topic_prefix}-{stage}"])
        [(error, _, state, _, _, members, *_)] = response.groups
        if error or state != "Stable":
            return set()
        return {frozenset(p for name, partitions in MemberAssignment.decode(assignment).assignment
                          if name == topic for p in partitions)
                for *_, assignment in members}
    finally:
        await admin.close()


def test_lag_series_follow_the_partitions_between_two_workers(spawn_worker, pipeline_settings: Settings) -> None:
    raw, every = topic_name(pipeline_settings, "raw"), frozenset(range(pipeline_settings.partitions))
    first = spawn_worker("clean", pipeline_settings, **FAST_LAG)
    wait_for(lambda: reported(first, raw) == every, 60, "the only clean worker reporting every raw partition")

    second = spawn_worker("clean", pipeline_settings, **FAST_LAG)

    def shared() -> bool:
        owners = asyncio.run(assignments(pipeline_settings, "clean", raw))
        return len(owners) == 2 and {reported(first, raw), reported(second, raw)} == owners
    wait_for(shared, 90, "each clean worker reporting exactly the raw partitions the group gave it")
    first_owns, second_owns = reported(first, raw), reported(second, raw)
    assert first_owns.isdisjoint(second_owns) and first_owns | second_owns == every

    first.send_signal(signal.SIGTERM)
    first.wait(timeout=30)
    wait_for(lambda: reported(second, raw) == every and asyncio.run(assignments(pipeline_settings, "clean", raw))
             == {every}, 90, "the remaining clean worker reporting every raw partition")


def deduped_article(number: int) -> DedupedArticle:
    paragraphs = [f"Officials in Geneva said on Tuesday that talks {number} between France and Japan would resume, "
                  f"according to Reuters reporter Anna Schmidt, after a week of meetings in Berlin."] * 6
    article = CleanArticle(id=f"a{number}", title=f"Talks {number} resume", paragraphs=paragraphs, ingested_at=1.0)
    return DedupedArticle(article=article, verdict=DedupVerdict(kind="new", story_id=f"a{number}"))


def status_of(settings: Settings, stage: str) -> StageStatus:
    return next(row for row in asyncio.run(stage_statuses(settings)) if row.stage == stage)


def test_lag_grows_while_the_stage_is_stopped_and_clears_when_it_catches_up(spawn_worker,
                                                                            pipeline_settings: Settings) -> None:
    deduped = topic_name(pipeline_settings, "deduped")
    count = 300
    asyncio.run(produce(pipeline_settings, "deduped", [(f"a{n}".encode(), deduped_article(n).dumps())
                                                       for n in range(count)]))
    stopped = status_of(pipeline_settings, "tag")  # no tag worker yet: the broker alone tells the lag
    assert (stopped.workers, stopped.lag.records) == (0, count) and stopped.lag.seconds > 0

    worker = spawn_worker("tag", pipeline_settings, **FAST_LAG)
    def waiting() -> dict[str, dict[tuple[str, int], float]] | None:
        series = lag_series(worker)
        return series if sum(series["records"].values()) > 0 else None
    behind = wait_for(waiting, 120, "the tag worker reporting records waiting")
    assert all(behind["seconds"][key] > 0 for key, records in behind["records"].items() if records > 0), behind
    assert sum(behind["records"].values()) <= count and {topic for topic, _ in behind["records"]} == {deduped}

    wait_consumed(pipeline_settings, "tag", "deduped", timeout=180)
    def caught_up_series() -> bool:
        series = lag_series(worker)
        return (len(series["records"]) == pipeline_settings.partitions and not any(series["records"].values())
                and not any(series["seconds"].values()))
    wait_for(caught_up_series, 60, "the tag worker reporting no lag once it caught up")
    caught_up = status_of(pipeline_settings, "tag")
    assert (caught_up.workers, caught_up.lag.records, caught_up.lag.seconds) == (1, 0, 0.0)


def test_status_table_of_a_running_pipeline(spawn_worker, pipeline_settings: Settings) -> None:
    spawn_worker("clean", pipeline_settings)
    values = [orjson.dumps({"id": f"a{i}", "title": f"Story {i}", "text": f"Paragraph number {i} of a short wire."})
              for i in range(20)] + [b"{not json", b"[]"]
    asyncio.run(produce(pipeline_settings, "raw", [(f"k{number}".encode(), value)
                                                   for number, value in enumerate(values)]))
    wait_consumed(pipeline_settings, "clean", "raw")

    rows = {row.stage: row for row in asyncio.run(stage_statuses(pipeline_settings))}
    assert list(rows) == list(STAGE_MODULES)  # every stage, in pipeline order
    clean, dedup = rows["clean"], rows["dedup"]
    assert (clean.group_state, clean.workers, clean.partitions) == ("Stable", 1, pipeline_settings.partitions)
    assert (clean.lag.records, clean.lag.seconds, clean.dead_letters) == (0, 0.0, 2)
    assert clean.done_per_second == pytest.approx(len(values) / 60)
    # dedup is not running: its group has no worker, and the 20 clean articles wait on its input
    assert (dedup.workers, dedup.lag.records, dedup.done_per_second, dedup.dead_letters) == (0, 20, 0.0, 0)
    assert dedup.lag.seconds > 0 and dedup.partitions == 3 * pipeline_settings.partitions

    printed = subprocess.run([sys.executable, "-m", "wirewatch.cli", "status", "--broker", pipeline_settings.broker,
                              "--prefix", pipeline_settings.topic_prefix], cwd=REPO, capture_output=True, text=True,
                             timeout=120, check=True).stdout.splitlines()
    assert printed[0].split()[:4] == ["stage", "group", "workers", "partitions"]
    assert printed[1].split()[:5] == ["clean", "Stable", "1", str(pipeline_settings.partitions), "0"]
    assert printed[1].split()[-1] == "2" and printed[2].split()[4] == "20"
