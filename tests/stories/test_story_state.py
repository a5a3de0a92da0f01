"""Story state: the pure fold, the agent under `agent.test_context()`, and two workers serving the web view."""
from __future__ import annotations

import asyncio
import copy
import functools
import json
import socket
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from aiokafka.partitioner import DefaultPartitioner

from agents.stories.core import stories_since, story_state
from streams.app import advertised_host
from streams.records import CleanArticle, DeadLetter, DedupVerdict, EntityMention, TaggedArticle
from streams.settings import Settings
from streams.times import parse_time
from streams.topics import key_partition
from tests.conftest import metric_value, stage_app, value_of, wait_for
from tests.kafka_io import produce

SUMMIT = "Kim Jong Un and Donald Trump meet at the DMZ"


def tagged(article_id: str, kind: str = "new", *, story: str = "s1", title: str = SUMMIT, source: str | None = "Wire",
           published: datetime | None = datetime(2019, 6, 30, 7, 0, tzinfo=UTC), ingested_at: float = 1e9,
           added: int = 0, url: str | None = None, entities: dict[tuple[str, str], int] | None = None) -> TaggedArticle:
    """A tagged article of `story`; `entities` maps (canonical name, label) to how often the text mentions it."""
    mentions = [EntityMention(start=0, end=len(name), text=name, label=label, canonical=name)
                for (name, label), count in (entities or {}).items() for _ in range(count)]
    article = CleanArticle(id=article_id, title=title, paragraphs=["Text."], source=source, published=published,
                           url=url, ingested_at=ingested_at)
    verdict = DedupVerdict(kind=kind, story_id=story, matched_id=None if kind == "new" else story,
                           added_sentences=[f"Sentence {n}." for n in range(added)])
    return TaggedArticle(article=article, verdict=verdict, entities=mentions)


def fold(*articles: TaggedArticle, **limits: int) -> dict[str, Any]:
    state = None
    for item in articles:
        state = story_state(state, item, **limits)
    assert state is not None
    return state


# ---- the pure core ----


def test_first_article_starts_the_story() -> None:
    state = story_state(None, tagged("s1", url="https://example.com/a", entities={("Kim Jong Un", "PERSON"): 2}))
    assert state["story_id"] == "s1" and state["headline"] == SUMMIT
    assert state["first_seen"] == state["last_update"] == "2019-06-30T07:00:00Z"
    assert state["versions"] == [{"id": "s1", "kind": "new", "source": "Wire", "title": SUMMIT,
                                  "published": "2019-06-30T07:00:00Z", "url": "https://example.com/a",
                                  "added_sentences": 0, "ingested_at": 1e9}]
    assert state["sources"] == ["Wire"]
    # Both mentions sit in the headline (offset 0 of the title): salience 3 each.
    assert state["entities"] == [{"id": "person:kim-jong-un", "name": "Kim Jong Un", "label": "PERSON",
                                  "salience": 6.0, "mentions": 2, "articles": 1}]
    assert state["counts"] == {"versions": 1, "new": 1, "duplicate": 0, "update": 0, "same_story": 0,
                               "added_sentences": 0}
    assert orjson.loads(orjson.dumps(state)) == state


def test_updates_and_other_outlets_add_versions_sources_and_entities() -> None:
    kim, trump, moon = ("Kim Jong Un", "PERSON"), ("Donald Trump", "PERSON"), ("Moon Jae-in", "PERSON")
    state = fold(
        tagged("s1", source="Bloomberg", entities={kim: 2, trump: 1}),
        tagged("s2", "update", source="Bloomberg", title="Trump invites Kim", added=3, entities={kim: 1, moon: 4},
               published=datetime(2019, 6, 30, 9, 30, tzinfo=UTC)),
        tagged("s3", "same_story", source="Reuters", added=1, entities={trump: 1},
               published=datetime(2019, 6, 30, 8, 0, tzinfo=UTC)))
    assert state["headline"] == SUMMIT  # the first article's, not the update's
    assert (state["first_seen"], state["last_update"]) == ("2019-06-30T07:00:00Z", "2019-06-30T09:30:00Z")
    assert [(v["id"], v["kind"], v["added_sentences"]) for v in state["versions"]] == [
        ("s1", "new", 0), ("s2", "update", 3), ("s3", "same_story", 1)]
    assert "url" not in state["versions"][0]
    assert state["sources"] == ["Bloomberg", "Reuters"]
    assert [(e["name"], e["mentions"], e["articles"]) for e in state["entities"]] == [
        ("Moon Jae-in", 4, 1), ("Kim Jong Un", 3, 2), ("Donald Trump", 2, 2)]
    assert state["counts"] == {"versions": 3, "new": 1, "duplicate": 0, "update": 1, "same_story": 1,
                               "added_sentences": 4}


def test_a_redelivered_article_changes_nothing_and_the_old_state_is_never_touched() -> None:
    first = fold(tagged("s1"), tagged("s2", "update", added=2, entities={("Kim Jong Un", "PERSON"): 1}))
    kept = copy.deepcopy(first)
    again = story_state(first, tagged("s2", "update", added=2, entities={("Kim Jong Un", "PERSON"): 1}))
    assert again == first and again is not first
    assert first == kept
    later = story_state(first, tagged("s3", "same_story", source="Other"))
    assert first == kept and later["counts"]["versions"] == 3


def test_the_same_article_ingested_again_is_a_new_delivery() -> None:
    state = fold(tagged("s1"), tagged("s1", "duplicate", ingested_at=2e9))
    assert [(v["id"], v["kind"]) for v in state["versions"]] == [("s1", "new"), ("s1", "duplicate")]
    assert state["counts"]["duplicate"] == 1 and state["sources"] == ["Wire"]


def test_ingest_time_stands_in_for_an_unknown_publish_time() -> None:
    ingested = datetime(2024, 5, 1, 12, 30, 15, tzinfo=UTC).timestamp()
    state = fold(tagged("s1"), tagged("s2", "update", published=None, ingested_at=ingested))
    assert (state["first_seen"], state["last_update"]) == ("2019-06-30T07:00:00Z", "2024-05-01T12:30:15Z")
    assert state["versions"][1]["published"] is None


def test_the_first_articles_title_is_the_headline_even_when_it_arrives_late() -> None:
    state = fold(tagged("s2", "update", title="Later headline"), tagged("s1", title="How it broke"))
    assert state["headline"] == "How it broke"
    untitled = fold(tagged("s1", title=""), tagged("s2", "update", title="Someone's title"))
    assert untitled["headline"] == "Someone's title"


def test_versions_and_entities_are_bounded_and_the_totals_kept() -> None:
    articles = [tagged(f"a{n}", "new" if n == 0 else "update", ingested_at=float(n),
                       entities={(f"Person {n}", "PERSON"): n + 1}) for n in range(5)]
    state = fold(*articles, max_versions=3, top_entities=2)
    assert [v["id"] for v in state["versions"]] == ["a2", "a3", "a4"]
    assert state["counts"]["versions"] == 5
    assert [e["name"] for e in state["entities"]] == ["Person 4", "Person 3"]


def test_stories_since_lists_summaries_newest_first() -> None:
    def story(story_id: str, hour: int) -> dict[str, Any]:
        return story_state(None, tagged(story_id, story=story_id,
                                        published=datetime(2019, 6, 30, hour, tzinfo=UTC)))

    table = {s["story_id"]: s for s in [story("a", 7), story("b", 9), story("c", 8), story("d", 6)]}
    listed = stories_since(table, datetime(2019, 6, 30, 7, tzinfo=UTC), limit=10)
    assert [s["story_id"] for s in listed] == ["b", "c", "a"]  # 07:00 itself is included
    assert "versions" not in listed[0] and listed[0]["latest_version"]["id"] == "b"
    assert [s["story_id"] for s in stories_since(table, datetime(2000, 1, 1, tzinfo=UTC), 2)] == ["b", "c"]
    assert stories_since(table, datetime(2019, 6, 30, 7, tzinfo=UTC), 10, where=lambda s: s != "b")[0][
        "story_id"] == "c"


def test_parse_time_takes_iso_8601_and_says_what_it_wants() -> None:
    utc = datetime(2019, 6, 30, 7, tzinfo=UTC)
    assert parse_time("2019-06-30T07:00:00Z") == parse_time("2019-06-30T09:00:00+02:00") == utc
    assert parse_time("2019-06-30T07:00") == utc  # no offset: UTC
    assert parse_time("2019-06-30") == datetime(2019, 6, 30, tzinfo=UTC)
    with pytest.raises(ValueError, match="not an ISO 8601 time"):
        parse_time("yesterday")


def test_key_partition_is_kafkas_default_partitioner_on_the_story_id() -> None:
    for story_id in ["s1", "b2f0c6e1a3", "wire/42", "Ünïcode"]:
        assert key_partition(story_id, 4) == DefaultPartitioner()(story_id.encode(), [0, 1, 2, 3], [0, 1, 2, 3])


def test_workers_advertise_their_bind_address_or_their_host_name() -> None:
    assert advertised_host("127.0.0.1") == "127.0.0.1"
    assert advertised_host("0.0.0.0") == socket.gethostname()


# ---- the agent in its test context ----


async def test_stories_agent_folds_into_its_table_and_dead_letters_what_it_cannot_use() -> None:
    app, topics, agent = stage_app("stories")
    letters = topics.deadletter.__aiter__()
    async with agent.test_context() as context:
        await context.put(tagged("s1").dumps(), key=b"s1")
        await context.put(tagged("s2", "update", added=2).dumps(), key=b"s1")
        await context.put(tagged("s2", "update", added=2).dumps(), key=b"s1")  # redelivered
        assert [r["counts"]["versions"] for r in context.results.values()] == [1, 2, 2]
        assert app.tables["stories"]["s1"] == context.results[2]

        await context.put(b"{not json", key=b"s1")
        await context.put(tagged("s3", story="s3").dumps(), key=b"s1")  # keyed by another story
        reasons = [value_of(await letters.get(timeout=5), DeadLetter).reason for _ in range(2)]
        assert reasons == ["malformed_json", "wrong_key"]
        assert all(isinstance(context.results[n], DeadLetter) for n in (3, 4))
        assert "s3" not in app.tables["stories"]


# ---- two worker processes on the embedded broker, over HTTP ----


def http_get(port: int, path: str) -> tuple[int, Any, dict[str, str]]:
    """Status, JSON body and headers of a GET on a local worker (errors included)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), dict(error.headers)


async def produce_tagged(settings: Settings, articles: list[TaggedArticle]) -> None:
    """Send to the tagged topic keyed by story id, as the tag stage does (Kafka's default partitioner)."""
    await produce(settings, "tagged", [(item.verdict.story_id.encode(), item.dumps()) for item in articles])


@pytest.mark.integration
def test_two_stories_workers_each_answer_for_every_story(spawn_worker, pipeline_settings: Settings) -> None:
    workers = [spawn_worker("stories", pipeline_settings) for _ in range(2)]
    ports = [int(w.web_port) for w in workers]
    since = "/stories?since=2019-06-30T00:00:00Z&limit=1000"
    # Both workers in the group, each owning some partitions, before anything is sent: both fold articles.
    def sees_two_workers(port: int) -> bool:
        status, _, headers = http_get(port, since)
        return status == 200 and headers.get("X-Wirewatch-Workers") == "2"

    for port in ports:
        wait_for(functools.partial(sees_two_workers, port), 40, f"worker on port {port} to see two workers")

    story_ids = [f"story-{n}" for n in range(10)] + ["wire/42"]  # a producer's id may hold a slash
    assert {key_partition(s, pipeline_settings.partitions) for s in story_ids} == {0, 1, 2, 3}
    articles = []
    for n, story_id in enumerate(story_ids):
        hour = datetime(2019, 6, 30, 8, tzinfo=UTC).timestamp() + n * 60
        articles.append(tagged(story_id, story=story_id, title=f"Story {n}", ingested_at=hour, published=None))
        articles.append(tagged(f"{story_id}-v2", "update", story=story_id, title=f"Story {n}, updated", added=1,
                               ingested_at=hour + 30, published=None, source="Other"))
    asyncio.run(produce_tagged(pipeline_settings, articles))

    def every_story_listed() -> list | None:
        status, listing, _ = http_get(ports[0], since)
        complete = status == 200 and len(listing) == len(story_ids) and all(
            s["counts"]["versions"] == 2 for s in listing)
        return listing if complete else None

    listing = wait_for(every_story_listed, 30, "every story listed")
    assert [s["story_id"] for s in listing] == list(reversed(story_ids))  # newest first
    assert listing[0]["latest_version"]["id"] == "wire/42-v2" and "versions" not in listing[0]
    status, other, headers = http_get(ports[1], since)
    assert (status, other, headers["X-Wirewatch-Workers"]) == (200, listing, "2")
    _, recent, _ = http_get(ports[1], "/stories?since=2019-06-30T08:08:00Z")
    assert [s["story_id"] for s in recent] == ["wire/42", "story-9", "story-8"]

    for story_id in story_ids:  # every story from both workers: one owns it, the other asks the owner
        for port in ports:
            status, state, _ = http_get(port, "/stories/" + urllib.parse.quote(story_id, safe=""))
            assert status == 200, (story_id, port, state)
            assert (state["story_id"], state["sources"], len(state["versions"])) == (story_id, ["Wire", "Other"], 2)
    folded = [metric_value(port, 'wirewatch_articles_total{outcome="out",stage="stories"}') for port in ports]
    assert sum(folded) == len(articles) and all(folded), folded

    for port in ports:
        assert http_get(port, "/stories/no-such-story")[:2] == (404, {"error": "no story 'no-such-story'",
                                                                     "story_id": "no-such-story"})
        status, error, _ = http_get(port, "/stories?since=last+week")
        assert status == 400 and "since" in error["error"] and "ISO 8601" in error["error"]
        assert http_get(port, "/stories")[0] == 400
        assert http_get(port, "/stories?since=2019-06-30&limit=0")[0] == 400

    # One worker stops: the other takes its partitions over, their states recovered from the changelog. Meanwhile
    # a listing is the whole listing or a 503 to retry, never a part of it.
    workers[1].terminate()
    workers[1].wait(timeout=20)

    def alone_and_complete() -> bool:
        status, found, headers = http_get(ports[0], since)
        assert status in (200, 503), (status, found)
        assert status == 503 or found == listing, found
        return status == 200 and headers["X-Wirewatch-Workers"] == "1"

    wait_for(alone_and_complete, 30, "the remaining worker to own every partition")
    assert all(http_get(ports[0], "/stories/" + urllib.parse.quote(s, safe=""))[0] == 200 for s in story_ids)


