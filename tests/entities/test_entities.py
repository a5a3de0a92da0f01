"""The entity registry: one id per entity across the stream, salience by place, and the stage's two agents."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from agents.entities.core import MAX_DAYS, entity_id, registry_entry, sightings
from agents.entities.signals import signals
from agents.rules.ruleset import parse_rules
from agents.stories.core import story_state
from streams.records import (CleanArticle, DeadLetter, DedupVerdict, EntityMention, EntitySighting, EntitySignal,
                             TaggedArticle)
from streams.settings import Settings
from streams.times import parse_time
from tests.conftest import stage_app
from tests.kafka_io import produce, read_to_end, read_topic_sync, wait_consumed

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


# ---- cross-story triggers ----

SIGNAL_RULES_YAML = """
- {id: acme-surge, description: Acme surges, when: {entities: [Acme]}, triggers: [surge],
   surge: {factor: 3, min_mentions: 5}}
- {id: pair, description: Acme meets Zeta, when: {entities: [Acme, {name: Zeta Bank, label: ORG}]},
   triggers: [first_co_mention], co_mention_window: 2d}
"""
SIGNAL_RULES = parse_rules(yaml.safe_load(SIGNAL_RULES_YAML))


def sighting_of(name: str, seen: str, mentions: int = 1, others: tuple[str, ...] = (), article_id: str = "a",
                label: str = "ORG") -> EntitySighting:
    return EntitySighting(entity_id=entity_id(name, label), name=name, label=label, written=[name], mentions=mentions,
                          salience=1.0, article_id=article_id, story_id=f"story-{article_id}", seen=seen,
                          others=[[entity_id(o, "ORG"), o] for o in others], title=f"About {name}")


def fold_signals(items: list[EntitySighting]) -> list[EntitySignal]:
    """Fold sightings as the entities agent does (one table per entity id) and collect what fires."""
    table: dict[str, Any] = {}
    fired: list[EntitySignal] = []
    for item in items:
        previous = table.get(item.entity_id)
        entry = registry_entry(previous, item)
        if entry is not previous:
            entry, new = signals(SIGNAL_RULES, entry, item, None)  # no mention counts: surge is the agent's
            fired += new
        table[item.entity_id] = entry
    return fired


async def surges(items: list[EntitySighting], tmp_path: Path) -> list[EntitySignal]:
    """What the entities agent fires on `items`, each sent as the sightings agent sends it (timestamp: its time)."""
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:" + SIGNAL_RULES_YAML)
    app, topics, fold = stage_app("entities", Settings.from_env({}, rules_file=rules, rules_reload_seconds=0))
    fired = topics.alert_signals.__aiter__()
    async with fold.test_context() as registry:
        for item in items:
            await registry.put(item.dumps(), key=item.entity_id.encode(), timestamp=parse_time(item.seen).timestamp())
    found = []
    while True:
        try:
            found.append((await fired.get(timeout=0.5)).value)
        except asyncio.TimeoutError:
            return found


async def test_a_surge_fires_once_when_the_trailing_hour_reaches_factor_times_the_baseline(tmp_path: Path) -> None:
    assert not SIGNAL_RULES.errors
    hours = [datetime(2019, 6, 29, 7, 10, tzinfo=timezone.utc) + timedelta(hours=h) for h in range(24)]
    baseline = [sighting_of("Acme", f"{hour:%Y-%m-%dT%H:%M:%SZ}", 2, article_id=f"b{n}") for n, hour in enumerate(hours)]
    # 2 mentions an hour from 29 June 07:10 to 30 June 06:10
    burst = [sighting_of("Acme", f"2019-06-30T07:1{n}:00Z", 2, article_id=f"n{n}") for n in range(6)]
    fired = await surges(baseline + burst, tmp_path)
    # The hour ending 07:1x began at 06:20 and holds none of the baseline (06:10); the hours before hold 2 each. The
    # line is max(5, 3 × 2) = 6: reached by the third article of the burst (2 + 2 + 2), and only by it.
    assert [(s.rule_id, s.article_id, s.trigger) for s in fired] == [("acme-surge", "n2", "surge")]
    assert fired[0].development == "surge:org:acme:2019-06-30T06:20:00Z"
    assert "6 mentions in the hour from 06:20 UTC, against a mean of 2.0 per hour" in fired[0].detail
    assert await surges(burst[:2], tmp_path) == []  # 4 mentions from nothing: under min_mentions


async def test_the_trailing_hour_slides_and_earlier_hours_leave_it(tmp_path: Path) -> None:
    # 5 mentions each at 07:00 (over no baseline the line is min_mentions, 5: a surge), 07:55 (the hour from 07:00
    # holds 10: no new crossing), 08:05 (the hour from 07:10 holds 10, not the first five; a clock hour would have
    # started again at 5 and fired) and 09:00 (the hour from 08:10 starts empty: 5 crosses the line again).
    times = ["2019-06-30T07:00:00Z", "2019-06-30T07:55:00Z", "2019-06-30T08:05:00Z", "2019-06-30T09:00:00Z"]
    items = [sighting_of("Acme", seen, 5, article_id=f"a{n}") for n, seen in enumerate(times)]
    fired = await surges(items, tmp_path)
    assert [(s.article_id, s.development[-9:]) for s in fired] == [("a0", "06:10:00Z"), ("a3", "08:10:00Z")]


def test_a_first_co_mention_fires_once_per_window_on_one_side_of_the_pair() -> None:
    def article_pair(article_id: str, seen: str) -> list[EntitySighting]:
        return [sighting_of("Acme", seen, others=("Zeta Bank",), article_id=article_id),
                sighting_of("Zeta Bank", seen, others=("Acme",), article_id=article_id)]

    fired = fold_signals(article_pair("a1", "2019-06-30T07:00:00Z") + article_pair("a2", "2019-07-01T07:00:00Z")
                         + article_pair("a3", "2019-07-04T07:00:00Z"))
    assert [(s.rule_id, s.article_id) for s in fired] == [("pair", "a1"), ("pair", "a3")]  # a2: within 2 days
    assert fired[0].entities == ["Acme", "Zeta Bank"]
    assert "since 2019-07-01T07:00:00Z" in fired[1].detail
    # A person named Zeta Bank is not the watched organisation.
    acme = sighting_of("Acme", "2019-06-30T07:00:00Z")
    assert fold_signals([acme.derive(others=[["person:zeta-bank", "Zeta Bank"]])]) == []


def test_cross_story_triggers_need_watched_entities() -> None:
    rules = parse_rules(yaml.safe_load("""
- {id: a, description: d, when: {entities: [Acme]}, triggers: [first_co_mention]}
- {id: b, description: d, when: {keywords: [oil]}, triggers: [surge]}
- {id: c, description: d, when: {entities: [Acme]}, triggers: [surge], surge: {factor: 1}}
"""))
    assert [str(e) for e in rules.errors] == [
        "rule 'a': field 'triggers': first_co_mention needs at least two watched entities in `when.entities`",
        "rule 'b': field 'triggers': surge needs a watched entity in `when.entities`",
        "rule 'c': field 'surge': factor must be a number above 1, not 1"]


@pytest.mark.integration
def test_entities_and_alert_workers_raise_a_first_co_mention_and_a_surge_once(
        spawn_worker, pipeline_settings: Settings, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n- {id: summit, description: Moon meets Kim, when: {entities: [Moon Jae-in, Kim Jong Un]},"
                     " triggers: [first_co_mention], channels: [topic]}\n"
                     "- {id: kim-surge, description: Kim surges, when: {entities: [Kim Jong Un]}, triggers: [surge],"
                     " surge: {min_mentions: 1}, channels: [topic]}\n", encoding="utf-8")
    settings = Settings.from_env({}, **{**pipeline_settings.__dict__, "rules_file": rules})
    spawn_worker("entities", settings)
    spawn_worker("alert", settings)
    stories = [article("a1"), article("b1", story="b1", title="Moon and Kim again")]
    asyncio.run(produce(settings, "tagged", [(t.verdict.story_id.encode(), t.dumps()) for t in stories]))
    alerts = read_topic_sync(settings, "alerts", 2, timeout=90)
    assert sorted((a["rule_id"], a["trigger"], a["article_id"]) for a in alerts) == [
        ("kim-surge", "surge", "a1"), ("summit", "first_co_mention", "a1")]  # the surge: from the windowed table
    co_mention = next(a for a in alerts if a["rule_id"] == "summit")
    assert set(co_mention["matched_entities"]) == {"Moon Jae-in", "Kim Jong Un"}
    # The second article: within the pair's window, and its hour already over the surge line. Nothing more comes once
    # both stages committed both articles down every hop (a worker flushes what it sent before it commits).
    for stage, role in [("entities", "tagged"), ("entities", "entity_sightings"), ("alert", "tagged"),
                        ("alert", "alert_signals")]:
        wait_consumed(settings, stage, role)
    assert len(read_to_end(settings, "alerts")) == 2
