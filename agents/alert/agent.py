"""The alert stage's Faust agent: rules over tagged articles; each alert recorded, then sent to its channels."""
from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator

import faust
from faust.types import StreamT

from agents.alert.core import AlertLedger, alerts_for
from agents.alert.rules import load_rules
from agents.sinks.webhook import WebhookSink
from streams.deadletter import BadInput, send_dead_letter
from streams.metrics import ALERTS, ARTICLES, END_TO_END_SECONDS, initialise_labels, stage_timer
from streams.raw import decode_record
from streams.records import Alert, DeadLetter, TaggedArticle
from streams.settings import Settings
from streams.topics import Topics

STAGE = "alert"
log = logging.getLogger(__name__)


def install(app: faust.App, topics: Topics, settings: Settings) -> faust.types.AgentT:
    """Register the alert agent on `app`; rules load once at start, invalid ones are logged and left out.

    The agent yields, per tagged article, the alerts it raised (often none) or the article's dead letter.
    """
    initialise_labels(STAGE)
    rules = load_rules(settings.rules_file)
    for problem in rules.errors:
        log.error("rule rejected", extra={"problem": str(problem), "rules_file": str(settings.rules_file)})
    log.info("rules loaded", extra={"rules": list(rules.ids), "rules_file": str(settings.rules_file)})
    # Idempotency key → first time raised. Written before any delivery: a replay after a crash finds it and
    # sends nothing twice (at-least-once delivery for the alert that was in flight).
    sent = app.Table("alert-ledger", default=None, partitions=settings.partitions, key_type=str, value_type=float)
    webhook = WebhookSink.from_settings(settings) if settings.webhook_url else None

    @app.agent(topics.tagged, name=STAGE)
    async def alert(stream: StreamT[bytes]) -> AsyncIterator[list[Alert] | DeadLetter]:
        ledger = AlertLedger(sent)
        async for event in stream.events():
            ARTICLES.labels(STAGE, "in").inc()
            try:
                article = decode_record(event.value, TaggedArticle)
                with stage_timer(STAGE):
                    raised = [a for a in alerts_for(article, rules, now=time.time()) if ledger.first_time(a)]
            except Exception as error:  # noqa: BLE001 — one failing article is dead-lettered, never fatal
                yield await send_dead_letter(topics.deadletter, STAGE, event.value, error, event.message)
                continue
            for item in raised:
                await _deliver(item)
            ARTICLES.labels(STAGE, "out").inc()
            yield raised

    async def _deliver(item: Alert) -> None:
        channels = next(rule.channels for rule in rules if rule.id == item.rule_id)
        if "topic" in channels or "console" in channels:  # the feed prints what the alerts topic carries
            await topics.alerts.send(key=item.idempotency_key.encode(), value=item)
            ALERTS.labels(item.rule_id, "topic", "delivered").inc()
        if item.ingested_at:
            END_TO_END_SECONDS.observe(max(time.time() - item.ingested_at, 0.0))
        if webhook is not None and "webhook" in channels:
            result = await webhook.deliver(item)
            if not result.delivered:
                error = BadInput(f"webhook_{result.reason}", f"webhook gave up after {result.attempts} attempts: "
                                 f"{result.reason} {result.detail}".strip())
                await send_dead_letter(topics.deadletter, STAGE, item.dumps(), error)

    return alert
