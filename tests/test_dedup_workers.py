"""Dedup verdicts on real wires are the same with 1, 2 and 3 dedup worker processes on the embedded broker."""
from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Callable

import pytest

from agents.admin import create_topics
from agents.clean.core import clean_article
from agents.dedup.core import in_memory_index
from agents.ingest.producer import kafka_producer
from streams.raw import raw_from_mapping
from streams.records import CleanArticle
from streams.settings import Settings
from streams.topics import DEDUP_SHARD_KEY, topic_name
from tests.conftest import shared_data
from tests.kafka_io import read_topic_sync

ARTICLES = 300


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


def verdicts_with_workers(spawn_worker: Callable, base: Settings, workers: int,
                          articles: list[CleanArticle]) -> list[tuple]:
    """(article id, kind, matched id, story id) for each article, from `workers` dedup processes, in stream order."""
    settings = dataclasses.replace(base, topic_prefix=f"t{uuid.uuid4().hex[:8]}")
    asyncio.run(create_topics(settings))
    for _ in range(workers):
        spawn_worker("dedup", settings)
    asyncio.run(produce_clean(settings, articles))
    deduped = read_topic_sync(settings, "deduped", len(articles), timeout=240,
                              identity=lambda d: (d["article"]["id"], d["article"]["ingested_at"]))
    return [(d["article"]["id"], d["verdict"]["kind"], d["verdict"]["matched_id"], d["verdict"]["story_id"])
            for d in sorted(deduped, key=lambda d: d["article"]["ingested_at"])]


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
