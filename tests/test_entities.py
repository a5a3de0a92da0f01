"""The entity registry: one id per entity across the stream, salience by place, and the stage's two agents."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import orjson

from agents.entities.core import MAX_DAYS, entity_id, registry_entry, sightings
from agents.stories.core import story_state
from streams.records import CleanArticle, DeadLetter, DedupVerdict, EntityMention, EntitySighting, TaggedArticle
from tests.conftest import stage_app

TITLE = "Moon meets Kim at the border"
LEAD = "Moon Jae-in met Kim Jong Un on Sunday, with Donald Trump."
LATER = "Trump said so. Trump left. Trump slept. Donald Trump woke."


def article(article_id: str = "a1", story: str = "a1", day: int = 30, paragraphs: tuple[str, ...] = (LEAD, LATER),
            title: str = TITLE) -> TaggedArticle:  # day: of June 2019, or 31 for 1 July
    """A tagged article whose mentions are every occurrence of the names below, resolved as the tag stage would."""
    clean = CleanArticle(id=article_id, title=title, paragraphs=list(paragraphs), source="Wire",
                         published=datetime(2019, 6, 30, 7, 0, tzinfo=timezone.utc) + timedelta(days=day - 30), ingested_at=1e9)
    text = clean.full_text
    names = [("Moon Jae-in", "Moon Jae-in"), ("Kim Jong Un", "Kim Jong Un"), ("Donald Trump", "Donald Trump"),
             ("Moon", "Moon Jae-in"), ("Kim", "Kim Jong Un"), ("Trump", "Donald Trump")]
    mentions: list[EntityMention] = []
    for written, canonical in names:
        start = text.find(written)
        while start >= 0:
            if not any(m.start <= start < m.end for m in mentions):
                mentions.append(EntityMention(start=start, end=start + len(written), text=written, label="PERSON",
                                              canonical=canonical))
            start = text.find(written, start + 1)
    verdict = DedupVerdict(kind="new" if article_id == story else "same_story", story_id=story)
    return TaggedArticle(article=clean, verdict=verdict, entities=sorted(mentions, key=lambda m: m.start))


def test_ids_are_label_and_folded_name() -> None:
    assert entity_id("Donald Trump", "PERSON") == "person:donald-trump"
    assert entity_id("U.S. Federal Reserve", "ORG") == "org:u-s-federal-reserve"
    assert entity_id("Moon Jae-in", "PERSON") == entity_id("MOON JAE-IN", "PERSON")
    assert entity_id("Washington", "GPE") != entity_id("Washington", "PERSON")


def test_headline_and_lead_mentions_weigh_more_than_the_rest() -> None:
    found = {s.name: s for s in sightings(article())}
    # Moon and Kim: headline (3) + lead (2). Trump: lead (2) + four later mentions (1 each).
    assert (found["Moon Jae-in"].salience, found["Moon Jae-in"].mentions) == (5.0, 2)
    assert (found["Donald Trump"].salience, found["Donald Trump"].mentions) == (6.0, 5)
    assert found["Moon Jae-in"].written == ["Moon", "Moon Jae-in"]
    assert {s.seen for s in found.values()} == {"2019-06-30T07:00:00Z"}
    assert [s.name for s in sightings(article())][0] == "Donald Trump"  # most salient first


def test_a_story_ranks_its_entities_by_salience_not_by_mentions() -> None:
    buried = article(paragraphs=("A quiet day.", LATER), title="Border talks")
    state = story_state(story_state(None, article(title=TITLE)), article("a2", paragraphs=("Kim Jong Un waved.",),
                                                                           title="Kim waves"))
    assert [e["name"] for e in state["entities"]][:2] == ["Kim Jong Un", "Donald Trump"]
    assert state["entities"][0]["id"] == "person:kim-jong-un"
    assert [e["salience"] for e in story_state(None, buried)["entities"]] == [4.0]  # four body mentions


def test_the_registry_counts_articles_days_and_aliases_once_per_article() -> None:
    entry = None
    for item in (article("a1"), article("a2", day=30), article("b1", story="b1", day=31, title="Trump tweets")):
        for sighting in sightings(item):
            if sighting.name == "Donald Trump":
                entry = registry_entry(entry, sighting)
    assert entry is not None
    again = registry_entry(entry, next(s for s in sightings(article("a2")) if s.name == "Donald Trump"))
    assert again == entry  # a re-delivered article is not counted twice
    assert entry["id"] == "person:donald-trump" and entry["label"] == "PERSON"
    assert (entry["articles"], entry["mentions"]) == (3, 16)
    assert entry["days"] == {"2019-06-30": 10, "2019-07-01": 6}
    assert (entry["first_seen"], entry["last_seen"]) == ("2019-06-30T07:00:00Z", "2019-07-01T07:00:00Z")
    assert entry["aliases"] == ["Donald Trump", "Trump"]
    assert orjson.loads(orjson.dumps(entry)) == entry


def test_the_registry_keeps_only_the_last_days() -> None:
    entry = None
    for day in range(MAX_DAYS + 5):
        entry = registry_entry(entry, EntitySighting(
            entity_id="org:acme", name="Acme", label="ORG", written=["Acme"], mentions=1, salience=1.0,
            article_id=f"a{day}", story_id=f"a{day}", seen=f"2019-{1 + day // 28:02d}-{1 + day % 28:02d}T00:00:00Z"))
    assert entry is not None and len(entry["days"]) == MAX_DAYS and entry["articles"] == MAX_DAYS + 5
    assert min(entry["days"]) == "2019-01-06"


async def test_the_stage_sends_sightings_by_entity_and_folds_them_into_its_table() -> None:
    app, topics, fold = stage_app("entities")
    sent = topics.entity_sightings.__aiter__()
    letters = topics.deadletter.__aiter__()
    async with app.agents["entity-sightings"].test_context() as split:
        await split.put(article().dumps(), key=b"a1")
        await split.put(b"{not json", key=b"a1")
        forwarded = [(await sent.get(timeout=5)) for _ in range(3)]
        assert [e.key for e in forwarded] == [s.entity_id.encode() for s in sightings(article())]
        assert (await letters.get(timeout=5)).value.reason == "malformed_json"
    async with fold.test_context() as registry:
        for event in forwarded:
            await registry.put(event.value.dumps(), key=event.key)
        await registry.put(b"[]", key=b"x")
        entries: dict[str, Any] = app.tables["entities"]
        assert entries["person:donald-trump"]["mentions"] == 5
        assert set(entries) == {"person:donald-trump", "person:moon-jae-in", "person:kim-jong-un"}
        assert isinstance(registry.results[3], DeadLetter)
