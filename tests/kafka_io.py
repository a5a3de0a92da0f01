"""Topics in integration tests: writing records as a stage would, reading a topic from its beginning."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Hashable

import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import GroupCoordinatorNotAvailableError

from agents.ingest.producer import kafka_producer
from streams.settings import Settings
from streams.topics import topic_name


async def produce(settings: Settings, role: str, records: list[tuple[bytes, bytes]]) -> None:
    """Send (key, value) records to the topic of `role`, in order, with Kafka's default partitioner."""
    producer = kafka_producer(settings)
    await producer.start()
    try:
        for key, value in records:
            await producer.send(topic_name(settings, role), value, key=key)
        await producer.flush()
    finally:
        await producer.stop()


async def read_topic(settings: Settings, role: str, count: int, timeout: float = 60.0,
                     identity: Callable[[dict], Hashable] | None = None) -> list[dict]:
    """The first `count` values of the topic of `role` as JSON objects (fewer if `timeout` runs out).

    With `identity`, repeats (at-least-once re-deliveries) are dropped and `count` distinct values are read.
    """
    consumer = AIOKafkaConsumer(topic_name(settings, role), bootstrap_servers=settings.bootstrap_servers,
                                auto_offset_reset="earliest", enable_auto_commit=False, group_id=None)
    await consumer.start()
    values: dict[Hashable, dict] = {}
    deadline = time.monotonic() + timeout
    try:
        while len(values) < count and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for record in (r for records in batches.values() for r in records):
                value = orjson.loads(record.value)
                values.setdefault(identity(value) if identity else len(values), value)
    finally:
        await consumer.stop()
    return list(values.values())[:count]


async def read_until(settings: Settings, role: str, done: Callable[[list[dict]], bool],
                     timeout: float = 60.0) -> list[dict]:
    """Every value of the topic of `role` from its beginning, repeats included, once `done` accepts what was read
    (or what there is when `timeout` runs out)."""
    consumer = AIOKafkaConsumer(topic_name(settings, role), bootstrap_servers=settings.bootstrap_servers,
                                auto_offset_reset="earliest", enable_auto_commit=False, group_id=None)
    await consumer.start()
    values: list[dict] = []
    deadline = time.monotonic() + timeout
    try:
        while not done(values) and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            values += [orjson.loads(record.value) for records in batches.values() for record in records]
    finally:
        await consumer.stop()
    return values


def read_topic_sync(settings: Settings, role: str, count: int, timeout: float = 60.0,
                    identity: Callable[[dict], Hashable] | None = None) -> list[dict]:
    """`read_topic` for synchronous tests."""
    return asyncio.run(read_topic(settings, role, count, timeout, identity))


async def group_members(settings: Settings, stage: str) -> int:
    """How many workers of `stage` are in its consumer group with partitions assigned (0 while it rebalances)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        [response] = await admin.describe_consumer_groups([f"{settings.topic_prefix}-{stage}"])
        [(error, _, state, _, _, members, *_)] = response.groups
        return len(members) if error == 0 and state == "Stable" else 0
    finally:
        await admin.close()


# ---- waiting on offsets, not on the clock ----


async def topic_partitions(settings: Settings, topic: str) -> list[TopicPartition]:
    """The partitions of `topic` (which must exist)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    assert described["error_code"] == 0 and described["partitions"], f"no topic {topic}: {described}"
    return [TopicPartition(topic, number) for number in sorted(p["partition"] for p in described["partitions"])]


async def records_to_end(settings: Settings, topic: str, timeout: float = 60.0) -> list[ConsumerRecord]:
    """Every record `topic` holds now (each partition read from its beginning to the end offset it has when called).

    With a stage's work known to be done (see `consumed`) or a marker known to be sent, this is everything there is:
    no quiet period is needed to tell that nothing more came.
    """
    partitions = await topic_partitions(settings, topic)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers, enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        records: list[ConsumerRecord] = []
        deadline = time.monotonic() + timeout
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            assert time.monotonic() < deadline, f"could not read {topic} to its end within {timeout:.0f} s"
            batches = await consumer.getmany(*partitions, timeout_ms=500)
            records += [r for tp in partitions for r in batches.get(tp, []) if r.offset < ends[tp]]
        return records
    finally:
        await consumer.stop()


def read_to_end(settings: Settings, role: str) -> list[dict]:
    """The values the topic of `role` holds now, as JSON objects (partition by partition, each in order)."""
    records = asyncio.run(records_to_end(settings, topic_name(settings, role)))
    return [orjson.loads(record.value) for record in records]


def changelog_to_end(settings: Settings, stage: str, table: str) -> list[tuple[str, dict | None]]:
    """The (key, value) writes a stage's table has on its changelog now, in order per partition (None: deleted)."""
    records = asyncio.run(records_to_end(settings, f"{settings.topic_prefix}-{stage}-{table}-changelog"))
    return [(orjson.loads(r.key), orjson.loads(r.value) if r.value is not None else None) for r in records]


async def consumed(settings: Settings, stage: str, role: str) -> bool:
    """Whether `stage`'s workers have committed every record the topic of `role` holds now.

    Faust flushes a worker's producer before it commits offsets, so what the stage sent for those records (outputs
    and table changes) is on the broker too.
    """
    partitions = await topic_partitions(settings, topic_name(settings, role))
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers, enable_auto_commit=False, group_id=None)
    await admin.start()
    await consumer.start()
    try:
        try:
            committed = await admin.list_consumer_group_offsets(f"{settings.topic_prefix}-{stage}")
        except GroupCoordinatorNotAvailableError:  # a fresh broker elects the group coordinators on first ask
            return False
        ends = await consumer.end_offsets(partitions)
        return all(ends[tp] == 0 or (tp in committed and committed[tp].offset >= ends[tp]) for tp in partitions)
    finally:
        await consumer.stop()
        await admin.close()


def wait_consumed(settings: Settings, stage: str, role: str, timeout: float = 60.0) -> None:
    """Wait until `stage` has committed every record the topic of `role` holds (see `consumed`)."""
    deadline = time.monotonic() + timeout
    while not asyncio.run(consumed(settings, stage, role)):
        assert time.monotonic() < deadline, f"{stage} did not commit all of {role} within {timeout:.0f} s"
        time.sleep(0.3)
