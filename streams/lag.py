"""Consumer lag from offsets and record timestamps: the one computation behind the `wirewatch_consumer_lag_*`
metrics and `wirewatch status`, kept free of Kafka so it can be tested alone."""
from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

# End offsets remembered per partition (distinct values): at one lag read every 5 s, at least an hour of them.
REMEMBERED_ENDS = 720


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


def partition_lag(offsets: PartitionOffsets, oldest_waiting: float | None, now: float,
                  appended_after: float | None = None) -> PartitionLag:
    """The lag of one partition at unix time `now`.

    `oldest_waiting` is the timestamp (unix s) of the first record at or after the group's position, None when no
    record is there before the end (under transactions the offsets left may be commit markers only): no lag then.
    `appended_after` is a time the record was known not to be in the log yet (`EndOffsetLog`): a producer may stamp
    a record with the article's time (feed entries, entity sightings), and the record cannot wait from before then.
    """
    if not offsets.waiting or oldest_waiting is None:
        return PartitionLag(offsets.topic, offsets.partition, 0, 0.0)
    waiting_since = oldest_waiting if appended_after is None else max(oldest_waiting, appended_after)
    return PartitionLag(offsets.topic, offsets.partition, offsets.waiting, max(now - waiting_since, 0.0))


class EndOffsetLog:
    """When a reader saw each partition's end offset: the latest time the end was still at or before an offset
    bounds when the record at that offset was appended, whatever timestamp its producer gave it."""

    def __init__(self, remembered: int = REMEMBERED_ENDS) -> None:
        self.remembered = remembered
        self._ends: dict[tuple[str, int], deque[tuple[int, float]]] = {}

    def observe(self, offsets: PartitionOffsets, at: float) -> None:
        """The end of `offsets` was read by a request sent at unix time `at` (the end can only have grown since)."""
        ends = self._ends.setdefault((offsets.topic, offsets.partition), deque(maxlen=self.remembered))
        if ends and ends[-1][0] == offsets.end:
            ends.pop()  # the same end seen again: keep only the latest time it was seen
        ends.append((offsets.end, at))

    def appended_after(self, offsets: PartitionOffsets) -> float | None:
        """The latest time seen with the end at or before the group's position (its next record not yet appended),
        None when every end remembered is past it."""
        for end, at in reversed(self._ends.get((offsets.topic, offsets.partition), ())):
            if end <= offsets.position:
                return at
        return None


@dataclass(frozen=True)
class TotalLag:
    """The lag of several partitions together: records waiting on all of them, the oldest record's age."""

    records: int
    seconds: float


def total_lag(lags: Iterable[PartitionLag]) -> TotalLag:
    """Records summed over the partitions; seconds of the partition furthest behind."""
    rows = list(lags)
    return TotalLag(sum(row.records for row in rows), max((row.seconds for row in rows), default=0.0))
