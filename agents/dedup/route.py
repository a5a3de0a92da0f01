"""Dedup's router: signatures of each clean article, and one probe for each index partition its band keys fall on.

The router sees the clean stream in order and numbers it (`seq`, the clean topic offset), so the decider can give
verdicts in that order however many workers answer the probes.
"""
from __future__ import annotations

from collections.abc import MutableMapping

from agents.dedup import signatures
from streams.codecs import HASH32, pack_hashes
from streams.records import CleanArticle, DedupManifest, DedupProbe
from streams.times import article_time

STREAM_TIME_KEY = "stream_time"


class Router:
    """Turns clean articles into a manifest for the decider and probes for the index partitions.

    state: "stream_time" → newest article time seen (unix seconds); in a Faust table so a restart keeps it.
    """

    def __init__(self, state: MutableMapping[str, float], partitions: int) -> None:
        self.state = state
        self.partitions = partitions

    def route(self, article: CleanArticle, seq: int) -> tuple[DedupManifest, dict[int, DedupProbe]]:
        """The manifest and the probes (by partition) for the article at position `seq` of the clean stream."""
        time = article_time(article).timestamp()
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
                                 sketch=pack_hashes(signatures.sketch(hashes), HASH32))
        return manifest, probes
