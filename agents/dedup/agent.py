"""The dedup stage's Faust agents: router, index partitions and decider (the design: agents/dedup/in_memory.py).

Each dedup worker runs all three. The index partitions (`dedup.probes`) spread over the workers; the router and
the decider read one ordered partition each, so they run on one worker at a time and hand over on failure.
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import faust
from faust.types import StreamT

from agents.dedup.bands import BandIndex
from agents.dedup.decide import Decider, Thresholds
from agents.dedup.route import Router
from agents.dedup.sequence import Sequencer
from streams.deadletter import ensure_fits, send_dead_letter
from streams.metrics import ARTICLES, DEDUP_VERDICTS, initialise_labels, stage_timer
from streams.raw import decode_record
from streams.records import (VERDICT_KINDS, CleanArticle, DeadLetter, DedupCandidates, DedupedArticle, DedupManifest,
                             DedupProbe)
from streams.settings import Settings
from streams.topics import DEDUP_SHARD_KEY, Topics

STAGE = "dedup"
ORDER_KEY = DEDUP_SHARD_KEY.encode()


def install(app: faust.App, topics: Topics, settings: Settings) -> faust.types.AgentT:
    """Register dedup's three agents and their tables on `app`; returns the router, which reads the clean topic."""
    initialise_labels(STAGE)
    for kind in VERDICT_KINDS:
        DEDUP_VERDICTS.labels(kind)

    def table(name: str) -> faust.Table:
        return app.Table(f"dedup-{name}", default=None, partitions=settings.partitions, key_type=str)

    thresholds = Thresholds.from_settings(settings)
    router = Router(table("route"), settings.partitions)
    entries = table("entries")
    bands = BandIndex(entries, thresholds.retention)

    @entries.on_recover
    async def rebuild_buckets() -> None:
        """After a rebalance the entries held here may have changed: rebuild the buckets from them when needed."""
        bands.forget_derived()

    sequencer = Sequencer(table("pending"))
    decider_tables = {name: table(name) for name in Decider.TABLES}
    decider = Decider.from_tables(decider_tables, thresholds)

    @decider_tables[Decider.RECOVERY_TABLE].on_recover
    async def rebuild_story_index() -> None:
        """After a rebalance the decider's tables may have changed: rebuild what is derived from them."""
        decider.forget_derived()

    @app.agent(topics.clean, name=f"{STAGE}-route")
    async def dedup_route(stream: StreamT[bytes]) -> AsyncIterator[DedupManifest | DeadLetter]:
        """Numbers the clean stream and sends each article's probes, then its manifest (see Sequencer)."""
        async for event in stream.events():
            ARTICLES.labels(STAGE, "in").inc()
            try:
                article = decode_record(event.value, CleanArticle)
                with stage_timer(STAGE):
                    manifest, probes = router.route(article, seq=event.message.offset)
                ensure_fits(manifest, settings.max_message_bytes)
                for partition, probe in probes.items():
                    await topics.dedup_probes.send(key=str(partition).encode(), value=probe, partition=partition)
                await topics.dedup_decide.send(key=ORDER_KEY, value=manifest)
            except Exception as error:  # noqa: BLE001 — one failing article is dead-lettered, never fatal
                yield await send_dead_letter(topics.deadletter, STAGE, event.value, error, event.message)
                continue
            yield manifest

    @app.agent(topics.dedup_probes, name=f"{STAGE}-index")
    async def dedup_index(stream: StreamT[bytes]) -> AsyncIterator[DedupCandidates | DeadLetter]:
        """One index partition: answers each probe with the earlier articles sharing its bands."""
        async for event in stream.events():
            partition, probe = event.message.partition, None
            try:
                probe = decode_record(event.value, DedupProbe)
                with stage_timer(STAGE):
                    bands.expire(partition, probe.stream_time)
                    answer = bands.probe(partition, probe)
                await topics.dedup_decide.send(key=ORDER_KEY, value=answer)
            except Exception as error:  # noqa: BLE001
                letter = await send_dead_letter(topics.deadletter, STAGE, event.value, error, event.message,
                                                counts_article=False)
                if probe is not None:  # an empty answer, so the decider does not hold the stream for it forever
                    await topics.dedup_decide.send(key=ORDER_KEY, value=DedupCandidates(
                        seq=probe.seq, partition=partition, candidates=[]))
                yield letter
                continue
            yield answer

    @app.agent(topics.dedup_decide, name=f"{STAGE}-decide")
    async def dedup_decide(stream: StreamT[bytes]) -> AsyncIterator[list[DedupedArticle | DeadLetter]]:
        """Verdicts in stream order: yields, per message, the articles it completed (often none)."""
        async for event in stream.events():
            try:
                ready = _hold(sequencer, decode_record(event.value, (DedupManifest, DedupCandidates)))
            except Exception as error:  # noqa: BLE001
                yield [await send_dead_letter(topics.deadletter, STAGE, event.value, error, event.message,
                                              counts_article=False)]
                continue
            outcomes: list[DedupedArticle | DeadLetter] = []
            for manifest, candidates in ready:
                try:
                    with stage_timer(STAGE):
                        verdict = decider.decide(manifest, candidates)
                    deduped = DedupedArticle(article=manifest.article, verdict=verdict)
                    ensure_fits(deduped, settings.max_message_bytes)
                    await topics.deduped.send(key=verdict.story_id.encode(), value=deduped)
                except Exception as error:  # noqa: BLE001
                    outcomes.append(await send_dead_letter(topics.deadletter, STAGE, manifest.article.dumps(), error))
                    continue
                DEDUP_VERDICTS.labels(verdict.kind).inc()
                ARTICLES.labels(STAGE, "out").inc()
                outcomes.append(deduped)
            yield outcomes

    return dedup_route


def _hold(sequencer: Sequencer, message: DedupManifest | DedupCandidates) -> list[tuple[DedupManifest, list[Any]]]:
    """Give a manifest or an answer to the sequencer; returns the articles now ready, in stream order."""
    if isinstance(message, DedupManifest):
        return sequencer.add_manifest(message)
    return sequencer.add_answer(message)

