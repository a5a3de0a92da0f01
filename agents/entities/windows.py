"""Mentions per entity in a Faust windowed table, in article time: what `surge` compares.

Hour-long hopping windows start every STEP seconds, so the hour that ends with a sighting (its trailing hour)
moves in STEP steps; the 24 hours before it are 24 disjoint windows of the same table. Article time reaches the
table as the sighting message's timestamp (the sightings agent sends it so), and the table is relative to the
stream: a replay of 1987 wires counts as live traffic did, and Faust expires windows by that time too.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import faust

from streams.records import EntitySighting
from streams.settings import Settings

HOUR = 3600.0
STEP = 600.0
BASELINE_HOURS = 24
TRAILING = HOUR - STEP  # how far back the earliest window that holds a time starts: that window is its trailing hour


@dataclass(frozen=True)
class MentionCounts:
    """An entity's mentions around one sighting: the trailing hour before and after it, and the hours before."""

    before: int                 # the trailing hour without this sighting
    now: int                    # with it
    baseline: tuple[int, ...]   # each of the BASELINE_HOURS hours before the trailing hour, the nearest first
    start: float                # unix seconds: where the trailing hour starts

    @property
    def hourly_mean(self) -> float:
        return sum(self.baseline) / len(self.baseline)


def mention_table(app: faust.App, settings: Settings) -> Any:
    """The `entity-mentions` windowed table: entity id → mentions per hopping hour, relative to the stream."""
    table = app.Table("entity-mentions", default=int, partitions=settings.partitions, key_type=str, value_type=int)
    return table.hopping(HOUR, STEP, expires=(BASELINE_HOURS + 2) * HOUR).relative_to_stream()


def count_mentions(table: Any, sighting: EntitySighting, at: float) -> MentionCounts:
    """Add the sighting's mentions to every window holding `at` (its message's timestamp) and read the counts."""
    before = table[sighting.entity_id].delta(TRAILING)
    table[sighting.entity_id] += sighting.mentions
    windows = table[sighting.entity_id]
    baseline = tuple(windows.delta(TRAILING + hours * HOUR) for hours in range(1, BASELINE_HOURS + 1))
    return MentionCounts(before, windows.delta(TRAILING), baseline, trailing_start(at))


def trailing_start(at: float) -> float:
    """Where the trailing hour of time `at` starts: the earliest STEP boundary whose hour still holds `at`."""
    return (at - TRAILING) // STEP * STEP
