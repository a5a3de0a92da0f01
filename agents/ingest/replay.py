"""Replay scheduling for `wirewatch ingest --speed`: when each article is due, from its publish time."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime


def replay_delays(published_times: Sequence[datetime | None], speed: float) -> list[float]:
    """Seconds after the start of the run at which each article is due, in the input's order.

    Publish-time spacing is kept, divided by `speed` (60: an hour of news in a minute), counted from the earliest
    publish time. Articles without a time are due at once, and `speed` 0 (or below) means every article is due at
    once: as fast as possible. Sending in order of these delays, ties in input order (a stable sort), replays
    articles in publish order. Times must be all aware or all naive (the clean stage's are aware, UTC).
    """
    timed = [t for t in published_times if t is not None]
    if speed <= 0 or not timed:
        return [0.0] * len(published_times)
    start = min(timed)
    return [0.0 if t is None else (t - start).total_seconds() / speed for t in published_times]


def replay_order(delays: Sequence[float]) -> list[int]:
    """Indexes of the articles in the order to send them: by delay, ties kept in input order."""
    return sorted(range(len(delays)), key=lambda index: delays[index])
