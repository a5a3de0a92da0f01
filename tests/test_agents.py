"""Each stage's Faust agent under `agent.test_context()`, wired to in-memory channels instead of Kafka topics."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import pytest

from streams.records import Alert, CleanArticle, DeadLetter, DedupedArticle, DedupVerdict, EntityMention, TaggedArticle
from streams.settings import DEFAULTS, Settings
from streams.topics import TOPIC_SPECS, Topics
from tests.conftest import stage_app


@dataclass
class Harness:
    """A stage's agent in test mode, its channels, and subscriptions that collect what it sends."""

    agent: Any
    topics: Topics
    outputs: dict[str, Any]

    async def sent(self, role: str, timeout: float = 5.0) -> Any:
        """The next value the agent sent to `role`'s channel (decoded from bytes when a record)."""
        event = await self.outputs[role].get(timeout=timeout)
        return event.value

    def nothing_sent(self, role: str) -> bool:
        return self.outputs[role].queue.empty()


@pytest.fixture
def stage() -> Callable[..., Any]:
    """`async with stage("clean") as harness:` runs the clean agent in its test context."""

    def make(name: str, **overrides: Any) -> Any:
        settings = Settings.from_env({}, rules_file=DEFAULTS / "rules.example.yaml", tag_batch_wait=0.01, **overrides)
        _, topics, agent = stage_app(name, settings)
        outputs = {role: getattr(topics, role).__aiter__() for role in TOPIC_SPECS}

        class Context:
            async def __aenter__(self) -> Harness:
                self._context = agent.test_context()
                return Harness(await self._context.__aenter__(), topics, outputs)

            async def __aexit__(self, *exc: Any) -> None:
                await self._context.__aexit__(*exc)

        return Context()

    return make


def article(article_id: str, title: str, *paragraphs: str, source: str | None = None) -> CleanArticle:
    return CleanArticle(id=article_id, title=title, paragraphs=list(paragraphs), source=source, ingested_at=1.0)


async def test_clean_agent_splits_versions_and_dead_letters_bad_json(stage, seed_texts) -> None:
    async with stage("clean") as harness:
        await harness.agent.put(orjson.dumps({"text": seed_texts[0], "origin": "seed-000"}))
        first, second = await harness.sent("clean"), await harness.sent("clean")
        assert [a.source for a in (first, second)] == ["Bloomberg", "Bloomberg"]
        assert isinstance(first, CleanArticle) and first.update_note

        await harness.agent.put(b'{"title": "no body", ')
        letter = await harness.sent("deadletter")
        assert (letter.stage, letter.reason) == ("clean", "malformed_json")
        assert harness.nothing_sent("clean")


@pytest.mark.parametrize("value, reason", [
    (b"\xff\xfe not utf-8", "not_utf8"),
    (b'{"title": "x", "text": 42}', "wrong_type"),
    (b'{"title": "only a title"}', "empty_body"),
    (b"[1, 2]", "not_an_object"),
])
async def test_clean_agent_gives_each_bad_input_its_reason(stage, value: bytes, reason: str) -> None:
    async with stage("clean") as harness:
        await harness.agent.put(value)
        outcome = harness.agent.results[0]
        assert isinstance(outcome, DeadLetter) and outcome.reason == reason
        assert (await harness.sent("deadletter")).reason == reason


async def test_clean_agent_rejects_oversized_article(stage) -> None:
    async with stage("clean", max_article_bytes=1000) as harness:
        await harness.agent.put(orjson.dumps({"text": "word " * 1000}))
        letter = await harness.sent("deadletter")
        assert letter.reason == "too_large" and letter.original_size > 1000


async def test_dedup_agents_carry_articles_from_router_through_index_to_verdicts(stage) -> None:
    body = "The central bank raised its main interest rate by half a point on Tuesday, citing inflation."
    async with stage("dedup") as harness:
        app = harness.agent.app
        sequence: list[bytes] = []
        async with app.agents["dedup-index"].test_context() as index:
            for seq, clean in enumerate([article("a1", "Rates up", body, source="Wire"),
                                         article("a2", "Rates up", body, source="Other")]):
                await harness.agent.put(clean.dumps())  # the test context numbers offsets from 0
                manifest = await harness.sent("dedup_decide")
                assert manifest.seq == seq and manifest.partitions
                for partition in manifest.partitions:
                    probe = await harness.sent("dedup_probes")
                    await index.put(probe.dumps(), partition=partition)
                    sequence.append((await harness.sent("dedup_decide")).dumps())
                sequence.append(manifest.dumps())  # the manifest after its answers: the decider must wait for it
        async with app.agents["dedup-decide"].test_context() as decide:
            for value in sequence:
                await decide.put(value)
        first, second = await harness.sent("deduped"), await harness.sent("deduped")
        assert isinstance(first, DedupedArticle)
        assert (first.verdict.kind, second.verdict.kind) == ("new", "duplicate")
        assert second.verdict.story_id == first.verdict.story_id == "a1"


async def test_dedup_agent_dead_letters_a_record_of_the_wrong_shape(stage) -> None:
    async with stage("dedup") as harness:
        await harness.agent.put(orjson.dumps({"id": "x"}))
        assert (await harness.sent("deadletter")).reason == "invalid_record"


async def test_tag_agent_tags_new_articles_and_duplicates_get_their_entities(stage) -> None:
    text = "Donald Trump met Kim Jong Un at the border between North Korea and South Korea."
    new = DedupedArticle(article=article("a1", "Summit", text), verdict=DedupVerdict(kind="new", story_id="a1"))
    copy = DedupedArticle(article=article("a2", "Summit", text),
                          verdict=DedupVerdict(kind="duplicate", story_id="a1", matched_id="a1", similarity=1.0))
    async with stage("tag") as harness:
        await harness.agent.put(new.dumps())
        await harness.agent.put(copy.dumps())
        tagged, passed = await harness.sent("tagged"), await harness.sent("tagged")
        assert isinstance(tagged, TaggedArticle)
        assert {"Donald Trump", "Kim Jong Un", "North Korea"} <= set(tagged.canonical_entities)
        assert passed.verdict.kind == "duplicate" and passed.entities == tagged.entities


def tagged_korea_story(kind: str = "new", added: list[str] | None = None) -> TaggedArticle:
    text = "North Korea's leader Kim Jong Un agreed to meet on Sunday."
    body = article("k1", "Kim agrees to meet", text, source="Wire")
    mention = EntityMention(start=len("Kim agrees to meet\n\n") + 22, end=len("Kim agrees to meet\n\n") + 33,
                            text="Kim Jong Un", label="PERSON", canonical="Kim Jong Un")
    return TaggedArticle(article=body, verdict=DedupVerdict(kind=kind, story_id="k1", added_sentences=added or []),
                         entities=[mention])


async def test_alert_agent_raises_once_and_sends_it_on_the_alerts_channel(stage) -> None:
    # An in-memory channel stands for the alerts topic; the topic itself is read in tests/pipeline/test_pipeline.py.
    async with stage("alert") as harness:
        await harness.agent.put(tagged_korea_story().dumps())
        alert = await harness.sent("alerts")
        assert isinstance(alert, Alert)
        assert (alert.rule_id, alert.trigger, alert.matched_entities) == ("korea-summit", "new_story", ["Kim Jong Un"])
        await harness.agent.put(tagged_korea_story().dumps())  # the same article again: the ledger knows it
        assert harness.agent.results[1] == []
        assert harness.nothing_sent("alerts")


async def test_feed_prints_each_tagged_article(stage, capsys) -> None:
    async with stage("feed") as harness:
        await harness.agent.put(tagged_korea_story().dumps())
        assert "NEW STORY" in harness.agent.results[0][0]
    assert "Kim agrees to meet" in capsys.readouterr().out
