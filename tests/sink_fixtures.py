"""What the sink tests share: an alert using every field, scripted HTTP and SMTP servers, a clock that records waits,
and a reader of server-sent events."""
from __future__ import annotations

import asyncio
import email
import email.policy
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import aiohttp
from aiohttp import test_utils, web
from aiosmtpd.controller import Controller
from prometheus_client import REGISTRY

from streams.records import Alert
from wirewatch.embedded_broker import free_port

Reply = tuple[int, dict[str, str]]
# What the example rules raise on the seeds: korea-summit's new story, then the Bloomberg update's new facts (the other
# outlet's copy adds two names, fewer than a development needs).
SEED_TRIGGERS = ["new_story", "new_development"]
SEED_ALERTS = len(SEED_TRIGGERS)


def full_alert(**changes: object) -> Alert:
    """A new-development alert with entities, keywords, five new sentences, its link and its story's earlier one."""
    fields: dict[str, Any] = {
        "idempotency_key": "9e2b" * 16, "rule_id": "korea-summit",
        "description": "Kim Jong Un or North Korea in the news",
        "trigger": "new_development", "story_id": "story-dmz", "article_id": "bloomberg-v2",
        "title": "Trump Invites Kim Jong Un to Meet Him at the DMZ This Weekend", "source": "Bloomberg",
        "url": "https://www.bloomberg.com/news/articles/2019-06-29/trump-kim?srnd=politics&utm=x",
        "verdict": "update", "matched_entities": ["Kim Jong Un", "North Korea"], "matched_keywords": ["summit", "DMZ"],
        "new_sentences": ["Trump said he would be comfortable crossing into North Korea.",
                          "Moon Jae-in said on Sunday the two leaders would meet at 3 p.m.",
                          "\"We'll see,\" Trump said of the offer.",
                          "The meeting would be their third in 12 months.",
                          "Kim's sister, Kim Yo Jong, attended the talks."],
        "story_links": ["https://www.bloomberg.com/news/articles/2019-06-29/trump-kim-v1"],
        "created_at": 1561800001.0, "ingested_at": 1561800000.0}
    fields.update(changes)
    return Alert(**fields)


def alerts_counted(rule: str, sink: str, outcome: str) -> float:
    """The current value of `wirewatch_alerts_total{rule, sink, outcome}`."""
    return REGISTRY.get_sample_value("wirewatch_alerts_total", {"rule": rule, "sink": sink, "outcome": outcome}) or 0.0


class Receiver:
    """An HTTP receiver: answers request n with `script[n]` (the last entry repeats) and keeps every request."""

    def __init__(self) -> None:
        self.script: list[Reply] = [(200, {})]
        self.delay = 0.0
        self.requests: list[tuple[dict[str, str], bytes]] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((dict(request.headers), await request.read()))
        if self.delay:
            await asyncio.sleep(self.delay)
        status, headers = self.script[min(len(self.requests), len(self.script)) - 1]
        return web.Response(status=status, headers=headers)


@asynccontextmanager
async def serving(receiver: Receiver, path: str = "/hook") -> AsyncIterator[str]:
    """Serve `receiver` on a real aiohttp server on 127.0.0.1 (a free port); yields the URL of `path`."""
    app = web.Application()
    app.router.add_post(path, receiver.handle)
    server = test_utils.TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url(path))
    finally:
        await server.close()


class Sleeps:
    """Records the back-off delays a sink asks for, without waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@dataclass
class Mailbox:
    """An SMTP server's handler: answers DATA n with `data_replies[n]` (the last repeats) and keeps every message."""

    data_replies: list[str] = field(default_factory=lambda: ["250 OK"])
    rcpt_reply: str = "250 OK"
    received: list[tuple[str, list[str], EmailMessage, bool]] = field(default_factory=list)  # from, to, message, TLS
    attempts: int = 0

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          options: list[str]) -> str:
        if self.rcpt_reply.startswith("250"):
            envelope.rcpt_tos.append(address)
        return self.rcpt_reply

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        reply = self.data_replies[min(self.attempts, len(self.data_replies) - 1)]
        self.attempts += 1
        if reply.startswith("250"):
            message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
            self.received.append((envelope.mail_from, list(envelope.rcpt_tos), message, session.ssl is not None))
        return reply

    @property
    def messages(self) -> list[EmailMessage]:
        return [message for _, _, message, _ in self.received]


@contextmanager
def smtp_serving(mailbox: Mailbox, **options: Any) -> Iterator[int]:
    """Serve `mailbox` with aiosmtpd (in its own thread) on 127.0.0.1, a free port; yields the port."""
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, server_hostname="smtp.test", **options)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@dataclass(frozen=True)
class Event:
    """One server-sent event or comment as a client parses it."""

    id: str | None = None
    event: str | None = None
    data: str | None = None
    comment: str | None = None


class Client:
    """An EventSource-like reader of one open stream."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response

    async def next(self, timeout: float = 5.0) -> Event:
        """The next event or comment, whichever comes first."""
        fields: dict[str, str] = {}
        while True:
            line = (await asyncio.wait_for(self.response.content.readline(), timeout)).decode()
            if line == "":
                raise EOFError("the stream ended")
            line = line.rstrip("\n")
            if line == "":
                if fields:
                    return Event(**fields)
                continue
            name, _, value = line.partition(":")
            fields["comment" if name == "" else name] = value.removeprefix(" ")

    async def alerts(self, count: int, timeout: float = 5.0) -> list[Event]:
        """The next `count` alert events, skipping comments."""
        found: list[Event] = []
        while len(found) < count:
            event = await self.next(timeout)
            if event.comment is None:
                found.append(event)
        return found
