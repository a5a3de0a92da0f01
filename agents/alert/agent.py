"""The alert stage's Faust agent: rules over tagged articles; each alert delivered to each of its sinks once."""
from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator

import faust
import mode
from faust.types import StreamT

from agents.alert.core import AlertLedger, alerts_for
from agents.alert.rules import Rule, load_rules
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

    The agent yields, per tagged article, the alerts it delivered somewhere (often none) or the article's dead
    letter. Delivery is at-least-once per sink (see `AlertLedger`): a replay after a crash re-sends only what a sink
    did not have, with the same idempotency key.
    """
    initialise_labels(STAGE)
    rules = load_rules(settings.rules_file)
    for problem in rules.errors:
        log.error("rule rejected", extra={"problem": str(problem), "rules_file": str(settings.rules_file)})
    log.info("rules loaded", extra={"rules": list(rules.ids), "rules_file": str(settings.rules_file)})
    rule_by_id = {rule.id: rule for rule in rules}
    delivered = app.Table("alert-deliveries", default=None, partitions=settings.partitions, key_type=str,
                          value_type=float)
    webhook = WebhookSink.from_settings(settings) if settings.webhook_url else None
    if webhook is not None:
        @app.service
        class WebhookSession(mode.Service):
            """Closes the webhook's HTTP connections when the worker stops."""

            async def on_stop(self) -> None:
                await webhook.close()

    def sinks(rule: Rule) -> list[str]:
        # The console feed prints what the alerts topic carries, so "console" is served by the topic. A rule whose
        # only channel is missing (webhook without a URL) still reaches the topic rather than nobody.
        wanted = ["webhook"] if webhook is not None and "webhook" in rule.channels else []
        return (["topic"] if rule.channels & {"topic", "console"} or not wanted else []) + wanted

    for rule in rules:
        if "webhook" in rule.channels and webhook is None:
            log.warning("rule wants the webhook but WIREWATCH_WEBHOOK_URL is empty; its alerts go to the topic only",
                        extra={"rule": rule.id})

    @app.agent(topics.tagged, name=STAGE)
    async def alert(stream: StreamT[bytes]) -> AsyncIterator[list[Alert] | DeadLetter]:
        ledger = AlertLedger(delivered)
        async for event in stream.events():
            ARTICLES.labels(STAGE, "in").inc()
            try:
                article = decode_record(event.value, TaggedArticle)
                with stage_timer(STAGE):
                    raised = alerts_for(article, rules, now=time.time())
            except Exception as error:  # noqa: BLE001 — one failing article is dead-lettered, never fatal
                yield await send_dead_letter(topics.deadletter, STAGE, event.value, error, event.message)
                continue
            sent = []
            try:
                for item in raised:
                    pending = ledger.pending(item, sinks(rule_by_id[item.rule_id]))
                    for sink in pending:
                        await _deliver(item, sink)
                        ledger.mark_delivered(item, sink, time.time())
                    if pending:
                        sent.append(item)
            except Exception as error:  # noqa: BLE001 — what was delivered is in the ledger; a replay sends the rest
                yield await send_dead_letter(topics.deadletter, STAGE, event.value, error, event.message)
                continue
            ARTICLES.labels(STAGE, "out").inc()
            yield sent

    async def _deliver(item: Alert, sink: str) -> None:
        if sink == "topic":
            await topics.alerts.send(key=item.idempotency_key.encode(), value=item)
            ALERTS.labels(item.rule_id, "topic", "delivered").inc()
            if item.ingested_at:
                END_TO_END_SECONDS.observe(max(time.time() - item.ingested_at, 0.0))
            return
        assert webhook is not None
        result = await webhook.deliver(item)
        if not result.delivered:  # the dead-letter topic takes it over: replay it from there
            error = BadInput(f"webhook_{result.reason}", f"webhook gave up after {result.attempts} attempts: "
                             f"{result.reason} {result.detail}".strip())
            await send_dead_letter(topics.deadletter, STAGE, item.dumps(), error, counts_article=False)

    return alert
