"""The alert stage's Faust agents: rules over tagged articles (`alert`), over the entities stage's cross-story signals
(`alert-signals`), and digest rules' batches (`alert-digest`); each alert reaches each of its sinks once."""
from __future__ import annotations

import time
from collections.abc import AsyncIterator
from functools import partial

import faust
from faust.types import EventT, StreamT, TableT

from agents.alert.core import AlertLedger, AlertThrottle, alerts_for, signal_alert
from agents.alert.delivery import Delivery
from agents.alert.facts import StoryFacts
from agents.alert.live import install_live_rules
from agents.alert.policy import Admission, PartitionDigests, StorySweep
from streams.metrics import initialise_labels
from streams.records import Alert, DeadLetter, DigestTick, EntitySignal, TaggedArticle
from streams.settings import Settings
from streams.stage import StageLoop
from streams.times import article_time, parse_time
from streams.topics import Topics

STAGE = "alert"
DIGEST_TICK_SECONDS = 5.0  # how often due digests are looked for: a digest is late by at most this


def install(app: faust.App, topics: Topics, settings: Settings) -> faust.types.AgentT:
    """Register the alert agents on `app`, following the rules of the file and the rules topic (`agents.alert.live`).

    The `alert` agent yields, per tagged article, the alerts it delivered somewhere (often none) or the article's
    dead letter. Delivery is at-least-once per sink (`AlertLedger`): a replay re-sends only what a sink lacks.
    """
    initialise_labels(STAGE)
    articles = StageLoop(STAGE, topics.deadletter)
    messages = StageLoop(STAGE, topics.deadletter, counts=())  # signals, digests' alerts and ticks: not articles
    live = install_live_rules(app, topics, settings)
    delivery = Delivery(app, topics, settings, STAGE)

    def table(name: str) -> TableT:
        return app.Table(f"alert-{name}", default=None, partitions=settings.partitions, key_type=str)

    # Keyed by story (the throttle by "{rule}:{story}") like the tagged topic: a story's entries live on its partition.
    admission = Admission(AlertThrottle(table("throttle")))
    stories = StoryFacts(table("story-facts"))  # what each story told so far: developments alert on new facts only
    sweep = StorySweep(stories, settings.partitions, settings.dedup_retention_hours * 3600)
    ledger = AlertLedger(table("deliveries"))
    digests = PartitionDigests(table("digests"), settings.partitions)  # keyed by rule, like the digest topic

    async def alert_on_article(tagged: TaggedArticle, event: EventT) -> list[Alert]:
        rules, rule_by_id = live.current, live.by_id  # this article's rules, whatever reloads meanwhile
        with articles.timer():
            at = article_time(tagged.article).timestamp()
            sweep.sweep(event.message.partition, at, time.monotonic())
            raised = admission.admitted(alerts_for(tagged, rules, stories, now=time.time()), rule_by_id, at)
        return await delivery.deliver(ledger, raised, rule_by_id)

    async def alert_on_signal(signal: EntitySignal, event: EventT) -> list[Alert]:
        rule = live.by_id.get(signal.rule_id)
        if rule is None or signal.trigger not in rule.triggers:  # changed or removed since it fired
            return []
        rule_by_id, raised = {rule.id: rule}, [signal_alert(signal, rule, now=time.time())]
        raised = admission.admitted(raised, rule_by_id, parse_time(signal.seen).timestamp())
        return await delivery.deliver(ledger, raised, rule_by_id)

    async def keep_or_send_digests(record: Alert | DigestTick, event: EventT) -> list[Alert]:
        if isinstance(record, Alert):
            digests.add(record, time.time())
            return []
        return await digests.send_due(event.message.partition, live.by_id, time.time(),
                                      partial(delivery.deliver_digest, ledger))

    @app.agent(topics.tagged, name=STAGE)
    async def alert(stream: StreamT[bytes]) -> AsyncIterator[list[Alert] | DeadLetter]:
        async for outcome in articles.each(stream, TaggedArticle, alert_on_article):
            yield outcome

    @app.agent(topics.alert_signals, name=f"{STAGE}-signals")
    async def alert_on_signals(stream: StreamT[bytes]) -> AsyncIterator[list[Alert] | DeadLetter]:
        """The alerts of the entities stage's cross-story signals (surge, first co-mention), delivered the same way."""
        async for outcome in messages.each(stream, EntitySignal, alert_on_signal):
            yield outcome

    @app.agent(topics.alert_digest, name=f"{STAGE}-digest")
    async def digest(stream: StreamT[bytes]) -> AsyncIterator[list[Alert] | DeadLetter]:
        """Keeps digest rules' alerts per rule; on each tick, sends the digests that are due to the rules' channels."""
        async for outcome in messages.each(stream, (Alert, DigestTick), keep_or_send_digests):
            yield outcome

    @app.timer(DIGEST_TICK_SECONDS)
    async def tick_digests() -> None:
        """A tick to every partition of the digest topic while any rule has a digest (see `DigestTick`)."""
        if any(rule.digest for rule in live.current):
            for partition in range(settings.partitions):
                await topics.alert_digest.send(value=DigestTick(at=time.time()), partition=partition)

    return alert
