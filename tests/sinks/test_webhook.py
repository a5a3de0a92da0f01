"""The webhook sink against a real aiohttp server on 127.0.0.1 that answers from a script and counts attempts."""
from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import pytest

from agents.sinks.webhook import DeliveryResult, WebhookSink, verify_signature
from streams.records import Alert
from tests.sink_fixtures import Receiver, Sleeps, alerts_counted, serving

SECRET = "s3cret-hmac-key"


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    hook = Receiver()
    async with serving(hook) as url:
        yield hook, url


@pytest.fixture
def alert() -> Alert:
    return Alert(idempotency_key="4f1c" * 16, rule_id="korea-summit", description="Kim Jong Un or North Korea",
                 trigger="new_story", story_id="story-dmz", article_id="bloomberg-v1",
                 title="Trump Invites Kim Jong Un to Meet Him at the DMZ This Weekend", source="Bloomberg",
                 matched_entities=["Kim Jong Un"], created_at=1561800001.0)


def sent(rule: str, outcome: str) -> float:
    return alerts_counted(rule, "webhook", outcome)


async def deliver(url: str, alert: Alert, sleeps: Callable[[float], Awaitable[None]] | None = None,
                  **options: Any) -> DeliveryResult:
    async with WebhookSink(url, SECRET, sleep=sleeps or Sleeps(), backoff_base=0.01, **options) as sink:
        return await sink.deliver(alert)


async def test_the_post_is_signed_json_with_an_idempotency_key(receiver: tuple[Receiver, str], alert: Alert) -> None:
    hook, url = receiver
    result = await deliver(url, alert)
    assert (result.delivered, result.attempts, result.status) == (True, 1, 200)
    [(headers, body)] = hook.requests
    assert headers["Content-Type"] == "application/json"
    assert headers["Idempotency-Key"] == alert.idempotency_key
    assert orjson.loads(body) == alert.asdict()  # the plain fields, rule_id "korea-summit" among them
    assert b"__faust" not in body
    timestamp, signature = headers["X-Wirewatch-Timestamp"], headers["X-Wirewatch-Signature"]
    assert signature.startswith("sha256=")
    assert verify_signature(SECRET, timestamp, body, signature)
    assert not verify_signature("wrong-key", timestamp, body, signature)
    assert not verify_signature(SECRET, timestamp, body.replace(b"Kim", b"Kin"), signature)
    assert not verify_signature(SECRET, str(int(timestamp) + 1), body, signature)


async def test_a_server_error_is_retried_until_it_succeeds(receiver: tuple[Receiver, str], alert: Alert) -> None:
    hook, url = receiver
    hook.script = [(500, {}), (503, {}), (200, {})]
    before = sent("korea-summit", "delivered")
    result = await deliver(url, alert)
    assert (result.delivered, result.attempts) == (True, 3)
    assert len(hook.requests) == 3
    assert {headers["Idempotency-Key"] for headers, _ in hook.requests} == {alert.idempotency_key}
    assert sent("korea-summit", "delivered") == before + 1


async def test_it_gives_up_after_the_last_attempt(receiver: tuple[Receiver, str], alert: Alert) -> None:
    hook, url = receiver
    hook.script = [(503, {})]
    sleeps = Sleeps()
    before = sent("korea-summit", "failed")
    result = await deliver(url, alert, sleeps, retries=4)
    assert (result.delivered, result.attempts, result.reason, result.status) == (False, 4, "http_503", 503)
    assert len(hook.requests) == 4
    assert sent("korea-summit", "failed") == before + 1
    # Exponential back-off with jitter: attempt n waits between half and all of base · 2^(n-1).
    assert len(sleeps.delays) == 3
    for n, delay in enumerate(sleeps.delays, start=1):
        assert 0.01 * 2 ** (n - 1) / 2 <= delay <= 0.01 * 2 ** (n - 1)


@pytest.mark.parametrize("status", [400, 401, 404, 422])
async def test_a_client_error_is_final(receiver: tuple[Receiver, str], alert: Alert, status: int) -> None:
    hook, url = receiver
    hook.script = [(status, {}), (200, {})]
    before = sent("korea-summit", "rejected")
    result = await deliver(url, alert)
    assert (result.delivered, result.attempts, result.reason, result.status) == (False, 1, "rejected", status)
    assert len(hook.requests) == 1
    assert sent("korea-summit", "rejected") == before + 1


@pytest.mark.parametrize("status", [408, 429])
async def test_timeout_and_too_many_requests_are_retried(receiver: tuple[Receiver, str], alert: Alert,
                                                         status: int) -> None:
    hook, url = receiver
    hook.script = [(status, {}), (200, {})]
    assert (await deliver(url, alert)).attempts == 2


async def test_retry_after_is_honoured_within_a_bound(receiver: tuple[Receiver, str], alert: Alert) -> None:
    hook, url = receiver
    hook.script = [(429, {"Retry-After": "2"}), (503, {"Retry-After": "3600"}), (200, {})]
    sleeps = Sleeps()
    result = await deliver(url, alert, sleeps, retry_after_max=60.0)
    assert result.delivered
    assert sleeps.delays == [2.0, 60.0]


async def test_retry_after_really_waits(receiver: tuple[Receiver, str], alert: Alert) -> None:
    hook, url = receiver
    hook.script = [(503, {"Retry-After": "1"}), (200, {})]
    loop = asyncio.get_running_loop()
    started = loop.time()
    result = await deliver(url, alert, asyncio.sleep, retry_after_max=0.3)
    assert result.delivered
    assert 0.3 <= loop.time() - started < 1.0


async def test_a_slow_server_times_out_and_is_retried(receiver: tuple[Receiver, str], alert: Alert) -> None:
    hook, url = receiver
    hook.delay = 3.0  # far beyond the timeout, so a loaded machine cannot blur the two
    result = await deliver(url, alert, retries=2, timeout=0.5)
    assert (result.delivered, result.attempts, result.reason) == (False, 2, "timeout")
    assert len(hook.requests) == 2


async def test_an_unreachable_server_is_a_connection_error(alert: Alert) -> None:
    with socket.socket() as probe:  # a port nothing listens on once the probe closes
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = await deliver(f"http://127.0.0.1:{port}/hook", alert, retries=3)
    assert (result.delivered, result.attempts, result.reason) == (False, 3, "connection_error")


async def test_logs_show_neither_the_secret_nor_the_url_path_or_query(
        receiver: tuple[Receiver, str], alert: Alert, caplog: pytest.LogCaptureFixture) -> None:
    hook, url = receiver
    hook.script = [(500, {})]
    caplog.set_level(logging.DEBUG, logger="agents.sinks.webhook")
    async with WebhookSink(url + "?token=hunter2", SECRET, retries=2, sleep=Sleeps()) as sink:
        assert not (await sink.deliver(alert)).delivered
        assert "hunter2" not in repr(sink)
    # wirewatch's own records only: the receiving test server's access log rightly shows the path it was sent
    logged = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("aiohttp"))
    assert "not delivered" in logged
    assert SECRET not in logged and "hunter2" not in logged and "/hook" not in logged


def test_an_empty_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="WIREWATCH_WEBHOOK_SECRET"):
        WebhookSink("http://127.0.0.1:9/hook", "")
