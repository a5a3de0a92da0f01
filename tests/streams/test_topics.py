"""Topics as production runs them, on the embedded Apache Kafka broker: retention deletes old article records,
compaction keeps a table's latest value per key, and every changelog of every stage is compacted."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from streams.settings import Settings
from streams.topics import COMPACTION_CONFIGS, TOPIC_SPECS, topic_name
from tests.kafka_io import produce
from wirewatch.admin import create_changelog_topics, create_topics
from wirewatch.embedded_broker import EmbeddedBroker, broker_for
from wirewatch.stages import STAGE_MODULES
from wirewatch.worker import build_stage_app

pytestmark = pytest.mark.integration
# Short enough to watch: the broker checks retention and cleans logs every half second, and the test's topics
# roll a segment every 200 ms (only closed segments are deleted or compacted).
FAST_LOG_CLEANING = {"log.retention.check.interval.ms": "500", "log.cleaner.backoff.ms": "200",
                     "log.cleaner.min.compaction.lag.ms": "0"}
SHORT_SEGMENTS = {"segment.ms": "200", "min.cleanable.dirty.ratio": "0.01", "delete.retention.ms": "100"}


@pytest.fixture
def cleaning_broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    with broker_for(Settings.from_env({}), tmp_path / "kafka", tmp_path / "broker.log", FAST_LOG_CLEANING) as broker:
        yield broker


async def topic_settings(settings: Settings, names: list[str]) -> dict[str, dict[str, str]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        described = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name) for name in names])
        return {name: {entry[0]: entry[1] for entry in entries}
                for response in described for _, _, _, name, entries in response.resources}
    finally:
        await admin.close()


async def shorten_segments(settings: Settings, names: list[str]) -> None:
    """Add SHORT_SEGMENTS to the topics' own settings (`topics create` keeps what someone else set); returns once
    the broker describes them so (it applies a change a moment after it answers)."""
    current = await topic_settings(settings, names)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        keep = ("cleanup.policy", "retention.ms")
        await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, name, configs={
            **{key: current[name][key] for key in keep}, **SHORT_SEGMENTS}) for name in names])
    finally:
        await admin.close()
    await settled(settings, names, SHORT_SEGMENTS)


async def settled(settings: Settings, names: list[str], wanted: dict[str, str]) -> dict[str, dict[str, str]]:
    """The topics' settings once every one of `names` has the `wanted` values (or after 10 s)."""
    deadline = time.monotonic() + 10
    while True:
        current = await topic_settings(settings, names)
        if all(current[n].get(k) == v for n in names for k, v in wanted.items()) or time.monotonic() > deadline:
            return current
        await asyncio.sleep(0.1)


async def read_all(settings: Settings, name: str) -> tuple[int, list[tuple[bytes, bytes]]]:
    """The first offset still kept of partition 0, and every (key, value) from there."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        partition = TopicPartition(name, 0)
        consumer.assign([partition])
        first = (await consumer.beginning_offsets([partition]))[partition]
        end = (await consumer.end_offsets([partition]))[partition]
        records: list[tuple[bytes, bytes]] = []
        while await consumer.position(partition) < end:
            batch = await consumer.getmany(partition, timeout_ms=1000)
            records += [(r.key, r.value) for r in batch.get(partition, [])]
        return first, records
    finally:
        await consumer.stop()


def test_topics_get_retention_and_compaction_and_the_broker_applies_them(cleaning_broker: EmbeddedBroker) -> None:
    settings = Settings.from_env({}, broker=cleaning_broker.url, partitions=1, retention_hours=2 / 3600)
    assert set(asyncio.run(create_topics(settings)).values()) == {"created"}
    names = {role: topic_name(settings, role) for role in TOPIC_SPECS}
    configured = asyncio.run(topic_settings(settings, list(names.values())))
    assert configured[names["raw"]]["cleanup.policy"] == "delete"
    assert configured[names["raw"]]["retention.ms"] == "2000"
    assert configured[names["rules"]]["cleanup.policy"] == "compact"
    assert int(configured[names["deadletter"]]["retention.ms"]) > int(configured[names["raw"]]["retention.ms"])

    asyncio.run(shorten_segments(settings, [names["raw"], names["rules"]]))
    asyncio.run(produce(settings, "raw", [(b"run", b'{"title": "old news"}')] * 20))
    asyncio.run(produce(settings, "rules", [(f"rule-{n % 3}".encode(), f"version {n}".encode()) for n in range(30)]))
    time.sleep(3)  # older than the retention now; later records roll the segments they sit in
    asyncio.run(produce(settings, "raw", [(b"run", b'{"title": "news"}')]))
    asyncio.run(produce(settings, "rules", [(b"rule-9", b"version 30")]))

    deadline = time.monotonic() + 60
    while True:
        first_raw, raw = asyncio.run(read_all(settings, names["raw"]))  # the newest may have gone too
        _, rules = asyncio.run(read_all(settings, names["rules"]))
        if (first_raw >= 20 and len(rules) <= 4) or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert first_raw >= 20 and b'{"title": "old news"}' not in {value for _, value in raw}, \
        "the 20 records older than the retention are gone"
    latest = dict(rules)
    assert latest == {b"rule-0": b"version 27", b"rule-1": b"version 28", b"rule-2": b"version 29",
                      b"rule-9": b"version 30"}
    assert len(rules) <= 4, f"compaction kept only the latest value per key, not {len(rules)} records"


def test_topics_create_brings_existing_topics_to_their_settings_and_keeps_others(
        pipeline_settings: Settings) -> None:
    name = topic_name(pipeline_settings, "raw")
    asyncio.run(shorten_segments(pipeline_settings, [name]))  # someone's own override
    longer = Settings.from_env({}, **{**pipeline_settings.__dict__, "retention_hours": 240.0})
    outcome = asyncio.run(create_topics(longer))
    assert outcome[name] == "updated" and outcome[topic_name(pipeline_settings, "rules")] == "exists"
    configured = asyncio.run(settled(pipeline_settings, [name], {"retention.ms": str(240 * 3_600_000)}))[name]
    assert configured["retention.ms"] == str(240 * 3_600_000) and configured["segment.ms"] == "200"


def test_every_stage_declares_its_changelogs_compacted_and_windows_expire(pipeline_settings: Settings) -> None:
    changelogs: dict[str, str] = {}
    for stage in STAGE_MODULES:
        created = asyncio.run(create_changelog_topics(build_stage_app(stage, pipeline_settings), pipeline_settings))
        changelogs.update(created)
    assert len(changelogs) >= 15 and all(outcome == "created" for outcome in changelogs.values())
    configured = asyncio.run(topic_settings(pipeline_settings, list(changelogs)))
    policies = {name: settings["cleanup.policy"] for name, settings in configured.items()}
    windowed = {name for name in changelogs if "entity-mentions" in name}  # the windowed table of surges
    assert windowed and {policies[name] for name in windowed} == {"compact,delete"}, "old windows are deleted"
    assert {policies[name] for name in set(changelogs) - windowed} == {"compact"}
    # Closed segments are what the cleaner compacts: a changelog rolls them often enough to stay near its live size.
    assert all(settings.items() >= COMPACTION_CONFIGS.items() for settings in configured.values())
