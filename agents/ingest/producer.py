"""Send files and folders into the raw topic; what cannot travel through Kafka goes to the dead-letter topic."""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import chain, islice, repeat
from pathlib import Path

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from tqdm import tqdm

from agents.ingest.files import RawMessage, raw_messages
from agents.ingest.pages import fit_raw_value
from agents.ingest.replay import replay_delays, replay_order
from streams.codecs import dumps
from streams.deadletter import BadInput, dead_letter, origin_headers, record_dead_letter
from streams.metrics import ARTICLES, stage_timer
from streams.raw import parse_raw
from streams.settings import ENV_PREFIX, Settings
from streams.times import parse_published
from streams.topics import message_limit_bytes, topic_name

STAGE = "ingest"
# Inputs with more messages than this get a progress bar on an interactive stderr (`progress=None`).
LARGE_INPUT = 1000
log = logging.getLogger(__name__)


@dataclass
class IngestReport:
    """What one ingest run sent."""

    sent: int = 0
    dead_lettered: int = 0
    failed: int = 0             # the broker did not take them: ingest exits non-zero, re-run it


async def fit_or_dead_letter(producer: AIOKafkaProducer, settings: Settings, message: RawMessage) -> RawMessage | None:
    """`message`, made smaller when it is a page too large for Kafka (see `agents.ingest.pages`); None when it
    could not be, after sending it to the dead-letter topic instead."""
    if len(message.value) <= settings.max_article_bytes:
        return message
    value = await asyncio.to_thread(fit_raw_value, message.value, settings.max_article_bytes)  # a 10 MB page: 0.5 s
    if len(value) <= settings.max_article_bytes:
        return dataclasses.replace(message, value=value)
    error = BadInput("too_large", f"{len(value)} bytes exceed the {settings.max_article_bytes} byte limit "
                     f"({ENV_PREFIX}MAX_ARTICLE_BYTES)" + (" after reading its page" if value is not message.value
                                                          else ""))
    letter = dead_letter(STAGE, message.value, error, origin=message.origin)
    await producer.send_and_wait(topic_name(settings, "deadletter"), dumps(letter), key=STAGE.encode())
    record_dead_letter(STAGE, letter)
    return None


def kafka_producer(settings: Settings) -> AIOKafkaProducer:
    """A producer configured from the settings; idempotent, so a retried send is not written twice."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        client_id="wirewatch-ingest",
        max_batch_size=settings.producer_max_batch_bytes,
        linger_ms=settings.producer_linger_ms,
        enable_idempotence=True,
        max_request_size=message_limit_bytes(settings),
        acks="all",
    )


async def ingest_paths(paths: Iterable[Path], settings: Settings, producer: AIOKafkaProducer | None = None, *,
                       speed: float = 0.0, progress: bool | None = None) -> IngestReport:
    """Send every article under `paths` to the raw topic, in file order; returns the counts.

    Every message of one run carries the run's key, so they share a partition and reach dedup in the order given
    (which decides what is an update of what); separate ingest runs and feeds spread across partitions.

    `speed` > 0 replays instead: articles in publish-time order, spaced as published divided by `speed` (see
    `replay_delays`). `progress` True/False forces the progress bar on stderr on/off; None shows it for inputs of
    more than `LARGE_INPUT` messages when stderr is a terminal.
    """
    own_producer = producer is None
    producer = producer or kafka_producer(settings)
    if own_producer:
        await producer.start()
    raw_topic = topic_name(settings, "raw")
    report = IngestReport()
    deliveries: list[asyncio.Future] = []
    run_key = f"ingest-{uuid.uuid4().hex[:12]}".encode()
    bar: tqdm | None = None
    try:
        messages: Iterator[RawMessage] = raw_messages(paths)
        total: int | None = None
        due: Iterator[float] = repeat(0.0)
        if speed > 0:  # replay needs every publish time before the first send
            listed, delays = _replay_schedule(list(messages), speed, settings.max_article_bytes)
            messages, due, total = iter(listed), iter(delays), len(listed)
        messages, show = _progress_wanted(messages, progress, total)
        clock = asyncio.get_running_loop()
        start = clock.time()
        bar = tqdm(messages, total=total, unit=" articles", file=sys.stderr, disable=not show, desc="ingest")
        for message, delay in zip(bar, due):
            if (wait := start + delay - clock.time()) > 0:
                await asyncio.sleep(wait)
            if speed > 0:  # latency is measured from the send, not from when the files were read
                message = _stamped(message, time.time())
            ARTICLES.labels(STAGE, "in").inc()
            fitting = await fit_or_dead_letter(producer, settings, message)
            if fitting is None:
                report.dead_lettered += 1
                continue
            with stage_timer(STAGE):
                deliveries.append(await producer.send(raw_topic, fitting.value, key=run_key,
                                                      headers=origin_headers(fitting.origin)))
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
        if bar is not None:
            bar.close()
        if own_producer:
            await producer.stop()
    log.info("ingest done", extra={"sent": report.sent, "dead_lettered": report.dead_lettered,
                                   "failed": report.failed})
    return report


def _replay_schedule(messages: list[RawMessage], speed: float,
                     max_bytes: int) -> tuple[list[RawMessage], list[float]]:
    """The messages in replay order with the delay (s after the start) at which each is due."""
    delays = replay_delays([_published(message, max_bytes) for message in messages], speed)
    order = replay_order(delays)
    return [messages[i] for i in order], [delays[i] for i in order]


def _published(message: RawMessage, max_bytes: int) -> datetime | None:
    """The publish time the clean stage will read from the message's feed field; None when absent or bad.

    Only the feed field is read: a date that only an HTML page's metadata holds would cost a parse of every page
    before the first send, so such articles are sent at once, like other undated ones.
    """
    try:
        return parse_published(parse_raw(message.value, max_bytes=max_bytes).published)
    except BadInput:
        return None  # the clean stage dead-letters it; when is irrelevant


def _stamped(message: RawMessage, now: float) -> RawMessage:
    """`message` with `ingested_at` set to `now`; broken messages are left as read, for the clean stage to refuse."""
    try:
        obj = orjson.loads(message.value)
    except orjson.JSONDecodeError:
        return message
    if not isinstance(obj, dict) or "ingested_at" not in obj:
        return message
    return RawMessage(key=message.key, value=orjson.dumps({**obj, "ingested_at": now}), origin=message.origin)


def _progress_wanted(messages: Iterator[RawMessage], progress: bool | None,
                     total: int | None) -> tuple[Iterator[RawMessage], bool]:
    """The messages (unchanged) and whether to show a progress bar for them."""
    if progress is not None:
        return messages, progress
    if not sys.stderr.isatty():
        return messages, False
    if total is not None:
        return messages, total > LARGE_INPUT
    head = list(islice(messages, LARGE_INPUT + 1))  # look ahead only as far as deciding needs
    return chain(head, messages), len(head) > LARGE_INPUT
