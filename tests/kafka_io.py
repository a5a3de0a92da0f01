"""Topics in integration tests: writing records as a stage would, reading a topic from its beginning."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Hashable

import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

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
    """How many workers of `stage` are members of its consumer group with partitions assigned (0 while it rebalances)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        [response] = await admin.describe_consumer_groups([f"{settings.topic_prefix}-{stage}"])
        [(error, _, state, _, _, members, *_)] = response.groups
        return len(members) if error == 0 and state == "Stable" else 0
    finally:
        await admin.close()
