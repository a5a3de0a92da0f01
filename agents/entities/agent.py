"""The entities stage: every tagged article's entities folded into one registry entry per entity, across stories.

Two agents: `entity-sightings` reads the tagged topic (keyed by story) and sends one sighting per entity keyed by
entity id; `entities` folds the sightings into the `entities` table, so an entity's entry lives on one partition
whichever stories and workers mention it, and sends the rules' cross-story signals (`agents.entities.signals`) to
the alert stage.
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import faust
from faust.types import EventT, StreamT

from agents.alert.live import install_live_rules
from agents.entities.core import registry_entry, sightings
from agents.entities.signals import signals, surge_watched
from agents.entities.windows import count_mentions, mention_table
from streams.metrics import initialise_labels
from streams.records import DeadLetter, EntitySighting, TaggedArticle
from streams.settings import Settings
from streams.stage import StageLoop
from streams.times import article_time
from streams.topics import Topics

STAGE = "entities"


def install(app: faust.App, topics: Topics, settings: Settings) -> faust.types.AgentT:
    """Register both agents and the `entities` table on `app`; returns the registry agent, which yields each new
    entry (or a sighting's dead letter)."""
    initialise_labels(STAGE)
    articles = StageLoop(STAGE, topics.deadletter)
    # A sighting is not an article: only one that fails is counted (as a failed article of the stage).
    sighting_loop = StageLoop(STAGE, topics.deadletter, counts=["failed"])
    live = install_live_rules(app, topics, settings)  # for the rules' cross-story triggers (surge, co-mention)
    entries = app.Table("entities", default=None, partitions=settings.partitions, key_type=str)
    mentions = mention_table(app, settings)  # counted only for the entities a surge rule watches

    async def split_one(tagged: TaggedArticle, event: EventT) -> int:
        with articles.timer():
            found = sightings(tagged)
        at = article_time(tagged.article).timestamp()  # the message's time: the mention windows' clock
        for sighting in found:
            await topics.entity_sightings.send(key=sighting.entity_id.encode(), value=sighting, timestamp=at)
        return len(found)

    async def fold_one(sighting: EntitySighting, event: EventT) -> dict[str, Any]:
        previous = entries.get(sighting.entity_id)
        entry = registry_entry(previous, sighting)
        if entry is not previous:  # newly counted (a re-delivered sighting fires nothing again)
            rules = live.current
            counts = (count_mentions(mentions, sighting, event.message.timestamp)
                      if surge_watched(rules, sighting) else None)
            entry, fired = signals(rules, entry, sighting, counts)
            for signal in fired:  # sent before the entry is written: a crash between re-sends, never loses
                await topics.alert_signals.send(key=signal.story_id.encode(), value=signal)
        entries[sighting.entity_id] = entry
        return entry

    @app.agent(topics.tagged, name="entity-sightings")
    async def split(stream: StreamT[bytes]) -> AsyncIterator[int | DeadLetter]:
        async for outcome in articles.each(stream, TaggedArticle, split_one):
            yield outcome

    @app.agent(topics.entity_sightings, name=STAGE)
    async def fold(stream: StreamT[bytes]) -> AsyncIterator[dict[str, Any] | DeadLetter]:
        async for outcome in sighting_loop.each(stream, EntitySighting, fold_one):
            yield outcome

    return fold
