"""The live feed: prints each tagged article and each alert as it arrives (the view `wirewatch run` shows)."""
from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

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
Shown = TypeVar("Shown", bound=faust.Record)


def install(app: faust.App, topics: Topics, settings: Settings) -> faust.types.AgentT:
    """Register the feed's two agents (articles and alerts) on `app`; output goes to stdout."""
    initialise_labels(STAGE)
    colour = sys.stdout.isatty()

    async def show(stream: StreamT[bytes], record_type: type[Shown],
                   formatter: Callable[..., str]) -> AsyncIterator[str | DeadLetter]:
        counts_articles = record_type is TaggedArticle  # alerts are shown too, but are not articles
        async for event in stream.events():
            if counts_articles:
                ARTICLES.labels(STAGE, "in").inc()
            try:
                block = formatter(decode_record(event.value, record_type), colour=colour)
            except Exception as error:  # noqa: BLE001 — an unreadable item is dead-lettered, the feed goes on
                yield await send_dead_letter(topics.deadletter, STAGE, event.value, error, event.message)
                continue
            print(block, flush=True)
            if counts_articles:
                ARTICLES.labels(STAGE, "out").inc()
            yield block

    @app.agent(topics.alerts, name="feed-alerts")
    async def show_alerts(stream: StreamT[bytes]) -> AsyncIterator[str | DeadLetter]:
        async for shown in show(stream, Alert, format_alert):
            yield shown

    @app.agent(topics.tagged, name="feed-articles")
    async def show_articles(stream: StreamT[bytes]) -> AsyncIterator[str | DeadLetter]:
        async for shown in show(stream, TaggedArticle, format_article):
            yield shown

    return show_articles
