"""A worker's lag series without a broker: the stage's input topics come from its agents, and only the partitions
the worker owns have series (a lost partition's series goes at the next read, or at once when revoked)."""
from __future__ import annotations

from collections.abc import Collection

from aiokafka import TopicPartition
from prometheus_client import REGISTRY

from streams.lag import EndOffsetLog, PartitionLag
from streams.settings import Settings
from streams.topics import topic_name
from wirewatch.lag import input_topics
from wirewatch.lag_probe import LagProbe
from wirewatch.worker import build_stage_app

SETTINGS = Settings.from_env({}, topic_prefix="unit")
RAW = topic_name(SETTINGS, "raw")
STAGE = "clean-probe-test"  # a label of its own: the registry is the process's


class FixedLag:
    """A lag reader answering 7 records, 3 s for each partition asked, as the broker would for a backlog."""

    async def lag(self, group: str, partitions: Collection[TopicPartition],
                  ends: EndOffsetLog | None = None) -> list[PartitionLag]:
        return [PartitionLag(tp.topic, tp.partition, 7, 3.0) for tp in sorted(partitions)]


def exported() -> dict[str, dict[int, float]]:
    found: dict[str, dict[int, float]] = {"records": {}, "seconds": {}}
    for family in REGISTRY.collect():
        if family.name.startswith("wirewatch_consumer_lag_"):
            for sample in family.samples:
                if sample.labels["stage"] == STAGE:
                    assert sample.labels["topic"] == RAW
                    found[family.name.removeprefix("wirewatch_consumer_lag_")][int(sample.labels["partition"])] = \
                        sample.value
    return found


def test_input_topics_are_those_the_stage_agents_read() -> None:
    names = {role: topic_name(SETTINGS, role) for role in ("clean", "dedup_probes", "dedup_decide", "tagged",
                                                           "entity_sightings")}
    assert input_topics(build_stage_app("clean", SETTINGS)) == [RAW]
    assert input_topics(build_stage_app("dedup", SETTINGS)) == sorted(
        [names["clean"], names["dedup_probes"], names["dedup_decide"]])
    assert input_topics(build_stage_app("entities", SETTINGS)) == sorted(
        [names["tagged"], names["entity_sightings"]])


async def test_series_follow_the_partitions_the_worker_owns() -> None:
    probe = LagProbe(build_stage_app("clean", SETTINGS), STAGE, SETTINGS)
    owned = {TopicPartition(RAW, 0), TopicPartition(RAW, 1), TopicPartition(RAW, 3)}
    probe.owned = lambda: set(owned)  # type: ignore[method-assign]
    probe.reader = FixedLag()  # type: ignore[assignment]

    await probe.refresh()
    assert exported() == {"records": {0: 7, 1: 7, 3: 7}, "seconds": {0: 3.0, 1: 3.0, 3: 3.0}}

    owned -= {TopicPartition(RAW, 0)}  # a rebalance gave partition 0 to another worker
    await probe.refresh()
    assert exported() == {"records": {1: 7, 3: 7}, "seconds": {1: 3.0, 3: 3.0}}

    probe.forget({TopicPartition(RAW, 3), TopicPartition(RAW, 2)})  # revoked: gone before the next read
    assert exported() == {"records": {1: 7}, "seconds": {1: 3.0}}
