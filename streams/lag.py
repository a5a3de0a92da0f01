"""Consumer lag from offsets and record timestamps: the one computation behind the `wirewatch_consumer_lag_*`
metrics and `wirewatch status`, kept free of Kafka so it can be tested alone."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class PartitionOffsets:
    """Where a consumer group stands on one partition, as the broker tells it."""

    topic: str
    partition: int
    start: int              # log start offset: where a group without a committed offset begins (reset "earliest")
    end: int                # end offset (the last stable one under transactions): the offset of the next record
    committed: int | None   # the group's committed offset (the next record it will process); None: never committed

    @property
    def position(self) -> int:
        """Offset of the oldest record the group has not processed (records before the log start are gone)."""
        return self.start if self.committed is None else max(self.committed, self.start)

    @property
    def waiting(self) -> int:
        """Offsets between the group's position and the end: the records it has still to process."""
        return max(self.end - self.position, 0)


@dataclass(frozen=True)
class PartitionLag:
    """A group's lag on one partition: records waiting and the age (s) of the oldest of them."""

    topic: str
    partition: int
    records: int
    seconds: float


def partition_lag(offsets: PartitionOffsets, oldest_waiting: float | None, now: float) -> PartitionLag:
    """The lag of one partition at unix time `now`.

    `oldest_waiting` is the timestamp (unix s) of the first record at or after the group's position, None when no
    record is there before the end (under transactions the offsets left may be commit markers only): no lag then.
    """
    if not offsets.waiting or oldest_waiting is None:
        return PartitionLag(offsets.topic, offsets.partition, 0, 0.0)
    return PartitionLag(offsets.topic, offsets.partition, offsets.waiting, max(now - oldest_waiting, 0.0))


@dataclass(frozen=True)
class TotalLag:
    """The lag of several partitions together: records waiting on all of them, the oldest record's age."""

    records: int
    seconds: float


def total_lag(lags: Iterable[PartitionLag]) -> TotalLag:
    """Records summed over the partitions; seconds of the partition furthest behind."""
    rows = list(lags)
    return TotalLag(sum(row.records for row in rows), max((row.seconds for row in rows), default=0.0))
