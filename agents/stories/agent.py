"""The stories stage's Faust agent: tagged articles folded into one state per story, kept in the `stories` table."""
from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import faust
from faust.types import EventT, StreamT

from agents.stories.core import story_state
from agents.stories.web import install_story_views
from streams.deadletter import BadInput
from streams.metrics import initialise_labels
from streams.records import DeadLetter, TaggedArticle
from streams.settings import Settings
from streams.stage import StageLoop
from streams.topics import Topics

STAGE = "stories"


def install(app: faust.App, topics: Topics, settings: Settings) -> faust.types.AgentT:
    """Register the stories agent, its table and its web views on `app`; it yields, per article, the story's new
    state or the article's dead letter."""
    initialise_labels(STAGE)
    loop = StageLoop(STAGE, topics.deadletter)
    # Keyed by story id like the tagged topic, so a story's state lives on the partition its articles arrive on;
    # values are the JSON dicts of `agents.stories.core`.
    stories = app.Table("stories", default=None, partitions=settings.partitions, key_type=str)
    install_story_views(app, stories, settings.partitions)

    async def fold_one(tagged: TaggedArticle, event: EventT) -> dict[str, Any]:
        story_id = tagged.verdict.story_id
        _check_key(event.key, story_id)
        with loop.timer():
            state = story_state(stories.get(story_id), tagged)
        stories[story_id] = state
        return state

    @app.agent(topics.tagged, name=STAGE)
    async def fold(stream: StreamT[bytes]) -> AsyncIterator[dict[str, Any] | DeadLetter]:
        async for outcome in loop.each(stream, TaggedArticle, fold_one):
            yield outcome

    return fold


def _check_key(key: bytes | str | None, story_id: str) -> None:
    """`BadInput` unless the message is keyed by its story id: otherwise its state would sit on a partition that
    `GET /stories/{id}` never asks."""
    given = key.decode("utf-8", "replace") if isinstance(key, bytes) else key
    if given != story_id:
        raise BadInput("wrong_key", f"tagged article of story {story_id!r} has key {given!r}; the key must be "
                       "the story id")
