"""The `sse` sink: `GET /alerts/stream` on the alert worker streams alerts as server-sent events.

Each alert is an event `id: <idempotency key>`, `event: alert`, `data: <the alert as one line of JSON>`. The worker
keeps its most recent alerts (`WIREWATCH_SSE_BUFFER`): a client reconnecting with `Last-Event-ID` first gets what
came after that event (everything kept, when the id is no longer known: the ids let it drop repeats); a client
without one gets only new alerts. Each client has a bounded queue, and one that falls behind is disconnected
rather than slowing delivery down; it may reconnect with its last id. An alert counts as delivered to `sse` once it
is in the buffer. Each alert worker streams the alerts of its own partitions.
"""
from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from itertools import islice
from typing import cast

import faust
from aiohttp import web
from faust.web import Request, Response, View
from faust.web.drivers import aiohttp as aiohttp_driver

from agents.sinks.sink import DELIVERED, DeliveryResult, count_delivery
from streams import codecs
from streams.records import Alert

PATH = "/alerts/stream"
CLIENT_QUEUE = 256       # events a client may lag behind before it is dropped
HELLO = b": wirewatch alerts\n\n"   # sent first: headers and the subscription are in place once a client reads it
HEARTBEAT = b": keep-alive\n\n"

log = logging.getLogger(__name__)


def event_frame(alert: Alert) -> bytes:
    """One server-sent event for `alert`; JSON escapes newlines, so the data is a single `data:` line."""
    data = codecs.dumps(alert.asdict())
    return b"id: " + alert.idempotency_key.encode() + b"\nevent: alert\ndata: " + data + b"\n\n"


class Subscription:
    """One connected client: the events it missed, then a bounded queue of new ones; None in the queue ends it."""

    def __init__(self, backlog: list[bytes], size: int, on_drop: Callable[[], None]) -> None:
        self.backlog = backlog
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(size)
        self._on_drop = on_drop

    def offer(self, frame: bytes) -> bool:
        """Queue `frame` without waiting; False when the client is too far behind to take it."""
        try:
            self.queue.put_nowait(frame)
        except asyncio.QueueFull:
            return False
        return True

    def end(self, *, drop: bool = False) -> None:
        """Stop the client's stream: what is queued is discarded; a dropped client's connection is cut at once."""
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(None)
        if drop:
            self._on_drop()  # its handler may be stuck writing to a client that does not read


class AlertStream:
    """The `sse` sink: keeps the last `buffer` alerts' events and hands each new one to every client."""

    name = "sse"

    def __init__(self, buffer: int = 1000, client_queue: int = CLIENT_QUEUE) -> None:
        self.client_queue = client_queue
        self._recent: deque[tuple[int, str, bytes]] = deque()   # (sequence number, event id, frame), oldest first
        self._buffer = buffer
        self._position: dict[str, int] = {}                      # event id → sequence number of its latest event
        self._next = 0
        self._clients: set[Subscription] = set()

    @property
    def clients(self) -> int:
        """How many clients are connected."""
        return len(self._clients)

    async def deliver(self, alert: Alert) -> DeliveryResult:
        """Keep the alert's event and queue it for every client; a client whose queue is full is dropped."""
        frame = event_frame(alert)
        self._keep(alert.idempotency_key, frame)
        for client in list(self._clients):
            if not client.offer(frame):
                log.warning("alert stream client dropped: %d events behind", self.client_queue)
                self._clients.discard(client)
                client.end(drop=True)
        return count_delivery(alert, self.name, DELIVERED)

    def subscribe(self, last_event_id: str | None, on_drop: Callable[[], None] = lambda: None) -> Subscription:
        """A new client, with the kept events after `last_event_id` (all kept ones if unknown, none if None)."""
        if last_event_id is None:
            backlog: list[bytes] = []
        elif last_event_id in self._position:
            start = self._position[last_event_id] - self._recent[0][0] + 1
            backlog = [frame for _, _, frame in islice(self._recent, start, None)]
        else:
            backlog = [frame for _, _, frame in self._recent]
        subscription = Subscription(backlog, self.client_queue, on_drop)
        self._clients.add(subscription)  # no await since the backlog was taken: nothing falls between the two
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Forget a client that left."""
        self._clients.discard(subscription)

    async def close(self) -> None:
        """End every client's stream, so the web server can stop without waiting for them."""
        for client in self._clients:
            client.end()
        self._clients.clear()

    def _keep(self, event_id: str, frame: bytes) -> None:
        if len(self._recent) >= self._buffer:
            number, old_id, _ = self._recent.popleft()
            if self._position.get(old_id) == number:
                del self._position[old_id]
        self._recent.append((self._next, event_id, frame))
        self._position[event_id] = self._next
        self._next += 1


async def stream_response(request: web.Request, stream: AlertStream, heartbeat: float) -> web.StreamResponse:
    """The `text/event-stream` answer of one client, until it leaves, falls behind or the worker stops."""
    transport = request.transport
    subscription = stream.subscribe(request.headers.get("Last-Event-ID"),
                                    on_drop=transport.abort if transport is not None else lambda: None)
    try:
        return await send_events(request, subscription, HELLO, heartbeat)
    finally:
        stream.unsubscribe(subscription)


async def send_events(request: web.Request, subscription: Subscription, hello: bytes,
                      heartbeat: float) -> web.StreamResponse:
    """Answer `request` with a `text/event-stream`: `hello`, the subscription's backlog, then its frames as they come
    (a comment after `heartbeat` s of quiet), until the subscription ends or the client goes away."""
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                           "X-Accel-Buffering": "no"})  # nginx must pass events on, not buffer them
    try:
        await response.prepare(request)
        await response.write(hello)
        backlog, subscription.backlog = subscription.backlog, []
        for missed in backlog:
            await response.write(missed)
        while True:
            try:
                frame = await asyncio.wait_for(subscription.queue.get(), heartbeat)
            except TimeoutError:
                frame = HEARTBEAT
            if frame is None:
                break
            await response.write(frame)
    except ConnectionError:  # the client went away (or was cut off for falling behind)
        pass
    return response


def install_alert_stream(app: faust.App, stream: AlertStream, heartbeat: float) -> None:
    """Register `GET /alerts/stream` on `app`'s web server; its clients are let go when the server stops."""

    @app.page(PATH)
    class AlertEvents(View):
        """Alerts as server-sent events, from the worker's buffer of recent alerts and then as they are raised."""

        async def get(self, request: Request) -> Response:
            # Faust's aiohttp driver passes aiohttp's request and sends back any aiohttp response, streams included.
            return await stream_response(request, stream, heartbeat)  # type: ignore[arg-type,return-value]

    async def let_clients_go(_: web.Application) -> None:
        # aiohttp waits for running handlers before it stops; an open stream would otherwise hold it for a minute.
        await stream.close()

    cast(aiohttp_driver.Web, app.web).web_app.on_shutdown.append(let_clients_go)
