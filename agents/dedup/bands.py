"""One partition of dedup's LSH index: band key → the articles in that bucket, and their signatures.

A band key always lands on the same partition (`signatures.band_partition`), so two articles that share a band
meet there whichever partitions their own keys map to. Each partition answers a probe with every earlier article
sharing one of the probe's bands, so the union of the answers is the same for any number of workers.
"""
from __future__ import annotations

from collections.abc import MutableMapping
from datetime import timedelta
from typing import Any

import numpy as np

from agents.dedup import signatures
from streams.records import DedupCandidates, DedupProbe

HOUR = 3600.0


class BandIndex:
    """LSH buckets in three mappings (Faust tables in the agent), written only by assignment.

    buckets: band key → seqs of the articles with that band, in stream order
    entries: "{partition}:{seq}" → {"id", "t" (article time), "s", "c" (packed signatures)}
    hours:   "{partition}:{hour}" → seqs indexed with an article time in that hour (what expiry removes)
    Keys carry the partition because one worker may hold several partitions in the same table.
    """

    def __init__(self, buckets: MutableMapping[str, list[int]], entries: MutableMapping[str, dict[str, Any]],
                 hours: MutableMapping[str, list[int]], retention: timedelta, partitions: int) -> None:
        self.buckets = buckets
        self.entries = entries
        self.hours = hours
        self.retention = retention.total_seconds()
        self.partitions = partitions
        self._signatures: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # unpacked cache; entries never change
        self._expired_before: dict[int, int] = {}  # partition → cutoff hour of its last sweep (in memory)

    def probe(self, partition: int, probe: DedupProbe) -> DedupCandidates:
        """Earlier live articles sharing a band with the probe, with estimated Jaccards; then index the probe.

        A probe delivered again (at-least-once) gets the same answer: only articles before it in a bucket count.
        """
        entry_key = f"{partition}:{probe.seq}"
        replay = entry_key in self.entries
        found: dict[int, None] = {}
        for band_key in probe.band_keys:
            bucket = self.buckets.get(band_key) or []
            earlier = bucket[:bucket.index(probe.seq)] if replay and probe.seq in bucket else bucket
            found.update(dict.fromkeys(earlier))
            if not replay:
                self.buckets[band_key] = [*bucket, probe.seq]
        if not replay:
            self._index(partition, entry_key, probe)
        return DedupCandidates(seq=probe.seq, partition=partition,
                               candidates=self._scored(partition, probe, list(found)))

    def _scored(self, partition: int, probe: DedupProbe, seqs: list[int]) -> list[list[Any]]:
        """[article id, shingle Jaccard, content Jaccard, seq] of each live candidate."""
        cutoff = probe.stream_time - self.retention
        live = [(seq, entry) for seq in seqs
                if (entry := self.entries.get(f"{partition}:{seq}")) is not None and entry["t"] >= cutoff]
        if not live:
            return []
        unpacked = [self._unpacked(f"{partition}:{seq}", entry) for seq, entry in live]
        shingle = signatures.estimated_jaccard(signatures.unpack(probe.shingle_sig), [s for s, _ in unpacked])
        content = signatures.estimated_jaccard(signatures.unpack(probe.content_sig), [c for _, c in unpacked])
        return [[entry["id"], round(float(s), 4), round(float(c), 4), seq]
                for (seq, entry), s, c in zip(live, shingle, content)]

    def _unpacked(self, key: str, entry: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        if key not in self._signatures:
            self._signatures[key] = (signatures.unpack(entry["s"]), signatures.unpack(entry["c"]))
        return self._signatures[key]

    def _index(self, partition: int, entry_key: str, probe: DedupProbe) -> None:
        self.entries[entry_key] = {"id": probe.article_id, "t": probe.time, "s": probe.shingle_sig,
                                   "c": probe.content_sig}
        hour_key = f"{partition}:{int(probe.time // HOUR)}"
        self.hours[hour_key] = [*(self.hours.get(hour_key) or []), probe.seq]

    def expire(self, partition: int, stream_time: float) -> int:
        """Forget this partition's entries from hours wholly older than the retention; returns entries removed.

        Probes already ignore entries older than the retention, so when this runs never changes a verdict.
        """
        cutoff_hour = int((stream_time - self.retention) // HOUR)
        if self._expired_before.get(partition) == cutoff_hour:
            return 0
        self._expired_before[partition] = cutoff_hour
        prefix = f"{partition}:"
        old_hours = [key for key in list(self.hours) if key.startswith(prefix) and int(key[len(prefix):]) < cutoff_hour]
        removed = 0
        for hour_key in old_hours:
            for seq in self.hours[hour_key]:
                removed += self._forget(partition, seq)
            del self.hours[hour_key]
        return removed

    def _forget(self, partition: int, seq: int) -> int:
        entry_key = f"{partition}:{seq}"
        entry = self.entries.get(entry_key)
        if entry is None:
            return 0
        # Band keys are recomputed rather than stored: they would add a third to every entry.
        for band_key in signatures.all_band_keys(signatures.unpack(entry["s"]), signatures.unpack(entry["c"])):
            if signatures.band_partition(band_key, self.partitions) != partition or band_key not in self.buckets:
                continue  # another partition's band: its own expiry removes it
            remaining = [s for s in self.buckets.get(band_key) or [] if s != seq]
            if remaining:
                self.buckets[band_key] = remaining
            else:
                del self.buckets[band_key]
        del self.entries[entry_key]
        self._signatures.pop(entry_key, None)
        return 1
