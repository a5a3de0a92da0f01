"""The live feed: prints each tagged article and each alert as it arrives (the view `wirewatch run` shows).

Articles and alerts come from two topics, read independently: an alert can arrive before the article it is about.
`AlertsAfterArticles` holds it until that article's line is printed, so a story reads in order.
"""
from __future__ import annotations

import sys
import time
from collections import OrderedDict
from collections.abc import AsyncIterator

import faust
from faust.types import EventT, StreamT

from agents.sinks.console import format_alert, format_article
from streams.metrics import initialise_labels
from streams.records import Alert, DeadLetter, TaggedArticle
from streams.settings import Settings
from streams.stage import StageLoop
from streams.topics import Topics

STAGE = "feed"
# Longest an alert waits for its article's line (a feed started after the article was printed never sees it).
ALERT_HOLD_SECONDS = 10.0
REMEMBERED_ARTICLES = 10_000


class AlertsAfterArticles:
    """Releases each alert once the article it is about has been shown, or after `hold_seconds` without it."""

    def __init__(self, hold_seconds: float = ALERT_HOLD_SECONDS, remembered: int = REMEMBERED_ARTICLES) -> None:
        self.hold_seconds = hold_seconds
        self.remembered = remembered
        self._shown: OrderedDict[str, None] = OrderedDict()
        self._held: list[tuple[float, Alert]] = []

    def article_shown(self, article_id: str) -> list[Alert]:
        """Note that `article_id` was printed; returns the alerts that waited for it, in arrival order."""
        self._shown[article_id] = None
        if len(self._shown) > self.remembered:
            self._shown.popitem(last=False)
        released = [alert for _, alert in self._held if alert.article_id == article_id]
        self._held = [(at, alert) for at, alert in self._held if alert.article_id != article_id]
        return released

    def alert_arrived(self, alert: Alert, now: float) -> list[Alert]:
        """The alerts to print now: `alert` itself unless its article has yet to be shown (a digest has none)."""
        if not alert.article_id or alert.article_id in self._shown:
            return [alert]
        self._held.append((now, alert))
        return []

    def overdue(self, now: float) -> list[Alert]:
        """The held alerts that have waited `hold_seconds`: their article is not coming to this feed."""
        released = [alert for at, alert in self._held if now - at >= self.hold_seconds]
        self._held = [(at, alert) for at, alert in self._held if now - at < self.hold_seconds]
        return released


def install(app: faust.App, topics: Topics, settings: Settings) -> faust.types.AgentT:
    """Register the feed's two agents (articles and alerts) on `app`; output goes to stdout."""
    initialise_labels(STAGE)
    articles = StageLoop(STAGE, topics.deadletter)
    alerts = StageLoop(STAGE, topics.deadletter, counts=())  # alerts are not articles
    colour = sys.stdout.isatty()
    order = AlertsAfterArticles()

    def printed(block: str) -> str:
        print(block, flush=True)
        return block

    async def show_alert(alert: Alert, event: EventT) -> list[str]:
        return [printed(format_alert(item, colour=colour)) for item in order.alert_arrived(alert, time.monotonic())]

    async def show_article(tagged: TaggedArticle, event: EventT) -> list[str]:
        blocks = [printed(format_article(tagged, colour=colour))]
        waited = order.article_shown(tagged.article.id)
        return blocks + [printed(format_alert(alert, colour=colour)) for alert in waited]

    @app.agent(topics.alerts, name="feed-alerts")
    async def show_alerts(stream: StreamT[bytes]) -> AsyncIterator[list[str] | DeadLetter]:
        async for outcome in alerts.each(stream, Alert, show_alert):
            yield outcome

    @app.agent(topics.tagged, name="feed-articles")
    async def show_articles(stream: StreamT[bytes]) -> AsyncIterator[list[str] | DeadLetter]:
        async for outcome in articles.each(stream, TaggedArticle, show_article):
            yield outcome

    @app.timer(1.0)
    async def show_overdue_alerts() -> None:
        for alert in order.overdue(time.monotonic()):
            printed(format_alert(alert, colour=colour))

    return show_articles
