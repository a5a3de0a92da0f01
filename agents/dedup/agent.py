"""The dedup stage's Faust agent: the index lives in four Faust tables; verdicts go out keyed by story."""
from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import faust
from faust.types import StreamT

from agents.dedup.core import DedupIndex, Expiry, Thresholds
from streams.deadletter import send_dead_letter
from streams.metrics import ARTICLES, DEDUP_VERDICTS, initialise_labels, stage_timer
from streams.raw import decode_record
from streams.records import VERDICT_KINDS, CleanArticle, DeadLetter, DedupedArticle
from streams.settings import Settings
from streams.topics import Topics

STAGE = "dedup"


def install(app: faust.App, topics: Topics, settings: Settings) -> faust.types.AgentT:
    """Register the dedup agent and its tables on `app`; it yields, per article, the verdict or the dead letter."""
    initialise_labels(STAGE)
    for kind in VERDICT_KINDS:
        DEDUP_VERDICTS.labels(kind)

    def table(name: str) -> faust.Table:
        return app.Table(f"dedup-{name}", default=None, partitions=settings.partitions, key_type=str)

    index = DedupIndex(table("verdicts"), table("exact"), table("bands"), table("articles"), table("stories"),
                       Thresholds.from_settings(settings))
    expiry = Expiry(timedelta(hours=settings.dedup_retention_hours))

    @app.agent(topics.clean, name=STAGE)
    async def dedup(stream: StreamT[bytes]) -> AsyncIterator[DedupedArticle | DeadLetter]:
        async for event in stream.events():
            ARTICLES.labels(STAGE, "in").inc()
            try:
                article = decode_record(event.value, CleanArticle)
                with stage_timer(STAGE):
                    verdict = index.judge(article)
                    expiry.maybe_expire(index, article)
                deduped = DedupedArticle(article=article, verdict=verdict)
                await topics.deduped.send(key=verdict.story_id.encode(), value=deduped)
            except Exception as error:  # noqa: BLE001 — one failing article is dead-lettered, never fatal
                yield await send_dead_letter(topics.deadletter, STAGE, event.value, error, event.message)
                continue
            DEDUP_VERDICTS.labels(verdict.kind).inc()
            ARTICLES.labels(STAGE, "out").inc()
            yield deduped

    return dedup
