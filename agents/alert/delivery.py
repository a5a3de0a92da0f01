"""Where an alert worker's alerts go: the alerts topic, a digest rule's digest topic and the configured sinks.

Each alert reaches each of its rule's sinks once (`AlertLedger`: the attempt is written before a sink is tried, the
delivery once it accepted); a sink that gives up hands the alert to the dead-letter topic.
"""
from __future__ import annotations

import logging
import time

import faust
import mode

from agents.alert.core import AlertLedger
from agents.rules.ruleset import Rule
from agents.sinks.channels import SWITCHES, configured_sinks
from agents.sinks.sink import DELIVERED, Sink, count_delivery
from agents.sinks.sse import AlertStream, install_alert_stream
from streams.deadletter import BadInput, send_dead_letter
from streams.metrics import ALERT_DELIVERY_SECONDS, ALERTS, END_TO_END_SECONDS
from streams.records import Alert
from streams.settings import Settings
from streams.topics import Topics

DIGEST_SINK = "digest"  # a digest rule's alerts go to the digest topic, on the way to the rule's digest
log = logging.getLogger(__name__)


class Delivery:
    """The alert worker's sinks (the SSE stream on its web server, and those the settings switch on)."""

    def __init__(self, app: faust.App, topics: Topics, settings: Settings, stage: str) -> None:
        self.topics, self.stage = topics, stage
        stream = AlertStream(settings.sse_buffer)
        install_alert_stream(app, stream, settings.sse_heartbeat)
        self.channels: dict[str, Sink] = {stream.name: stream, **configured_sinks(settings)}
        for sink in ("topic", *self.channels):  # exported before the first alert
            ALERT_DELIVERY_SECONDS.labels(sink)
        self._warned: set[tuple[str, frozenset[str]]] = set()  # (rule, channels) told about channels that are off
        channels = self.channels

        @app.service
        class SinkConnections(mode.Service):
            """Closes the sinks' connections and ends the alert streams when the worker stops."""

            async def on_stop(self) -> None:
                for sink in channels.values():
                    await sink.close()

    def sinks(self, rule: Rule) -> list[str]:
        """The rule's sinks in delivery order: the alerts topic first (what every other one can be replayed from).

        The console feed prints what the alerts topic carries, so "console" is served by the topic. A rule whose
        channels are all off (webhook without a URL) still reaches the topic rather than nobody.
        """
        wanted = [name for name in self.channels if name in rule.channels]
        off = sorted(rule.channels - self.channels.keys() - {"topic", "console"})
        if off and (rule.id, rule.channels) not in self._warned:  # once per rule, again if a reload changes them
            self._warned.add((rule.id, rule.channels))
            log.warning("rule wants channels that are off; its alerts go to its other channels (the topic at least)",
                        extra={"rule": rule.id, "off": {name: f"{SWITCHES.get(name, 'its setting')} is empty"
                                                        for name in off}})
        return (["topic"] if rule.channels & {"topic", "console"} or not wanted else []) + wanted

    async def deliver(self, ledger: AlertLedger, raised: list[Alert], rule_by_id: dict[str, Rule]) -> list[Alert]:
        """Each alert to each of its rule's sinks that lacks it; the alerts that went somewhere.

        A digest rule's alerts go to the topic now and to the digest agent for its other channels.
        """
        sent = []
        for item in raised:
            rule = rule_by_id[item.rule_id]
            targets = self.sinks(rule)
            if rule.digest:
                targets = [s for s in targets if s == "topic"] + ([DIGEST_SINK] if set(targets) - {"topic"} else [])
            if await self.deliver_to(ledger, item, targets):
                sent.append(item)
        return sent

    async def deliver_digest(self, ledger: AlertLedger, digest: Alert, rule: Rule) -> None:
        """A digest to its rule's channels but the topic, which had each of its alerts."""
        await self.deliver_to(ledger, digest, [sink for sink in self.sinks(rule) if sink != "topic"])

    async def deliver_to(self, ledger: AlertLedger, item: Alert, targets: list[str]) -> bool:
        """`item` to each of `targets` the ledger says lacks it, attempt and delivery recorded; False if none did."""
        pending = ledger.pending(item, targets)
        for sink in pending:
            if ledger.attempting(item, sink, time.time()):
                ALERTS.labels(item.rule_id, sink, "redelivered").inc()
                log.warning("redelivering an alert whose delivery was interrupted",
                            extra={"rule": item.rule_id, "sink": sink, "key": item.idempotency_key[:12]})
            await self._send(item, sink)
            ledger.mark_delivered(item, sink, time.time())
        return bool(pending)

    async def _send(self, item: Alert, sink: str) -> None:
        # A topic counts as delivered once the broker has the record, not once the producer buffered it.
        if sink == DIGEST_SINK:
            await (await self.topics.alert_digest.send(key=item.rule_id.encode(), value=item))
            return
        if sink == "topic":
            await (await self.topics.alerts.send(key=item.idempotency_key.encode(), value=item))
            count_delivery(item, "topic", DELIVERED)
            if item.ingested_at:
                END_TO_END_SECONDS.observe(max(time.time() - item.ingested_at, 0.0))
            return
        result = await self.channels[sink].deliver(item)
        if not result.delivered:  # the dead-letter topic takes it over: replay it from there
            error = BadInput(f"{sink}_{result.reason}", f"{sink} gave up after {result.attempts} attempts: "
                             f"{result.reason} {result.detail}".strip())
            await send_dead_letter(self.topics.deadletter, self.stage, item.dumps(), error, counts_article=False)
