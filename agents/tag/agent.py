"""The tag stage's Faust agent: batches of deduped articles through one `nlp.pipe` call each."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import faust
from faust.types import EventT, StreamT

from agents.tag.core import Tagger, tag_articles, within_size
from streams.deadletter import BadInput, ensure_fits, send_dead_letter
from streams.metrics import ARTICLES, ENTITIES, initialise_labels, stage_timer
from streams.raw import decode_record
from streams.records import DeadLetter, DedupedArticle, TaggedArticle
from streams.settings import Settings
from streams.topics import Topics

STAGE = "tag"


def install(app: faust.App, topics: Topics, settings: Settings) -> faust.types.AgentT:
    """Register the tag agent on `app`; it yields, per article, the tagged article or its dead letter.

    The spaCy model loads once, when the worker starts.
    """
    initialise_labels(STAGE)
    tagger = Tagger.from_settings(settings)

    @app.agent(topics.deduped, name=STAGE)
    async def tag(stream: StreamT[bytes]) -> AsyncIterator[TaggedArticle | DeadLetter]:
        async for events in stream.take_events(settings.tag_batch_size, within=settings.tag_batch_wait):
            ARTICLES.labels(STAGE, "in").inc(len(events))
            for event, outcome in await _tag_batch(events):
                if isinstance(outcome, TaggedArticle):
                    try:
                        outcome = within_size(outcome, settings.max_message_bytes)
                        ensure_fits(outcome, settings.max_message_bytes)
                        await topics.tagged.send(key=outcome.verdict.story_id.encode(), value=outcome)
                    except Exception as error:  # noqa: BLE001 — e.g. the broker refused it
                        outcome = await send_dead_letter(topics.deadletter, STAGE, event.value, error, event.message)
                    else:
                        ARTICLES.labels(STAGE, "out").inc()
                        for mention in outcome.entities:
                            ENTITIES.labels(mention.label).inc()
                yield outcome

    async def _tag_batch(events: Sequence[EventT]) -> list[tuple[EventT, TaggedArticle | DeadLetter]]:
        decoded: list[tuple[EventT, DedupedArticle]] = []
        rejected: list[tuple[EventT, TaggedArticle | DeadLetter]] = []
        for event in events:
            try:
                decoded.append((event, decode_record(event.value, DedupedArticle)))
            except BadInput as error:
                rejected.append(
                    (event, await send_dead_letter(topics.deadletter, STAGE, event.value, error, event.message)))
        try:
            with stage_timer(STAGE, len(decoded)):
                # The model holds the CPU for a whole batch; a thread keeps the event loop (and heartbeats) going.
                tagged: list[TaggedArticle | DeadLetter] = list(await asyncio.to_thread(
                    tag_articles, tagger, [item for _, item in decoded]))
        except Exception:  # noqa: BLE001 — find the article the model fails on; the others go on
            tagged = [await _tag_one(event, item) for event, item in decoded]
        return [*zip([event for event, _ in decoded], tagged), *rejected]

    async def _tag_one(event: EventT, item: DedupedArticle) -> TaggedArticle | DeadLetter:
        try:
            return (await asyncio.to_thread(tag_articles, tagger, [item]))[0]
        except Exception as error:  # noqa: BLE001 — the one article the model fails on is dead-lettered
            return await send_dead_letter(topics.deadletter, STAGE, event.value, error, event.message)

    return tag
