"""`wirewatch status`: one row per stage, read from the broker alone (like `kafka-consumer-groups --describe`, per
stage), for the engineer without Grafana: workers, partitions, lag, recent throughput and dead letters."""
from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from streams.lag import PartitionOffsets, TotalLag, total_lag
from streams.settings import Settings
from streams.topics import topic_name
from wirewatch.admin import reachable
from wirewatch.lag import LagReader, input_topics
from wirewatch.stages import STAGE_MODULES

RATE_WINDOW_SECONDS = 60.0
DEAD_LETTER_WINDOW_SECONDS = 3600.0
RETRY_SECONDS = 15.0  # how long a retriable broker error (a group coordinator not yet elected) is tried again
Result = TypeVar("Result")
COLUMNS = ("stage", "group", "workers", "partitions", "lag records", "lag seconds", "done/s (1 min)",
           "dead letters (1 h)")


@dataclass(frozen=True)
class StageStatus:
    """One stage as the broker sees it."""

    stage: str
    group_state: str    # the consumer group's state: Stable, PreparingRebalance, Empty (no worker), Dead (none yet)
    workers: int        # members of the stage's consumer group
    partitions: int     # partitions of the stage's input topics
    lag: TotalLag
    done_per_second: float  # input records stamped within the last minute that the stage has committed, per second
    dead_letters: int   # dead letters the stage sent within the last hour


def done_since(offsets: PartitionOffsets, first_recent: int | None) -> int:
    """Records from offset `first_recent` (the first one stamped within the window; None: no such record) that the
    group has committed."""
    if first_recent is None:
        return 0
    return max(offsets.position - max(first_recent, offsets.start), 0)


async def stage_statuses(settings: Settings) -> list[StageStatus]:
    """The status of every stage, in pipeline order; a RuntimeError in one line when the broker cannot be read."""
    if not reachable(settings):
        raise RuntimeError(f"cannot reach the broker at {settings.broker}")
    from wirewatch.worker import build_stage_app  # noqa: PLC0415 — imports every stage; only status needs it

    try:
        async with LagReader(settings) as reader:
            dead_letters = await _retrying(lambda: _dead_letters(reader, settings))
            rows = []
            for stage in STAGE_MODULES:
                app = build_stage_app(stage, settings)
                rows.append(await _retrying(lambda: _stage_status(
                    reader, stage, app.conf.id, input_topics(app), dead_letters[stage])))  # noqa: B023 — awaited here
            return rows
    except KafkaError as error:
        raise RuntimeError(f"cannot read the status from the broker at {settings.broker}: {error!r}") from error


async def _retrying(read: Callable[[], Awaitable[Result]]) -> Result:
    """`read()`, tried again for RETRY_SECONDS while the broker answers with a retriable error."""
    deadline = time.monotonic() + RETRY_SECONDS
    while True:
        try:
            return await read()
        except KafkaError as error:
            if not error.retriable or time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.5)


async def _stage_status(reader: LagReader, stage: str, group: str, topics: list[str],
                        dead_letters: int) -> StageStatus:
    [described] = await reader.admin.describe_consumer_groups([group])
    [(_, _, state, _, _, members, *_)] = described.groups
    partitions = [TopicPartition(t["topic"], p["partition"])
                  for t in await reader.admin.describe_topics(topics) for p in t["partitions"]]
    offsets = await reader.offsets(group, partitions)
    lags = await reader.lags(offsets)
    since = await _first_offsets_since(reader, partitions, time.time() - RATE_WINDOW_SECONDS)
    done = sum(done_since(row, since[TopicPartition(row.topic, row.partition)]) for row in offsets)
    return StageStatus(stage, state, len(members), len(partitions), total_lag(lags), done / RATE_WINDOW_SECONDS,
                       dead_letters)


async def _first_offsets_since(reader: LagReader, partitions: Iterable[TopicPartition],
                               since: float) -> dict[TopicPartition, int | None]:
    """Per partition, the first offset stamped at or after unix time `since`; None where no record is."""
    found = await reader.consumer.offsets_for_times({tp: int(since * 1000) for tp in partitions})
    return {tp: None if at is None else at.offset for tp, at in found.items()}


async def _dead_letters(reader: LagReader, settings: Settings) -> Counter[str]:
    """Dead letters stamped within the last hour, by the stage that sent them (their key)."""
    topic = topic_name(settings, "deadletter")
    partitions = [TopicPartition(topic, p["partition"])
                  for t in await reader.admin.describe_topics([topic]) for p in t["partitions"]]
    since = await _first_offsets_since(reader, partitions, time.time() - DEAD_LETTER_WINDOW_SECONDS)
    ends = await reader.consumer.end_offsets(partitions)
    counts: Counter[str] = Counter()
    reading = {tp: ends[tp] for tp, start in since.items() if start is not None and start < ends[tp]}
    if not reading:
        return counts
    reader.consumer.assign(list(reading))
    try:
        for tp, start in since.items():
            if tp in reading and start is not None:
                reader.consumer.seek(tp, start)
        while reading:
            for tp, records in (await reader.consumer.getmany(*reading, timeout_ms=500)).items():
                counts.update(r.key.decode("utf-8", "replace") for r in records if r.offset < ends[tp] and r.key)
            reading = {tp: end for tp, end in reading.items() if await reader.consumer.position(tp) < end}
    finally:
        reader.consumer.assign([])
    return counts


def render(rows: list[StageStatus]) -> str:
    """The rows as an aligned text table."""
    cells = [COLUMNS] + [(row.stage, row.group_state, str(row.workers), str(row.partitions), str(row.lag.records),
                          f"{row.lag.seconds:.1f}", f"{row.done_per_second:.2f}", str(row.dead_letters))
                         for row in rows]
    widths = [max(len(line[column]) for line in cells) for column in range(len(COLUMNS))]
    return "\n".join("  ".join(cell.ljust(width) if column == 0 else cell.rjust(width)
                               for column, (cell, width) in enumerate(zip(line, widths, strict=True)))
                     for line in cells)
