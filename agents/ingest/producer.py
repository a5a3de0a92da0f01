"""Send files and folders into the raw topic; what cannot travel through Kafka goes to the dead-letter topic."""
from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from agents.ingest.files import raw_messages
from streams.codecs import dumps
from streams.deadletter import BadInput, dead_letter, record_dead_letter
from streams.metrics import ARTICLES, stage_timer
from streams.settings import Settings
from streams.topics import topic_name

STAGE = "ingest"
log = logging.getLogger(__name__)


@dataclass
class IngestReport:
    """What one ingest run sent."""

    sent: int = 0
    dead_lettered: int = 0
    failed: int = 0             # the broker did not take them: ingest exits non-zero, re-run it


def kafka_producer(settings: Settings) -> AIOKafkaProducer:
    """A producer configured from the settings (batch size is the embedded broker's work-around)."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        client_id="wirewatch-ingest",
        max_batch_size=max(settings.producer_max_batch_bytes, 1),
        max_request_size=settings.max_article_bytes + 64 * 1024,
        acks="all",
    )


async def ingest_paths(paths: Iterable[Path], settings: Settings,
                       producer: AIOKafkaProducer | None = None) -> IngestReport:
    """Send every article under `paths` to the raw topic, in file order; returns the counts.

    Every message of one run carries the run's key, so they share a partition and reach dedup in the order given
    (which decides what is an update of what); separate ingest runs and feeds spread across partitions.
    """
    own_producer = producer is None
    producer = producer or kafka_producer(settings)
    if own_producer:
        await producer.start()
    raw_topic, dead_topic = topic_name(settings, "raw"), topic_name(settings, "deadletter")
    report = IngestReport()
    deliveries: list[asyncio.Future] = []
    run_key = f"ingest-{uuid.uuid4().hex[:12]}".encode()
    try:
        for message in raw_messages(paths):
            ARTICLES.labels(STAGE, "in").inc()
            if len(message.value) > settings.max_article_bytes:
                error = BadInput("too_large", f"{len(message.value)} bytes exceed the "
                                 f"{settings.max_article_bytes} byte limit (WIREWATCH_MAX_ARTICLE_BYTES)")
                letter = dead_letter(STAGE, message.value, error, origin=message.origin)
                await producer.send_and_wait(dead_topic, dumps(letter), key=STAGE.encode())
                record_dead_letter(STAGE, letter)
                report.dead_lettered += 1
                continue
            with stage_timer(STAGE):
                deliveries.append(await producer.send(raw_topic, message.value, key=run_key))
        # flush() does not raise for single messages: each delivery's own result says whether it arrived.
        for delivery in asyncio.as_completed(deliveries):
            try:
                await delivery
            except KafkaError as error:
                log.error("ingest send failed", extra={"error": f"{type(error).__name__}: {error}"})
                ARTICLES.labels(STAGE, "failed").inc()
                report.failed += 1
                continue
            ARTICLES.labels(STAGE, "out").inc()
            report.sent += 1
    finally:
        if own_producer:
            await producer.stop()
    log.info("ingest done", extra={"sent": report.sent, "dead_lettered": report.dead_lettered,
                                   "failed": report.failed})
    return report
