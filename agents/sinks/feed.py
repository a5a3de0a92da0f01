"""The live feed: prints each tagged article and each alert as it arrives (the view `wirewatch run` shows)."""
from __future__ import annotations

import sys
from collections.abc import AsyncIterator

import faust
from faust.types import StreamT

from agents.sinks.console import format_alert, format_article
from streams.deadletter import send_dead_letter
from streams.metrics import ARTICLES, initialise_labels
from streams.raw import decode_record
from streams.records import Alert, DeadLetter, TaggedArticle
from streams.settings import Settings
from streams.topics import Topics

STAGE = "feed"


def install(app: faust.App, topics: Topics, settings: Settings) -> faust.types.AgentT:
    """Register the feed's two agents (articles and alerts) on `app`; output goes to stdout."""
    initialise_labels(STAGE)
    colour = sys.stdout.isatty()

    @app.agent(topics.alerts, name="feed-alerts")
    async def show_alerts(stream: StreamT[bytes]) -> AsyncIterator[str | DeadLetter]:
        async for event in stream.events():
            try:
                line = format_alert(decode_record(event.value, Alert), colour=colour)
            except Exception as error:  # noqa: BLE001 — an unreadable alert is dead-lettered, the feed goes on
                yield await send_dead_letter(topics.deadletter, STAGE, event.value, error, event.message)
                continue
            print(line, flush=True)
            yield line

    @app.agent(topics.tagged, name="feed-articles")
    async def show_articles(stream: StreamT[bytes]) -> AsyncIterator[str | DeadLetter]:
        async for event in stream.events():
            ARTICLES.labels(STAGE, "in").inc()
            try:
                line = format_article(decode_record(event.value, TaggedArticle), colour=colour)
            except Exception as error:  # noqa: BLE001 — an unreadable article is dead-lettered, the feed goes on
                yield await send_dead_letter(topics.deadletter, STAGE, event.value, error, event.message)
                continue
            print(line, flush=True)
            ARTICLES.labels(STAGE, "out").inc()
            yield line

    return show_articles
