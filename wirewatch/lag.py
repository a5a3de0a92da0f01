"""Reads a consumer group's lag from the broker, for the lag metrics of a worker and for `wirewatch status`: the
offsets come from the broker and the group coordinator, the age from the timestamp of the first waiting record."""
from __future__ import annotations

import time
from collections.abc import Collection

import faust
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from streams.lag import EndOffsetLog, PartitionLag, PartitionOffsets, partition_lag
from streams.settings import Settings

# Longest wait for the first waiting records; a partition that yields none by then counts as having none.
FETCH_TIMEOUT_SECONDS = 5.0


def input_topics(app: faust.App) -> list[str]:
    """The topics a stage's app consumes: those of its agents, so the stage's code is the one list of them."""
    return sorted({name for agent in app.agents.values() if isinstance(agent.channel, faust.Topic)
                   for name in agent.channel.topics})


class LagReader:
    """A client reading lag (use `async with`): one admin client for the committed offsets and one consumer, in no
    group, for the end and start offsets and one fetch per partition where records wait (for the oldest's
    timestamp). It reads committed data only, as a worker does under `exactly_once`: the end is the last stable
    offset."""

    def __init__(self, settings: Settings) -> None:
        self.admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers, client_id="wirewatch-lag")
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.bootstrap_servers, client_id="wirewatch-lag", group_id=None,
            enable_auto_commit=False, auto_offset_reset="earliest", isolation_level="read_committed",
            fetch_max_wait_ms=100, max_partition_fetch_bytes=1)  # one record batch per partition is enough

    async def __aenter__(self) -> LagReader:
        try:
            await self.admin.start()
            await self.consumer.start()
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.consumer.stop()
        await self.admin.close()

    async def lag(self, group: str, partitions: Collection[TopicPartition],
                  ends: EndOffsetLog | None = None) -> list[PartitionLag]:
        """The lag of `group` on each of `partitions`, in their sorted order; with `ends`, the log of the end
        offsets this reader saw before, which bounds the waiting records' age (and gets this read's ends)."""
        asked = time.time()
        offsets = await self.offsets(group, partitions)
        lags = await self.lags(offsets, ends)
        if ends is not None:
            for row in offsets:
                ends.observe(row, asked)
        return lags

    async def lags(self, offsets: list[PartitionOffsets], ends: EndOffsetLog | None = None) -> list[PartitionLag]:
        """The lag of each partition of `offsets` (from `offsets`), now."""
        oldest = await self.oldest_waiting(offsets)
        now = time.time()
        return [partition_lag(row, oldest.get(TopicPartition(row.topic, row.partition)), now,
                              ends.appended_after(row) if ends is not None else None)
                for row in offsets]

    async def offsets(self, group: str, partitions: Collection[TopicPartition]) -> list[PartitionOffsets]:
        """Start, end and committed offsets of `group` on each of `partitions`: three requests, whatever their
        number."""
        if not partitions:
            return []
        ordered = sorted(partitions)
        committed = await self.admin.list_consumer_group_offsets(group, partitions=ordered)
        ends = await self.consumer.end_offsets(ordered)
        starts = await self.consumer.beginning_offsets(ordered)
        return [PartitionOffsets(tp.topic, tp.partition, starts[tp], ends[tp],
                                 committed[tp].offset if tp in committed and committed[tp].offset >= 0 else None)
                for tp in ordered]

    async def oldest_waiting(self, offsets: list[PartitionOffsets]) -> dict[TopicPartition, float]:
        """Timestamp (unix s) of the first record at each partition's position, for those where records wait."""
        waiting = {TopicPartition(row.topic, row.partition): row for row in offsets if row.waiting}
        if not waiting:
            return {}
        self.consumer.assign(list(waiting))
        for tp, row in waiting.items():
            self.consumer.seek(tp, row.position)
        found: dict[TopicPartition, float] = {}
        deadline = time.monotonic() + FETCH_TIMEOUT_SECONDS
        try:
            pending = list(waiting)
            while pending and time.monotonic() < deadline:
                for tp, records in (await self.consumer.getmany(*pending, timeout_ms=200)).items():
                    if records:
                        found[tp] = records[0].timestamp / 1000
                # A partition read to its end without a record held only transaction markers there.
                pending = [tp for tp in pending
                           if tp not in found and await self.consumer.position(tp) < waiting[tp].end]
        finally:
            self.consumer.assign([])  # no fetching between reads
        return found
