"""Reading topics in integration tests: a plain aiokafka consumer from the beginning of a topic."""
from __future__ import annotations

import asyncio
import time

import orjson
from aiokafka import AIOKafkaConsumer

from streams.settings import Settings
from streams.topics import topic_name


async def read_topic(settings: Settings, role: str, count: int, timeout: float = 60.0) -> list[dict]:
    """The first `count` values of the topic of `role` as JSON objects (fewer if `timeout` runs out)."""
    consumer = AIOKafkaConsumer(topic_name(settings, role), bootstrap_servers=settings.bootstrap_servers,
                                auto_offset_reset="earliest", enable_auto_commit=False, group_id=None)
    await consumer.start()
    values: list[dict] = []
    deadline = time.monotonic() + timeout
    try:
        while len(values) < count and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                values.extend(orjson.loads(record.value) for record in records)
    finally:
        await consumer.stop()
    return values


def read_topic_sync(settings: Settings, role: str, count: int, timeout: float = 60.0) -> list[dict]:
    """`read_topic` for synchronous tests."""
    return asyncio.run(read_topic(settings, role, count, timeout))
