"""The clean stage's Faust agent: raw bytes in, one or more clean articles out, bad input to the dead letters."""
from __future__ import annotations

from collections.abc import AsyncIterator

import faust
from faust.types import EventT, StreamT

from agents.clean.core import clean_article
from agents.clean.size import within_size
from streams.metrics import initialise_labels
from streams.raw import parse_raw
from streams.records import CleanArticle, DeadLetter
from streams.settings import Settings
from streams.stage import StageLoop
from streams.topics import DEDUP_SHARD_KEY, Topics

STAGE = "clean"


def install(app: faust.App, topics: Topics, settings: Settings) -> faust.types.AgentT:
    """Register the clean agent on `app`; it yields, per raw message, its articles or its dead letter."""
    initialise_labels(STAGE)
    loop = StageLoop(STAGE, topics.deadletter)

    async def clean_one(value: bytes, event: EventT) -> list[CleanArticle]:
        with loop.timer():
            raw = parse_raw(value, max_bytes=settings.max_article_bytes)
            if not raw.ingested_at:  # a producer that did not say: the record's own time, stable on replay
                raw = raw.derive(ingested_at=event.message.timestamp)
            articles = [within_size(article, settings.max_clean_article_bytes) for article in clean_article(raw)]
        for article in articles:
            await topics.clean.send(key=DEDUP_SHARD_KEY.encode(), value=article)
        return articles

    @app.agent(topics.raw, name=STAGE)
    async def clean(stream: StreamT[bytes]) -> AsyncIterator[list[CleanArticle] | DeadLetter]:
        async for outcome in loop.each(stream, bytes, clean_one, articles_out=len):
            yield outcome

    return clean
