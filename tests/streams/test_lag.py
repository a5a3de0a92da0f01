"""The lag core: offsets and the oldest waiting record's timestamp into records and seconds."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streams.lag import EndOffsetLog, PartitionLag, PartitionOffsets, partition_lag, total_lag

NOW = 1_000_000.0


def offsets(start: int, end: int, committed: int | None) -> PartitionOffsets:
    return PartitionOffsets("t.raw", 2, start, end, committed)


def test_lag_counts_records_after_the_committed_offset_and_ages_the_oldest() -> None:
    assert partition_lag(offsets(0, 120, 100), NOW - 42.5, NOW) == PartitionLag("t.raw", 2, 20, 42.5)


def test_a_caught_up_group_has_no_lag_whatever_the_last_timestamp() -> None:
    assert partition_lag(offsets(0, 100, 100), None, NOW) == PartitionLag("t.raw", 2, 0, 0.0)
    assert partition_lag(offsets(0, 100, 100), NOW - 3600, NOW) == PartitionLag("t.raw", 2, 0, 0.0)


def test_a_group_that_never_committed_waits_from_the_log_start() -> None:
    assert offsets(30, 100, None).position == 30
    assert partition_lag(offsets(30, 100, None), NOW - 5, NOW) == PartitionLag("t.raw", 2, 70, 5.0)


def test_records_deleted_by_retention_no_longer_wait() -> None:
    assert partition_lag(offsets(90, 100, 10), NOW - 1, NOW).records == 10


def test_offsets_holding_only_transaction_markers_are_no_lag() -> None:
    # exactly_once: a transaction's commit marker takes an offset after the last record; no record waits there
    assert partition_lag(offsets(0, 101, 100), None, NOW) == PartitionLag("t.raw", 2, 0, 0.0)


def test_a_record_stamped_in_the_future_counts_no_negative_age() -> None:
    assert partition_lag(offsets(0, 5, 4), NOW + 30, NOW).seconds == 0.0


def test_a_record_stamped_with_an_old_article_time_waits_only_since_the_log_did_not_hold_it() -> None:
    # Entity sightings and feed entries carry the article's time: a 1987 wire replayed now is not 39 years late.
    ends = EndOffsetLog()
    ends.observe(offsets(0, 100, 100), NOW - 12)   # caught up: the record at offset 100 was not in the log yet
    ends.observe(offsets(0, 130, 100), NOW - 7)    # it is now, and waits
    waiting = offsets(0, 130, 100)
    assert ends.appended_after(waiting) == NOW - 12
    assert partition_lag(waiting, NOW - 1.2e9, NOW, ends.appended_after(waiting)).seconds == 12.0
    # a record stamped when it was produced keeps its own, later, time
    assert partition_lag(waiting, NOW - 3, NOW, ends.appended_after(waiting)).seconds == 3.0


def test_the_end_offset_log_bounds_nothing_it_did_not_see() -> None:
    ends = EndOffsetLog(remembered=2)
    assert ends.appended_after(offsets(0, 130, 100)) is None
    for end, at in ((100, NOW - 30), (110, NOW - 20), (120, NOW - 10)):
        ends.observe(offsets(0, end, 100), at)
    # the end of 100 (seen 30 s ago) is forgotten: offset 100 may have been appended long before 20 s ago
    assert ends.appended_after(offsets(0, 130, 100)) is None
    assert ends.appended_after(offsets(0, 130, 115)) == NOW - 20
    ends.observe(offsets(0, 120, 100), NOW - 1)   # the same end again: the latest time it was seen counts
    assert ends.appended_after(offsets(0, 130, 125)) == NOW - 1
    assert ends.appended_after(PartitionOffsets("t.raw", 3, 0, 130, 125)) is None  # another partition


def test_total_lag_sums_records_and_takes_the_oldest_age() -> None:
    total = total_lag([PartitionLag("a", 0, 3, 1.5), PartitionLag("a", 1, 0, 0.0), PartitionLag("b", 0, 7, 9.0)])
    assert (total.records, total.seconds) == (10, 9.0)
    assert (total_lag([]).records, total_lag([]).seconds) == (0, 0.0)


@given(start=st.integers(0, 10**6), length=st.integers(0, 10**6), committed=st.none() | st.integers(0, 3 * 10**6),
       age=st.floats(-100, 10**6))
def test_lag_is_never_negative_nor_more_than_the_partition_holds(start: int, length: int, committed: int | None,
                                                                 age: float) -> None:
    lag = partition_lag(offsets(start, start + length, committed), NOW - age, NOW)
    assert 0 <= lag.records <= length and lag.seconds >= 0
    assert lag.records > 0 or lag.seconds == 0  # nothing waiting is never old
