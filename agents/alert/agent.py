"""The alert stage's Faust agents: rules over tagged articles (`alert`), over the entities stage's cross-story signals
(`alert-signals`), and digest rules' batches (`alert-digest`); each alert reaches each of its sinks once."""
from __future__ import annotations

import time
from collections.abc import AsyncIterator

import faust
from faust.types import StreamT

from agents.alert.core import AlertLedger, AlertThrottle, alerts_for, signal_alert
from agents.alert.delivery import Delivery
from agents.alert.digest import Digests
from agents.alert.facts import StoryFacts, stale_stories
from agents.alert.live import install_live_rules
from agents.rules.ruleset import Rule
from streams.deadletter import send_dead_letter
from streams.metrics import ALERTS, ARTICLES, initialise_labels, stage_timer
from streams.raw import decode_record
from streams.records import Alert, DeadLetter, DigestTick, EntitySignal, TaggedArticle
from streams.settings import Settings
from streams.times import article_time, parse_time
from streams.topics import Topics, key_partition

STAGE = "alert"
STORY_EXPIRY_SECONDS = 600.0  # how often stale stories leave the story-facts table
DIGEST_TICK_SECONDS = 5.0  # how often due digests are looked for: a digest is late by at most this


def install(app: faust.App, topics: Topics, settings: Settings) -> faust.types.AgentT:
    """Register the alert agent on `app`; rules come from the file (re-read when it changes) and the rules topic,
    invalid ones are logged and left out (see `agents.alert.live`).

    The agent yields, per tagged article, the alerts it delivered somewhere (often none) or the article's dead
    letter. Delivery is at-least-once per sink (see `AlertLedger`): a replay after a crash re-sends only what a sink
    did not have, with the same idempotency key.
    """
    initialise_labels(STAGE)
    live = install_live_rules(app, topics, settings)

    # Keyed "{rule}:{story}"; the tagged topic is keyed by story, so a story's entries live on its partition.
    throttled = app.Table("alert-throttle", default=None, partitions=settings.partitions, key_type=str)

    def admitted(throttle: AlertThrottle, item: Alert, rule: Rule, at: float) -> bool:
        if throttle.admit(item, rule, at):
            return True
        ALERTS.labels(item.rule_id, "all", "throttled").inc()
        return False

    # What each story told so far (keyed by story, like the tagged topic): developments alert only on new facts.
    story_facts = app.Table("alert-story-facts", default=None, partitions=settings.partitions, key_type=str)
    swept: dict[int, float] = {}  # partition → when its stale stories were last dropped (monotonic)

    def forget_stale_stories(stories: StoryFacts, partition: int, newest: float) -> None:
        """Drop this partition's stories dedup no longer links articles to, every STORY_EXPIRY_SECONDS.

        Table writes must come from the stream, so the sweep runs on an event of the partition it cleans.
        """
        if time.monotonic() - swept.get(partition, -STORY_EXPIRY_SECONDS) < STORY_EXPIRY_SECONDS:
            return
        swept[partition] = time.monotonic()
        own = ((story_id, entry) for story_id, entry in list(story_facts.items())
               if key_partition(story_id, settings.partitions) == partition)
        for story_id in stale_stories(own, newest, settings.dedup_retention_hours * 3600):
            stories.forget(story_id)

    delivered = app.Table("alert-deliveries", default=None, partitions=settings.partitions, key_type=str)
    delivery = Delivery(app, topics, settings, STAGE)

    @app.agent(topics.tagged, name=STAGE)
    async def alert(stream: StreamT[bytes]) -> AsyncIterator[list[Alert] | DeadLetter]:
        ledger = AlertLedger(delivered)
        throttle = AlertThrottle(throttled)
        stories = StoryFacts(story_facts)
        async for event in stream.events():
            ARTICLES.labels(STAGE, "in").inc()
            try:
                article = decode_record(event.value, TaggedArticle)
                with stage_timer(STAGE):
                    rules, rule_by_id = live.current, live.by_id  # this article's rules, whatever reloads meanwhile
                    at = article_time(article.article).timestamp()
                    forget_stale_stories(stories, event.message.partition, at)
                    raised = [item for item in alerts_for(article, rules, stories, now=time.time())
                              if admitted(throttle, item, rule_by_id[item.rule_id], at)]
            except Exception as error:  # noqa: BLE001 — one failing article is dead-lettered, never fatal
                yield await send_dead_letter(topics.deadletter, STAGE, event.value, error, event.message)
                continue
            try:
                sent = await delivery.deliver(ledger, raised, rule_by_id)
            except Exception as error:  # noqa: BLE001 — what was delivered is in the ledger; a replay sends the rest
                yield await send_dead_letter(topics.deadletter, STAGE, event.value, error, event.message)
                continue
            ARTICLES.labels(STAGE, "out").inc()
            yield sent

    @app.agent(topics.alert_signals, name=f"{STAGE}-signals")
    async def alert_on_signals(stream: StreamT[bytes]) -> AsyncIterator[list[Alert] | DeadLetter]:
        """The alerts of the entities stage's cross-story signals (surge, first co-mention), delivered the same way."""
        ledger = AlertLedger(delivered)
        throttle = AlertThrottle(throttled)
        async for event in stream.events():
            try:
                signal = decode_record(event.value, EntitySignal)
                rule = live.by_id.get(signal.rule_id)
                if rule is None or signal.trigger not in rule.triggers:  # changed or removed since it fired
                    yield []
                    continue
                item = signal_alert(signal, rule, now=time.time())
                raised = [item] if admitted(throttle, item, rule, parse_time(signal.seen).timestamp()) else []
                sent = await delivery.deliver(ledger, raised, {rule.id: rule})
            except Exception as error:  # noqa: BLE001 — one failing signal is dead-lettered, never fatal
                yield await send_dead_letter(topics.deadletter, STAGE, event.value, error, event.message,
                                             counts_article=False)
                continue
            yield sent

    waiting = app.Table("alert-digests", default=None, partitions=settings.partitions, key_type=str)

    @app.agent(topics.alert_digest, name=f"{STAGE}-digest")
    async def digest(stream: StreamT[bytes]) -> AsyncIterator[list[Alert] | DeadLetter]:
        """Keeps digest rules' alerts per rule; on each tick, sends the digests that are due to the rules' channels."""
        ledger, digests = AlertLedger(delivered), Digests(waiting)
        async for event in stream.events():
            try:
                record = decode_record(event.value, (Alert, DigestTick))
                if isinstance(record, Alert):
                    digests.add(record, time.time())
                    yield []
                    continue
                sent = await send_due_digests(ledger, digests, event.message.partition)
            except Exception as error:  # noqa: BLE001 — one failing message is dead-lettered, never fatal
                yield await send_dead_letter(topics.deadletter, STAGE, event.value, error, event.message,
                                             counts_article=False)
                continue
            yield sent

    async def send_due_digests(ledger: AlertLedger, digests: Digests, partition: int) -> list[Alert]:
        """The due digests of the rules on `partition`, each to its rule's channels but the topic; those sent."""
        def owned(rule_id: str) -> bool:
            return key_partition(rule_id, settings.partitions) == partition

        sent = []
        for rule_id, summary in digests.due(live.by_id, time.time(), owned):
            if summary is not None:  # None: the rule is gone; its alerts are on the alerts topic
                channels = [sink for sink in delivery.sinks(live.by_id[rule_id]) if sink != "topic"]
                await delivery.deliver_to(ledger, summary, channels)
                sent.append(summary)
            digests.sent(rule_id)
        return sent

    @app.timer(DIGEST_TICK_SECONDS)
    async def tick_digests() -> None:
        """A tick to every partition of the digest topic while any rule has a digest (see `DigestTick`)."""
        if any(rule.digest for rule in live.current):
            for partition in range(settings.partitions):
                await topics.alert_digest.send(value=DigestTick(at=time.time()), partition=partition)

    return alert
