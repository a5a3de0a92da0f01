"""Dedup's router: signatures of each clean article, and one probe for each index partition its band keys fall on.

The router sees the clean stream in order and numbers it (`seq`, the clean topic offset), so the decider can give
verdicts in that order however many workers answer the probes.
"""
from __future__ import annotations

from collections.abc import MutableMapping
from datetime import datetime, timezone

from agents.dedup import signatures
from streams.records import CleanArticle, DedupManifest, DedupProbe

STREAM_TIME_KEY = "stream_time"


def stream_time(article: CleanArticle) -> datetime:
    """When the article happened for dedup: its publish time, else when it was ingested (UTC)."""
    if article.published:
        return as_utc(article.published)
    return datetime.fromtimestamp(article.ingested_at, tz=timezone.utc)


def as_utc(moment: datetime) -> datetime:
    """Aware UTC datetime; a naive one is taken to be UTC already (the clean stage emits UTC)."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


class Router:
    """Turns clean articles into a manifest for the decider and probes for the index partitions.

    state: "stream_time" → newest article time seen (unix seconds); in a Faust table so a restart keeps it.
    """

    def __init__(self, state: MutableMapping[str, float], partitions: int) -> None:
        self.state = state
        self.partitions = partitions

    def route(self, article: CleanArticle, seq: int) -> tuple[DedupManifest, dict[int, DedupProbe]]:
        """The manifest and the probes (by partition) for the article at position `seq` of the clean stream."""
        time = stream_time(article).timestamp()
        newest = max(self.state.get(STREAM_TIME_KEY) or time, time)
        if newest != self.state.get(STREAM_TIME_KEY):
            self.state[STREAM_TIME_KEY] = newest
        words = signatures.words_of(article.body)
        if not words:
            return DedupManifest(seq=seq, article=article, partitions=[], stream_time=newest), {}
        hashes = signatures.shingle_hashes(words)
        by_partition: dict[int, list[str]] = {}
        for key in signatures.band_keys(signatures.minhash(hashes)):
            by_partition.setdefault(signatures.band_partition(key, self.partitions), []).append(key)
        probes = {
            partition: DedupProbe(seq=seq, article_id=article.id, time=time, stream_time=newest, band_keys=keys)
            for partition, keys in sorted(by_partition.items())
        }
        manifest = DedupManifest(seq=seq, article=article, partitions=sorted(probes), stream_time=newest,
                                 fingerprint=signatures.body_fingerprint(" ".join(words)),
                                 sketch=signatures.pack(signatures.sketch(hashes)))
        return manifest, probes
