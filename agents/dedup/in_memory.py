"""The dedup stage's pure core in one process: router, index partitions and decider wired directly.

The stream runs the same three parts as separate Faust agents (see agents/dedup/agent.py): the router numbers
the clean stream and sends probes to the index partitions that own the article's band keys; each partition
answers with earlier articles sharing a band; the decider gives verdicts in stream order. `DedupIndex` calls
the same code in order, so offline commands, benchmarks and tests judge exactly as the stream does.
"""
from __future__ import annotations

from collections.abc import Callable, MutableMapping
from typing import Any

from agents.dedup.bands import BandIndex
from agents.dedup.decide import Decider, Thresholds
from agents.dedup.route import Router
from streams.records import CleanArticle, DedupVerdict
from streams.settings import Settings

__all__ = ["TABLE_NAMES", "DedupIndex", "in_memory_index"]

Tables = Callable[[str], MutableMapping[str, Any]]


class DedupIndex:
    """Judges articles one after another, with the state of every part in mappings made by `table(name)`."""

    def __init__(self, table: Tables = lambda name: {}, thresholds: Thresholds = Thresholds(),
                 partitions: int = 4) -> None:
        self.tables = {name: table(name) for name in TABLE_NAMES}
        self.router = Router(self.tables["route"], partitions)
        self.bands = BandIndex(self.tables["entries"], thresholds.retention)
        self.decider = Decider.from_tables(self.tables, thresholds)
        self._seq = 0

    def judge(self, article: CleanArticle) -> DedupVerdict:
        """The verdict on the next article of the stream; the article is then part of what later ones meet."""
        manifest, probes = self.router.route(article, self._seq)
        self._seq += 1
        candidates = []
        for partition, probe in probes.items():
            self.bands.expire(partition, probe.stream_time)
            candidates.extend(self.bands.probe(partition, probe).candidates)
        return self.decider.decide(manifest, candidates)


# Every table of the stage: the router's clock, the index partitions' entries, the decider's (its matcher's too).
TABLE_NAMES = ("route", "entries", *Decider.TABLES)


def in_memory_index(settings: Settings) -> DedupIndex:
    """A dedup index over plain dicts: the offline commands and benchmarks judge with the stream's rules."""
    return DedupIndex(thresholds=Thresholds.from_settings(settings), partitions=settings.partitions)
