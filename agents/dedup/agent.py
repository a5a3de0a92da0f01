"""The dedup stage's Faust agents: router, index partitions and decider (the design: agents/dedup/in_memory.py).

Each dedup worker runs all three. The index partitions (`dedup.probes`) spread over the workers; the router and
the decider read one ordered partition each, so they run on one worker at a time and hand over on failure.
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial
from typing import Any

import faust
from faust.types import EventT, StreamT, TableT

from agents.dedup.bands import BandIndex
from agents.dedup.decide import Decider, Thresholds
from agents.dedup.route import Router
from agents.dedup.sequence import Sequencer
from streams.deadletter import ensure_fits
from streams.metrics import DEDUP_VERDICTS, initialise_labels
from streams.records import (
    VERDICT_KINDS,
    CleanArticle,
    DeadLetter,
    DedupCandidates,
    DedupedArticle,
    DedupManifest,
    DedupProbe,
)
from streams.settings import Settings
from streams.stage import StageLoop
from streams.topics import DEDUP_SHARD_KEY, Topics

STAGE = "dedup"
ORDER_KEY = DEDUP_SHARD_KEY.encode()


def install(app: faust.App, topics: Topics, settings: Settings) -> faust.types.AgentT:
    """Register dedup's three agents and their tables on `app`; returns the router, which reads the clean topic."""
    initialise_labels(STAGE)
    for kind in VERDICT_KINDS:
        DEDUP_VERDICTS.labels(kind)

    def table(name: str) -> TableT:
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

    recovered = decider_tables[Decider.RECOVERY_TABLE]

    @recovered.on_recover
    async def rebuild_story_index() -> None:
        """After a rebalance the decider's tables may have changed: rebuild what is derived from them."""
        decider.forget_derived()

    route_agent = install_router(app, topics, settings, router)
    install_index(app, topics, bands)
    install_decider(app, topics, settings, sequencer, decider)
    return route_agent


def install_router(app: faust.App, topics: Topics, settings: Settings, router: Router) -> faust.types.AgentT:
    """The router: numbers the clean stream and sends each article's probes, then its manifest (see Sequencer)."""
    articles = StageLoop(STAGE, topics.deadletter, counts=("in", "failed"))  # the decider counts them out

    async def route(article: CleanArticle, event: EventT) -> DedupManifest:
        with articles.timer():
            manifest, probes = router.route(article, seq=event.message.offset)
        ensure_fits(manifest, settings.max_message_bytes)
        for partition, probe in probes.items():
            await topics.dedup_probes.send(key=str(partition).encode(), value=probe, partition=partition)
        await topics.dedup_decide.send(key=ORDER_KEY, value=manifest)
        return manifest

    @app.agent(topics.clean, name=f"{STAGE}-route")
    async def dedup_route(stream: StreamT[bytes]) -> AsyncIterator[DedupManifest | DeadLetter]:
        async for outcome in articles.each(stream, CleanArticle, route):
            yield outcome

    return dedup_route


def install_index(app: faust.App, topics: Topics, bands: BandIndex) -> faust.types.AgentT:
    """One index partition per event's partition: answers each probe with the earlier articles sharing its bands."""
    probes = StageLoop(STAGE, topics.deadletter, counts=())  # not articles

    async def answer(probe: DedupProbe, event: EventT) -> DedupCandidates:
        with probes.timer():
            bands.expire(event.message.partition, probe.stream_time)
            candidates = bands.probe(event.message.partition, probe)
        await topics.dedup_decide.send(key=ORDER_KEY, value=candidates)
        return candidates

    async def answer_empty(probe: DedupProbe | None, event: EventT) -> None:
        """After a failed probe, an empty answer, so the decider does not hold the stream for it forever."""
        if probe is not None:
            await topics.dedup_decide.send(key=ORDER_KEY, value=DedupCandidates(
                seq=probe.seq, partition=event.message.partition, candidates=[]))

    @app.agent(topics.dedup_probes, name=f"{STAGE}-index")
    async def dedup_index(stream: StreamT[bytes]) -> AsyncIterator[DedupCandidates | DeadLetter]:
        async for outcome in probes.each(stream, DedupProbe, answer, on_failure=answer_empty):
            yield outcome

    return dedup_index


def install_decider(app: faust.App, topics: Topics, settings: Settings, sequencer: Sequencer,
                    decider: Decider) -> faust.types.AgentT:
    """The decider: verdicts in stream order; yields, per message, the articles it completed (often none)."""
    messages = StageLoop(STAGE, topics.deadletter, counts=())  # manifests and answers: not articles
    articles = StageLoop(STAGE, topics.deadletter, counts=("out", "failed"))  # counted in by the router

    async def complete(message: DedupManifest | DedupCandidates, event: EventT) -> list[DedupedArticle | DeadLetter]:
        ready = sequencer.add_manifest(message) if isinstance(message, DedupManifest) else sequencer.add_answer(message)
        return [await articles.attempt(partial(decide, manifest, candidates), manifest.article.dumps())
                for manifest, candidates in ready]

    async def decide(manifest: DedupManifest, candidates: list[Any]) -> DedupedArticle:
        with articles.timer():
            verdict = decider.decide(manifest, candidates)
        deduped = DedupedArticle(article=manifest.article, verdict=verdict)
        ensure_fits(deduped, settings.max_message_bytes)
        await topics.deduped.send(key=verdict.story_id.encode(), value=deduped)
        DEDUP_VERDICTS.labels(verdict.kind).inc()
        return deduped

    @app.agent(topics.dedup_decide, name=f"{STAGE}-decide")
    async def dedup_decide(stream: StreamT[bytes]) -> AsyncIterator[list[DedupedArticle | DeadLetter]]:
        async for outcome in messages.each(stream, (DedupManifest, DedupCandidates), complete):
            yield outcome if isinstance(outcome, list) else [outcome]

    return dedup_decide
