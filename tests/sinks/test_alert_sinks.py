"""The alert agent delivering to every channel a rule names: Slack, e-mail and the alert stream on real local servers.

The agent runs in `agent.test_context()` with in-memory channels for its topics; its web server is the Faust app's
own, started for the test, so `GET /alerts/stream` is read over HTTP as a client would.
"""
from __future__ import annotations

import base64
import logging
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from prometheus_client import REGISTRY

from agents.rules.ruleset import CHANNELS
from agents.sinks.channels import SWITCHES
from agents.sinks.console import format_alert
from agents.sinks.email import alert_text
from agents.sinks.slack import slack_message
from agents.sinks.sse import PATH, AlertStream
from streams.records import Alert, CleanArticle, DeadLetter, DedupVerdict, EntityMention, TaggedArticle
from streams.settings import Settings
from streams.topics import TOPIC_SPECS
from tests.conftest import stage_app
from tests.sink_fixtures import Client, Mailbox, Receiver, full_alert, serving, smtp_serving
from wirewatch.embedded_broker import free_port

RULES = """rules:
  - id: everywhere
    description: Kim Jong Un in the news
    when: {entities: [Kim Jong Un]}
    triggers: [new_story]
    channels: [topic, sse, slack, email]
  - id: stream-only
    description: Kim Jong Un, on the alert stream only
    when: {entities: [Kim Jong Un]}
    triggers: [new_story]
    channels: [sse]
"""


def tagged_korea_story() -> TaggedArticle:
    title, text = "Kim agrees to meet", "North Korea's leader Kim Jong Un agreed to meet on Sunday."
    start = len(title) + 2 + text.index("Kim Jong Un")
    body = CleanArticle(id="k1", title=title, paragraphs=[text], source="Wire", ingested_at=1.0,
                        url="https://wire.example/k1")
    mention = EntityMention(start=start, end=start + 11, text="Kim Jong Un", label="PERSON", canonical="Kim Jong Un")
    return TaggedArticle(article=body, verdict=DedupVerdict(kind="new", story_id="k1"), entities=[mention])


@dataclass
class Running:
    """The alert agent in its test context, what it sends to its topics, and the servers it delivers to."""

    agent: Any
    outputs: dict[str, Any]
    slack: Receiver
    mailbox: Mailbox
    stream_url: str

    async def sent(self, role: str, timeout: float = 5.0) -> Any:
        return (await self.outputs[role].get(timeout=timeout)).value

    def nothing_sent(self, role: str) -> bool:
        return self.outputs[role].queue.empty()


@asynccontextmanager
async def alert_worker(tmp_path: Path, rules: str = RULES, mailbox: Mailbox | None = None,
                       **settings: Any) -> AsyncIterator[Running]:
    """The alert stage with Slack and e-mail pointed at local servers and its web server on a free port."""
    (tmp_path / "rules.yaml").write_text(rules, encoding="utf-8")
    slack, mailbox = Receiver(), mailbox or Mailbox()
    async with AsyncExitStack() as stack:
        slack_url = await stack.enter_async_context(serving(slack, "/services/T1/B2/secret"))
        smtp_port = stack.enter_context(smtp_serving(mailbox))
        options: dict[str, Any] = {"slack_webhook_url": slack_url, "smtp_host": "127.0.0.1", "smtp_port": smtp_port,
                                   "smtp_from": "wirewatch@example.com", "smtp_to": "desk@example.com",
                                   "webhook_retries": 2}
        config = Settings.from_env({}, rules_file=tmp_path / "rules.yaml", web_port=free_port(),
                                   **{**options, **settings})
        app, topics, agent = stage_app("alert", config)
        outputs = {role: getattr(topics, role).__aiter__() for role in TOPIC_SPECS}
        await app.web.start()
        stack.push_async_callback(app.web.stop)
        running = await stack.enter_async_context(agent.test_context())
        yield Running(running, outputs, slack, mailbox, f"http://127.0.0.1:{config.web_port}{PATH}")


async def test_each_channel_a_rule_names_gets_its_alert_once(tmp_path: Path) -> None:
    async with alert_worker(tmp_path) as worker, aiohttp.ClientSession() as session, \
            session.get(worker.stream_url) as stream:
            events = Client(stream)
            assert (await events.next()).comment == "wirewatch alerts"  # subscribed from here on
            await worker.agent.put(tagged_korea_story().dumps())
            raised = worker.agent.results[0]
            assert [a.rule_id for a in raised] == ["everywhere", "stream-only"]
            keys = {a.rule_id: a.idempotency_key for a in raised}

            on_topic = await worker.sent("alerts")
            assert isinstance(on_topic, Alert) and on_topic.rule_id == "everywhere"
            assert worker.nothing_sent("alerts")  # stream-only names no topic or console
            assert [orjson.loads(body)["text"] for _, body in worker.slack.requests] == [
                "[wirewatch] everywhere: Kim agrees to meet"]
            assert worker.slack.requests[0][0]["Idempotency-Key"] == keys["everywhere"]
            [message] = worker.mailbox.messages
            assert message["Subject"] == "[wirewatch] everywhere: Kim agrees to meet"
            assert message["X-Wirewatch-Idempotency-Key"] == keys["everywhere"]
            assert [(event.id, orjson.loads(event.data or "")["rule_id"]) for event in await events.alerts(2)] == [
                (keys["everywhere"], "everywhere"), (keys["stream-only"], "stream-only")]

            await worker.agent.put(tagged_korea_story().dumps())  # a replay: every sink has it already
            assert worker.agent.results[1] == []
            assert worker.nothing_sent("alerts") and worker.nothing_sent("deadletter")
            assert len(worker.slack.requests) == 1 and len(worker.mailbox.received) == 1


async def test_a_channel_that_gives_up_dead_letters_the_alert_and_the_others_still_get_it(tmp_path: Path) -> None:
    refusing = Mailbox(data_replies=["550 5.7.1 relaying denied"])
    async with alert_worker(tmp_path, mailbox=refusing) as worker:
        await worker.agent.put(tagged_korea_story().dumps())
        letter = await worker.sent("deadletter")
        assert isinstance(letter, DeadLetter)
        assert (letter.stage, letter.reason) == ("alert", "email_rejected")
        assert "email gave up after 1 attempts: rejected SMTP 550" in letter.error
        assert orjson.loads(base64.b64decode(letter.original_b64))["rule_id"] == "everywhere"
        assert (await worker.sent("alerts")).rule_id == "everywhere"
        assert len(worker.slack.requests) == 1 and refusing.attempts == 1

        await worker.agent.put(tagged_korea_story().dumps())  # the dead-letter topic has it: not sent again
        assert worker.nothing_sent("deadletter") and refusing.attempts == 1


def deliveries_timed(sink: str) -> tuple[float, float]:
    """How many deliveries `sink` timed in `wirewatch_alert_delivery_seconds`, and their total seconds."""
    labels = {"sink": sink}
    return (REGISTRY.get_sample_value("wirewatch_alert_delivery_seconds_count", labels) or 0.0,
            REGISTRY.get_sample_value("wirewatch_alert_delivery_seconds_sum", labels) or 0.0)


async def test_each_sink_times_its_deliveries_from_the_alert_creation_and_a_refusal_is_not_timed(
        tmp_path: Path) -> None:
    sinks = ("topic", "sse", "slack", "email")
    refusing = Mailbox(data_replies=["550 5.7.1 relaying denied"])
    async with alert_worker(tmp_path, mailbox=refusing) as worker:
        before = {sink: deliveries_timed(sink) for sink in sinks}
        assert all(REGISTRY.get_sample_value("wirewatch_alert_delivery_seconds_count", {"sink": sink}) is not None
                   for sink in sinks)  # exported before the first alert
        await worker.agent.put(tagged_korea_story().dumps())
        await worker.sent("deadletter")
        [created_at] = {alert.created_at for alert in worker.agent.results[0]}
        after = {sink: deliveries_timed(sink) for sink in sinks}
    added = {sink: after[sink][0] - before[sink][0] for sink in sinks}
    assert added == {"topic": 1, "sse": 2, "slack": 1, "email": 0}  # sse: both rules; e-mail was refused
    took = after["slack"][1] - before["slack"][1]
    assert 0 < took <= time.time() - created_at  # from the alert's creation, not from the epoch


async def test_a_slack_outage_is_retried_then_dead_lettered_with_a_bounded_reason(tmp_path: Path) -> None:
    async with alert_worker(tmp_path) as worker:
        worker.slack.script = [(503, {})]
        await worker.agent.put(tagged_korea_story().dumps())
        letter = await worker.sent("deadletter", timeout=10)
        assert letter.reason == "slack_http_503"
        assert len(worker.slack.requests) == 2
        assert len(worker.mailbox.received) == 1  # e-mail comes after Slack and still got it


async def test_a_rule_whose_channels_are_all_off_reaches_the_topic(tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    rules = RULES.replace("channels: [topic, sse, slack, email]", "channels: [slack, email]")
    caplog.set_level(logging.WARNING, logger="agents.alert.agent")
    async with alert_worker(tmp_path, rules, slack_webhook_url="", smtp_host="") as worker:
        for _ in range(2):
            await worker.agent.put(tagged_korea_story().dumps())
        assert (await worker.sent("alerts")).rule_id == "everywhere"
        assert worker.slack.requests == [] and worker.mailbox.received == []
    warnings = [r for r in caplog.records if r.getMessage().startswith("rule wants channels that are off")]
    assert len(warnings) == 1  # once, not per article
    assert warnings[0].__dict__["off"] == {"email": "WIREWATCH_SMTP_HOST is empty",
                                           "slack": "WIREWATCH_SLACK_WEBHOOK_URL is empty"}


def test_every_channel_of_the_rule_language_has_a_sink() -> None:
    assert set(SWITCHES) | {AlertStream.name, "topic", "console"} == set(CHANNELS)


def test_a_cross_story_alert_says_why_now_in_every_channel() -> None:
    surge = full_alert(trigger="surge", verdict="", new_sentences=[], matched_keywords=[],
                       detail="Kim Jong Un: 42 mentions in the hour from 07:00 UTC, against a mean of 3.1 per hour")
    message = slack_message(surge)
    assert any("*Why now*\nKim Jong Un: 42 mentions" in b.get("text", {}).get("text", "") for b in message["blocks"])
    assert "surge in mentions" in message["blocks"][0]["text"]["text"]
    assert "Why now: Kim Jong Un: 42 mentions" in alert_text(surge)
    assert "42 mentions in the hour" in format_alert(surge)
    assert "Why now" not in alert_text(full_alert())  # an article's alert has its new sentences instead
