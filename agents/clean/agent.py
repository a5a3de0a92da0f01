"""The clean stage's Faust agent: raw bytes in, one or more clean articles out, bad input to the dead letters."""
from __future__ import annotations

from collections.abc import AsyncIterator

import faust
from faust.types import StreamT

from agents.clean.core import clean_article
from agents.clean.size import within_size
from agents.ingest.endpoint import install_ingest_endpoint
from streams.deadletter import send_dead_letter
from streams.metrics import ARTICLES, initialise_labels, stage_timer
from streams.raw import parse_raw
from streams.records import CleanArticle, DeadLetter
from streams.settings import Settings
from streams.topics import DEDUP_SHARD_KEY, Topics

STAGE = "clean"


def install(app: faust.App, topics: Topics, settings: Settings) -> faust.types.AgentT:
    """Register the clean agent on `app`; it yields, per raw message, its articles or its dead letter."""
    initialise_labels(STAGE)
    install_ingest_endpoint(app, topics, settings)

    @app.agent(topics.raw, name=STAGE)
    async def clean(stream: StreamT[bytes]) -> AsyncIterator[list[CleanArticle] | DeadLetter]:
        async for event in stream.events():
            ARTICLES.labels(STAGE, "in").inc()
            try:
                with stage_timer(STAGE):
                    raw = parse_raw(event.value, max_bytes=settings.max_article_bytes)
                    if not raw.ingested_at:  # a producer that did not say: the record's own time, stable on replay
                        raw = raw.derive(ingested_at=event.message.timestamp)
                    articles = [within_size(article, settings.max_clean_article_bytes)
                                for article in clean_article(raw)]
                for article in articles:
                    await topics.clean.send(key=DEDUP_SHARD_KEY.encode(), value=article)
            except Exception as error:  # noqa: BLE001 — one failing article is dead-lettered, never fatal
                yield await send_dead_letter(topics.deadletter, STAGE, event.value, error, event.message)
                continue
            ARTICLES.labels(STAGE, "out").inc(len(articles))
            yield articles

    return clean
