"""`GET /alerts/stream` on the real aiohttp web server of a Faust app, read by real HTTP clients."""
from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import orjson
import pytest

from agents.sinks.sse import PATH, AlertStream, install_alert_stream
from streams.app import create_app
from streams.records import Alert
from streams.settings import Settings
from tests.sink_fixtures import Client, Event, alerts_counted, full_alert
from wirewatch.embedded_broker import free_port

HEARTBEAT = 0.3


Connect = Callable[..., Awaitable[Client]]


@pytest.fixture
async def server() -> AsyncIterator[tuple[AlertStream, Connect, Any]]:
    """A Faust app's web server with the alert stream installed (buffer 5, client queues of 8) on a free port."""
    app = create_app(Settings(web_port=free_port()), "alert")
    stream = AlertStream(buffer=5, client_queue=8)
    install_alert_stream(app, stream, HEARTBEAT)
    await app.web.start()
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_read=10))
    url = f"http://127.0.0.1:{app.conf.web_port}{PATH}"

    async def connect(last_event_id: str | None = None) -> Client:
        headers = {"Last-Event-ID": last_event_id} if last_event_id is not None else {}
        response = await session.get(url, headers=headers)
        client = Client(response)
        assert (await client.next()).comment == "wirewatch alerts"  # subscribed from here on
        return client

    yield stream, connect, app
    await session.close()
    await app.web.stop()


def alert(n: int, **changes: Any) -> Alert:
    return full_alert(idempotency_key=f"{n:064x}", title=f"Alert {n}", **changes)


def parsed(event: Event) -> dict[str, Any]:
    assert event.event == "alert"
    body = orjson.loads(event.data or "")
    assert body["idempotency_key"] == event.id
    return body


async def test_each_alert_is_an_event_with_its_key_as_id_and_its_json_on_one_line(server) -> None:
    stream, connect, _ = server
    client = await connect()
    assert client.response.status == 200
    assert client.response.headers["Content-Type"] == "text/event-stream"
    assert client.response.headers["Cache-Control"] == "no-cache"
    multi_line = alert(1, new_sentences=["First line.\nSecond line.", "Third."])
    before = alerts_counted("korea-summit", "sse", "delivered")
    for item in (multi_line, alert(2)):
        result = await stream.deliver(item)
        assert result.delivered
    first, second = await client.alerts(2)
    assert first.id == multi_line.idempotency_key
    assert parsed(first) == multi_line.asdict()  # the whole alert, its newline escaped inside the one data line
    assert parsed(second)["title"] == "Alert 2"
    assert alerts_counted("korea-summit", "sse", "delivered") == before + 2


async def test_a_new_client_gets_only_new_alerts(server) -> None:
    stream, connect, _ = server
    for n in (1, 2):
        await stream.deliver(alert(n))
    client = await connect()
    await stream.deliver(alert(3))
    [event] = await client.alerts(1)
    assert parsed(event)["title"] == "Alert 3"


async def test_a_client_reconnecting_with_last_event_id_gets_what_it_missed_then_new_ones(server) -> None:
    stream, connect, _ = server
    for n in (1, 2, 3):
        await stream.deliver(alert(n))
    client = await connect(last_event_id=alert(1).idempotency_key)
    await stream.deliver(alert(4))
    assert [parsed(e)["title"] for e in await client.alerts(3)] == ["Alert 2", "Alert 3", "Alert 4"]
    latest = await connect(last_event_id=alert(4).idempotency_key)  # up to date: nothing but what comes next
    await stream.deliver(alert(5))
    assert [parsed(e)["title"] for e in await latest.alerts(1)] == ["Alert 5"]


async def test_an_id_no_longer_kept_gets_every_kept_alert(server) -> None:
    stream, connect, _ = server
    for n in range(1, 9):  # the buffer keeps the last 5
        await stream.deliver(alert(n))
    client = await connect(last_event_id=alert(1).idempotency_key)
    assert [parsed(e)["title"] for e in await client.alerts(5)] == [f"Alert {n}" for n in range(4, 9)]


async def test_many_clients_each_get_every_alert(server) -> None:
    stream, connect, _ = server
    clients = [await connect() for _ in range(6)]
    assert stream.clients == 6
    for n in range(1, 5):
        await stream.deliver(alert(n))
    for client in clients:
        assert [e.id for e in await client.alerts(4)] == [alert(n).idempotency_key for n in range(1, 5)]


async def test_a_quiet_stream_sends_heartbeat_comments(server) -> None:
    _, connect, _ = server
    client = await connect()
    started = asyncio.get_running_loop().time()
    assert (await client.next(timeout=5)).comment == "keep-alive"
    assert (await client.next(timeout=5)).comment == "keep-alive"
    assert asyncio.get_running_loop().time() - started >= 2 * HEARTBEAT * 0.9


async def test_a_client_that_does_not_read_is_dropped_and_holds_no_one_up(server) -> None:
    stream, connect, app = server
    reader = await connect()
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connecting: a small window
    stalled.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(stalled, ("127.0.0.1", app.conf.web_port))
    await loop.sock_sendall(stalled, f"GET {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    while stream.clients < 2:
        await asyncio.sleep(0.01)
    big = ["A sentence that makes the event large enough to fill socket buffers quickly. " * 40] * 5
    sent = 0
    started = loop.time()
    while stream.clients == 2 and sent < 5000:  # about 80 MB at most; the stalled client goes long before
        await stream.deliver(alert(sent, new_sentences=big))
        sent += 1
        if sent % 4 == 0:
            assert len(await reader.alerts(4)) == 4  # the reading client keeps up all along
    assert stream.clients == 1, "the client that does not read was never dropped"
    assert loop.time() - started < 30
    # Its connection was cut: after what the buffers held, the socket reads to its end.
    with stalled:
        while await asyncio.wait_for(loop.sock_recv(stalled, 1 << 20), 10):
            pass
    await stream.deliver(alert(99999))
    assert [e.id for e in await reader.alerts(sent % 4 + 1)][-1] == alert(99999).idempotency_key


async def test_stopping_the_web_server_ends_open_streams_at_once(server) -> None:
    stream, connect, app = server
    client = await connect()
    loop = asyncio.get_running_loop()
    started = loop.time()
    await app.web.stop()  # aiohttp would wait a minute for a handler still streaming
    assert loop.time() - started < 5
    with pytest.raises((EOFError, aiohttp.ClientPayloadError)):
        while True:
            await client.next()
    assert stream.clients == 0


async def test_the_buffer_keeps_the_latest_events_in_order() -> None:
    stream = AlertStream(buffer=3)
    for n in range(1, 6):
        await stream.deliver(alert(n))
    kept = stream.subscribe("unknown id").backlog
    assert [frame.split(b"\n")[0] for frame in kept] == [f"id: {n:064x}".encode() for n in (3, 4, 5)]
    assert stream.subscribe(None).backlog == []
    assert stream.subscribe(alert(4).idempotency_key).backlog == kept[2:]
    assert stream.subscribe(alert(2).idempotency_key).backlog == kept  # forgotten with its event
