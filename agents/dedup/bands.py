"""One partition of dedup's LSH index: band key → the articles in that bucket.

A band key always lands on the same partition (`signatures.band_partition`), so two articles that share a band
meet there whichever partitions their own keys map to. Each partition answers a probe with every earlier live
article sharing one of the probe's bands, so the union of the answers is the same for any number of workers. The
decider scores the candidates; a partition only finds them.
"""
from __future__ import annotations

from collections.abc import MutableMapping
from datetime import timedelta
from typing import Any

from agents.dedup.hours import HOUR, HourLog
from streams.records import DedupCandidates, DedupProbe


class BandIndex:
    """LSH buckets in three mappings (Faust tables in the agent), written only by assignment.

    buckets: band key → seqs of the articles with that band, in stream order
    entries: "{partition}:{seq}" → {"id", "t" (article time), "b" (its band keys on this partition)}
    hours:   each partition's HourLog (prefix "{partition}:") of the seqs indexed, by article time
    Keys carry the partition because one worker may hold several partitions in the same table.
    """

    def __init__(self, buckets: MutableMapping[str, list[int]], entries: MutableMapping[str, dict[str, Any]],
                 hours: MutableMapping[str, list[int]], retention: timedelta) -> None:
        self.buckets = buckets
        self.entries = entries
        self.hours = hours
        self.retention = retention.total_seconds()
        self._expired_before: dict[int, int] = {}  # partition → cutoff hour of its last sweep (in memory)

    def probe(self, partition: int, probe: DedupProbe) -> DedupCandidates:
        """Earlier live articles sharing a band with the probe, in stream order; then index the probe.

        A probe delivered again (at-least-once) gets the same answer: only articles before it in a bucket count.
        """
        entry_key = f"{partition}:{probe.seq}"
        replay = entry_key in self.entries
        found: set[int] = set()
        for band_key in probe.band_keys:
            bucket = self.buckets.get(band_key) or []
            found.update(s for s in bucket if s < probe.seq)
            if not replay:
                self.buckets[band_key] = [*bucket, probe.seq]
        if not replay:
            self._index(partition, entry_key, probe)
        cutoff = probe.stream_time - self.retention
        candidates = [[entry["id"], seq] for seq in sorted(found)
                      if (entry := self.entries.get(f"{partition}:{seq}")) is not None and entry["t"] >= cutoff]
        return DedupCandidates(seq=probe.seq, partition=partition, candidates=candidates)

    def _index(self, partition: int, entry_key: str, probe: DedupProbe) -> None:
        self.entries[entry_key] = {"id": probe.article_id, "t": probe.time, "b": probe.band_keys}
        HourLog(self.hours, f"{partition}:").note(probe.time, probe.seq)

    def expire(self, partition: int, stream_time: float) -> int:
        """Forget this partition's entries from hours wholly older than the retention; returns entries removed.

        Probes already ignore entries older than the retention, so when this runs never changes a verdict.
        """
        cutoff = stream_time - self.retention
        if self._expired_before.get(partition) == int(cutoff // HOUR):
            return 0
        self._expired_before[partition] = int(cutoff // HOUR)
        expired = HourLog(self.hours, f"{partition}:").take_before(cutoff)
        return sum(self._forget(partition, seq) for seq in expired)

    def _forget(self, partition: int, seq: int) -> int:
        entry_key = f"{partition}:{seq}"
        entry = self.entries.get(entry_key)
        if entry is None:
            return 0
        for band_key in entry["b"]:
            remaining = [s for s in self.buckets.get(band_key) or [] if s != seq]
            if remaining:
                self.buckets[band_key] = remaining
            elif band_key in self.buckets:
                del self.buckets[band_key]
        del self.entries[entry_key]
        return 1
