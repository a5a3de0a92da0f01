"""The alert stage's Faust agent: rules over tagged articles; each alert delivered to each of its sinks once."""
from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator

import faust
import mode
from faust.types import StreamT

from agents.alert.core import AlertLedger, AlertThrottle, alerts_for, signal_alert
from agents.alert.digest import Digests
from agents.alert.facts import StoryFacts, stale_stories
from agents.alert.live import install_live_rules
from agents.alert.rules import Rule
from agents.sinks.channels import SWITCHES, configured_sinks
from agents.sinks.sink import DELIVERED, Sink, count_delivery
from agents.sinks.sse import AlertStream, install_alert_stream
from streams.deadletter import BadInput, send_dead_letter
from streams.metrics import ALERTS, ARTICLES, END_TO_END_SECONDS, initialise_labels, stage_timer
from streams.raw import decode_record
from streams.records import Alert, DeadLetter, DigestTick, EntitySignal, TaggedArticle
from streams.settings import Settings
from streams.times import article_time, parse_time
from streams.topics import Topics, key_partition

STAGE = "alert"
STORY_EXPIRY_SECONDS = 600.0  # how often stale stories leave the story-facts table
DIGEST_TICK_SECONDS = 5.0  # how often due digests are looked for: a digest is late by at most this
log = logging.getLogger(__name__)


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
    # Delivery order: the alerts topic (the record every other channel can be replayed from), then these.
    stream = AlertStream(settings.sse_buffer)
    install_alert_stream(app, stream, settings.sse_heartbeat)
    channels: dict[str, Sink] = {stream.name: stream, **configured_sinks(settings)}

    @app.service
    class SinkConnections(mode.Service):
        """Closes the sinks' connections and ends the alert streams when the worker stops."""

        async def on_stop(self) -> None:
            for sink in channels.values():
                await sink.close()

    warned: set[tuple[str, frozenset[str]]] = set()  # (rule, channels) told about channels that are off

    def sinks(rule: Rule) -> list[str]:
        # The console feed prints what the alerts topic carries, so "console" is served by the topic. A rule whose
        # channels are all off (webhook without a URL) still reaches the topic rather than nobody.
        wanted = [name for name in channels if name in rule.channels]
        off = sorted(rule.channels - channels.keys() - {"topic", "console"})
        if off and (rule.id, rule.channels) not in warned:  # once per rule, again if a reload changes its channels
            warned.add((rule.id, rule.channels))
            log.warning("rule wants channels that are off; its alerts go to its other channels (the topic at least)",
                        extra={"rule": rule.id, "off": {name: f"{SWITCHES.get(name, 'its setting')} is empty"
                                                        for name in off}})
        return (["topic"] if rule.channels & {"topic", "console"} or not wanted else []) + wanted

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
                sent = await deliver(ledger, raised, rule_by_id)
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
                sent = await deliver(ledger, raised, {rule.id: rule})
            except Exception as error:  # noqa: BLE001 — one failing signal is dead-lettered, never fatal
                yield await send_dead_letter(topics.deadletter, STAGE, event.value, error, event.message,
                                             counts_article=False)
                continue
            yield sent

    async def deliver(ledger: AlertLedger, raised: list[Alert], rule_by_id: dict[str, Rule]) -> list[Alert]:
        """Each alert to each of its rule's sinks that lacks it; the alerts that went somewhere.

        A digest rule's alerts go to the topic now and to the digest agent for its other channels.
        """
        sent = []
        for item in raised:
            rule = rule_by_id[item.rule_id]
            targets = sinks(rule)
            if rule.digest:
                targets = [s for s in targets if s == "topic"] + (["digest"] if set(targets) - {"topic"} else [])
            if await deliver_to(ledger, item, targets):
                sent.append(item)
        return sent

    async def deliver_to(ledger: AlertLedger, item: Alert, targets: list[str]) -> bool:
        """`item` to each of `targets` the ledger says lacks it, attempt and delivery recorded; False if none did."""
        pending = ledger.pending(item, targets)
        for sink in pending:
            if ledger.attempting(item, sink, time.time()):
                ALERTS.labels(item.rule_id, sink, "redelivered").inc()
                log.warning("redelivering an alert whose delivery was interrupted",
                            extra={"rule": item.rule_id, "sink": sink, "key": item.idempotency_key[:12]})
            await _deliver(item, sink)
            ledger.mark_delivered(item, sink, time.time())
        return bool(pending)

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
                await deliver_to(ledger, summary, [s for s in sinks(live.by_id[rule_id]) if s != "topic"])
                sent.append(summary)
            digests.sent(rule_id)
        return sent

    @app.timer(DIGEST_TICK_SECONDS)
    async def tick_digests() -> None:
        """A tick to every partition of the digest topic while any rule has a digest (see `DigestTick`)."""
        if any(rule.digest for rule in live.current):
            for partition in range(settings.partitions):
                await topics.alert_digest.send(value=DigestTick(at=time.time()), partition=partition)

    async def _deliver(item: Alert, sink: str) -> None:
        if sink == "digest":
            await topics.alert_digest.send(key=item.rule_id.encode(), value=item)
            return
        if sink == "topic":
            await topics.alerts.send(key=item.idempotency_key.encode(), value=item)
            count_delivery(item, "topic", DELIVERED)
            if item.ingested_at:
                END_TO_END_SECONDS.observe(max(time.time() - item.ingested_at, 0.0))
            return
        result = await channels[sink].deliver(item)
        if not result.delivered:  # the dead-letter topic takes it over: replay it from there
            error = BadInput(f"{sink}_{result.reason}", f"{sink} gave up after {result.attempts} attempts: "
                             f"{result.reason} {result.detail}".strip())
            await send_dead_letter(topics.deadletter, STAGE, item.dumps(), error, counts_article=False)

    return alert
