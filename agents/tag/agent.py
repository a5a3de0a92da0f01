"""The tag stage's Faust agent: batches of deduped articles through one `nlp.pipe` call each."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import cast

import faust
from faust.types import StreamT

from agents.tag.core import Tagger, tag_articles, within_size
from streams.deadletter import ensure_fits
from streams.metrics import ENTITIES, initialise_labels
from streams.records import DeadLetter, DedupedArticle, TaggedArticle
from streams.settings import Settings
from streams.stage import StageLoop
from streams.topics import Topics

STAGE = "tag"


def install(app: faust.App, topics: Topics, settings: Settings) -> faust.types.AgentT:
    """Register the tag agent on `app`; it yields, per article, the tagged article or its dead letter.

    The spaCy model loads once, when the worker starts.
    """
    initialise_labels(STAGE)
    loop = StageLoop(STAGE, topics.deadletter)
    tagger = Tagger.from_settings(settings)

    async def tag_batch(items: list[DedupedArticle]) -> list[TaggedArticle]:
        # The model holds the CPU for a whole batch; a thread keeps the event loop (and heartbeats) going.
        return await asyncio.to_thread(tag_articles, tagger, items)

    async def send(tagged: TaggedArticle) -> TaggedArticle:
        tagged = within_size(tagged, settings.max_message_bytes)
        ensure_fits(tagged, settings.max_message_bytes)
        await topics.tagged.send(key=tagged.verdict.story_id.encode(), value=tagged)
        for mention in tagged.entities:
            ENTITIES.labels(mention.label).inc()
        return tagged

    @app.agent(topics.deduped, name=STAGE)
    async def tag(stream: StreamT[bytes]) -> AsyncIterator[TaggedArticle | DeadLetter]:
        batches = cast(faust.Stream[bytes], stream).take_events  # a Stream's method that StreamT does not declare
        async for events in batches(settings.tag_batch_size, within=settings.tag_batch_wait):
            for outcome in await loop.batch(events, DedupedArticle, tag_batch, send):
                yield outcome

    return tag
