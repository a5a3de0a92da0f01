"""Dedup verdicts on real wires are the same with 1, 2 and 3 dedup worker processes on the embedded broker."""
from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections import defaultdict
from collections.abc import Callable

import pytest

from wirewatch.admin import create_topics
from agents.clean.core import clean_article
from agents.dedup.in_memory import in_memory_index
from agents.ingest.producer import kafka_producer
from streams.raw import raw_from_mapping
from streams.records import CleanArticle
from streams.settings import Settings
from streams.topics import DEDUP_SHARD_KEY, topic_name
from tests.conftest import shared_data
from tests.kafka_io import read_until

pytestmark = pytest.mark.integration
ARTICLES = 300
Verdict = tuple[str, str, str | None, str]  # article id, kind, matched id, story id


@pytest.fixture(scope="module")
def reuters_clean() -> list[CleanArticle]:
    """The first ARTICLES Reuters-21578 wires by date, cleaned, each with its own ingest time."""
    shared_data("reuters21578/reuters21578.jsonl.gz")  # skips with a message when the data is absent
    from benchmarks.reuters import reuters_raw
    raws = [raw_from_mapping(r, max_bytes=900_000) for r in reuters_raw(ARTICLES)]
    cleaned = [a for raw in raws for a in clean_article(raw)]
    return [a.derive(ingested_at=1_000_000.0 + n) for n, a in enumerate(cleaned)]


async def produce_clean(settings: Settings, articles: list[CleanArticle]) -> None:
    """Send the articles to the clean topic as the clean stage does: one key, so one ordered stream."""
    producer = kafka_producer(settings)
    await producer.start()
    try:
        for article in articles:
            await producer.send(topic_name(settings, "clean"), article.dumps(), key=DEDUP_SHARD_KEY.encode())
        await producer.flush()
    finally:
        await producer.stop()


def delivery(value: dict) -> tuple[str, float]:
    """Which article a deduped record is about: a re-delivery of it (at-least-once) has the same."""
    return value["article"]["id"], value["article"]["ingested_at"]


def verdicts_with_workers(spawn_worker: Callable, base: Settings, workers: int,
                          articles: list[CleanArticle]) -> list[Verdict]:
    """The verdict on each article from `workers` dedup processes, in stream order.

    Every record of the deduped topic is read, re-deliveries included: a re-delivery must repeat the verdict, and
    one that differs (what a replay after a rebalance could send) fails the test here rather than being dropped.
    """
    settings = dataclasses.replace(base, topic_prefix=f"t{uuid.uuid4().hex[:8]}")
    asyncio.run(create_topics(settings))
    for _ in range(workers):
        spawn_worker("dedup", settings)
    asyncio.run(produce_clean(settings, articles))

    def every_article(read: list[dict]) -> bool:
        return len({delivery(r) for r in read}) >= len(articles)

    records = asyncio.run(read_until(settings, "deduped", every_article, timeout=240))
    verdicts: dict[tuple[str, float], set[Verdict]] = defaultdict(set)
    for r in records:
        verdicts[delivery(r)].add((r["article"]["id"], r["verdict"]["kind"], r["verdict"]["matched_id"],
                                   r["verdict"]["story_id"]))
    conflicting = {key: sorted(found, key=str) for key, found in verdicts.items() if len(found) > 1}
    assert not conflicting, f"{workers} workers gave {len(conflicting)} articles two verdicts: {conflicting}"
    return [next(iter(verdicts[key])) for key in sorted(verdicts, key=lambda key: key[1])]


def test_verdicts_are_the_same_with_one_two_and_three_dedup_workers(spawn_worker, pipeline_settings: Settings,
                                                                    reuters_clean: list[CleanArticle]) -> None:
    index = in_memory_index(pipeline_settings)
    expected = []
    for article in reuters_clean:
        verdict = index.judge(article)
        expected.append((article.id, verdict.kind, verdict.matched_id, verdict.story_id))
    kinds = {kind for _, kind, _, _ in expected}
    assert {"new", "duplicate"} <= kinds, kinds  # the sample holds real duplicates, so the test can fail
    for workers in (1, 2, 3):
        assert verdicts_with_workers(spawn_worker, pipeline_settings, workers, reuters_clean) == expected, workers
