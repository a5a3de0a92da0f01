"""The clean stage's Faust agent: raw bytes in, one or more clean articles out, bad input to the dead letters."""
from __future__ import annotations

from collections.abc import AsyncIterator

import faust
from faust.types import StreamT

from agents.clean.core import clean_article
from streams.deadletter import send_dead_letter
from streams.metrics import ARTICLES, initialise_labels, stage_timer
from streams.raw import parse_raw
from streams.records import CleanArticle
from streams.settings import Settings
from streams.topics import DEDUP_SHARD_KEY, Topics

STAGE = "clean"


def install(app: faust.App, topics: Topics, settings: Settings) -> faust.types.AgentT:
    """Register the clean agent on `app`."""
    initialise_labels(STAGE)

    @app.agent(topics.raw, name=STAGE)
    async def clean(stream: StreamT[bytes]) -> AsyncIterator[CleanArticle]:
        async for event in stream.events():
            ARTICLES.labels(STAGE, "in").inc()
            try:
                with stage_timer(STAGE):
                    articles = clean_article(parse_raw(event.value, max_bytes=settings.max_article_bytes))
            except Exception as error:  # noqa: BLE001 — one failing article is dead-lettered, never fatal
                await send_dead_letter(topics.deadletter, STAGE, event.value, error, event.message)
                continue
            for article in articles:
                await topics.clean.send(key=DEDUP_SHARD_KEY.encode(), value=article)
                ARTICLES.labels(STAGE, "out").inc()
                yield article

    return clean
