"""One partition of dedup's LSH index: band key → the articles in that bucket.

A band key always lands on the same partition (`signatures.band_partition`), so two articles that share a band
meet there whichever partitions their own keys map to. Each partition answers a probe with every earlier live
article sharing one of the probe's bands, so the union of the answers is the same for any number of workers. The
decider scores the candidates; a partition only finds them.

Only the entries are stored (one write per probe: a Faust table sends every write to its changelog). The buckets
and the hour index are derived from them in memory, per partition, and rebuilt from the entries the first time a
partition is probed after `forget_derived()`, which the agent calls after every table recovery (a rebalance).
"""
from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from agents.dedup.hours import HOUR
from agents.dedup.state import BandEntry
from streams.records import DedupCandidates, DedupProbe
from streams.state import TypedTable


@dataclass
class _Derived:
    """One partition's buckets (band key as an int → seqs, stream order) and hours (hour → seqs indexed then)."""

    buckets: dict[int, list[int]] = field(default_factory=dict)
    hours: dict[int, list[int]] = field(default_factory=dict)
    expired_before: int | None = None  # the cutoff hour of the last sweep

    def add(self, seq: int, entry: BandEntry) -> None:
        for band_key in entry.band_keys:
            self.buckets.setdefault(int(band_key, 16), []).append(seq)
        self.hours.setdefault(int(entry.time // HOUR), []).append(seq)


class BandIndex:
    """LSH buckets over one stored mapping (a Faust table in the agent), written only by assignment.

    entries: "{partition}:{seq}" → BandEntry (the article, its time, its band keys on this partition)
    Keys carry the partition because one worker may hold several partitions in the same table.
    """

    def __init__(self, entries: MutableMapping[str, Any], retention: timedelta) -> None:
        self.entries = TypedTable(entries, BandEntry)
        self.retention = retention.total_seconds()
        self._derived: dict[int, _Derived] = {}

    def forget_derived(self) -> None:
        """Drop the in-memory buckets: the stored entries may have changed hands (called after table recovery)."""
        self._derived.clear()

    def probe(self, partition: int, probe: DedupProbe) -> DedupCandidates:
        """Earlier live articles sharing a band with the probe, in stream order; then index the probe.

        A probe delivered again (at-least-once) gets the same answer: only articles before it in a bucket count.
        """
        derived = self._partition(partition)
        entry_key = f"{partition}:{probe.seq}"
        found: set[int] = set()
        for band_key in probe.band_keys:
            found.update(s for s in derived.buckets.get(int(band_key, 16), ()) if s < probe.seq)
        if entry_key not in self.entries:
            indexed = BandEntry(probe.article_id, probe.time, probe.band_keys)
            self.entries[entry_key] = indexed
            derived.add(probe.seq, indexed)
        cutoff = probe.stream_time - self.retention
        candidates: list[list[Any]] = [
            [entry.article_id, seq] for seq in sorted(found)
            if (entry := self.entries.get(f"{partition}:{seq}")) is not None and entry.time >= cutoff]
        return DedupCandidates(seq=probe.seq, partition=partition, candidates=candidates)

    def expire(self, partition: int, stream_time: float) -> int:
        """Forget this partition's entries from hours wholly older than the retention; returns entries removed.

        Probes already ignore entries older than the retention, so when this runs never changes a verdict.
        """
        derived = self._partition(partition)
        cutoff_hour = int((stream_time - self.retention) // HOUR)
        if derived.expired_before == cutoff_hour:
            return 0
        derived.expired_before = cutoff_hour
        removed = 0
        for hour in sorted(h for h in derived.hours if h < cutoff_hour):
            for seq in derived.hours.pop(hour):
                removed += self._forget(partition, seq, derived)
        return removed

    def _forget(self, partition: int, seq: int, derived: _Derived) -> int:
        entry = self.entries.pop(f"{partition}:{seq}", None)
        if entry is None:
            return 0
        for band_key in entry.band_keys:
            bucket = derived.buckets.get(int(band_key, 16))
            if bucket is not None:
                bucket.remove(seq)
                if not bucket:
                    del derived.buckets[int(band_key, 16)]
        return 1

    def _partition(self, partition: int) -> _Derived:
        """The partition's derived index, rebuilt from the stored entries when it is not in memory."""
        derived = self._derived.get(partition)
        if derived is None:
            derived = self._derived[partition] = _Derived()
            prefix = f"{partition}:"
            stored = sorted((int(key[len(prefix):]), self.entries[key]) for key in self.entries
                            if key.startswith(prefix))
            for seq, entry in stored:
                derived.add(seq, entry)
        return derived
