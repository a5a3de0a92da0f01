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


class AlertStage:
    """The alert stage's state (rules, delivery, its four tables and their policies) and its handlers: a tagged
    article, an entity signal, a message of the digest topic (an alert to keep, or a tick)."""

    def __init__(self, app: faust.App, topics: Topics, settings: Settings) -> None:
        def table(name: str) -> TableT:
            return app.Table(f"alert-{name}", default=None, partitions=settings.partitions, key_type=str)

        self.articles = StageLoop(STAGE, topics.deadletter)
        self.messages = StageLoop(STAGE, topics.deadletter, counts=())  # signals, digests' alerts, ticks: not articles
        self.live = install_live_rules(app, topics, settings)
        self.delivery = Delivery(app, topics, settings, STAGE)
        # Keyed by story ("{rule}:{story}" for the throttle) like the tagged topic: a story's entries live on its
        # partition. `stories` holds what each story told so far: developments alert on new facts only.
        self.admission = Admission(AlertThrottle(table("throttle")))
        self.stories = StoryFacts(table("story-facts"))
        self.sweep = StorySweep(self.stories, settings.partitions, settings.dedup_retention_hours * 3600)
        self.ledger = AlertLedger(table("deliveries"))
        self.digests = PartitionDigests(table("digests"), settings.partitions)  # keyed by rule, like its topic

    async def on_article(self, tagged: TaggedArticle, event: EventT) -> list[Alert]:
        """The alerts of `tagged` that went somewhere."""
        rules, rule_by_id = self.live.current, self.live.by_id  # this article's rules, whatever reloads meanwhile
        with self.articles.timer():
            at = article_time(tagged.article).timestamp()
            self.sweep.sweep(event.message.partition, at, time.monotonic())
            raised = self.admission.admitted(alerts_for(tagged, rules, self.stories, now=time.time()), rule_by_id, at)
        return await self.delivery.deliver(self.ledger, raised, rule_by_id)

    async def on_signal(self, signal: EntitySignal, event: EventT) -> list[Alert]:
        """The alert of a cross-story signal, if its rule still wants it and lets it through."""
        rule = self.live.by_id.get(signal.rule_id)
        if rule is None or signal.trigger not in rule.triggers:  # changed or removed since it fired
            return []
        rule_by_id, raised = {rule.id: rule}, [signal_alert(signal, rule, now=time.time())]
        raised = self.admission.admitted(raised, rule_by_id, parse_time(signal.seen).timestamp())
        return await self.delivery.deliver(self.ledger, raised, rule_by_id)

    async def on_digest_topic(self, record: Alert | DigestTick, event: EventT) -> list[Alert]:
        """An alert is kept for its rule's digest; a tick sends the digests due on its partition."""
        if isinstance(record, Alert):
            self.digests.add(record, time.time())
            return []
        return await self.digests.send_due(event.message.partition, self.live.by_id, time.time(),
                                           partial(self.delivery.deliver_digest, self.ledger))


def install(app: faust.App, topics: Topics, settings: Settings) -> faust.types.AgentT:
    """Register the alert agents on `app`, following the rules of the file and the rules topic (`agents.alert.live`).

    The `alert` agent yields, per tagged article, the alerts it delivered somewhere (often none) or the article's
    dead letter. Delivery is at-least-once per sink (`AlertLedger`): a replay re-sends only what a sink lacks.
    """
    initialise_labels(STAGE)
    stage = AlertStage(app, topics, settings)

    @app.agent(topics.tagged, name=STAGE)
    async def alert(stream: StreamT[bytes]) -> AsyncIterator[list[Alert] | DeadLetter]:
        async for outcome in stage.articles.each(stream, TaggedArticle, stage.on_article):
            yield outcome

    @app.agent(topics.alert_signals, name=f"{STAGE}-signals")
    async def alert_on_signals(stream: StreamT[bytes]) -> AsyncIterator[list[Alert] | DeadLetter]:
        """The alerts of the entities stage's cross-story signals (surge, first co-mention), delivered the same way."""
        async for outcome in stage.messages.each(stream, EntitySignal, stage.on_signal):
            yield outcome

    @app.agent(topics.alert_digest, name=f"{STAGE}-digest")
    async def digest(stream: StreamT[bytes]) -> AsyncIterator[list[Alert] | DeadLetter]:
        """Keeps digest rules' alerts per rule; on each tick, sends the digests that are due to the rules' channels."""
        async for outcome in stage.messages.each(stream, (Alert, DigestTick), stage.on_digest_topic):
            yield outcome

    @app.timer(DIGEST_TICK_SECONDS)
    async def tick_digests() -> None:
        """A tick to every partition of the digest topic while any rule has a digest (see `DigestTick`)."""
        if any(rule.digest for rule in stage.live.current):
            for partition in range(settings.partitions):
                await topics.alert_digest.send(value=DigestTick(at=time.time()), partition=partition)

    return alert
