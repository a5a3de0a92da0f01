"""The web stage's Faust agents: tagged articles, alerts and entity sightings folded into the wire's tables
(`agents.web.core`), each change handed to the connected pages (`agents.web.events`).

It reads what the other stages already publish and owns its own tables, so it runs against any Kafka with no duty
for another stage. One web worker per consumer group: the page answers for the whole stream, so its worker must own
every partition (for more readers, run more groups with their own WIREWATCH_TOPIC_PREFIX… or one page).
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

import faust
from faust.types import EventT, StreamT
from faust.web.drivers import aiohttp as aiohttp_driver

from agents.web.core import Position, State, Wire
from agents.web.events import WireEvents
from agents.web.http import WireHandlers, install_wire_views
from agents.web.security import check_exposure
from streams.health import readiness_problems
from streams.metrics import initialise_labels
from streams.records import Alert, DeadLetter, EntitySighting, TaggedArticle
from streams.settings import Settings
from streams.stage import StageLoop
from streams.topics import Topics

STAGE = "web"


def install(app: faust.App, topics: Topics, settings: Settings) -> faust.types.AgentT:
    """Register the three agents, their tables and the page on `app`; refuses (ValueError) to serve the page
    beyond loopback without WIREWATCH_WIRE_TOKEN."""
    check_exposure(settings)
    initialise_labels(STAGE)
    articles = StageLoop(STAGE, topics.deadletter)
    others = StageLoop(STAGE, topics.deadletter, counts=["failed"])  # alerts and sightings are not articles
    wire = Wire(*(cast(Any, app.Table(name, default=None, partitions=settings.partitions, key_type=str))
                  for name in ("web-stories", "web-alerts", "web-entities")))
    events = WireEvents(wire)

    def ready() -> bool:  # joined, partitions settled, tables read back: the state is whole
        return not readiness_problems(app, None) and not app.in_recovery

    handlers = WireHandlers(wire, events, ready, settings.sse_heartbeat)
    install_wire_views(app, cast(aiohttp_driver.Web, app.web).web_app, handlers, settings.wire_token)

    async def fold_article(tagged: TaggedArticle, event: EventT) -> State | None:
        position = _position("t", event)
        with articles.timer():
            summary = wire.add_article(tagged, position)
        if summary is not None:
            events.publish(list(position), "story", summary)
        return summary

    async def keep_alert(alert: Alert, event: EventT) -> State | None:
        position = _position("a", event)
        kept = wire.add_alert(alert, position)
        if kept is not None:
            events.publish(list(position), "alert", kept)
        return kept

    async def fold_sighting(sighting: EntitySighting, event: EventT) -> None:
        wire.add_sighting(sighting)

    @app.agent(topics.tagged, name="web-articles")
    async def fold(stream: StreamT[bytes]) -> AsyncIterator[State | DeadLetter | None]:
        async for outcome in articles.each(stream, TaggedArticle, fold_article):
            yield outcome

    @app.agent(topics.alerts, name="web-alerts")
    async def keep(stream: StreamT[bytes]) -> AsyncIterator[State | DeadLetter | None]:
        async for outcome in others.each(stream, Alert, keep_alert):
            yield outcome

    @app.agent(topics.entity_sightings, name="web-entities")
    async def registry(stream: StreamT[bytes]) -> AsyncIterator[DeadLetter | None]:
        async for outcome in others.each(stream, EntitySighting, fold_sighting):
            yield outcome

    return fold


def _position(source: str, event: EventT) -> Position:
    return (source, event.message.partition, event.message.offset)
