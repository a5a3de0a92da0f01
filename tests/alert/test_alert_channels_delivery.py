"""Issue 6's channels end to end: a real alert worker process delivers the seed alerts to a local Slack-compatible
webhook, a local SMTP server and a client of its `GET /alerts/stream`, each alert once, under the same key."""
from __future__ import annotations

import asyncio
import signal
import time
from contextlib import AsyncExitStack
from pathlib import Path

import aiohttp
import orjson
import pytest

from agents.ingest.producer import ingest_paths
from agents.sinks.sse import PATH
from streams.settings import Settings
from tests.kafka_io import read_topic
from tests.sink_fixtures import SEED_ALERTS, SEED_TRIGGERS, Client, Mailbox, Receiver, serving, smtp_serving

pytestmark = pytest.mark.integration  # the example rule names no channels, so it wants every one
SLACK_PATH = "/services/T0001/B0002/xoxsecret"


async def open_stream(session: aiohttp.ClientSession, url: str, deadline: float) -> Client:
    """The alert stream of a worker, once its web server answers."""
    while True:
        try:
            response = await session.get(url)
            client = Client(response)
            assert (await client.next()).comment == "wirewatch alerts"
            return client
        except aiohttp.ClientConnectionError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.3)


async def test_seed_alerts_reach_slack_email_and_the_stream(spawn_worker, pipeline_settings: Settings,
                                                            seed_paths: list[Path]) -> None:
    slack, mailbox = Receiver(), Mailbox(data_replies=["451 4.3.0 try again", "250 OK"])  # the first mail retried
    deadline = time.monotonic() + 120
    async with AsyncExitStack() as stack:
        slack_url = await stack.enter_async_context(serving(slack, SLACK_PATH))
        smtp_port = stack.enter_context(smtp_serving(mailbox))
        session = await stack.enter_async_context(aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, sock_read=120)))
        for stage in ("clean", "dedup", "tag"):
            spawn_worker(stage, pipeline_settings)
        worker = spawn_worker("alert", pipeline_settings, WIREWATCH_SLACK_WEBHOOK_URL=slack_url,
                              WIREWATCH_SMTP_HOST="127.0.0.1", WIREWATCH_SMTP_PORT=str(smtp_port),
                              WIREWATCH_SMTP_FROM="wirewatch@example.com", WIREWATCH_SMTP_TO="desk@example.com",
                              WIREWATCH_WEBHOOK_RETRIES="3")
        stream = await open_stream(session, f"http://127.0.0.1:{worker.web_port}{PATH}", deadline)
        await ingest_paths(seed_paths, pipeline_settings)

        events = await stream.alerts(SEED_ALERTS, timeout=deadline - time.monotonic())
        alerts = await read_topic(pipeline_settings, "alerts", SEED_ALERTS, timeout=deadline - time.monotonic())
        keys = {a["idempotency_key"] for a in alerts}
        assert len(keys) == SEED_ALERTS
        assert {event.id for event in events} == keys  # the stream and the topic carry the same alerts
        assert [orjson.loads(event.data or "")["trigger"] for event in events] == [
            *SEED_TRIGGERS]

        while (len(slack.requests) < SEED_ALERTS or len(mailbox.received) < SEED_ALERTS) and \
                time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        assert {headers["Idempotency-Key"] for headers, _ in slack.requests} == keys
        assert len(slack.requests) == SEED_ALERTS  # each once: Slack answered 200 every time
        assert all(orjson.loads(body)["text"].startswith("[wirewatch] korea-summit: ") for _, body in slack.requests)
        assert {message["X-Wirewatch-Idempotency-Key"] for message in mailbox.messages} == keys
        assert mailbox.attempts == SEED_ALERTS + 1 and len(mailbox.received) == SEED_ALERTS  # the 451 was retried
        assert all(message["Subject"].startswith("[wirewatch] korea-summit: ") for message in mailbox.messages)

        # A worker with a client still streaming stops promptly, and its log never shows the Slack token.
        started = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        await asyncio.to_thread(worker.wait, 30)
        assert time.monotonic() - started < 20
        with pytest.raises((EOFError, aiohttp.ClientPayloadError)):
            while True:
                await stream.next()
    log = Path(worker.log_path).read_text(encoding="utf-8", errors="replace")
    assert "attempt 1/3 failed" in log  # the retried e-mail: this is the log of the worker that delivered
    assert "xoxsecret" not in log and "/services/" not in log
